"""The light public status page at /status/ (dashboard/status_site.py), on SQLite and PostgreSQL:
its language, its cache headers (immutable versioned assets, short max-age + ETag + 304 for the page
and the snapshot files), gzip, its links, and the same outage areas as the Streamlit public map."""

from __future__ import annotations

import gzip
import json
import re
import time
from datetime import timedelta

import pytest
import shapely
import shapely.geometry
from starlette.applications import Starlette
from starlette.testclient import TestClient

from dashboard import status_site
from dashboard.public_api import public_routes
from dashboard.public_map import AREAS_URL
from emergency.core.db import forget_database
from emergency.core.models import OutageState
from emergency.public import snapshot as publish
from emergency.public.snapshot import cached_public_snapshot, forget_cached_snapshot
from tests.integration.test_publish import add_outage, set_minimum
from tests.support.small_territory import DEVICES, build_small_territory

ATTRIBUTE_URL = re.compile(r"""(?:src|href)\s*=\s*["']([^"']+)["']""")
CONFIG = re.compile(r'<script id="config" type="application/json">(.*?)</script>', re.S)
PLAIN = {"Accept-Encoding": "identity"}


@pytest.fixture
def site(database, clock, monkeypatch):
    monkeypatch.setenv("OUTAGE_DB_URL", database.url)
    monkeypatch.setenv("OUTAGE_LANG", "en")
    forget_cached_snapshot(database.url)
    routes = [*public_routes(clock), *status_site.status_routes(clock)]
    with TestClient(Starlette(routes=routes), follow_redirects=False) as client:
        yield client
    forget_cached_snapshot(database.url)
    forget_database(database.url)


@pytest.fixture
def storm(database, clock):
    territory = build_small_territory(database, clock)
    add_outage(database, territory, "FU-1", OutageState.CONFIRMED, clock.now() - timedelta(minutes=20))
    add_outage(database, territory, "FU-3", OutageState.ON_SITE, clock.now() - timedelta(minutes=10))
    set_minimum(database, clock, 5)
    return territory


def config_of(html: str) -> dict:
    found = CONFIG.search(html)
    assert found is not None
    return json.loads(found.group(1))


def test_the_page_speaks_the_language_asked_for(site, storm):
    chinese = site.get("/status/", headers={"Accept-Language": "en;q=0.5, zh-CN;q=0.9"})
    english = site.get("/status/", headers={"Accept-Language": "fr, en-GB;q=0.8, zh;q=0.3"})
    chosen = site.get("/status/?lang=zh", headers={"Accept-Language": "en"})
    fixed = site.get("/status/en/", headers={"Accept-Language": "zh"})
    nothing = site.get("/status/", headers={"Accept-Language": "fr"})

    assert '<html lang="zh-CN">' in chinese.text and "<title>供电状态</title>" in chinese.text
    assert config_of(chinese.text)["lang"] == "zh"
    assert chinese.headers["content-language"] == "zh-CN"
    assert "Accept-Language" in chinese.headers["vary"]
    assert config_of(english.text)["lang"] == "en" and "<title>Power status</title>" in english.text
    assert config_of(chosen.text)["lang"] == "zh"
    assert config_of(fixed.text)["lang"] == "en" and "Accept-Language" not in fixed.headers["vary"]
    assert config_of(nothing.text)["lang"] == "en"  # OUTAGE_LANG, the app's default
    # The switch moves the address, and both languages' words are in the page.
    assert config_of(fixed.text)["lang_urls"] == {"en": "/status/en/", "zh": "/status/zh/"}
    assert 'data-lang="en"' in fixed.text and 'data-lang="zh"' in fixed.text


def test_status_without_its_slash_redirects_keeping_the_query(site, storm):
    answer = site.get("/status?lang=zh")
    assert answer.status_code == 308
    assert answer.headers["location"] == "/status/?lang=zh"


def test_the_page_is_revalidated_by_etag_and_gzipped_for_who_accepts_it(site, storm):
    first = site.get("/status/zh/")
    assert first.status_code == 200
    assert first.headers["cache-control"] == "public, max-age=60"
    assert first.headers["content-encoding"] == "gzip"  # the test client accepts gzip, as browsers do

    again = site.get("/status/zh/", headers={"If-None-Match": first.headers["etag"]})
    plain = site.get("/status/zh/", headers=PLAIN)

    assert again.status_code == 304 and again.content == b""
    assert "content-encoding" not in plain.headers and plain.text == first.text
    assert plain.headers["etag"] != first.headers["etag"]  # another representation, another tag
    assert site.get("/status/zh/", headers={"If-None-Match": plain.headers["etag"]}).status_code == 304
    assert site.get("/status/en/", headers={"If-None-Match": first.headers["etag"]}).status_code == 200


def test_assets_are_versioned_same_origin_and_cached_for_a_year(site, storm):
    page = site.get("/status/").text
    urls = ATTRIBUTE_URL.findall(page)
    local = [url for url in urls if not url.startswith("#")]

    version = status_site.assets().version
    assert f"/status/v/{version}/leaflet.js" in local and f"/status/v/{version}/leaflet.css" in local
    for url in local:
        assert url.startswith("/") and "//" not in url, url  # nothing from outside the machine
        answer = site.get(url)
        assert answer.status_code == 200, url
        assert answer.headers["cache-control"] == "public, max-age=31536000, immutable"
    # The images Leaflet's CSS names sit beside it under the same version.
    css = site.get(f"/status/v/{version}/leaflet.css").text
    for image in set(re.findall(r"url\((images/[^)]+)\)", css)):
        assert site.get(f"/status/v/{version}/{image}").status_code == 200, image
    assert site.get("/status/v/0123456789abcdef/leaflet.js").status_code == 404  # an old version
    # Files are looked up by name among Leaflet's, never on the disk: no path leads elsewhere.
    assert site.get(f"/status/v/{version}/..%2F..%2Fserver.py").status_code == 404


