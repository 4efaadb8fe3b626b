"""The public snapshot as static files, for any web server or CDN when the app itself is overloaded.

`write_static_site` writes `summary.json`, `outages.geojson`, `districts.geojson`, an `index.html`
that draws the map, warnings, totals and districts from the JSON beside it, and Leaflet copied from
the installed `xstatic-leaflet` package. Every URL in the page is relative and nothing comes from a
CDN, so the folder works from any static host or sub-path. Files are replaced atomically, so a server
never hands out half a file when `python -m emergency publish` runs every minute.
"""

from __future__ import annotations

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
    """The page; `config` goes in as JSON with `<` escaped, so no value can close the script."""
    data = json.dumps(config).replace("<", "\\u003c")
    return INDEX_TEMPLATE.read_text(encoding="utf-8").replace("__CONFIG__", data)
