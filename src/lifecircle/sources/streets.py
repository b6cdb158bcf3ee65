"""A walking network from the user's own street lines (GeoPackage, GeoParquet, GeoJSON)."""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd

from lifecircle.errors import InputError, InputFileError
from lifecircle.i18n import t
from lifecircle.network.graph import WalkNetwork
from lifecircle.sources.files import check_input_file
from lifecircle.sources.network_loader import metric_crs_of


def read_streets_network(path: str | Path) -> WalkNetwork:
    """Read street lines and build the walking network (lines connect where they share a vertex)."""
    p = check_input_file(path, (".gpkg", ".parquet", ".geojson", ".json", ".shp", ".fgb"))
    try:
        gdf = gpd.read_parquet(p) if p.suffix.lower() == ".parquet" else gpd.read_file(p, engine="pyogrio")
    except Exception as exc:
        raise InputFileError(t(f"{p}: 无法读取道路文件：{exc}", f"{p}: cannot read the street file: {exc}")) from None
    if gdf.crs is None:
        raise InputError(t(f"{p}: 文件没有坐标系信息，请指定（例如 EPSG:4326）", f"{p}: the file has no CRS; set one (e.g. EPSG:4326)"))
    lines = gdf[gdf.geom_type.isin(["LineString", "MultiLineString"])]
    if len(lines) == 0:
        raise InputError(t(f"{p}: 文件中没有线要素", f"{p}: the file has no line features"))
    ll = lines.to_crs(4326)
    crs = metric_crs_of(ll.geometry.to_numpy())
    return WalkNetwork.from_lines(ll.to_crs(crs).geometry.to_numpy(), crs, source=str(p))