def test_the_snapshot_files_are_the_feeds_with_short_max_age_etag_and_gzip(site, storm, database, clock):
    config = config_of(site.get("/status/").text)
    names = ("summary.json", "outages.geojson", "districts.geojson")

    for name in names:
        page_copy = site.get(config["data"] + name)
        feed = site.get(f"/api/public/{name}")
        assert page_copy.status_code == 200
        assert page_copy.content == feed.content, name  # the same bytes as the public feeds
        assert page_copy.headers["cache-control"] == "public, max-age=60"
        assert page_copy.headers["content-encoding"] == "gzip"
        assert (
            site.get(config["data"] + name, headers={"If-None-Match": page_copy.headers["etag"]}).status_code
            == 304
        )

    raw = site.get(config["data"] + "outages.geojson", headers=PLAIN)
    assert raw.content == cached_public_snapshot(database, clock).areas_json.encode("utf-8")
    with site.stream(
        "GET", config["data"] + "outages.geojson", headers={"Accept-Encoding": "gzip"}
    ) as packed:
        sent = b"".join(packed.iter_raw())  # the bytes on the wire, not decoded
    assert gzip.decompress(sent) == raw.content
    assert int(packed.headers["content-length"]) == len(sent)
    refused = site.get(config["data"] + "outages.geojson", headers={"Accept-Encoding": "gzip;q=0"})
    assert "content-encoding" not in refused.headers

    clock.advance(seconds=45)
    assert site.get(config["data"] + "summary.json").headers["cache-control"] == "public, max-age=15"
    assert config["refresh_s"] == 60


def test_the_streamlit_map_and_the_light_page_draw_the_same_areas(site, storm):
    """Both fetch their areas from the same snapshot bytes: public_map.AREAS_URL and the page's."""
    config = config_of(site.get("/status/").text)

    light = site.get(config["data"] + "outages.geojson").json()
    streamlit_map = site.get(AREAS_URL).json()

    assert light == streamlit_map
    assert sorted(f["properties"]["district"] for f in light["features"]) == ["E", "W"]


def test_simplified_areas_keep_their_shape_round_their_transformers(site, storm):
    features = site.get("/status/data/outages.geojson").json()["features"]
    transformers = {code: (lon, lat) for code, _, _, lon, lat in DEVICES}
    covered = {"W": ("TX-1", "TX-2"), "E": ("TX-4", "TX-5")}

    for feature in features:
        area = shapely.geometry.shape(feature["geometry"])
        assert area.is_valid
        for code in covered[feature["properties"]["district"]]:
            # Simplified by at most AREA_SIMPLIFY_DEG, the 200 m buffer still surrounds each transformer.
            margin = publish.AREA_BUFFER_DEG - publish.AREA_SIMPLIFY_DEG
            assert area.contains(shapely.Point(transformers[code]).buffer(margin * 0.9))
        decimals = re.findall(r"\.(\d+)", json.dumps(feature["geometry"]))
        assert max(len(d) for d in decimals) <= publish.AREA_DECIMALS


def test_the_page_links_check_and_report_to_their_interactive_pages(site, storm):
    config = config_of(site.get("/status/zh/").text)
    assert config["links"]["zh"] == {"check": "/check", "report": "/report"}
    assert config["links"]["en"] == {"check": "/check", "report": "/report"}


def test_the_page_loads_when_no_snapshot_can_be_built(tmp_path, clock, monkeypatch):
    url = f"sqlite:///{tmp_path / 'missing' / 'nothing.db'}"
    monkeypatch.setenv("OUTAGE_DB_URL", url)
    with TestClient(Starlette(routes=status_site.status_routes(clock))) as client:
        page = client.get("/status/")
        summary = client.get("/status/data/summary.json")
    assert page.status_code == 200 and config_of(page.text)["refresh_s"] == status_site.DEFAULT_REFRESH_S
    assert summary.status_code == 503
    forget_database(url)


def _rebuilt(site, clock, before: str) -> dict:
    """The summary once the background rebuild has replaced the snapshot generated at `before`."""
    for _ in range(200):
        summary = site.get("/status/data/summary.json").json()
        if summary["generated_at"] != before:
            return summary
        time.sleep(0.05)
    raise AssertionError("the snapshot was never rebuilt")


def test_a_due_rebuild_never_holds_a_viewer_and_unchanged_files_keep_their_etag(site, storm, clock):
    first = site.get("/status/data/summary.json")
    areas = site.get("/status/data/outages.geojson")
    generated = first.json()["generated_at"]

    clock.advance(seconds=61)  # the interval has passed: a rebuild is due
    stale = site.get("/status/data/summary.json")

    # Served at once from the last snapshot, saying it is stale (max-age=0), while it is rebuilt.
    assert stale.json()["generated_at"] == generated
    assert stale.headers["cache-control"] == "public, max-age=0"
    fresh = _rebuilt(site, clock, generated)
    assert fresh["generated_at"] == clock.now().isoformat()
    # The areas did not change: their ETag (a hash of the bytes) still revalidates; the summary's moved.
    again = site.get("/status/data/outages.geojson", headers={"If-None-Match": areas.headers["etag"]})
    assert again.status_code == 304
    moved = site.get("/status/data/summary.json", headers={"If-None-Match": first.headers["etag"]})
    assert moved.status_code == 200
