"""Street lines from the user's own files: a walking network straight from a file
(:func:`read_streets_network`), and the helpers ``lifecircle import streets`` uses to bring them
into the city store (headers, CRS, MultiLineStrings, stable ids, length)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pyproj
import shapely

from lifecircle.city.ids import geometry_ids
from lifecircle.errors import InputError, InputFileError, Problem
from lifecircle.i18n import t
from lifecircle.network.graph import WalkNetwork, local_metric_crs
from lifecircle.network.noding import DEFAULT_TOLERANCE_M
from lifecircle.sources.coords import to_wgs84
from lifecircle.sources.files import check_input_file
from lifecircle.sources.network_loader import network_from_lines
from lifecircle.sources.tables import read_vector


def read_streets_network(path: str | Path, *, tolerance_m: float = DEFAULT_TOLERANCE_M) -> WalkNetwork:
    """Read street lines and build the walking network: lines connect where they share a vertex,
    and where an end comes within ``tolerance_m`` metres of another end or line (optional
    ``bridge`` / ``tunnel`` / ``layer`` columns keep levels apart); see
    :func:`lifecircle.sources.network_loader.network_from_lines`."""
    p = check_input_file(path, (".gpkg", ".parquet", ".geojson", ".json", ".shp", ".fgb"))
    try:
        gdf = gpd.read_parquet(p) if p.suffix.lower() == ".parquet" else read_vector(p)
    except Exception as exc:  # noqa: BLE001 - the reader's own errors, whatever their type, become one line naming the file
        raise InputFileError(t(f"{p}: 无法读取道路文件：{exc}", f"{p}: cannot read the street file: {exc}")) from None
    if gdf.crs is None:
        raise InputError(
            t(
                f"{p}: 文件没有坐标系信息，请指定（例如 EPSG:4326）",
                f"{p}: the file has no CRS; set one (e.g. EPSG:4326)",
            )
        )
    lines = gdf[gdf.geom_type.isin(["LineString", "MultiLineString"])]
    if len(lines) == 0:
        raise InputError(t(f"{p}: 文件中没有线要素", f"{p}: the file has no line features"))
    return network_from_lines(street_levels(lines), source=str(p), tolerance_m=tolerance_m)


def street_levels(lines: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """``lines`` with the headers ``import streets`` recognises (桥梁, 图层高度 ...) renamed, so a
    street file read directly keeps its bridges and tunnels apart exactly as an imported one."""
    from lifecircle.sources.tables import rename_columns

    renamed = rename_columns(pd.DataFrame(lines.drop(columns=lines.geometry.name)), STREET_HEADERS)
    out = gpd.GeoDataFrame(renamed, geometry=lines.geometry.to_numpy(), crs=lines.crs)
    for col in ("bridge", "tunnel"):
        if col in out.columns:
            out[col] = [yes_no(v) for v in out[col].tolist()]
    return out


# ------------------------------------------------------------------------------ streets into the store

# Street file headers (Chinese, Geofabrik shapefiles, OSM) → the streets table's columns.
STREET_HEADERS = {
    "道路名称": "name",
    "路名": "name",
    "名称": "name",
    "街道名称": "name",
    "道路等级": "highway",
    "等级": "highway",
    "道路类型": "highway",
    "fclass": "highway",
    "桥梁": "bridge",
    "是否桥梁": "bridge",
    "桥": "bridge",
    "隧道": "tunnel",
    "是否隧道": "tunnel",
    "层": "layer",
    "图层高度": "layer",
    "层级": "layer",
    "osm_id": "id",
    "fid": "id",
    "编号": "id",
    "道路编号": "id",
    "来源": "source",
}
# Chinese road classes (城市道路分级) → OSM highway values.
HIGHWAY_VALUES = {
    "高速公路": "motorway",
    "快速路": "trunk",
    "主干路": "primary",
    "主干道": "primary",
    "次干路": "secondary",
    "次干道": "secondary",
    "支路": "tertiary",
    "街巷": "living_street",
    "小区道路": "residential",
    "居住区道路": "residential",
    "人行道": "footway",
    "步行道": "footway",
    "步行街": "pedestrian",
    "自行车道": "cycleway",
    "台阶": "steps",
    "楼梯": "steps",
}
_NO = {"no", "false", "0", "f", "n", "否", "无", "不是"}
_YES = {"yes", "true", "1", "t", "y", "是", "有"}
_OSM_WORD = re.compile(r"[a-z_]+")
_CHINA_LON, _CHINA_LAT = (73.0, 135.5), (3.5, 53.6)  # a box around China, degrees


def yes_no(v: Any) -> Any:
    """A bridge/tunnel value as True/False/None. OSM values other than 'no' (viaduct, culvert,
    building_passage …) mean yes; anything else unknown is returned as is for validation to name."""
    if v is None or (isinstance(v, float) and v != v):
        return None
    if isinstance(v, bool | np.bool_):
        return bool(v)
    s = str(v).strip().lower()
    if not s:
        return None
    if s in _NO:
        return False
    if s in _YES or _OSM_WORD.fullmatch(s):
        return True
    return v


def osm_layer(v: Any) -> int | None:
    """An OSM ``layer`` tag as an integer; None when missing or not a whole number ('1;2')."""
    try:
        x = float(str(v).strip())
    except (TypeError, ValueError):
        return None
    return int(x) if x == x and x == int(x) and -10 <= x <= 10 else None


def text_id(v: Any) -> str | None:
    """A file's id value as text: 12.0 → '12', '' / NaN → None."""
    if v is None or (isinstance(v, float) and v != v):
        return None
    if isinstance(v, float | np.floating) and float(v) == int(v):
        return str(int(v))
    s = str(v).strip()
    return s or None


