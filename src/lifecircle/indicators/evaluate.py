"""Evaluate a city's living circles: indicators per community, circle, district and city, the gap
list of each circle (缺什么) and its grade (M4, M7, M13, M15, M16).

Definitions (population = residents; industrial communities count their workers separately and are
left out of resident-weighted indicators):

- *within layer*: the nearest outlet of a format is within the format's ``layer_min`` minutes at
  the default walking speed (``_elderly``: at the older residents' speed).
- community ``basic_complete``: every basic format within its layer.
- ``basic_coverage``: population share of residents whose community is basic-complete;
  ``elderly_basic_coverage`` the same at the older residents' speed.
- ``basic_format_coverage``: the mean over basic formats of the population share reaching the
  format within its layer (gentler than ``basic_coverage``, which needs all formats at once);
  ``elderly_basic_format_coverage`` the same at the older residents' speed.
- ``basic_completeness`` (circle): share of basic formats that at least one community of the
  circle reaches within the format's layer.
- ``quality_formats_present`` (circle): quality formats that at least one community reaches within
  15 minutes (the largest walking layer); ``quality_coverage``: residents reaching at least
  ``[targets].quality_min_formats`` quality formats within 15 minutes.
- ``chain_share``: outlets with ``is_chain`` true / outlets (an unknown flag counts as not chain;
  outlets that only hold smart facilities are not shops and are left out).
- ``commercial_share`` (new communities): commercial floor area / total floor area; the rule is
  ``>= [targets].new_commercial_share``; ``new_commercial_ok_share`` = share of new communities
  (with floor-area data) meeting it.
- ``service_area_per_100hh``: community service floor area per 100 households, m², over the
  communities that report ``service_floor_area_m2``.
- ``smart_coverage``: residents reaching at least one smart facility within its layer.
- ``satisfaction``: sum satisfied / sum respondents of each circle's latest survey period; for a
  district or the city, summed over their circles' latest periods.

Circle membership of outlets: see :mod:`lifecircle.indicators.membership`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
from numpy.typing import NDArray

from lifecircle.city.check import check_city
from lifecircle.city.model import City
from lifecircle.i18n import t
from lifecircle.indicators.access import CityAccess, access_table, compute_access, unsnapped_report
from lifecircle.indicators.grades import NONE_CODE, GradingRules, grade_circle, load_rules
from lifecircle.indicators.membership import (
    circle_boundaries,
    outlet_circles,
    point_in_polygons,
    valid_geom,
)
from lifecircle.network import WalkNetwork
from lifecircle.network.engine import metres, within
from lifecircle.network.islands import Islands, find_islands
from lifecircle.profile import Profile

INDUSTRIAL = "industrial"
NEW = "new"


@dataclass
class Evaluation:
    """Everything the reports need about one evaluated city (see the module docstring for the
    definitions; distances in metres, times in minutes, speeds in km/h, shares 0..1)."""

    synthetic: bool
    city_name: str
    profile: Profile
    speed_kmh: float
    elderly_speed_kmh: float
    access: pd.DataFrame
    communities: pd.DataFrame
    circles: gpd.GeoDataFrame
    districts: pd.DataFrame
    city: dict[str, Any]
    format_coverage: pd.DataFrame
    gaps: pd.DataFrame
    rules: GradingRules | None = None
    outlets: pd.DataFrame = field(default_factory=pd.DataFrame)  # outlets with circle_id, district, snapped
    unsnapped: pd.DataFrame = field(default_factory=pd.DataFrame)  # points too far from every street
    notes: list[str] = field(default_factory=list)  # data problems worth showing (unknown codes ...)
    islands: Islands | None = None  # network pieces apart from the main one, and who sits on them
    city_key: str = ""  # the city's store name (``City.name``); ``city_name`` is its display name
    city_provenance: dict[str, Any] = field(default_factory=dict)  # how the city was made (City.provenance)


def resolve_rules(rules: GradingRules | str | Path | None, profile: Profile) -> GradingRules:
    """The grading rules: given, named/path, the profile's ``grading = "..."`` entry, or the default."""
    if isinstance(rules, GradingRules):
        return rules
    if rules is None:
        rules = profile.extra.get("grading")
    return load_rules(rules)


