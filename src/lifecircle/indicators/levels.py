"""The later stages of :func:`lifecircle.indicators.evaluate.evaluate_city` (the first ones are in
:mod:`lifecircle.indicators.stages`), each a function with typed inputs and a dataclass (or table)
as output:

5. :func:`circle_indicator_stage` → :class:`CircleIndicatorStage`: the indicators of each circle;
6. :func:`grade_stage` → :class:`GradeStage`: the gap list of each circle (缺什么) and its grade;
7. :func:`district_stage` → :class:`DistrictStage`: the indicators of each district;
8. :func:`city_stage` → :class:`CityStage`: the city's headline figures;
9. :func:`format_coverage_table`: the within-layer share of every format at every level.

Populations in persons, floor areas in m², shares 0..1.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
from numpy.typing import NDArray

from lifecircle.city.model import City
from lifecircle.i18n import t
from lifecircle.indicators.aggregate import (
    Groups,
    codes,
    completeness,
    count_per,
    group_indicators,
    group_sum,
    mean_share,
    ratio,
)
from lifecircle.indicators.grades import NONE_CODE, GradingRules, grade_circle
from lifecircle.indicators.membership import circle_boundaries
from lifecircle.indicators.stages import (
    AccessStage,
    CircleStage,
    CommunityStage,
    FormatClasses,
    OutletStage,
)
from lifecircle.network import WalkNetwork
from lifecircle.profile import Profile

# ---------------------------------------------------------------------------- surveys
_PERIOD = re.compile(r"^\s*(\d{4})\s*(?:[-_ ]?\s*([HhQqMm]?)\s*(\d{1,2}))?\s*$")


def period_key(period: str) -> tuple[int, int, str]:
    """Sort key of a survey period: ``2024`` < ``2024Q1`` < ``2024H1`` (= June) < ``2024-07`` < ``2024H2``.
    Unrecognised text sorts before every recognised period."""
    m = _PERIOD.match(str(period))
    if not m:
        return (-1, 0, str(period))
    year = int(m.group(1))
    kind, num = (m.group(2) or "").upper(), m.group(3)
    if num is None:
        month = 12
    elif kind == "H":
        month = 6 * int(num)
    elif kind == "Q":
        month = 3 * int(num)
    else:
        month = int(num)
    return (year, month, str(period))


def latest_surveys(surveys: pd.DataFrame) -> pd.DataFrame:
    """Per circle, the sums of respondents and satisfied of its latest period: circle_id, period,
    respondents, satisfied."""
    cols = ["circle_id", "period", "respondents", "satisfied"]
    if surveys is None or len(surveys) == 0:
        return pd.DataFrame(columns=cols)
    s = surveys[cols].copy()
    s["circle_id"] = s["circle_id"].astype(str)
    s["_key"] = s["period"].map(period_key)
    latest = s.groupby("circle_id")["_key"].max()
    s = s[s["_key"] == s["circle_id"].map(latest)]
    g = s.groupby("circle_id", sort=False).agg(
        period=("period", "first"), respondents=("respondents", "sum"), satisfied=("satisfied", "sum")
    )
    return g.reset_index()


# ---------------------------------------------------------------------------- 5. circle indicators
@dataclass
class CircleIndicatorStage:
    """The indicators of each circle (rows in ``CircleStage.ids`` order): ``table`` (without grades,
    gaps or geometry), ``groups`` (the sums behind it), ``respondents`` / ``satisfied`` (persons in
    each circle's latest survey period, 0 without a survey) and ``boundaries`` (WGS-84: drawn, or
    around the circle's communities)."""

    table: pd.DataFrame
    groups: Groups
    respondents: NDArray[np.float64]
    satisfied: NDArray[np.float64]
    boundaries: list[Any]
    notes: list[str] = field(default_factory=list)


def _survey_sums(city: City, ids: list[str]) -> tuple[NDArray[np.float64], NDArray[np.float64], list[str]]:
    """Respondents and satisfied of each circle's latest survey period; a note for unknown circles."""
    sv = latest_surveys(city.surveys)
    sat_by = dict(zip(sv["circle_id"], zip(sv["respondents"], sv["satisfied"], strict=True), strict=True))
    unknown = sorted(set(sv["circle_id"]) - set(ids))
    notes = []
    if unknown:
        notes.append(
            t(
                f"满意度调查引用了未知生活圈：{', '.join(unknown)}（已忽略）",
                f"surveys name unknown circles: {', '.join(unknown)} (ignored)",
            )
        )
    resp = np.array([float(sat_by.get(cid, (0, 0))[0]) for cid in ids])
    satis = np.array([float(sat_by.get(cid, (0, 0))[1]) for cid in ids])
    return resp, satis, notes


def circle_group_columns(
    G: Groups, n_shops: NDArray[np.int64], n_chain: NDArray[np.int64], cls: FormatClasses
) -> dict[str, NDArray]:
    """The circle table's columns that come from its communities' sums ``G`` and its outlets
    (``n_shops`` shops, ``n_chain`` of them chains), in table order: residents (persons),
    communities, outlets, completeness and coverage (shares 0..1), quality formats, chain share,
    the new-community floor-area rule, service area per 100 households (m²) and smart coverage.
    The live indicators (:mod:`lifecircle.indicators.live`) call this for the circles an outlet
    change touches."""
    return {
        "population": G.pop.astype(np.int64),
        "n_communities": G.n_comm.astype(np.int64),
        "n_outlets": np.asarray(n_shops).astype(np.int64),
        "n_chain_outlets": np.asarray(n_chain).astype(np.int64),
        "basic_completeness": completeness(G.any_within, cls.basic),
        "basic_coverage": G.basic_coverage,
        "elderly_basic_coverage": G.elderly_basic_coverage,
        "basic_format_coverage": mean_share(G.covered, G.pop, cls.basic),
        "elderly_basic_format_coverage": mean_share(G.covered_old, G.pop, cls.basic),
        "quality_formats_present": G.any_within_15[:, cls.quality].sum(axis=1).astype(np.int64),
        "quality_coverage": G.quality_coverage,
        "chain_share": ratio(n_chain, n_shops),
        "new_commercial_ok_share": G.new_commercial_ok_share,
        "service_area_per_100hh": G.service_area_per_100hh,
        "smart_coverage": G.smart_coverage,
    }


def circle_indicator_stage(
    city: City,
    net: WalkNetwork,
    communities: CommunityStage,
    circles: CircleStage,
    outlets: OutletStage,
    profile: Profile,
    rules: GradingRules,
) -> CircleIndicatorStage:
    """Stage 5: residents, coverage, completeness, quality formats, chain share, floor-area rule,
    service area per 100 households (m²), smart coverage, satisfaction, and the communities on
    network islands, of each circle. A circle missing from the circles table lies in its
    communities' main district; a circle without a drawn boundary gets one around its communities
    (``rules.hull_buffer_m`` metres)."""
    cls = FormatClasses.of(profile)
    n_k, c_idx, ctab, extra = circles.n, circles.member, circles.table, circles.extra
    G = group_indicators(c_idx, n_k, communities.values)
    shop = (outlets.circle >= 0) & outlets.is_shop
    n_shops = np.bincount(outlets.circle[shop], minlength=n_k)[:n_k]
    n_chain = np.bincount(outlets.circle[shop & outlets.is_chain], minlength=n_k)[:n_k]
    resp, satis, notes = _survey_sums(city, circles.ids)

    def tab_col(name: str, default: Any = None) -> list:
        vals = ctab[name].tolist() if name in ctab.columns else [default] * len(ctab)
        return vals + [default] * len(extra)

    comm = communities.table
    c_district = tab_col("district")
    for i in range(circles.n_listed, n_k):  # a derived circle lies in its communities' main district
        ds = comm.loc[c_idx == i, "district"].dropna()
        c_district[i] = ds.mode().iloc[0] if len(ds) else None
    geoms = circle_boundaries(
        net, circles.given, c_idx, comm["lon"].to_numpy(float), comm["lat"].to_numpy(float), rules.hull_buffer_m
    )
    table = pd.DataFrame(
        {
            "id": circles.ids,
            "name": tab_col("name") if len(ctab) else list(circles.ids),
            "district": c_district,
            "phase": tab_col("phase"),
            "status": tab_col("status"),
            "boundary_given": [g is not None for g in circles.given],
            **circle_group_columns(G, n_shops, n_chain, cls),
            "satisfaction": ratio(satis, resp),
            "survey_respondents": resp.astype(np.int64),
        }
    )
    table["name"] = [n if isinstance(n, str) and n else i for n, i in zip(table["name"], table["id"], strict=True)]
    on_isl = comm["on_island"].to_numpy(dtype=bool)  # stranded communities are named with their circle
    table["n_communities_on_islands"] = count_per(c_idx, n_k, on_isl).astype(np.int64)
    table["communities_on_islands"] = [";".join(communities.ids[(c_idx == i) & on_isl].astype(str)) for i in range(n_k)]
    return CircleIndicatorStage(table=table, groups=G, respondents=resp, satisfied=satis, boundaries=geoms, notes=notes)


# ---------------------------------------------------------------------------- 6. gaps and grades
@dataclass
class GradeStage:
    """The graded circles (``Evaluation.circles``: the indicator table plus grade_code, grade,
    grade_en, grade_reasons(_en), gaps; WGS-84 geometry) and the gap list (``Evaluation.gaps``)."""

    circles: gpd.GeoDataFrame
    gaps: pd.DataFrame


def gap_table(circles: pd.DataFrame, G: Groups, profile: Profile, rules: GradingRules) -> pd.DataFrame:
    """The formats each circle lacks (within-layer share below ``rules.gap_threshold``), in priority
    order: ``rules.priority_formats`` first, then by class order of ``rules.gap_classes``; within a
    group, most residents uncovered first, ties in the order of the priority list / catalogue."""
    prio = {code: i for i, code in enumerate(rules.priority_formats)}
    class_rank = {c: i for i, c in enumerate(rules.gap_classes)}
    rows = []
    share = ratio(G.covered, G.pop[:, None])
    for k, rec in enumerate(circles[["id", "name", "district"]].itertuples(index=False)):
        if G.pop[k] <= 0:
            continue
        cand = []
        for j, f in enumerate(profile.formats):
            if f.cls not in class_rank or not share[k, j] < rules.gap_threshold:
                continue
            uncovered = int(round(G.pop[k] - G.covered[k, j]))
            if f.code in prio:
                key = (0, -uncovered, prio[f.code])
            else:
                key = (1 + class_rank[f.cls], -uncovered, j)
            cand.append((key, f, float(share[k, j]), uncovered))
        cand.sort(key=lambda x: x[0])
        for p, (_, f, s, unc) in enumerate(cand, start=1):
            rows.append((rec.id, rec.name, rec.district, f.code, f.zh, f.cls, s, unc, p))
    return pd.DataFrame(
        rows,
        columns=[
            "circle_id",
            "circle_name",
            "district",
            "format",
            "format_zh",
            "class",
            "share_within_layer",
            "residents_uncovered",
            "priority",
        ],
    )


def grade_stage(indicators: CircleIndicatorStage, profile: Profile, rules: GradingRules) -> GradeStage:
    """Stage 6: the gap list of each circle and its grade under ``rules`` (a circle without
    communities is not graded); see :func:`graded_table`."""
    circles, gaps = graded_table(indicators.table, indicators.groups, profile, rules)
    return GradeStage(
        circles=gpd.GeoDataFrame(circles, geometry=gpd.GeoSeries(indicators.boundaries, crs=4326), crs=4326), gaps=gaps
    )


def graded_table(
    table: pd.DataFrame, groups: Groups, profile: Profile, rules: GradingRules
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The circle indicator ``table`` (rows as ``groups``) with each circle's grade (grade_code,
    grade, grade_en, grade_reasons(_en)) and gap list (``gaps``: codes joined by ``;``), and the
    gap table (:func:`gap_table`); no geometry. The live indicators call this for the circles an
    outlet change touches."""
    gaps = gap_table(table, groups, profile, rules)
    gap_lists = gaps.groupby("circle_id", sort=False)["format"].agg(";".join) if len(gaps) else pd.Series(dtype=object)
    circles = table.copy()
    grade_rows = []
    for rec in circles.to_dict("records"):
        if rec["n_communities"] == 0:
            reason_zh, reason_en = "圈内没有小区，无法评定", "no communities in the circle; cannot be graded"
            grade_rows.append((NONE_CODE, "未达标", "Not graded", reason_zh, reason_en))
            continue
        g = grade_circle(rec, rules)
        grade_rows.append((g.code, g.zh, g.en, g.reasons("zh"), g.reasons("en")))
    for j, col in enumerate(["grade_code", "grade", "grade_en", "grade_reasons", "grade_reasons_en"]):
        circles[col] = [r[j] for r in grade_rows]
    circles["gaps"] = [gap_lists.get(cid, "") for cid in circles["id"]]
    return circles, gaps


def grade_codes(rules: GradingRules) -> list[str]:
    """The grade codes of ``rules`` in order, then the code of an ungraded circle."""
    return [g.code for g in rules.grades] + [NONE_CODE]


# ---------------------------------------------------------------------------- 7. districts
@dataclass
class DistrictStage:
    """The districts: ``codes`` (the districts table's codes, then codes named only by
    communities), ``groups`` (the sums behind the table) and ``table`` (``Evaluation.districts``)."""

    codes: list[str]
    groups: Groups
    table: pd.DataFrame


def district_stage(
    city: City,
    communities: CommunityStage,
    outlets: OutletStage,
    indicators: CircleIndicatorStage,
    graded: GradeStage,
    profile: Profile,
    rules: GradingRules,
) -> DistrictStage:
    """Stage 7: the indicators of each district (communities by their district, outlets by theirs,
    circles by theirs), with the number of circles of each grade (``n_<grade code>``)."""
    basic = FormatClasses.of(profile).basic
    dtab = city.districts.reset_index(drop=True)
    comm, circles = communities.table, graded.circles
    d_codes = [str(x) for x in dtab["code"]] if len(dtab) else []
    d_names = dict(zip(d_codes, dtab["name_zh"].astype(str), strict=True)) if len(dtab) else {}
    more = sorted({str(x) for x in comm["district"] if isinstance(x, str) and x} - set(d_codes))
    d_codes = d_codes + more
    n_d = len(d_codes)
    D = group_indicators(codes(comm["district"].to_numpy(dtype=object), d_codes), n_d, communities.values)
    od_idx = codes(outlets.district, d_codes)
    d_shops = count_per(od_idx, n_d, outlets.is_shop)
    d_chain = count_per(od_idx, n_d, outlets.is_shop & outlets.is_chain)
    cd_idx = codes(circles["district"].to_numpy(dtype=object), d_codes)
    table = pd.DataFrame(
        {
            "code": d_codes,
            "name_zh": [d_names.get(c, c) for c in d_codes],
            "population": D.pop.astype(np.int64),
            "n_communities": D.n_comm.astype(np.int64),
            "n_circles": count_per(cd_idx, n_d).astype(np.int64),
            "n_outlets": d_shops.astype(np.int64),
            "basic_completeness": completeness(D.any_within, basic),
            "basic_coverage": D.basic_coverage,
            "elderly_basic_coverage": D.elderly_basic_coverage,
            "basic_format_coverage": mean_share(D.covered, D.pop, basic),
            "elderly_basic_format_coverage": mean_share(D.covered_old, D.pop, basic),
            "quality_coverage": D.quality_coverage,
            "chain_share": ratio(d_chain, d_shops),
            "new_commercial_ok_share": D.new_commercial_ok_share,
            "service_area_per_100hh": D.service_area_per_100hh,
            "smart_coverage": D.smart_coverage,
            "satisfaction": ratio(
                group_sum(cd_idx, n_d, indicators.satisfied), group_sum(cd_idx, n_d, indicators.respondents)
            ),
        }
    )
    for code in grade_codes(rules):
        table[f"n_{code}"] = count_per(cd_idx, n_d, (circles["grade_code"] == code).to_numpy()).astype(np.int64)
    return DistrictStage(codes=d_codes, groups=D, table=table)


# ---------------------------------------------------------------------------- 8. city
@dataclass
class CityStage:
    """The whole city as one group (``groups``, one row) and its headline figures (``figures``,
    ``Evaluation.city``)."""

    groups: Groups
    figures: dict[str, Any]


def city_stage(
    city: City,
    access: AccessStage,
    communities: CommunityStage,
    outlets: OutletStage,
    indicators: CircleIndicatorStage,
    graded: GradeStage,
    districts: DistrictStage,
    profile: Profile,
    rules: GradingRules,
) -> CityStage:
    """Stage 8: the city's headline figures (residents and workers in persons, speeds in km/h,
    shares 0..1, service area per 100 households in m²; counts of circles per grade as
    ``grade_counts`` and ``n_<grade code>``)."""
    w, basic = profile.walking, FormatClasses.of(profile).basic
    n_c = len(communities.table)
    C = group_indicators(np.zeros(n_c, dtype=np.int64), 1, communities.values)
    G, circles, shop = indicators.groups, graded.circles, outlets.is_shop
    grade_counts = {code: int((circles["grade_code"] == code).sum()) for code in grade_codes(rules)}
    on_isl = access.community_piece > 0
    fig: dict[str, Any] = {
        "name": city.name,
        "synthetic": bool(city.synthetic),
        "profile": profile.name,
        "rules": rules.name,
        "speed_kmh": w.speed_kmh,
        "elderly_speed_kmh": w.elderly_speed_kmh,
        "population": int(C.pop[0]),
        "workers": int(communities.population[communities.industrial].sum()),
        "population_in_circles": int(G.pop.sum()),
        "n_communities": n_c,
        "n_outlets": int(shop.sum()),
        "n_smart_facilities": int((outlets.has_format & ~shop).sum()),
        "n_circles": len(circles),
        "n_districts": len(districts.codes),
        "basic_completeness": float(C.any_within[0, basic].mean()) if basic.any() else float("nan"),
        "basic_coverage": float(C.basic_coverage[0]),
        "elderly_basic_coverage": float(C.elderly_basic_coverage[0]),
        "basic_format_coverage": float(mean_share(C.covered, C.pop, basic)[0]),
        "elderly_basic_format_coverage": float(mean_share(C.covered_old, C.pop, basic)[0]),
        "quality_coverage": float(C.quality_coverage[0]),
        "smart_coverage": float(C.smart_coverage[0]),
        "chain_share": float(ratio(outlets.is_chain[shop].sum(), shop.sum())),
        "new_commercial_ok_share": float(C.new_commercial_ok_share[0]),
        "service_area_per_100hh": float(C.service_area_per_100hh[0]),
        "satisfaction": float(ratio(indicators.satisfied.sum(), indicators.respondents.sum())),
        "grade_counts": grade_counts,
        "n_gaps": int(len(graded.gaps)),
        "n_unsnapped_communities": int((~access.access.communities.ok).sum()),
        "n_unsnapped_outlets": int((~access.access.outlets.ok).sum()),
        "n_network_islands": access.islands.n_islands,
        "n_dropped_pieces": int(len(access.islands.dropped)),
        "n_communities_on_islands": int(on_isl.sum()),
        "population_on_islands": int(communities.population[on_isl].sum()),
        "n_outlets_on_islands": int(len(access.islands.on_island("outlets"))),
    }
    for code, k in grade_counts.items():
        fig[f"n_{code}"] = k
    return CityStage(groups=C, figures=fig)


# ---------------------------------------------------------------------------- 9. per-format coverage
FORMAT_COVERAGE_COLUMNS = [
    "level",
    "unit_id",
    "format",
    "format_zh",
    "class",
    "layer_min",
    "share_within_layer",
    "share_within_layer_elderly",
    "residents_uncovered",
]


def _format_coverage(level: str, ids: list[str], G: Groups, profile: Profile) -> pd.DataFrame:
    n_u, n_f = len(ids), len(profile.formats)
    if n_u == 0:
        return pd.DataFrame(columns=FORMAT_COVERAGE_COLUMNS)
    return pd.DataFrame(
        {
            "level": level,
            "unit_id": np.repeat(np.asarray(ids, dtype=object), n_f),
            "format": np.tile(np.asarray(profile.codes, dtype=object), n_u),
            "format_zh": np.tile(np.asarray([f.zh for f in profile.formats], dtype=object), n_u),
            "class": np.tile(np.asarray([f.cls for f in profile.formats], dtype=object), n_u),
            "layer_min": np.tile(np.asarray([f.layer_min for f in profile.formats]), n_u),
            "share_within_layer": ratio(G.covered, G.pop[:, None]).ravel(),
            "share_within_layer_elderly": ratio(G.covered_old, G.pop[:, None]).ravel(),
            "residents_uncovered": np.rint(G.pop[:, None] - G.covered).astype(np.int64).ravel(),
        }
    )


def format_coverage_table(
    city: City,
    city_fig: CityStage,
    districts: DistrictStage,
    circles: CircleStage,
    indicators: CircleIndicatorStage,
    profile: Profile,
) -> pd.DataFrame:
    """Stage 9: per format and level (city, district, circle), the share of residents whose nearest
    outlet is within the format's layer (``layer_min`` minutes) at both speeds, and the residents
    (persons) left outside it (``Evaluation.format_coverage``)."""
    return pd.concat(
        [
            _format_coverage("city", [city.name], city_fig.groups, profile),
            _format_coverage("district", districts.codes, districts.groups, profile),
            _format_coverage("circle", circles.ids, indicators.groups, profile),
        ],
        ignore_index=True,
    )
