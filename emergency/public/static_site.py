"""The public snapshot as static files, for any web server or CDN when the app itself is overloaded.

`write_static_site` writes `summary.json`, `outages.geojson`, `districts.geojson`, an `index.html`
that draws the map, warnings, totals and districts from the JSON beside it, and Leaflet copied from
the installed `xstatic-leaflet` package. Every URL in the page is relative and nothing comes from a
CDN, so the folder works from any static host or sub-path. Files are replaced atomically, so a server
never hands out half a file when `python -m emergency publish` runs every minute.

The app server serves the same page at `/status/` (dashboard/status_site.py): `render_index` fills
in where its assets and data live, its language and the links to the interactive public pages, and
`leaflet_assets` gives Leaflet's files with one content hash to version their URLs by.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import xstatic.pkg.leaflet

from emergency.public.snapshot import PublicSnapshot

LEAFLET_FILES = ("leaflet.js", "leaflet.css", "images")
DATA_FILES = ("summary.json", "outages.geojson", "districts.geojson")
# The page itself: plain HTML and JavaScript, kept in its own file so it reads as one.
INDEX_TEMPLATE = Path(__file__).with_name("public_site.html")
TITLES = {"en": "Power status", "zh": "供电状态"}
# Published for any host, the page does not know its language until the browser says.
STATIC_TITLE = "Power status · 供电状态"


def write_static_site(snapshot: PublicSnapshot, out: Path, timezone: str) -> list[Path]:
    """Write the site into `out` (created if missing); returns the files written."""
    out.mkdir(parents=True, exist_ok=True)
    written = [
        _write(out / "summary.json", _json(snapshot.summary_json())),
        _write(out / "outages.geojson", snapshot.areas_json.encode("utf-8")),
        _write(out / "districts.geojson", _json(snapshot.districts_geojson)),
    ]
    written += _copy_leaflet(out / "leaflet")
    config = {"timezone": timezone, "refresh_s": max(snapshot.interval_s, 15)}
    written.append(_write(out / "index.html", index_html(config).encode("utf-8")))
    return written


def _json(data: Any) -> bytes:
    return json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def _write(path: Path, data: bytes) -> Path:
    """Write beside the target, then rename over it: readers see the old file or the new one."""
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(handle, "wb") as stream:
            stream.write(data)
        os.chmod(temporary, 0o644)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return path


def _copy_leaflet(target: Path) -> list[Path]:
    source = Path(xstatic.pkg.leaflet.BASE_DIR)
    target.mkdir(parents=True, exist_ok=True)
    copied: list[Path] = []
    for name in LEAFLET_FILES:
        if (source / name).is_dir():
            shutil.copytree(source / name, target / name, dirs_exist_ok=True)
            copied += sorted(p for p in (target / name).rglob("*") if p.is_file())
        else:
            copied.append(_write(target / name, (source / name).read_bytes()))
    return copied


def index_html(config: dict[str, Any]) -> str:
    """The published page: Leaflet in `leaflet/` beside it, the language the browser's."""
    return render_index(config, assets="leaflet/", language=None)


def render_index(config: dict[str, Any], assets: str, language: str | None) -> str:
    """The page with its assets under `assets` (a URL prefix) and, when given, its language.

    `config` goes in as JSON with `<` escaped, so no value can close the script; `language` (one of
    `TITLES`) is set in the config too, so the script starts in it."""
    if language is not None and language not in TITLES:
        raise ValueError(f"unknown language {language!r}")
    if language is not None:
        config = {**config, "lang": language}
    data = json.dumps(config).replace("<", "\\u003c")
    title = TITLES[language] if language else STATIC_TITLE
    html_lang = {"en": "en", "zh": "zh-CN"}.get(language or "en", "en")
    return (
        INDEX_TEMPLATE.read_text(encoding="utf-8")
        .replace("__ASSETS__", assets)
        .replace("__TITLE__", title)
        .replace("__HTML_LANG__", html_lang)
        .replace("__CONFIG__", data)  # last: nothing in the config is read as a placeholder
    )


def leaflet_assets() -> dict[str, bytes]:
    """Leaflet's JavaScript, CSS and images from the installed package, by path under its folder."""
    source = Path(xstatic.pkg.leaflet.BASE_DIR)
    assets: dict[str, bytes] = {}
    for name in LEAFLET_FILES:
        folder = source / name
        paths = sorted(p for p in folder.rglob("*") if p.is_file()) if folder.is_dir() else [folder]
        for path in paths:
            assets[path.relative_to(source).as_posix()] = path.read_bytes()
    return assets


def assets_version(assets: dict[str, bytes]) -> str:
    """A short content hash of every asset: a new Leaflet gets new URLs, so caches never mix them."""
    digest = hashlib.sha256()
    for name in sorted(assets):
        digest.update(name.encode("utf-8") + b"\0" + hashlib.sha256(assets[name]).digest())
    return digest.hexdigest()[:16]
