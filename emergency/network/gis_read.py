"""Reading GIS files for the territory import: GeoPackage, Shapefile (zipped or not) and GeoJSON,
through geopandas and pyogrio, in any coordinate system pyproj knows.

Each layer's features become the same `Row`s a CSV file gives (every attribute as text), with
their position reprojected to WGS84 longitude/latitude, so one set of checks serves every format
and a problem is reported as `file (layer x): feature N: column: reason`, N being the feature id
(FID) the GIS shows.

The files come from outside: before GDAL sees one, its size (a Shapefile with its sidecars, a zip
by what it would unpack to), its first bytes and a zip's entry names are checked, so a zip bomb,
a path-traversal entry or a file of another format is refused with a reason, never opened.
"""

from __future__ import annotations

import math
import re
import warnings
import zipfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

import numpy as np
import pyogrio
import pyproj
import shapely
from pyproj.exceptions import CRSError

from emergency.network.import_files import LAYER_MARK, MIB, ProblemLog, Row

GIS_SUFFIXES = frozenset({".gpkg", ".shp", ".zip", ".geojson", ".json"})
# Largest GIS file accepted (a Shapefile with its sidecars, a zip by what it unpacks to). One file
# often holds the network and the customers, and a GeoPackage's rows and indexes take more room
# than CSV text: the demo at a million customers with its network is about 210 MiB. A layer is
# held in memory while it is checked; MAX_FEATURES bounds that too.
MAX_GIS_BYTES = 512 * MIB
# More features than this in one layer is no distribution network we serve (the demo at a
# million customers has about 25,000 devices); refused before the layer is read into memory.
MAX_FEATURES = 3_000_000
MAX_LAYERS = 32
# A zipped Shapefile holds a few sidecar files; thousands of entries is an attack on the reader.
MAX_ZIP_ENTRIES = 64
# Shapefiles compress about 5-10 times; far more is a zip bomb, not a network.
MAX_ZIP_RATIO = 200
ZIP_MEMBER_SUFFIXES = frozenset({".shp", ".shx", ".dbf", ".prj", ".cpg", ".qix", ".sbn", ".sbx", ".xml"})
# Attributes GIS software adds on export; they describe the file, not the device.
SYSTEM_ATTRIBUTES = frozenset(
    {
        "fid",
        "objectid",
        "ogc_fid",
        "globalid",
        "shape_length",
        "shape_leng",
        "shape_area",
        "lon",
        "lat",
        "x",
        "y",
    }
)
# Longest --crs text accepted: a WKT definition is a few kilobytes.
MAX_CRS_TEXT = 20_000
_AUTHORITY_CODE = re.compile(r"^[A-Za-z]+:\d{1,9}$")
_WKT_START = re.compile(r"^\s*(PROJCRS|GEOGCRS|PROJCS|GEOGCS|GEODCRS|COMPOUNDCRS|BOUNDCRS)\s*\[", re.I)
_MAGIC = {
    ".gpkg": (b"SQLite format 3\x00", "a GeoPackage (an SQLite database)"),
    ".zip": (b"PK\x03\x04", "a zip archive"),
    ".shp": (b"\x00\x00\x27\x0a", "a Shapefile"),
}
WGS84 = pyproj.CRS.from_epsg(4326)


@dataclass(frozen=True)
class SourceCrs:
    """The coordinate system a file's positions were given in."""

    crs: pyproj.CRS
    label: str

    @property
    def is_wgs84(self) -> bool:
        return self.crs == WGS84


def crs_label(crs: pyproj.CRS) -> str:
    """'EPSG:4527 CGCS2000 / 3-degree Gauss-Kruger zone 39': the code a person looks up, and its name."""
    authority = crs.to_authority(min_confidence=90)
    return f"{authority[0]}:{authority[1]} {crs.name}" if authority else crs.name


