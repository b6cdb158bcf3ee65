"""Per-kind conversion of a table the importer read onto the schema (:mod:`lifecircle.city.schema`):
:func:`_prepare` maps headers and values (:mod:`lifecircle.sources.import_headers`), converts
coordinates and geometries to WGS-84 (GCJ-02 / BD-09 converted, invalid polygons repaired), makes
content-based ids for a file without an id column, strips units from numbers ('2005年', '1,200㎡',
'18%'), turns format names into codes (outlets) and checks surveys. It returns the table and the
problems found; validating against the schema and the report are :mod:`lifecircle.sources.importer`.
"""

from __future__ import annotations

import re
from typing import Any

import numpy as np
import pandas as pd

from lifecircle.city.ids import point_ids
from lifecircle.city.schema import TABLES, split_formats
from lifecircle.errors import Problem
from lifecircle.i18n import t
from lifecircle.profile import Profile
from lifecircle.sources.amap import CHINA_LAT, CHINA_LON, is_empty, points_from_columns
from lifecircle.sources.coords import to_wgs84
from lifecircle.sources.import_headers import _COMMON, HEADERS, VALUES
from lifecircle.sources.tables import RawTable, rename_columns

_UNITS = re.compile(r"\s*(年代|年|人|户|平方米|平米|㎡|m²|m2|万元)$")
_ID_PREFIX = {"outlets": "o", "communities": "c", "candidate_sites": "s", "centre_candidates": "cc"}


def _district_code(v: Any, codes: dict[str, str]) -> Any:
    if is_empty(v):
        return v
    s = str(v).strip()
    return codes.get(s) or codes.get(s.removesuffix("区")) or codes.get(s + "区") or s


def _prepare(
    kind: str, raw: RawTable, *, crs: str, profile: Profile, notes: list[str]
) -> tuple[pd.DataFrame, list[Problem]]:
    """Map headers and values onto the schema; coordinates and geometry to WGS-84."""
    spec = {c.name: c for c in TABLES[kind]}
    aliases = {
        **{k: v for k, v in _COMMON.items() if v in spec or v == "location"},
        **HEADERS.get(kind, {}),
        **{c: c for c in spec},
    }
    if kind == "districts":
        aliases = {k: v for k, v in aliases.items() if v != "name" and k != "名称"} | HEADERS["districts"]
    df = rename_columns(raw.df, aliases)
    file = raw.file
    problems: list[Problem] = []
    if "lon" in spec:
        lon, lat, coord = points_from_columns(df, crs=crs, file=file)
        df = df.drop(columns=[c for c in ("location", "lng") if c in df.columns])
        df["lon"], df["lat"] = lon, lat
        problems += coord
    if "geometry" in spec and "geometry" in df.columns:
        geoms, gp = _geometry_to_wgs84(kind, raw, df["geometry"], crs)
        df["geometry"] = geoms
        problems += gp
    if "id" in spec and "id" not in df.columns and kind in _ID_PREFIX:
        names = df["name"].tolist() if "name" in df.columns else [None] * len(df)
        df["id"] = point_ids(_ID_PREFIX[kind], names, df["lon"].tolist(), df["lat"].tolist())
        notes.append(
            t(
                "文件没有 id 列：已按名称和坐标生成 id（同一行每次导入得到同一 id）",
                "the file has no id column; ids were made from name and coordinates "
                "(the same row always gets the same id)",
            )
        )
    for (k, col), mapping in VALUES.items():
        if k == kind and col in df.columns:
            df[col] = [mapping.get(str(v).strip(), v) if not is_empty(v) else v for v in df[col].tolist()]
    for name, column in spec.items():
        if column.kind in ("int", "float") and name in df.columns and name not in ("lon", "lat"):
            df[name] = [_strip_units(v, share=name.endswith("_share")) for v in df[name].tolist()]
    if kind == "outlets" and "formats" in df.columns:
        df["formats"], fp = _format_codes(df, profile, file)
        problems += fp
    if kind == "surveys":
        problems += _check_surveys(df, file)
    if "source" in spec:
        src = df["source"].tolist() if "source" in df.columns else [None] * len(df)
        df["source"] = ["import" if is_empty(v) else v for v in src]
    return df, problems


def _strip_units(v: Any, *, share: bool) -> Any:
    """'2005年' → '2005', '1,200㎡' → '1200', '18%' → 0.18 (shares only)."""
    if not isinstance(v, str):
        return v
    s = _UNITS.sub("", v.strip()).replace(",", "").replace("，", "")
    if share and s.endswith("%"):
        try:
            return float(s[:-1]) / 100.0
        except ValueError:
            return v
    return s


