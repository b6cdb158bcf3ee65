"""Point files users bring as origins (homes, communities): a table (CSV, TXT/TSV, Excel ``.xlsx``)
with ``id`` and ``lon``/``lat`` columns or an Amap ``location`` column ("lng,lat") — read by the
importer's own readers (:func:`lifecircle.sources.tables.read_table`,
:func:`lifecircle.sources.amap.points_from_columns`) — or any vector file.

Coordinates are converted to WGS-84 from ``crs`` (``wgs84``, ``gcj02`` or ``bd09``) explicitly.
Every row is checked; all problems are reported together, naming file, row and field.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from lifecircle.errors import InputError, InputFileError, Problem, ProblemCollector
from lifecircle.i18n import t
from lifecircle.sources.amap import is_empty as amap_empty
from lifecircle.sources.amap import points_from_columns
from lifecircle.sources.coords import to_wgs84
from lifecircle.sources.files import check_input_file
from lifecircle.sources.tables import TABLE_SUFFIXES, read_table

LON_NAMES = ("lon", "lng", "longitude", "x", "经度")
LAT_NAMES = ("lat", "latitude", "y", "纬度")
LOCATION_NAMES = ("location", "坐标", "经纬度")  # Amap exports: "lng,lat" in one column
# an id column as `import` recognises it (小区编号, 小区代码 ...), before a name as the last resort
ID_NAMES = ("id", "origin_id", "编号", "小区编号", "小区代码", "社区编号", "起点编号", "name", "名称", "小区名称")
VECTOR_SUFFIXES = (".gpkg", ".geojson", ".json", ".parquet", ".shp", ".fgb")


def _find(columns: list[str], names: tuple[str, ...]) -> str | None:
    low = {c.lower().strip(): c for c in columns}
    for n in names:
        if n in low:
            return low[n]
    return None


def read_points(path: str | Path, *, crs: str = "wgs84") -> pd.DataFrame:
    """Read origins as a DataFrame ``id, lon, lat`` (WGS-84 degrees)."""
    p = check_input_file(path, (*TABLE_SUFFIXES, *VECTOR_SUFFIXES))
    if p.suffix.lower() in TABLE_SUFFIXES:
        # the importer's readers: encoding and delimiter (, ; tab |) detected, Excel with a title
        # row, a repeated column name refused, rows indexed by spreadsheet row number (header =
        # row 1), blank lines dropped; coordinates as lon/lat columns or one Amap "lng,lat" column
        df = read_table(p, allowed=TABLE_SUFFIXES).df
        rows = df.index.to_numpy()
        bag = ProblemCollector(file=str(p))
        cols = list(df.columns)
        lon_c, lat_c, loc_c = _find(cols, LON_NAMES), _find(cols, LAT_NAMES), _find(cols, LOCATION_NAMES)
        if lon_c is not None and lat_c is not None:
            coords = pd.DataFrame({"lon": df[lon_c], "lat": df[lat_c]}, index=df.index)
            named = {"lon": lon_c, "lat": lat_c}
        elif loc_c is not None:
            coords = pd.DataFrame({"location": df[loc_c]}, index=df.index)
            named = {"location": loc_c}
        else:
            if lon_c is None:
                bag.add(
                    t(
                        '缺少经度列（lon/lng/longitude/经度，或 location "经度,纬度"）',
                        'no longitude column (lon/lng/longitude, or location "lng,lat")',
                    ),
                    field="lon",
                )
            if lat_c is None:
                bag.add(t("缺少纬度列（lat/latitude/纬度）", "no latitude column (lat/latitude)"), field="lat")
            bag.raise_if_any()
        lon_s, lat_s, coord_problems = points_from_columns(coords, crs="wgs84", file=str(p), china_only=False)
        bag.problems.extend(replace(q, field=named.get(q.field or "", q.field)) for q in coord_problems)
        lon, lat = lon_s.to_numpy(), lat_s.to_numpy()
        id_c = _find(cols, ID_NAMES)
        ids = (
            ["" if amap_empty(v) else str(v).strip() for v in df[id_c]]
            if id_c
            else [str(i + 1) for i in range(len(df))]
        )
        seen: dict[str, int] = {}
        for i, v in enumerate(ids):
            if v == "":
                bag.add(t("编号为空", "the id is empty"), row=int(rows[i]), field=id_c or "id")
            elif v in seen:
                bag.add(
                    t(f"编号 '{v}' 与第{seen[v]}行重复", f"id '{v}' repeats row {seen[v]}"),
                    row=int(rows[i]),
                    field=id_c or "id",
                )
            seen.setdefault(v, int(rows[i]))
        bag.problems.sort(key=lambda q: (q.row or 0, q.field or ""))
        bag.raise_if_any()
    else:
        try:
            gdf = gpd.read_file(p) if p.suffix.lower() != ".parquet" else gpd.read_parquet(p)
        except Exception as exc:  # noqa: BLE001 - the reader's own errors, whatever their type, become one line naming the file
            raise InputFileError(t(f"{p}: 无法读取矢量文件：{exc}", f"{p}: cannot read vector file: {exc}")) from None
        if gdf.crs is None:
            gdf = gdf.set_crs(4326)
        # features are numbered like CSV rows (first feature = row 2); nothing is dropped silently
        gdf.index = pd.RangeIndex(2, len(gdf) + 2)
        bag = ProblemCollector(file=str(p))
        for row in gdf.index[(gdf.geometry.isna() | gdf.geometry.is_empty).to_numpy()]:
            bag.add(t("该要素没有几何（坐标为空）", "this feature has no geometry"), row=int(row), field="geometry")
        id_c = _find(list(gdf.columns), ID_NAMES)
        if id_c:
            raw_ids = gdf[id_c].tolist()
            ids = ["" if v is None or (isinstance(v, float) and np.isnan(v)) else str(v).strip() for v in raw_ids]
        else:
            ids = [str(i + 1) for i in range(len(gdf))]
        seen = {}
        for row, v in zip(gdf.index, ids, strict=True):
            if id_c and v == "":
                bag.add(t("编号为空", "the id is empty"), row=int(row), field=id_c)
            elif v in seen:
                bag.add(
                    t(f"编号 '{v}' 与第{seen[v]}行重复", f"id '{v}' repeats row {seen[v]}"),
                    row=int(row),
                    field=id_c or "id",
                )
            seen.setdefault(v, int(row))
        bag.raise_if_any()
        gdf = gdf.to_crs(4326)
        pts = shapely.point_on_surface(gdf.geometry.to_numpy())  # a polygon (e.g. a 小区) → a point inside it
        lon, lat = shapely.get_x(pts), shapely.get_y(pts)
        rows = gdf.index.to_numpy()
    if len(ids) == 0:
        raise InputError(t(f"{p}: 文件中没有任何点", f"{p}: the file has no points"))
    wlon, wlat = to_wgs84(lon, lat, crs)
    return pd.DataFrame({"id": ids, "lon": wlon, "lat": wlat, "row": rows})


def _row(v: object) -> int | None:
    """A spreadsheet row number, or None when the point has none."""
    return None if v is None else int(v)  # type: ignore[call-overload]


def check_extent(
    points: pd.DataFrame, bounds: tuple[float, float, float, float], *, file: str, margin_deg: float = 0.01
) -> None:
    """Raise if any point lies outside the network's extent (plus a margin), saying when the
    point would fall inside with lon and lat swapped."""
    x0, y0, x1, y1 = bounds
    x0, y0, x1, y1 = x0 - margin_deg, y0 - margin_deg, x1 + margin_deg, y1 + margin_deg
    lon, lat = points["lon"].to_numpy(), points["lat"].to_numpy()
    inside = (lon >= x0) & (lon <= x1) & (lat >= y0) & (lat <= y1)
    swapped = (lat >= x0) & (lat <= x1) & (lon >= y0) & (lon <= y1)
    problems = []
    # a table without a "row" column (one point given on the command line) names no row
    rows = points["row"].to_numpy() if "row" in points else [None] * len(points)
    for i in np.flatnonzero(~inside):
        if swapped[i]:
            msg = t(
                "经纬度写反了：交换后才落在路网范围内",
                "lon and lat are swapped: only swapped does the point fall inside the network",
            )
        else:
            msg = t(
                f"点 ({lon[i]:.6f}, {lat[i]:.6f}) 在路网范围 ({x0:.4f},{y0:.4f})–({x1:.4f},{y1:.4f}) 之外",
                f"point ({lon[i]:.6f}, {lat[i]:.6f}) is outside the network's extent "
                f"({x0:.4f},{y0:.4f})–({x1:.4f},{y1:.4f})",
            )
        problems.append(Problem(msg, file=file, row=_row(rows[i]), field="lon,lat"))
    if problems:
        raise InputError(problems)