def parse_crs(text: str) -> SourceCrs:
    """A coordinate system named on the command line (`EPSG:4527`, `4527` or WKT).

    PROJ strings and file names are not accepted: a PROJ string may name grid files to load, and
    the option must never become a way to read a file. Raises ValueError with the reason.
    """
    value = text.strip()
    if len(value) > MAX_CRS_TEXT:
        raise ValueError(f"{len(value):,} characters long; give a code such as EPSG:4527")
    if value.isdigit():
        value = f"EPSG:{value}"
    if not (_AUTHORITY_CODE.match(value) or _WKT_START.match(value)):
        shown = value if len(value) <= 60 else value[:57] + "..."
        raise ValueError(f"{shown!r} is not a coordinate system code (such as EPSG:4527) or WKT")
    try:
        crs = pyproj.CRS.from_user_input(value)
    except CRSError:
        shown = value if len(value) <= 60 else value[:57] + "..."
        raise ValueError(f"{shown!r} is not a coordinate system pyproj knows") from None
    _check_usable(crs)
    return SourceCrs(crs, crs_label(crs))


def _check_usable(crs: pyproj.CRS) -> None:
    # Positions on a map need a horizontal system: a vertical or geocentric one cannot be placed.
    if not (crs.is_geographic or crs.is_projected):
        raise ValueError(f"{crs.name} is not a geographic or projected coordinate system")


def to_wgs84(xs: Sequence[float], ys: Sequence[float], source: SourceCrs) -> tuple[np.ndarray, np.ndarray]:
    """Reproject points to WGS84 longitude/latitude; a point that cannot be comes back as inf."""
    transformer = pyproj.Transformer.from_crs(source.crs, WGS84, always_xy=True)
    lon, lat = transformer.transform(np.asarray(xs, dtype=float), np.asarray(ys, dtype=float), errcheck=False)
    return np.asarray(lon, dtype=float), np.asarray(lat, dtype=float)


def is_gis(path: Path) -> bool:
    return path.suffix.lower() in GIS_SUFFIXES


# --- checks before GDAL opens the file ----------------------------------------------------------


def _size(n: int) -> str:
    mib = 1024 * 1024
    return f"{n / mib:.1f} MiB".replace(".0 MiB", " MiB") if n >= mib else f"{n:,} bytes"


def check_file(path: Path, problems: ProblemLog) -> bool:
    """Whether the file may be handed to GDAL: it exists, is the format its name says and, with
    what it brings along (sidecars, a zip's contents), is within MAX_GIS_BYTES."""
    label = str(path)
    limit = MAX_GIS_BYTES
    try:
        if not path.is_file():
            problems.add(label, None, "", "is a directory, not a file" if path.is_dir() else "file not found")
            return False
        size = path.stat().st_size
        if path.suffix.lower() == ".shp":
            # The attributes are in the .dbf beside it: count every sidecar of the same name.
            size = sum(
                p.stat().st_size for p in path.parent.glob(glob_escape(path.stem) + ".*") if p.is_file()
            )
        with path.open("rb") as f:
            head = f.read(16)
    except OSError as exc:
        problems.add(label, None, "", f"cannot read the file: {exc.strerror or exc}")
        return False
    if size > limit:
        problems.add(label, None, "", f"file is {_size(size)}, above the {_size(limit)} limit for a GIS file")
        return False
    suffix = path.suffix.lower()
    if suffix in _MAGIC and not head.startswith(_MAGIC[suffix][0]):
        problems.add(label, None, "", f"is not {_MAGIC[suffix][1]}, whatever its name says")
        return False
    if suffix in (".geojson", ".json") and not head.lstrip(b"\xef\xbb\xbf \t\r\n").startswith(b"{"):
        problems.add(label, None, "", "is not a GeoJSON file (it must start with '{')")
        return False
    return suffix != ".zip" or _check_zip(path, label, limit, problems)


def glob_escape(name: str) -> str:
    return re.sub(r"([*?\[])", r"[\1]", name)