def _format_codes(df: pd.DataFrame, profile: Profile, file: str) -> tuple[list[Any], list[Problem]]:
    """Format codes of each outlet (Chinese names accepted); unknown codes are problems."""
    by_name = {f.zh: f.code for f in profile.formats} | {f.en.lower(): f.code for f in profile.formats}
    out: list[Any] = []
    problems: list[Problem] = []
    for row, v in zip(df.index, df["formats"].tolist(), strict=True):
        if is_empty(v):
            out.append(None)
            continue
        codes = []
        for part in split_formats(str(v)):
            code = part if part in profile.by_code else by_name.get(part) or by_name.get(part.lower())
            if code is None:
                problems.append(
                    Problem(
                        t(
                            f"未知业态 '{part}'（配置 {profile.name}）；可用代码：{', '.join(profile.codes)}",
                            f"unknown format '{part}' in profile {profile.name}; "
                            f"known codes: {', '.join(profile.codes)}",
                        ),
                        file=file,
                        row=int(row),
                        field="formats",
                    )
                )
            elif code not in codes:
                codes.append(code)
        out.append(";".join(codes) if codes else v)
    return out, problems


def _check_surveys(df: pd.DataFrame, file: str) -> list[Problem]:
    problems: list[Problem] = []
    if "respondents" not in df.columns or "satisfied" not in df.columns:
        return problems
    for row, n, s in zip(df.index, df["respondents"].tolist(), df["satisfied"].tolist(), strict=True):
        try:
            n_, s_ = float(n), float(s)
        except (TypeError, ValueError):
            continue
        if s_ > n_:
            problems.append(
                Problem(
                    t(f"满意人数 {s_:g} 大于受访人数 {n_:g}", f"satisfied {s_:g} exceeds respondents {n_:g}"),
                    file=file,
                    row=int(row),
                    field="satisfied",
                )
            )
    return problems


def _geometry_to_wgs84(kind: str, raw: RawTable, geoms: pd.Series, crs: str) -> tuple[list[Any], list[Problem]]:
    """Geometries in WGS-84 degrees: the file's own CRS first, then ``crs`` (GCJ-02/BD-09
    vertices are converted). Districts must be polygons; invalid polygons are repaired."""
    import geopandas as gpd
    import shapely

    gs = gpd.GeoSeries(geoms, crs=raw.crs or "EPSG:4326")
    if gs.crs is not None and not gs.crs.equals("EPSG:4326"):
        gs = gs.to_crs(4326)
    arr = np.asarray(gs.values, dtype=object)
    if crs != "wgs84":

        def fn(xy: np.ndarray) -> np.ndarray:
            return np.column_stack(to_wgs84(xy[:, 0], xy[:, 1], crs))

        ok = np.array([g is not None for g in arr])
        arr[ok] = shapely.transform(arr[ok], fn)
    problems: list[Problem] = []
    out: list[Any] = []
    for row, g in zip(raw.df.index, arr, strict=True):
        if g is None or g.is_empty:
            out.append(None)  # the schema reports a required empty geometry
            continue
        if kind == "districts" or g.geom_type in ("Polygon", "MultiPolygon"):
            if g.geom_type not in ("Polygon", "MultiPolygon"):
                problems.append(
                    Problem(
                        t(
                            f"几何类型为 {g.geom_type}，应为面（Polygon）",
                            f"geometry is a {g.geom_type}; a polygon is needed",
                        ),
                        file=raw.file,
                        row=int(row),
                        field="geometry",
                    )
                )
                out.append(None)
                continue
            g = _repair_polygon(g)  # noqa: PLW2901 - the repaired polygon replaces the input
        c = g.representative_point()
        if not (CHINA_LON[0] <= c.x <= CHINA_LON[1] and CHINA_LAT[0] <= c.y <= CHINA_LAT[1]):
            problems.append(
                Problem(
                    t(
                        f"几何位置 ({c.x:.4g}, {c.y:.4g}) 不在中国境内：文件坐标系可能缺失或有误",
                        f"geometry at ({c.x:.4g}, {c.y:.4g}) is outside China; the file's CRS may be missing or wrong",
                    ),
                    file=raw.file,
                    row=int(row),
                    field="geometry",
                )
            )
        out.append(g)
    return out, problems


def _repair_polygon(g: Any) -> Any:
    """A valid polygon for ``g``: invalid rings are made valid, keeping only the polygonal parts."""
    import shapely

    if g.is_valid:
        return g
    g = shapely.make_valid(g)
    if g.geom_type == "GeometryCollection":
        g = shapely.union_all([p for p in g.geoms if p.geom_type in ("Polygon", "MultiPolygon")])
    return g