# ---------------------------------------------------------------------------- helpers
def _group_sum(idx: NDArray[np.int64], n: int, values: NDArray) -> NDArray[np.float64]:
    """Sum of ``values`` (1-D or 2-D rows) per group ``idx`` (``-1`` = no group)."""
    ok = idx >= 0
    values = np.asarray(values, dtype=float)
    if values.ndim == 1:
        return np.bincount(idx[ok], weights=values[ok], minlength=n)[:n]
    out = np.zeros((n, values.shape[1]))
    np.add.at(out, idx[ok], values[ok])
    return out


def _ratio(num: NDArray | float, den: NDArray | float) -> NDArray:
    num = np.asarray(num, dtype=float)
    den = np.asarray(den, dtype=float)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, num / np.where(den > 0, den, 1.0), np.nan)


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
    g = s.groupby("circle_id", sort=False).agg(period=("period", "first"), respondents=("respondents", "sum"),
                                               satisfied=("satisfied", "sum"))
    return g.reset_index()


def _col(df: pd.DataFrame, name: str, n: int, dtype: str = "float") -> NDArray:
    if name not in df.columns:
        return np.full(n, np.nan) if dtype == "float" else np.full(n, None, dtype=object)
    if dtype == "float":
        return pd.to_numeric(df[name], errors="coerce").to_numpy(dtype=float, na_value=np.nan)
    return df[name].to_numpy(dtype=object, copy=True)


def _codes(values: NDArray, ids: list[str]) -> NDArray[np.int64]:
    index = {v: i for i, v in enumerate(ids)}
    return np.array([index.get(str(v), -1) if isinstance(v, str) and v else -1 for v in values], dtype=np.int64)


@dataclass
class _Groups:
    """Population-weighted indicators for a grouping of communities."""

    pop: NDArray
    n_comm: NDArray
    basic_coverage: NDArray
    elderly_basic_coverage: NDArray
    smart_coverage: NDArray
    quality_coverage: NDArray
    covered: NDArray  # residents within layer, (n_groups, n_formats)
    covered_old: NDArray
    any_within: NDArray  # (n_groups, n_formats) bool: some community reaches it within its layer
    any_within_15: NDArray
    service_area_per_100hh: NDArray
    new_commercial_ok_share: NDArray


def _groups(idx: NDArray[np.int64], n: int, c: dict[str, NDArray]) -> _Groups:
    w = c["w"]
    pop = _group_sum(idx, n, w)
    n_comm = np.bincount(idx[idx >= 0], minlength=n)[:n]
    covered = _group_sum(idx, n, w[:, None] * c["within"])
    covered_old = _group_sum(idx, n, w[:, None] * c["within_old"])
    any_within = _group_sum(idx, n, c["within"]) > 0
    any15 = _group_sum(idx, n, c["within15"]) > 0
    has_sa = np.isfinite(c["service_area"])
    sa = _group_sum(np.where(has_sa, idx, -1), n, np.nan_to_num(c["service_area"]))
    hh = _group_sum(np.where(has_sa, idx, -1), n, np.nan_to_num(c["households"]))
    has_cs = np.isfinite(c["commercial_share"])
    n_new = _group_sum(np.where(has_cs, idx, -1), n, np.ones(len(idx)))
    n_ok = _group_sum(np.where(has_cs, idx, -1), n, c["commercial_ok"].astype(float))
    return _Groups(
        pop=pop,
        n_comm=n_comm,
        basic_coverage=_ratio(_group_sum(idx, n, w * c["basic_complete"]), pop),
        elderly_basic_coverage=_ratio(_group_sum(idx, n, w * c["basic_complete_old"]), pop),
        smart_coverage=_ratio(_group_sum(idx, n, w * c["smart_any"]), pop),
        quality_coverage=_ratio(_group_sum(idx, n, w * c["quality_ok"]), pop),
        covered=covered,
        covered_old=covered_old,
        any_within=any_within,
        any_within_15=any15,
        service_area_per_100hh=_ratio(100.0 * sa, hh),
        new_commercial_ok_share=_ratio(n_ok, n_new),
    )