def _check_zip(path: Path, label: str, limit: int, problems: ProblemLog) -> bool:
    """A zipped Shapefile: its entries are Shapefile parts with plain names, and they unpack to
    no more than the limit (GDAL reads them in place; nothing is written to disk)."""
    try:
        with zipfile.ZipFile(path) as archive:
            entries = archive.infolist()
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        problems.add(label, None, "", f"not a readable zip archive: {exc}")
        return False
    if len(entries) > MAX_ZIP_ENTRIES:
        problems.add(label, None, "", f"holds {len(entries):,} entries; a zipped Shapefile holds a few files")
        return False
    unpacked = 0
    for entry in entries:
        name = entry.filename
        parts = PurePosixPath(name.replace("\\", "/")).parts
        if name.startswith(("/", "\\")) or ".." in parts or (parts and ":" in parts[0]):
            problems.add(label, None, "", f"entry {name!r} points outside the archive; refused")
            return False
        if entry.is_dir():
            continue
        if PurePosixPath(name).suffix.lower() not in ZIP_MEMBER_SUFFIXES:
            problems.add(
                label, None, "", f"entry {name!r} is not part of a Shapefile (.shp, .shx, .dbf, .prj, .cpg)"
            )
            return False
        unpacked += entry.file_size
        if entry.compress_size and entry.file_size / entry.compress_size > MAX_ZIP_RATIO:
            problems.add(
                label,
                None,
                "",
                f"entry {name!r} unpacks {entry.file_size / entry.compress_size:,.0f} "
                "times its size: refused as a zip bomb",
            )
            return False
    if unpacked > limit:
        problems.add(label, None, "", f"unpacks to {_size(unpacked)}, above the {_size(limit)} limit")
        return False
    if not any(PurePosixPath(e.filename).suffix.lower() == ".shp" for e in entries):
        problems.add(label, None, "", "holds no Shapefile (.shp)")
        return False
    return True


# --- layers -------------------------------------------------------------------------------------


@dataclass
class Layer:
    """One layer as read: its label for problems, geometry type, attribute names and features."""

    label: str
    name: str
    geometry_type: str
    source: SourceCrs | None
    frame: Any  # a GeoDataFrame reprojected to WGS84 (None when the layer could not be)

    @property
    def points(self) -> bool:
        return "point" in self.geometry_type.lower()

    @property
    def lines(self) -> bool:
        return "line" in self.geometry_type.lower()


def list_layers(path: Path, problems: ProblemLog) -> list[tuple[str, str]] | None:
    """(name, geometry type) of every layer; None after reporting why the file cannot be read."""
    try:
        with warnings.catch_warnings():
            # GDAL's remarks on odd files (a SQLite file without the GeoPackage id) are not ours.
            warnings.simplefilter("ignore", RuntimeWarning)
            layers = [(str(name), str(kind)) for name, kind in pyogrio.list_layers(path)]
    except Exception as exc:  # GDAL's errors are many; each is a file it cannot read
        problems.add(str(path), None, "", f"not a readable {_format(path)}: {_gdal_message(exc)}")
        return None
    if not layers:
        problems.add(str(path), None, "", f"holds no layers: not a {_format(path)} with features")
        return None
    if len(layers) > MAX_LAYERS:
        problems.add(str(path), None, "", f"holds {len(layers)} layers; at most {MAX_LAYERS} are read")
        return None
    return layers


def _format(path: Path) -> str:
    return {".gpkg": "GeoPackage", ".shp": "Shapefile", ".zip": "zipped Shapefile"}.get(
        path.suffix.lower(), "GeoJSON file"
    )


def _gdal_message(exc: BaseException) -> str:
    # GDAL names the file it failed on with its full path: the user knows which file it is.
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return text[:200]


def layer_label(path: Path, name: str, several: bool) -> str:
    return f"{path}{LAYER_MARK}{name})" if several else str(path)