def lines_to_wgs84(
    geoms: Sequence[Any], declared: str | None, crs: str, file: str, notes: list[str]
) -> tuple[np.ndarray, list[Problem]]:
    """Street geometries in WGS-84 degrees: the file's declared CRS first; a file without one
    whose coordinates look like degrees in China is taken as WGS-84 (said in ``notes``), else a
    whole-file problem; then GCJ-02/BD-09 vertices (``crs``) are converted."""
    arr = np.asarray(gpd.GeoSeries(list(geoms)).values, dtype=object)
    ok = np.array([g is not None and not g.is_empty for g in arr], dtype=bool)
    if declared is None:
        x0, y0, x1, y1 = shapely.total_bounds(arr[ok]) if ok.any() else (np.nan,) * 4
        if not (_CHINA_LON[0] <= x0 and x1 <= _CHINA_LON[1] and _CHINA_LAT[0] <= y0 and y1 <= _CHINA_LAT[1]):
            return arr, [
                Problem(
                    t(
                        f"文件没有坐标系信息，坐标范围 ({x0:.6g}, {y0:.6g})–({x1:.6g}, {y1:.6g}) "
                        "也不像中国境内的经纬度；"
                        "请在 GIS 软件中为文件设定坐标系（例如 EPSG:4547）后再导入",
                        f"the file declares no CRS and its coordinates ({x0:.6g}, {y0:.6g})–({x1:.6g}, {y1:.6g}) "
                        "do not look like degrees in China; "
                        "set the file's CRS (e.g. EPSG:4547) in a GIS and import again",
                    ),
                    file=file,
                )
            ]
        notes.append(
            t(
                "文件没有坐标系信息；坐标像中国境内的经纬度，按 WGS-84 处理",
                "the file declares no CRS; its coordinates look like degrees in China and were taken as WGS-84",
            )
        )
    else:
        src = pyproj.CRS.from_user_input(declared)
        if not src.equals(pyproj.CRS.from_epsg(4326)):
            arr = np.asarray(gpd.GeoSeries(arr, crs=src).to_crs(4326).values, dtype=object)
            notes.append(t(f"已从 {src.name} 转换为 WGS-84", f"converted from {src.name} to WGS-84"))
    if crs != "wgs84" and ok.any():

        def fn(xy: np.ndarray) -> np.ndarray:
            return np.column_stack(to_wgs84(xy[:, 0], xy[:, 1], crs))

        arr[ok] = shapely.transform(arr[ok], fn)
    return arr, []


def explode_lines(df: pd.DataFrame, geoms: np.ndarray, file: str) -> tuple[pd.DataFrame, list[Problem], int]:
    """One row per LineString: a MultiLineString row becomes one row per part (the row number is
    kept, its id gets '-1', '-2' …); other geometry types are problems naming the row. Empty
    geometries stay (validation reports them). Returns the rows, the problems and how many
    MultiLineStrings were split."""
    problems: list[Problem] = []
    kept: list[tuple[Any, Any, int]] = []  # (row, line, part number or 0)
    split = 0
    for row, g in zip(df.index, geoms, strict=True):
        if g is None or g.is_empty or g.geom_type == "LineString":
            kept.append((row, g, 0))
        elif g.geom_type == "MultiLineString":
            parts = [p for p in g.geoms if not p.is_empty]
            split += len(parts) > 1
            kept += [(row, part, k if len(parts) > 1 else 0) for k, part in enumerate(parts, start=1)]
        else:
            problems.append(
                Problem(
                    t(
                        f"几何类型为 {g.geom_type}，道路应为线（LineString/MultiLineString）",
                        f"geometry is a {g.geom_type}; a street must be a LineString or MultiLineString",
                    ),
                    file=file,
                    row=int(row),
                    field="geometry",
                )
            )
    out = df.drop(columns=["geometry"]).loc[[r for r, _, _ in kept]].copy()
    out["geometry"] = [g for _, g, _ in kept]
    out["_part"] = [k for _, _, k in kept]
    return out, problems, split


def street_ids(df: pd.DataFrame) -> list[str]:
    """The id of each street row: the file's id (part number appended for a split
    MultiLineString), else a hash of the line's WKB — stable, so the same file imports the same."""
    given = [text_id(v) for v in df["id"].tolist()] if "id" in df.columns else [None] * len(df)
    made = geometry_ids([g if g is not None and not g.is_empty else shapely.LineString() for g in df["geometry"]])
    return [(f"{g}-{k}" if k else g) if g else m for g, k, m in zip(given, df["_part"].tolist(), made, strict=True)]


def length_km(geoms: Sequence[Any]) -> float:
    """Total length of WGS-84 lines in kilometres, measured in the local UTM zone."""
    arr = np.asarray([g for g in geoms if g is not None and not g.is_empty], dtype=object)
    if not len(arr):
        return 0.0
    c = shapely.centroid(shapely.box(*shapely.total_bounds(arr)))
    proj = gpd.GeoSeries(arr, crs=4326).to_crs(local_metric_crs(c.x, c.y))
    return float(proj.length.sum()) / 1000.0