# ---------------------------------------------------------------------------- main entry
def district_aliases(districts: pd.DataFrame) -> dict[str, str]:
    """Every way a table may name a district → its code: the code itself, the Chinese name
    (西陵区) and the name without its 区 suffix (西陵). Data imported before the district
    boundaries keeps names like 西陵区; this is how they meet the codes again."""
    out: dict[str, str] = {}
    if not len(districts):
        return out
    for code, name in zip(districts["code"].astype(str), districts["name_zh"].astype(str), strict=True):
        out[name] = code
        if name.endswith("区") and len(name) > 2:
            out.setdefault(name[:-1], code)
    for code in districts["code"].astype(str):
        out[code] = code  # a code always wins over a name that looks the same
    return out


def with_district_codes(df: pd.DataFrame, aliases: dict[str, str]) -> pd.DataFrame:
    """A copy of ``df`` whose ``district`` values are district codes where a name was given."""
    if "district" not in df.columns or not aliases:
        return df
    out = df.copy()
    out["district"] = [aliases.get(str(v).strip(), v) if isinstance(v, str) else v for v in df["district"]]
    return out


def evaluate_city(
    city: City,
    net: WalkNetwork,
    profile: Profile,
    *,
    rules: GradingRules | str | Path | None = None,
) -> Evaluation:
    """Evaluate every community, circle, district and the city; grade the circles.

    ``net`` is the city's walking network (metric CRS); ``profile`` gives the formats, their walking
    layers (minutes) and speeds (km/h); ``rules`` the grading rules (default: the profile's
    ``grading`` entry or ``grading-yichang-2022``). Runs the engine once for all formats.
    """
    rules = resolve_rules(rules, profile)
    w = profile.walking
    notes: list[str] = check_city(city).indicator_notes()  # what a partial city cannot give yet, and why
    aliases = district_aliases(city.districts)
    comm = with_district_codes(city.communities.reset_index(drop=True), aliases)
    outl = with_district_codes(city.outlets.reset_index(drop=True), aliases)
    n_c, n_o = len(comm), len(outl)
    cls = np.array([f.cls for f in profile.formats])
    is_basic, is_quality, is_smart = cls == "basic", cls == "quality", cls == "smart"

    # --- access (one engine pass for all formats)
    acc: CityAccess = compute_access(net, comm, outl, profile)
    if acc.exploded.unknown:
        bad = sorted({code for _, code in acc.exploded.unknown})
        notes.append(t(f"{len(acc.exploded.unknown)} 处网点业态代码不在配置 {profile.name} 中，已忽略：{', '.join(bad)}",
                       f"{len(acc.exploded.unknown)} outlet format codes are not in profile {profile.name} and were ignored: {', '.join(bad)}"))
    unsnapped = unsnapped_report(acc, comm, outl, w.snap_max_m)
    islands = network_islands(net, {"communities": (comm, acc.communities), "outlets": (outl, acc.outlets)})
    if net.noding is not None and (net.noding.ends_joined or net.noding.t_joins):
        notes.append(net.noding.lines()[0])  # what was repaired in the street lines
    notes.extend(islands.lines())
    comm_piece = _pieces_of(net, acc.communities)
    q_layer = max(w.layers_min) if w.layers_min else 15.0
    within15 = within(acc.nearest_m, metres(q_layer, w.speed_kmh))

    # --- community indicators
    kind = _col(comm, "kind", n_c, "object")
    population = _col(comm, "population", n_c)
    population = np.nan_to_num(population)
    resident_w = np.where(kind == INDUSTRIAL, 0.0, population)
    floor = _col(comm, "floor_area_m2", n_c)
    commercial = _col(comm, "commercial_floor_area_m2", n_c)
    new_share_min = rules.target("new_commercial_share", 0.10)
    q_min = rules.target("quality_min_formats", 5)
    commercial_share = np.where((kind == NEW) & (floor > 0), _ratio(commercial, floor), np.nan)
    commercial_ok = np.where(np.isfinite(commercial_share), commercial_share >= new_share_min, False)
    basic_n = acc.within[:, is_basic].sum(axis=1)
    quality_n = within15[:, is_quality].sum(axis=1)
    cvals = {
        "w": resident_w,
        "within": acc.within,
        "within_old": acc.within_elderly,
        "within15": within15,
        "basic_complete": acc.within[:, is_basic].all(axis=1) if n_c else np.zeros(0, bool),
        "basic_complete_old": acc.within_elderly[:, is_basic].all(axis=1) if n_c else np.zeros(0, bool),
        "smart_any": acc.within[:, is_smart].any(axis=1) if n_c else np.zeros(0, bool),
        "quality_ok": quality_n >= q_min,
        "service_area": _col(comm, "service_floor_area_m2", n_c),
        "households": _col(comm, "households", n_c),
        "commercial_share": commercial_share,
        "commercial_ok": commercial_ok,
    }
    comm_ids = comm["id"].astype(str).to_numpy(dtype=object) if n_c else np.zeros(0, dtype=object)
    communities = pd.DataFrame({
        "id": comm_ids,
        "name": _col(comm, "name", n_c, "object"),
        "district": _col(comm, "district", n_c, "object"),
        "circle_id": _col(comm, "circle_id", n_c, "object"),
        "kind": kind,
        "population": population.astype(np.int64),
        "households": np.nan_to_num(cvals["households"]).astype(np.int64),
        "lon": _col(comm, "lon", n_c),
        "lat": _col(comm, "lat", n_c),
        "snapped": acc.communities.ok,
        "network_piece": comm_piece,
        "on_island": comm_piece > 0,
        "basic_formats_within_layer": basic_n.astype(np.int64),
        "basic_complete": cvals["basic_complete"],
        "basic_complete_elderly": cvals["basic_complete_old"],
        "quality_formats_within_15": quality_n.astype(np.int64),
        "smart_within_layer": cvals["smart_any"],
        "commercial_share": commercial_share,
        "commercial_rule_ok": pd.array(np.where(np.isfinite(commercial_share), commercial_ok, None), dtype="boolean"),
    })

    # --- circles: table rows, plus ids named by communities but missing from the table
    ctab = with_district_codes(city.circles.reset_index(drop=True), aliases)
    circle_ids = [str(x) for x in ctab["id"]] if len(ctab) else []
    extra = sorted({str(x) for x in communities["circle_id"] if isinstance(x, str) and x and str(x) not in set(circle_ids)})
    if extra:
        notes.append(t(f"小区引用了圈表中没有的生活圈：{', '.join(extra)}（已按小区补出）",
                       f"communities name circles missing from the circles table: {', '.join(extra)} (added from the communities)"))
    n_k = len(circle_ids) + len(extra)
    all_circle_ids = circle_ids + extra
    c_idx = _codes(communities["circle_id"].to_numpy(dtype=object), all_circle_ids)
    given = [ctab["geometry"].iloc[i] if "geometry" in ctab.columns else None for i in range(len(ctab))] + [None] * len(extra)
    given = [g if valid_geom(g) else None for g in given]

    # outlets: circle membership, district, shop or smart-only
    o_lon, o_lat = _col(outl, "lon", n_o), _col(outl, "lat", n_o)
    o_circle = outlet_circles(net, (o_lon, o_lat), acc.outlets, acc.communities, c_idx, given,
                              metres(q_layer, w.speed_kmh))
    ex = acc.exploded
    has_shop = np.zeros(n_o, dtype=bool)
    has_fmt = np.zeros(n_o, dtype=bool)
    if len(ex):
        has_shop[ex.outlet[~is_smart[ex.cat]]] = True
        has_fmt[ex.outlet] = True
    is_chain = np.zeros(n_o, dtype=bool)
    if "is_chain" in outl.columns and n_o:
        is_chain = outl["is_chain"].fillna(False).astype(bool).to_numpy()
    dtab = city.districts.reset_index(drop=True)
    o_district = _col(outl, "district", n_o, "object")
    missing_d = np.array([not (isinstance(v, str) and v) for v in o_district], dtype=bool)
    if missing_d.any() and len(dtab):
        pos = point_in_polygons(o_lon[missing_d], o_lat[missing_d], dtab["geometry"])
        o_district[missing_d] = np.where(pos >= 0, dtab["code"].astype(str).to_numpy(dtype=object)[np.maximum(pos, 0)], None)
    outlets = pd.DataFrame({
        "id": _col(outl, "id", n_o, "object"),
        "name": _col(outl, "name", n_o, "object"),
        "formats": _col(outl, "formats", n_o, "object"),
        "is_chain": is_chain,
        "is_shop": has_shop,
        "lon": o_lon,
        "lat": o_lat,
        "district": o_district,
        "circle_id": np.array([all_circle_ids[i] if i >= 0 else None for i in o_circle], dtype=object),
        "snapped": acc.outlets.ok,
    })

    # --- circle indicators
    G = _groups(c_idx, n_k, cvals)
    n_shops = np.bincount(o_circle[(o_circle >= 0) & has_shop], minlength=n_k)[:n_k]
    n_chain = np.bincount(o_circle[(o_circle >= 0) & has_shop & is_chain], minlength=n_k)[:n_k]
    n_basic = int(is_basic.sum())
    sv = latest_surveys(city.surveys)
    sat_by = dict(zip(sv["circle_id"], zip(sv["respondents"], sv["satisfied"], strict=True), strict=True))
    unknown_sv = sorted(set(sv["circle_id"]) - set(all_circle_ids))
    if unknown_sv:
        notes.append(t(f"满意度调查引用了未知生活圈：{', '.join(unknown_sv)}（已忽略）",
                       f"surveys name unknown circles: {', '.join(unknown_sv)} (ignored)"))
    resp = np.array([float(sat_by.get(cid, (0, 0))[0]) for cid in all_circle_ids])
    satis = np.array([float(sat_by.get(cid, (0, 0))[1]) for cid in all_circle_ids])

    def tab_col(name: str, default: Any = None) -> list:
        vals = ctab[name].tolist() if name in ctab.columns else [default] * len(ctab)
        return vals + [default] * len(extra)

    c_district = tab_col("district")
    for i in range(len(circle_ids), n_k):  # a derived circle lies in its communities' main district
        ds = communities.loc[c_idx == i, "district"].dropna()
        c_district[i] = ds.mode().iloc[0] if len(ds) else None
    geoms = circle_boundaries(net, given, c_idx, communities["lon"].to_numpy(float),
                              communities["lat"].to_numpy(float), rules.hull_buffer_m)
    circles = pd.DataFrame({
        "id": all_circle_ids,
        "name": tab_col("name") if len(ctab) else list(all_circle_ids),
        "district": c_district,
        "phase": tab_col("phase"),
        "status": tab_col("status"),
        "boundary_given": [g is not None for g in given],
        "population": G.pop.astype(np.int64),
        "n_communities": G.n_comm.astype(np.int64),
        "n_outlets": n_shops.astype(np.int64),
        "n_chain_outlets": n_chain.astype(np.int64),
        "basic_completeness": (G.any_within[:, is_basic].sum(axis=1) / n_basic) if n_basic else np.nan,
        "basic_coverage": G.basic_coverage,
        "elderly_basic_coverage": G.elderly_basic_coverage,
        "basic_format_coverage": _mean_share(G.covered, G.pop, is_basic),
        "elderly_basic_format_coverage": _mean_share(G.covered_old, G.pop, is_basic),
        "quality_formats_present": G.any_within_15[:, is_quality].sum(axis=1).astype(np.int64),
        "quality_coverage": G.quality_coverage,
        "chain_share": _ratio(n_chain, n_shops),
        "new_commercial_ok_share": G.new_commercial_ok_share,
        "service_area_per_100hh": G.service_area_per_100hh,
        "smart_coverage": G.smart_coverage,
        "satisfaction": _ratio(satis, resp),
        "survey_respondents": resp.astype(np.int64),
    })
    circles["name"] = [n if isinstance(n, str) and n else i for n, i in zip(circles["name"], circles["id"], strict=True)]
    on_isl = comm_piece > 0  # stranded communities are named with their circle, never silently uncovered
    circles["n_communities_on_islands"] = np.bincount(c_idx[(c_idx >= 0) & on_isl], minlength=n_k)[:n_k].astype(np.int64)
    circles["communities_on_islands"] = [";".join(comm_ids[(c_idx == i) & on_isl].astype(str)) for i in range(n_k)]

    # --- gaps (缺什么) and grades
    gaps = _gaps(circles, G, profile, rules)
    gap_lists = gaps.groupby("circle_id", sort=False)["format"].agg(";".join) if len(gaps) else pd.Series(dtype=object)
    grade_rows = []
    for rec in circles.to_dict("records"):
        if rec["n_communities"] == 0:
            reason_zh, reason_en = "圈内没有小区，无法评定", "no communities in the circle; cannot be graded"
            grade_rows.append((NONE_CODE, "未达标", "Not graded", reason_zh, reason_en))
            continue
        g = grade_circle(rec, rules)
        grade_rows.append((g.code, g.zh, g.en, g.reasons("zh"), g.reasons("en")))
    circles["grade_code"] = [r[0] for r in grade_rows]
    circles["grade"] = [r[1] for r in grade_rows]
    circles["grade_en"] = [r[2] for r in grade_rows]
    circles["grade_reasons"] = [r[3] for r in grade_rows]
    circles["grade_reasons_en"] = [r[4] for r in grade_rows]
    circles["gaps"] = [gap_lists.get(cid, "") for cid in circles["id"]]
    circles = gpd.GeoDataFrame(circles, geometry=gpd.GeoSeries(geoms, crs=4326), crs=4326)

    # --- districts
    d_codes = [str(x) for x in dtab["code"]] if len(dtab) else []
    d_names = dict(zip(d_codes, dtab["name_zh"].astype(str), strict=True)) if len(dtab) else {}
    more = sorted({str(x) for x in communities["district"] if isinstance(x, str) and x} - set(d_codes))
    d_codes = d_codes + more
    n_d = len(d_codes)
    d_idx = _codes(communities["district"].to_numpy(dtype=object), d_codes)
    D = _groups(d_idx, n_d, cvals)
    od_idx = _codes(o_district, d_codes)
    d_shops = np.bincount(od_idx[(od_idx >= 0) & has_shop], minlength=n_d)[:n_d]
    d_chain = np.bincount(od_idx[(od_idx >= 0) & has_shop & is_chain], minlength=n_d)[:n_d]
    cd_idx = _codes(circles["district"].to_numpy(dtype=object), d_codes)
    districts = pd.DataFrame({
        "code": d_codes,
        "name_zh": [d_names.get(c, c) for c in d_codes],
        "population": D.pop.astype(np.int64),
        "n_communities": D.n_comm.astype(np.int64),
        "n_circles": np.bincount(cd_idx[cd_idx >= 0], minlength=n_d)[:n_d].astype(np.int64),
        "n_outlets": d_shops.astype(np.int64),
        "basic_completeness": (D.any_within[:, is_basic].sum(axis=1) / n_basic) if n_basic else np.nan,
        "basic_coverage": D.basic_coverage,
        "elderly_basic_coverage": D.elderly_basic_coverage,
        "basic_format_coverage": _mean_share(D.covered, D.pop, is_basic),
        "elderly_basic_format_coverage": _mean_share(D.covered_old, D.pop, is_basic),
        "quality_coverage": D.quality_coverage,
        "chain_share": _ratio(d_chain, d_shops),
        "new_commercial_ok_share": D.new_commercial_ok_share,
        "service_area_per_100hh": D.service_area_per_100hh,
        "smart_coverage": D.smart_coverage,
        "satisfaction": _ratio(_group_sum(cd_idx, n_d, satis), _group_sum(cd_idx, n_d, resp)),
    })
    for code in [g.code for g in rules.grades] + [NONE_CODE]:
        m = (circles["grade_code"] == code).to_numpy()
        districts[f"n_{code}"] = np.bincount(cd_idx[(cd_idx >= 0) & m], minlength=n_d)[:n_d].astype(np.int64)

    # --- city
    all_idx = np.zeros(n_c, dtype=np.int64)
    C = _groups(all_idx, 1, cvals)
    grade_counts = {code: int((circles["grade_code"] == code).sum()) for code in [g.code for g in rules.grades] + [NONE_CODE]}
    city_fig: dict[str, Any] = {
        "name": city.name,
        "synthetic": bool(city.synthetic),
        "profile": profile.name,
        "rules": rules.name,
        "speed_kmh": w.speed_kmh,
        "elderly_speed_kmh": w.elderly_speed_kmh,
        "population": int(C.pop[0]),
        "workers": int(population[kind == INDUSTRIAL].sum()),
        "population_in_circles": int(G.pop.sum()),
        "n_communities": n_c,
        "n_outlets": int(has_shop.sum()),
        "n_smart_facilities": int((has_fmt & ~has_shop).sum()),
        "n_circles": n_k,
        "n_districts": n_d,
        "basic_completeness": float(C.any_within[0, is_basic].mean()) if n_basic else float("nan"),
        "basic_coverage": float(C.basic_coverage[0]),
        "elderly_basic_coverage": float(C.elderly_basic_coverage[0]),
        "basic_format_coverage": float(_mean_share(C.covered, C.pop, is_basic)[0]),
        "elderly_basic_format_coverage": float(_mean_share(C.covered_old, C.pop, is_basic)[0]),
        "quality_coverage": float(C.quality_coverage[0]),
        "smart_coverage": float(C.smart_coverage[0]),
        "chain_share": float(_ratio(is_chain[has_shop].sum(), has_shop.sum())),
        "new_commercial_ok_share": float(C.new_commercial_ok_share[0]),
        "service_area_per_100hh": float(C.service_area_per_100hh[0]),
        "satisfaction": float(_ratio(satis.sum(), resp.sum())),
        "grade_counts": grade_counts,
        "n_gaps": int(len(gaps)),
        "n_unsnapped_communities": int((~acc.communities.ok).sum()),
        "n_unsnapped_outlets": int((~acc.outlets.ok).sum()),
        "n_network_islands": islands.n_islands,
        "n_dropped_pieces": int(len(islands.dropped)),
        "n_communities_on_islands": int((comm_piece > 0).sum()),
        "population_on_islands": int(population[comm_piece > 0].sum()),
        "n_outlets_on_islands": int(len(islands.on_island("outlets"))),
    }
    for code, k in grade_counts.items():
        city_fig[f"n_{code}"] = k

    # --- per-format coverage at every level
    fmt_cov = pd.concat([
        _format_coverage("city", [city.name], C.pop, C.covered, C.covered_old, profile),
        _format_coverage("district", d_codes, D.pop, D.covered, D.covered_old, profile),
        _format_coverage("circle", all_circle_ids, G.pop, G.covered, G.covered_old, profile),
    ], ignore_index=True)

    return Evaluation(
        synthetic=bool(city.synthetic),
        city_name=city.display_name,
        profile=profile,
        speed_kmh=w.speed_kmh,
        elderly_speed_kmh=w.elderly_speed_kmh,
        access=access_table(acc, comm_ids),
        communities=communities,
        circles=circles,
        districts=districts,
        city=city_fig,
        format_coverage=fmt_cov,
        gaps=gaps,
        rules=rules,
        outlets=outlets,
        unsnapped=unsnapped,
        notes=notes,
        islands=islands,
        city_key=city.name,
        city_provenance=dict(getattr(city, "provenance", None) or {}),
    )