def read_layer(
    path: Path, name: str, geometry_type: str, label: str, crs: SourceCrs | None, problems: ProblemLog
) -> Layer | None:
    """Read one layer and reproject it to WGS84; None after reporting why it cannot be."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            info = pyogrio.read_info(path, layer=name)
            count = int(info.get("features") or 0)
            if count > MAX_FEATURES:
                problems.add(
                    label, None, "", f"holds {count:,} features, above the {MAX_FEATURES:,} accepted"
                )
                return None
            frame = pyogrio.read_dataframe(path, layer=name, fid_as_index=True)
    except Exception as exc:  # any GDAL failure is a file it cannot read
        problems.add(label, None, "", f"cannot read the layer: {_gdal_message(exc)}")
        return None
    try:
        source = _layer_crs(frame.crs, crs)
    except ValueError as exc:
        problems.add(label, None, "", str(exc))
        return None
    try:
        if frame.crs is None:
            frame = frame.set_crs(source.crs)
        if not source.is_wgs84:
            frame = frame.to_crs(WGS84)
    except Exception as exc:  # pyproj's transformation errors
        problems.add(label, None, "", f"cannot reproject from {source.label} to WGS84: {_gdal_message(exc)}")
        return None
    return Layer(label, name, geometry_type, source, frame)


def _layer_crs(found: pyproj.CRS | None, given: SourceCrs | None) -> SourceCrs:
    if found is None:
        if given is None:
            raise ValueError(
                "has no coordinate system (no .prj, or an undefined SRS): "
                "give it with --crs, e.g. --crs EPSG:4527"
            )
        return given
    source = SourceCrs(pyproj.CRS.from_user_input(found), "")
    _check_usable(source.crs)
    source = SourceCrs(source.crs, crs_label(source.crs))
    if given is not None and not source.crs.equals(given.crs, ignore_axis_order=True):
        raise ValueError(
            f"the file says its coordinate system is {source.label}, but --crs says {given.label}"
        )
    return source


def _text(value: Any) -> str:
    """An attribute as the text a CSV cell would hold."""
    if value is None:
        return ""
    if isinstance(value, bool | np.bool_):
        return "true" if value else "false"
    if isinstance(value, int | np.integer):
        return str(int(value))
    if isinstance(value, float | np.floating):
        number = float(value)
        if not math.isfinite(number):
            return "" if math.isnan(number) else str(number)
        # GIS tools store codes and counts as doubles: 100.0 is the code "100".
        return str(int(number)) if number.is_integer() and abs(number) < 1e15 else repr(number)
    return str(value).strip()


def attribute_names(layer: Layer) -> list[str]:
    return [str(c) for c in layer.frame.columns if c != layer.frame.geometry.name]


def normalise(name: str) -> str:
    return re.sub(r"[\s\-]+", "_", name.strip().lower())


# A Shapefile's .dbf keeps 10 characters of a field name: `normal_sta` is normal_state.
DBF_NAME_LENGTH = 10


def import_name(raw: str, known: Sequence[str]) -> str:
    """The import's name for a layer attribute: normalised as a CSV header, and a name cut to the
    .dbf's 10 characters read as the one known name it begins."""
    name = normalise(raw)
    if len(name) == DBF_NAME_LENGTH and name not in known:
        matches = [k for k in known if k.startswith(name)]
        if len(matches) == 1:
            return matches[0]
    return name


def check_attributes(layer: Layer, known: Sequence[str], problems: ProblemLog) -> set[str]:
    """The layer's attributes by their import names; an unknown one is refused as in a CSV header
    (a misspelt `importance` must not load a hospital as an ordinary customer)."""
    names: set[str] = set()
    for raw in attribute_names(layer):
        name = import_name(raw, known)
        if name in SYSTEM_ATTRIBUTES:
            continue
        if name in names:
            problems.add(layer.label, None, name, "attribute appears twice")
        elif name not in known:
            problems.add(layer.label, None, name, f"unknown attribute (known attributes: {', '.join(known)})")
        names.add(name)
    return names


def _columns(layer: Layer, known: Sequence[str]) -> dict[str, str]:
    """Import name -> the layer's own attribute name, for the attributes the import reads."""
    found = {import_name(raw, known): raw for raw in attribute_names(layer)}
    return {name: raw for name, raw in found.items() if name in known}


def point_rows(layer: Layer, known: Sequence[str], problems: ProblemLog) -> Iterator[Row]:
    """Each feature as a Row: its attributes as text, `lon`/`lat` from its point geometry."""
    frame = layer.frame
    columns = _columns(layer, known)
    texts = {name: [_text(v) for v in frame[raw].tolist()] for name, raw in columns.items()}
    geometries = np.asarray(frame.geometry.values)
    fids = [int(i) for i in frame.index]
    for position, fid in enumerate(fids):
        values = {name: column[position] for name, column in texts.items()}
        row = Row(layer.label, fid, values, problems, "feature")
        point = _point(geometries[position], row)
        if point is not None:
            values["lon"], values["lat"] = repr(point[0]), repr(point[1])
        else:
            row.position_reported = True
        yield row


