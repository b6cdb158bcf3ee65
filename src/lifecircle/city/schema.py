"""The city data model: one table per kind of thing, each column typed and checked.

Every table is a (Geo)DataFrame in WGS-84 with the columns below. :func:`validate_table` checks a
table and reports *every* problem at once (row numbers as a spreadsheet shows them: header = 1).
Tables with a ``lon``/``lat`` pair are point tables; ``geometry`` columns hold shapely geometries.

Synthetic data carries ``source = "synthetic"`` on every row, and the store records it, so that
everything shown from it can be labelled 合成数据 / synthetic.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from lifecircle.errors import ProblemCollector
from lifecircle.i18n import t


@dataclass(frozen=True)
class Column:
    """A column of a city table. ``kind``: str, int, float, bool, geometry. ``choices`` limits
    the values; ``min``/``max`` bound numbers; ``required`` forbids empty values."""

    name: str
    kind: str
    required: bool = True
    choices: tuple[str, ...] | None = None
    min: float | None = None
    max: float | None = None
    doc: str = ""
    check: Callable[[Any], str | None] | None = field(default=None, compare=False)


COMMUNITY_KINDS = ("old", "complete", "new", "industrial")  # 老旧 / 完整 / 新建 / 产业园区
SITE_KINDS = ("idle_factory", "warehouse", "public_housing", "vacant_shop", "public_building")
CENTRE_KINDS = ("community_service_centre", "health_centre", "culture_centre", "transit_hub", "shopping_centre")
CIRCLE_PHASES = ("pilot", "rollout")
CIRCLE_STATUSES = ("planned", "building", "self_assessed", "pre_accepted", "accepted", "returned")

LON = Column("lon", "float", min=-180, max=180, doc="WGS-84 longitude, degrees")
LAT = Column("lat", "float", min=-90, max=90, doc="WGS-84 latitude, degrees")
SOURCE = Column("source", "str", required=False, doc="where the row came from: synthetic, amap, osm, survey ...")

TABLES: dict[str, list[Column]] = {
    "districts": [
        Column("code", "str", doc="administrative code (420502) or a zone code (gaoxin)"),
        Column("name_zh", "str"),
        Column("name_en", "str", required=False),
        Column("geometry", "geometry", doc="Polygon/MultiPolygon, WGS-84"),
        SOURCE,
    ],
    "communities": [
        Column("id", "str"),
        Column("name", "str"),
        Column("district", "str", doc="district code"),
        LON,
        LAT,
        Column("population", "int", min=0, doc="residents (for industrial: workers)"),
        Column("households", "int", min=0),
        Column("build_year", "int", required=False, min=1900, max=2100),
        Column("floor_area_m2", "float", required=False, min=0, doc="total floor area, m²"),
        Column("commercial_floor_area_m2", "float", required=False, min=0, doc="commercial and service floor area, m²"),
        Column("service_floor_area_m2", "float", required=False, min=0, doc="community service facility area, m²"),
        Column("elderly_share", "float", required=False, min=0, max=1, doc="share of residents aged 60+"),
        Column("kind", "str", choices=COMMUNITY_KINDS, doc="old 老旧 / complete 完整 / new 新建 / industrial 产业园区"),
        Column("circle_id", "str", required=False),
        SOURCE,
    ],
    "outlets": [
        Column("id", "str"),
        Column("name", "str"),
        Column("formats", "str", doc="format codes separated by ';' (一店多能: one outlet, several formats)"),
        LON,
        LAT,
        Column("district", "str", required=False),
        Column("brand", "str", required=False),
        Column("is_chain", "bool", required=False),
        Column("floor_area_m2", "float", required=False, min=0),
        Column("opening_hours", "str", required=False, doc="OSM opening_hours syntax, e.g. 'Mo-Su 07:00-22:00'"),
        Column("accepts_cash", "bool", required=False),
        Column("barrier_free", "bool", required=False),
        Column("elderly_counter", "bool", required=False),
        Column("address", "str", required=False),
        SOURCE,
    ],
    "candidate_sites": [
        Column("id", "str"),
        Column("name", "str"),
        Column("kind", "str", choices=SITE_KINDS),
        LON,
        LAT,
        Column("district", "str", required=False),
        Column("floor_area_m2", "float", required=False, min=0),
        SOURCE,
    ],
    "centre_candidates": [
        Column("id", "str"),
        Column("name", "str"),
        Column("kind", "str", choices=CENTRE_KINDS),
        LON,
        LAT,
        Column("district", "str", required=False),
        SOURCE,
    ],
    "circles": [
        Column("id", "str"),
        Column("name", "str"),
        Column("district", "str"),
        Column("phase", "str", choices=CIRCLE_PHASES),
        Column("centre_id", "str", required=False),
        Column("status", "str", required=False, choices=CIRCLE_STATUSES),
        Column("geometry", "geometry", required=False, doc="boundary polygon, WGS-84 (optional)"),
        SOURCE,
    ],
    "surveys": [
        Column("circle_id", "str"),
        Column("period", "str", doc="e.g. 2024H1, 2024Q3"),
        Column("respondents", "int", min=1),
        Column("satisfied", "int", min=0),
        SOURCE,
    ],
    "streets": [
        Column("geometry", "geometry", doc="LineString, WGS-84"),
        Column("highway", "str", required=False, doc="OSM-style class: primary, residential, footway ..."),
        Column("name", "str", required=False),
        Column(
            "id",
            "str",
            required=False,
            doc="the file's id / osm_id / fid, else a hash of the line's WKB (see lifecircle.city.ids)",
        ),
        Column("bridge", "bool", required=False, doc="on a bridge (OSM bridge=*, 桥梁)"),
        Column("tunnel", "bool", required=False, doc="in a tunnel (OSM tunnel=*, 隧道)"),
        Column("layer", "int", required=False, min=-10, max=10, doc="vertical order, OSM layer=* (0 = ground)"),
        SOURCE,
    ],
}


def _empty(v: Any) -> bool:
    return (
        v is None
        or (isinstance(v, float) and np.isnan(v))
        or (isinstance(v, str) and v.strip() == "")
        or v is pd.NA
        or v is pd.NaT
    )


_TRUE = {"1", "true", "yes", "y", "t", "是", "有"}
_FALSE = {"0", "false", "no", "n", "f", "否", "无"}


def _coerce(col: Column, v: Any) -> tuple[Any, str | None]:
    """Convert one value to the column's kind; return (value, problem or None)."""
    if col.kind == "str":
        return str(v).strip(), None
    if col.kind in ("int", "float"):
        try:
            x = float(str(v).replace(",", "")) if isinstance(v, str) else float(v)
        except (TypeError, ValueError):
            return None, t(f"'{v}' 不是数字", f"'{v}' is not a number")
        if not np.isfinite(x):
            return None, t(f"'{v}' 不是有限数字", f"'{v}' is not a finite number")
        if col.kind == "int":
            if x != int(x):
                return None, t(f"'{v}' 应为整数", f"'{v}' should be a whole number")
            x = int(x)
        if col.min is not None and x < col.min:
            return None, t(f"{v} 小于下限 {col.min:g}", f"{v} is below the minimum {col.min:g}")
        if col.max is not None and x > col.max:
            return None, t(f"{v} 超出上限 {col.max:g}", f"{v} is above the maximum {col.max:g}")
        return x, None
    if col.kind == "bool":
        if isinstance(v, bool | np.bool_):
            return bool(v), None
        s = str(v).strip().lower()
        if s in _TRUE:
            return True, None
        if s in _FALSE:
            return False, None
        return None, t(f"'{v}' 不是是/否值", f"'{v}' is not a yes/no value")
    if col.kind == "geometry":
        if not hasattr(v, "geom_type"):
            return None, t("不是几何对象", "not a geometry")
        if v.is_empty:
            return None, t("几何为空", "empty geometry")
        return v, None
    raise ValueError(col.kind)