def network_islands(net: WalkNetwork, points: dict[str, tuple[pd.DataFrame, Any]]) -> Islands:
    """The islands of ``net`` with the given snapped points on them, and the pieces dropped when
    the network was built (see :func:`lifecircle.sources.network_loader.prune_network`)."""
    dropped = net.dropped_pieces if net.dropped_pieces is not None else pd.DataFrame(columns=["piece", "nodes", "edges", "length_m"])
    return find_islands(net, dropped, net.min_piece_m, points)


def _pieces_of(net: WalkNetwork, snapped: Any) -> NDArray[np.int64]:
    """Network piece of each snapped point (0 = the main network; -1 = not snapped)."""
    if len(snapped) == 0:
        return np.zeros(0, dtype=np.int64)
    piece = net.components[net.edge_u[snapped.edge]].astype(np.int64)
    return np.where(snapped.ok, piece, -1)


def _mean_share(covered: NDArray, pop: NDArray, mask: NDArray[np.bool_]) -> NDArray:
    """Mean over the formats in ``mask`` of the population share covered (NaN without residents)."""
    if not mask.any():
        return np.full(len(pop), np.nan)
    return _ratio(covered[:, mask].mean(axis=1), pop)


def _format_coverage(level: str, ids: list[str], pop: NDArray, covered: NDArray, covered_old: NDArray,
                     profile: Profile) -> pd.DataFrame:
    n_u, n_f = len(ids), len(profile.formats)
    if n_u == 0:
        return pd.DataFrame(columns=["level", "unit_id", "format", "format_zh", "class", "layer_min",
                                     "share_within_layer", "share_within_layer_elderly", "residents_uncovered"])
    return pd.DataFrame({
        "level": level,
        "unit_id": np.repeat(np.asarray(ids, dtype=object), n_f),
        "format": np.tile(np.asarray(profile.codes, dtype=object), n_u),
        "format_zh": np.tile(np.asarray([f.zh for f in profile.formats], dtype=object), n_u),
        "class": np.tile(np.asarray([f.cls for f in profile.formats], dtype=object), n_u),
        "layer_min": np.tile(np.asarray([f.layer_min for f in profile.formats]), n_u),
        "share_within_layer": _ratio(covered, pop[:, None]).ravel(),
        "share_within_layer_elderly": _ratio(covered_old, pop[:, None]).ravel(),
        "residents_uncovered": np.rint(pop[:, None] - covered).astype(np.int64).ravel(),
    })


def _gaps(circles: pd.DataFrame, G: _Groups, profile: Profile, rules: GradingRules) -> pd.DataFrame:
    """The formats each circle lacks (within-layer share below ``rules.gap_threshold``), in priority
    order: ``rules.priority_formats`` first, then by class order of ``rules.gap_classes``; within a
    group, most residents uncovered first, ties in the order of the priority list / catalogue."""
    prio = {code: i for i, code in enumerate(rules.priority_formats)}
    class_rank = {c: i for i, c in enumerate(rules.gap_classes)}
    rows = []
    share = _ratio(G.covered, G.pop[:, None])
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
    return pd.DataFrame(rows, columns=["circle_id", "circle_name", "district", "format", "format_zh", "class",
                                       "share_within_layer", "residents_uncovered", "priority"])