def _point(geometry: Any, row: Row) -> tuple[float, float] | None:
    if geometry is None or shapely.is_empty(geometry):
        row.fail("geometry", "is missing (a point is required)")
        return None
    if geometry.geom_type == "MultiPoint" and len(geometry.geoms) == 1:
        geometry = geometry.geoms[0]
    if geometry.geom_type != "Point":
        row.fail("geometry", f"must be a Point, not {geometry.geom_type}")
        return None
    x, y = float(geometry.x), float(geometry.y)
    if not (math.isfinite(x) and math.isfinite(y)):
        row.fail("geometry", "could not be reprojected to WGS84 (outside the coordinate system's area?)")
        return None
    return x, y


def line_rows(layer: Layer, known: Sequence[str], problems: ProblemLog) -> Iterator[Row]:
    """Each conductor as a Row of its attributes (its geometry is drawn, not traced)."""
    frame = layer.frame
    columns = _columns(layer, known)
    texts = {name: [_text(v) for v in frame[raw].tolist()] for name, raw in columns.items()}
    for position, fid in enumerate(frame.index):
        yield Row(layer.label, int(fid), {n: c[position] for n, c in texts.items()}, problems, "feature")


@dataclass
class GisLayers:
    """The layers one import file gives: point layers of its rows, line layers of conductors."""

    points: Layer
    lines: list[Layer]


def open_layers(path: Path, kind: str, crs: SourceCrs | None, problems: ProblemLog) -> GisLayers | None:
    """Read the layer of devices (`kind` "network", with every line layer as its conductors) or
    of customers: the layer named so, else the file's only point layer."""
    if not check_file(path, problems):
        return None
    layers = list_layers(path, problems)
    if layers is None:
        return None
    several = len(layers) > 1
    wanted = "devices" if kind == "network" else kind
    points = [(n, t) for n, t in layers if "point" in t.lower() or _mixed(t)]
    named = [(n, t) for n, t in points if n.lower() == wanted]
    # A network file's lone point layer is its devices unless it is named customers.
    others = [(n, t) for n, t in points if kind != "network" or n.lower() != "customers"]
    chosen = named[0] if named else (others[0] if len(others) == 1 else None)
    if chosen is None:
        listed = ", ".join(f"{n} ({t})" for n, t in layers)
        problems.add(
            str(path),
            None,
            "",
            f"no point layer named {wanted!r} and no single point layer to use (layers: {listed})",
        )
        return None
    layer = read_layer(path, chosen[0], chosen[1], layer_label(path, chosen[0], several), crs, problems)
    if layer is None:
        return None
    if kind != "network":
        return GisLayers(layer, [])
    if _mixed(layer.geometry_type) and path.suffix.lower() in (".geojson", ".json"):
        # One GeoJSON FeatureCollection of devices (points) and conductors (lines).
        return _split_mixed(layer)
    lines: list[Layer] = []
    for name, geometry_type in layers:
        if "line" in geometry_type.lower():
            line = read_layer(path, name, geometry_type, layer_label(path, name, several), crs, problems)
            if line is None:
                return None
            lines.append(line)
    sibling = path.with_name("conductors.shp")
    if path.suffix.lower() == ".shp" and path.name.lower() != "conductors.shp" and sibling.is_file():
        # A Shapefile holds one layer: the conductors are the conductors.shp beside it.
        if not check_file(sibling, problems):
            return None
        found = list_layers(sibling, problems)
        if found is None:
            return None
        line = read_layer(sibling, found[0][0], found[0][1], str(sibling), crs, problems)
        if line is None:
            return None
        lines.append(line)
    return GisLayers(layer, lines)


def _mixed(geometry_type: str) -> bool:
    return geometry_type.lower() in ("unknown", "geometry", "geometrycollection", "")


def _split_mixed(layer: Layer) -> GisLayers:
    kinds = layer.frame.geometry.geom_type
    is_line = kinds.isin(["LineString", "MultiLineString"]).to_numpy()
    points = Layer(layer.label, layer.name, "Point", layer.source, layer.frame[~is_line])
    # The conductors' features have the devices' attributes too, empty: only their own are read.
    frame = layer.frame[is_line]
    empty = [c for c in frame.columns if c != frame.geometry.name and frame[c].isna().all()]
    lines = Layer(layer.label, layer.name, "LineString", layer.source, frame.drop(columns=empty))
    return GisLayers(points, [lines] if is_line.any() else [])
