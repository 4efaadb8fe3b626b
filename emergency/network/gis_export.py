"""Writing a network as a GIS export would give it: a GeoPackage in a projected coordinate system
with a layer of devices, a layer of conductors and a layer of customers.

A GIS draws each device with its own terminals and joins them with conductors; the importer joins
them back into electrical nodes (`import_check.join_conductors`). `split_nodes` does the opposite
of that join, so the sample GeoPackage and the benchmark's export of the demo are shaped like a
utility's export, and import to exactly the nodes they were made from.

Regenerate the sample with `python -m emergency.network.gis_export data/samples`.
"""

from __future__ import annotations

import sys
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import shapely

# The sample's coordinate system: CGCS2000 / 3-degree Gauss-Kruger zone 39 (central meridian
# 117°E), a projected system Chinese utilities' GIS data comes in.
SAMPLE_CRS = "EPSG:4527"
# GIS coordinates in metres are kept to the millimetre, as exports write them.
MILLIMETRE_DECIMALS = 3


def split_nodes(devices: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Devices with their own terminal at every node, and the conductors joining them.

    `devices` has code, lon, lat, from_node and to_node (electrical nodes). The first device at a
    node keeps its name; each other one gets `<node>~<n>` and a conductor from the first one's
    terminal, drawn between the two devices. A terminal name sorts after its node's name, so
    joining the conductors gives back the node's own name.
    """
    out = devices.copy()
    first: dict[str, int] = {}
    count: dict[str, int] = {}
    lines: list[tuple[str, str, str, float, float, float, float]] = []
    lon = out["lon"].to_numpy(dtype=float)
    lat = out["lat"].to_numpy(dtype=float)
    for side in ("from_node", "to_node"):
        renamed: list[object] = []
        for i, node in enumerate(out[side].tolist()):
            if node is None or (isinstance(node, float) and np.isnan(node)) or node == "":
                renamed.append(None)
                continue
            if node not in first:
                first[node] = i
                renamed.append(node)
                continue
            count[node] = count.get(node, 0) + 1
            terminal = f"{node}~{count[node]}"
            head = first[node]
            lines.append((f"L-{terminal}", node, terminal, lon[head], lat[head], lon[i], lat[i]))
            renamed.append(terminal)
        out[side] = renamed
    conductors = pd.DataFrame(lines, columns=["code", "from_node", "to_node", "lon1", "lat1", "lon2", "lat2"])
    return out, conductors


def _projected(frame: gpd.GeoDataFrame, crs: str) -> gpd.GeoDataFrame:
    projected = frame.to_crs(crs)
    geometry = shapely.transform(projected.geometry.values, lambda xy: np.round(xy, MILLIMETRE_DECIMALS))
    return projected.set_geometry(gpd.GeoSeries(geometry, crs=projected.crs, index=projected.index))


def _points(frame: pd.DataFrame, crs: str) -> gpd.GeoDataFrame:
    geometry = gpd.points_from_xy(frame["lon"], frame["lat"], crs="EPSG:4326")
    return _projected(gpd.GeoDataFrame(frame.drop(columns=["lon", "lat"]), geometry=geometry), crs)


def write_geopackage(
    path: Path, devices: pd.DataFrame, customers: pd.DataFrame, crs: str = SAMPLE_CRS
) -> None:
    """Write devices (with electrical nodes, WGS84 lon/lat), their conductors and the customers
    as the layers devices, conductors and customers of a GeoPackage in `crs`."""
    split, conductors = split_nodes(devices)
    lines = (
        shapely.linestrings(
            np.stack(
                [
                    conductors[["lon1", "lat1"]].to_numpy(dtype=float),
                    conductors[["lon2", "lat2"]].to_numpy(dtype=float),
                ],
                axis=1,
            )
        )
        if len(conductors)
        else np.array([], dtype=object)
    )
    conductor_layer = _projected(
        gpd.GeoDataFrame(
            conductors[["code", "from_node", "to_node"]], geometry=gpd.GeoSeries(lines, crs="EPSG:4326")
        ),
        crs,
    )
    path.unlink(missing_ok=True)
    pyogrio.write_dataframe(_points(split, crs), path, layer="devices", driver="GPKG")
    pyogrio.write_dataframe(conductor_layer, path, layer="conductors", driver="GPKG", append=False)
    pyogrio.write_dataframe(_points(customers, crs), path, layer="customers", driver="GPKG")


def write_sample(samples: Path) -> Path:
    """The sample GeoPackage from the sample network as nodes and the sample customers (CSV)."""
    text = {"dtype": str, "keep_default_na": False}
    devices = pd.read_csv(samples / "network-nodes.csv", **text)
    customers = pd.read_csv(samples / "customers.csv", **text)
    for frame in (devices, customers):
        frame["lon"] = frame["lon"].astype(float)
        frame["lat"] = frame["lat"].astype(float)
        for column in frame.columns:
            if frame[column].dtype == object:
                frame[column] = frame[column].replace("", None)
    for column in ("rating_kva",):
        devices[column] = pd.to_numeric(devices[column])
    for column in ("backup_hours", "priority_weight"):
        customers[column] = pd.to_numeric(customers[column])
    path = samples / "network-gk39.gpkg"
    write_geopackage(path, devices, customers)
    return path


if __name__ == "__main__":
    print(write_sample(Path(sys.argv[1] if len(sys.argv) > 1 else "data/samples")))
