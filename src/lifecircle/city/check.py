"""What a city has, and what each output still lacks (``lifecircle city check``).

The requirements are data (:data:`NEEDS`): for each command or group of indicators, the tables
(and columns) it needs. :func:`check_city` reads them against a :class:`City` and says, for each,
whether it can run and which table or column is missing, with the import command that fills it.
``evaluate`` uses the same list to say which indicators a partial city cannot give yet.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from lifecircle.city.model import City
from lifecircle.city.schema import TABLES, _empty
from lifecircle.i18n import t


@dataclass(frozen=True)
class Need:
    """One output and what it needs: ``tables`` that must have rows, ``columns`` (table, column)
    that must have at least one value. ``any_of`` lists alternatives: one of them is enough."""

    key: str
    zh: str
    en: str
    tables: tuple[str, ...] = ()
    columns: tuple[tuple[str, str], ...] = ()
    any_of: tuple[tuple[str, str], ...] = ()  # (table, column or "") — one with data suffices
    indicator: bool = False  # a group of evaluation indicators (rather than a command)


NEEDS: tuple[Need, ...] = (
    Need("access", "步行可达性 access", "walking access (access)", ("streets", "outlets")),
    Need(
        "evaluate",
        "评估 evaluate（小区与全市指标）",
        "evaluate (community and city figures)",
        ("streets", "outlets", "communities"),
    ),
    Need(
        "circle_grades",
        "生活圈指标与评级",
        "circle indicators and grades",
        ("streets", "outlets", "communities"),
        any_of=(("circles", ""), ("communities", "circle_id")),
        indicator=True,
    ),
    Need(
        "district_figures",
        "分区指标（区名与边界）",
        "district figures (names and boundaries)",
        ("districts",),
        indicator=True,
    ),
    Need("chain_share", "连锁化率", "chain share", columns=(("outlets", "is_chain"),), indicator=True),
    Need("satisfaction", "居民满意度", "residents' satisfaction", ("surveys",), indicator=True),
    Need(
        "service_area",
        "每百户社区服务面积",
        "service area per 100 households",
        columns=(("communities", "service_floor_area_m2"),),
        indicator=True,
    ),
    Need(
        "commercial_rule",
        "新建小区商业面积 ≥10%",
        "new communities' commercial floor area ≥ 10%",
        columns=(("communities", "floor_area_m2"), ("communities", "commercial_floor_area_m2")),
        indicator=True,
    ),
    Need(
        "plan_circles",
        "划定生活圈 plan circles",
        "delineate circles (plan circles)",
        ("streets", "communities", "districts", "centre_candidates"),
    ),
    Need(
        "plan_sites",
        "推荐选址 plan sites",
        "recommend sites (plan sites)",
        ("streets", "outlets", "communities", "candidate_sites"),
    ),
    Need("plan_types", "小区分类 plan types", "community types (plan types)", ("streets", "communities")),
    Need(
        "plan_report",
        "一圈一策 plan report",
        "one plan per circle (plan report)",
        ("streets", "outlets", "communities"),
        any_of=(("circles", ""), ("communities", "circle_id")),
    ),
    Need("scenario", "情景 scenario", "scenarios (scenario)", ("streets", "outlets", "communities")),
    Need(
        "platform",
        "管理平台 platform init / serve",
        "officials' platform (platform init / serve)",
        ("streets", "outlets", "communities", "circles"),
    ),
)

IMPORT_HINT = "lifecircle import {table} FILE --db STORE --city {city}"


@dataclass
class CityCheck:
    """The tables of a city (rows per table) and, for each :class:`Need`, what is missing."""

    city: str
    tables: pd.DataFrame  # table, rows, columns (with data)
    outputs: pd.DataFrame  # key, name, ready, missing (list of "table" or "table.column"), indicator

    def missing_for(self, key: str) -> list[str]:
        """What the output ``key`` still lacks (empty when it can run)."""
        row = self.outputs[self.outputs["key"] == key]
        return list(row["missing"].iloc[0]) if len(row) else []

    def indicator_notes(self) -> list[str]:
        """One line per group of indicators a partial city cannot give, naming the table it needs."""
        out = []
        for r in self.outputs[self.outputs["indicator"] & ~self.outputs["ready"]].itertuples():
            miss = "、".join(r.missing)
            out.append(
                t(
                    f"{r.name}：缺少 {miss}，暂无法计算（用 lifecircle import 导入后重新评估）",
                    f"{r.name}: needs {miss}, not computed yet (import it with lifecircle import, then evaluate again)",
                )
            )
        return out


def _has(city: City, table: str, column: str = "") -> bool:
    df = city.tables.get(table)
    if df is None or len(df) == 0:
        return False
    if not column:
        return True
    return column in df.columns and any(not _empty(v) for v in df[column].tolist())


def check_city(city: City) -> CityCheck:
    """What ``city`` has and what each output of :data:`NEEDS` still lacks."""
    rows = []
    for name in TABLES:
        df = city.tables.get(name)
        n = 0 if df is None else len(df)
        cols = [] if df is None or n == 0 else [c for c in df.columns if any(not _empty(v) for v in df[c].tolist())]
        rows.append((name, n, ", ".join(cols)))
    tables = pd.DataFrame(rows, columns=["table", "rows", "columns"])
    outs = []
    for need in NEEDS:
        missing = [tb for tb in need.tables if not _has(city, tb)]
        missing += [f"{tb}.{col}" for tb, col in need.columns if _has(city, tb) and not _has(city, tb, col)] + [
            tb for tb, _ in need.columns if not _has(city, tb) and tb not in missing
        ]
        if need.any_of and not any(_has(city, tb, col) for tb, col in need.any_of):
            missing.append(t(" 或 ", " or ").join(f"{tb}.{col}" if col else tb for tb, col in need.any_of))
        missing = list(dict.fromkeys(missing))
        outs.append((need.key, t(need.zh, need.en), not missing, missing, need.indicator))
    outputs = pd.DataFrame(outs, columns=["key", "name", "ready", "missing", "indicator"])
    return CityCheck(city=city.name, tables=tables, outputs=outputs)
