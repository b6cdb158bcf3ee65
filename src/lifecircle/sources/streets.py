"""A walking network from the user's own street lines (GeoPackage, GeoParquet, GeoJSON)."""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd

from lifecircle.errors import InputError, InputFileError
from lifecircle.i18n import t
from lifecircle.network.graph import WalkNetwork
from lifecircle.network.noding import DEFAULT_TOLERANCE_M
from lifecircle.sources.files import check_input_file
from lifecircle.sources.network_loader import network_from_lines


def read_streets_network(path: str | Path, *, tolerance_m: float = DEFAULT_TOLERANCE_M) -> WalkNetwork:
    """Read street lines and build the walking network: lines connect where they share a vertex,
    and where an end comes within ``tolerance_m`` metres of another end or line (optional
    ``bridge`` / ``tunnel`` / ``layer`` columns keep levels apart); see
    :func:`lifecircle.sources.network_loader.network_from_lines`."""
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
    return network_from_lines(lines, source=str(p), tolerance_m=tolerance_m)