def validate_table(name: str, df: pd.DataFrame, *, file: str | None = None, row_offset: int = 2) -> pd.DataFrame:
    """Check and convert a table against its schema; return a clean copy with the schema's columns.

    Every problem is collected, then raised together as one :class:`InputError` naming file, row
    and field. ``row_offset`` maps the first data row to its spreadsheet row (2 under a header).
    """
    spec = TABLES[name]
    bag = ProblemCollector(file=file or name)
    missing = [c.name for c in spec if c.required and c.name not in df.columns]
    for m in missing:
        bag.add(t(f"缺少必填列 '{m}'", f"required column '{m}' is missing"), field=m)
    bag.raise_if_any()
    out: dict[str, list[Any]] = {}
    for col in spec:
        if col.name not in df.columns:
            continue
        vals: list[Any] = []
        for i, v in enumerate(df[col.name].tolist()):
            row = i + row_offset
            if _empty(v):
                if col.required:
                    bag.add(t("必填值为空", "required value is empty"), row=row, field=col.name)
                vals.append(None)
                continue
            x, problem = _coerce(col, v)
            if problem is None and col.choices is not None and x not in col.choices:
                problem = t(
                    f"'{x}' 不在允许值 {', '.join(col.choices)} 之中", f"'{x}' is not one of {', '.join(col.choices)}"
                )
            if problem is None and col.check is not None:
                problem = col.check(x)
            if problem:
                bag.add(problem, row=row, field=col.name)
            vals.append(x)
        out[col.name] = vals
    if "id" in out:
        seen: dict[Any, int] = {}
        for i, v in enumerate(out["id"]):
            if v is None:
                continue
            if v in seen:
                bag.add(
                    t(f"id '{v}' 与第{seen[v]}行重复", f"id '{v}' repeats row {seen[v]}"),
                    row=i + row_offset,
                    field="id",
                )
            else:
                seen[v] = i + row_offset
    bag.raise_if_any()
    clean = pd.DataFrame(out, index=df.index)
    for col in spec:
        if col.name in clean and col.kind == "int" and not col.required:
            clean[col.name] = pd.array(clean[col.name], dtype="Int64")
        elif col.name in clean and col.kind == "float":
            clean[col.name] = clean[col.name].astype(float)
    if "geometry" in clean.columns:
        import geopandas as gpd

        return gpd.GeoDataFrame(clean, geometry="geometry", crs=4326)
    return clean


def split_formats(value: str) -> list[str]:
    """Format codes of an outlet's ``formats`` field ('a;b', 'a,b', 'a；b' or 'a、b')."""
    for sep in ("；", ",", "，", "|", "、"):
        value = value.replace(sep, ";")
    return [s.strip() for s in value.split(";") if s.strip()]
