"""Community types (M4): what each kind of community needs, as tidy tables.

* **old 老旧** — short of commercial space when its commercial floor area per 1,000 residents is
  below ``old_commercial_m2_per_1000`` (m²; unknown when the figure is missing). Such communities get
  candidate sites *first*: the idle factories, warehouses and public housing (``old_site_kinds``)
  within ``old_site_walk_min`` walking minutes, nearest first (walking distance on the network).
* **new 新建** — the plan's rule: commercial (and service) floor area >= ``new_commercial_share``
  (10%) of total floor area; every row says the share, the floor area required and the shortfall.
* **complete 完整** — optimise the format mix: per basic and quality format, *under*-supplied when
  no outlet is within the format's walking layer, *over*-supplied when the outlets within the layer
  are at least ``over_supply_factor`` x the median over the city's residential communities and at
  least ``over_supply_min``.
* **industrial 产业园区** — parks evaluated for their workers (``population`` of an industrial
  community is its workers): the same access indicators, weighted by workers.

Settings come from ``[community_types]`` of the plan TOML (``plan-yichang-2022``). Floor areas in
m², distances in metres, times in walking minutes at the profile speed (km/h).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from lifecircle.i18n import t
from lifecircle.indicators.access import CityAccess, compute_access
from lifecircle.network import WalkNetwork
from lifecircle.network.engine import metres, within
from lifecircle.plans.circles import CommunityTypeSettings, snap_lonlat, walk_matrix
from lifecircle.profile import Profile

KIND_ZH = {"old": "老旧小区", "new": "新建小区", "complete": "完整社区", "industrial": "产业园区"}
KIND_EN = {
    "old": "old community",
    "new": "new community",
    "complete": "complete community",
    "industrial": "industrial park",
}
SITE_ZH = {
    "idle_factory": "闲置厂房",
    "warehouse": "仓库",
    "public_housing": "公有房屋",
    "vacant_shop": "空置商铺",
    "public_building": "公共建筑",
}


def _num(df: pd.DataFrame, col: str) -> np.ndarray:
    if col not in df.columns:
        return np.full(len(df), np.nan)
    return pd.to_numeric(df[col], errors="coerce").to_numpy(float)


def _str(df: pd.DataFrame, col: str, default: str = "") -> np.ndarray:
    if col not in df.columns:
        return np.full(len(df), default, dtype=object)
    return df[col].astype(object).where(df[col].notna(), default).astype(str).to_numpy(dtype=object)


# ------------------------------------------------------------------------------------ new
def new_commercial_rule(communities: pd.DataFrame, *, min_share: float = 0.10) -> pd.DataFrame:
    """The 10% rule for new communities, one row per ``kind == "new"`` community.

    Columns: ``id, name, district, floor_area_m2, commercial_floor_area_m2, commercial_share``
    (0..1), ``required_m2`` (= ``min_share`` x total), ``shortfall_m2`` (>= 0), ``ok`` (nullable
    bool: NA when the floor areas are missing), ``message_zh, message_en``.
    """
    new = communities[_str(communities, "kind") == "new"].reset_index(drop=True)
    floor = _num(new, "floor_area_m2")
    comm = _num(new, "commercial_floor_area_m2")
    known = np.isfinite(floor) & (floor > 0) & np.isfinite(comm)
    with np.errstate(invalid="ignore", divide="ignore"):
        share = np.where(known, comm / floor, np.nan)
    required = np.where(np.isfinite(floor), min_share * floor, np.nan)
    shortfall = np.where(known, np.maximum(required - comm, 0.0), np.nan)
    ok = np.where(known, share >= min_share - 1e-12, False)
    msg_zh, msg_en = [], []
    for s, r, sf, k in zip(share, required, shortfall, known, strict=True):
        if not k:
            msg_zh.append(f"缺少总建筑面积或商业面积数据，无法核对 {min_share:.0%} 要求")
            msg_en.append(f"total or commercial floor area missing: the {min_share:.0%} rule cannot be checked")
        elif s >= min_share - 1e-12:
            msg_zh.append(f"商业服务面积占比 {s:.1%}，达到 {min_share:.0%} 要求（需 {r:,.0f} m²）")
            msg_en.append(
                f"commercial floor area is {s:.1%} of the total, meeting the {min_share:.0%} rule ({r:,.0f} m² "
                "required)"
            )
        else:
            msg_zh.append(f"商业服务面积占比 {s:.1%}，低于 {min_share:.0%} 要求，尚缺 {sf:,.0f} m²（需 {r:,.0f} m²）")
            msg_en.append(
                f"commercial floor area is {s:.1%} of the total, below the {min_share:.0%} rule: {sf:,.0f} m² short "
                f"of {r:,.0f} m²"
            )
    return pd.DataFrame(
        {
            "id": _str(new, "id"),
            "name": _str(new, "name"),
            "district": _str(new, "district"),
            "floor_area_m2": floor,
            "commercial_floor_area_m2": comm,
            "commercial_share": share,
            "required_m2": required,
            "shortfall_m2": shortfall,
            "ok": pd.array(np.where(known, ok, np.array(None)), dtype="boolean"),
            "message_zh": msg_zh,
            "message_en": msg_en,
        }
    )


# ------------------------------------------------------------------------------------ old
def old_commercial_space(communities: pd.DataFrame, *, m2_per_1000: float = 600.0) -> pd.DataFrame:
    """Commercial space of old communities: ``id, name, district, population,
    commercial_floor_area_m2, commercial_m2_per_1000, needed_m2, shortfall_m2, short`` (nullable
    bool: NA when the commercial floor area is unknown)."""
    old = communities[_str(communities, "kind") == "old"].reset_index(drop=True)
    pop = np.nan_to_num(_num(old, "population"))
    comm = _num(old, "commercial_floor_area_m2")
    known = np.isfinite(comm)
    with np.errstate(invalid="ignore", divide="ignore"):
        per = np.where(known & (pop > 0), comm / pop * 1000.0, np.nan)
    needed = m2_per_1000 * pop / 1000.0
    shortfall = np.where(known, np.maximum(needed - np.nan_to_num(comm), 0.0), np.nan)
    short = np.where(known, shortfall > 0, False)
    return pd.DataFrame(
        {
            "id": _str(old, "id"),
            "name": _str(old, "name"),
            "district": _str(old, "district"),
            "population": pop.astype(np.int64),
            "commercial_floor_area_m2": comm,
            "commercial_m2_per_1000": per,
            "needed_m2": needed,
            "shortfall_m2": shortfall,
            "short": pd.array(np.where(known, short, np.array(None)), dtype="boolean"),
        }
    )


def old_community_sites(
    communities: pd.DataFrame,
    sites: pd.DataFrame,
    net: WalkNetwork,
    *,
    settings: CommunityTypeSettings | None = None,
    speed_kmh: float = 4.0,
    snap_max_m: float = 300.0,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Candidate sites for old communities, those short of commercial space first.

    Returns ``(space, sites_long)``: ``space`` is :func:`old_commercial_space` plus
    ``n_sites_within`` and ``nearest_site_m``; ``sites_long`` has one row per (community, site)
    within ``old_site_walk_min`` minutes at ``speed_kmh``: ``community_id, community_name,
    short, shortfall_m2, rank, site_id, site_name, site_kind, site_kind_zh, walk_m, walk_min,
    floor_area_m2`` — short communities first (largest shortfall first), then unknown, then the
    others; at most ``old_sites_per_community`` sites each, nearest first.
    """
    st = settings or CommunityTypeSettings()
    space = old_commercial_space(communities, m2_per_1000=st.old_commercial_m2_per_1000)
    old = communities[_str(communities, "kind") == "old"].reset_index(drop=True)
    kinds = _str(sites, "kind")
    sub = sites[np.isin(kinds, list(st.old_site_kinds))].reset_index(drop=True)
    max_m = float(metres(st.old_site_walk_min, speed_kmh))
    if len(old) and len(sub):
        o = snap_lonlat(net, _num(old, "lon"), _num(old, "lat"), snap_max_m)
        s = snap_lonlat(net, _num(sub, "lon"), _num(sub, "lat"), snap_max_m)
        D = walk_matrix(net, o, s, max_m=max_m)
    else:
        D = np.full((len(old), len(sub)), np.inf)
    within = np.isfinite(D)
    space["n_sites_within"] = within.sum(axis=1).astype(np.int64)
    nearest = np.where(within, D, np.inf).min(axis=1, initial=np.inf)
    space["nearest_site_m"] = np.where(np.isfinite(nearest), nearest, np.nan)
    rows = []
    s_ids, s_names, s_kind, s_area = _str(sub, "id"), _str(sub, "name"), _str(sub, "kind"), _num(sub, "floor_area_m2")
    m_per_min = speed_kmh * 1000.0 / 60.0
    short = space["short"]
    priority = np.where(short.fillna(False).to_numpy(bool), 0, np.where(short.isna().to_numpy(), 1, 2))
    order = np.lexsort((np.arange(len(space)), -np.nan_to_num(space["shortfall_m2"].to_numpy(float)), priority))
    for i in order:
        js = np.flatnonzero(within[i])
        js = js[np.lexsort((js, D[i, js]))][: st.old_sites_per_community]
        for r, j in enumerate(js, start=1):
            rows.append(
                {
                    "community_id": space.at[i, "id"],
                    "community_name": space.at[i, "name"],
                    "district": space.at[i, "district"],
                    "short": short.iloc[i],
                    "shortfall_m2": space.at[i, "shortfall_m2"],
                    "rank": r,
                    "site_id": s_ids[j],
                    "site_name": s_names[j],
                    "site_kind": s_kind[j],
                    "site_kind_zh": SITE_ZH.get(s_kind[j], s_kind[j]),
                    "walk_m": float(D[i, j]),
                    "walk_min": float(D[i, j]) / m_per_min,
                    "floor_area_m2": s_area[j],
                }
            )
    cols = [
        "community_id",
        "community_name",
        "district",
        "short",
        "shortfall_m2",
        "rank",
        "site_id",
        "site_name",
        "site_kind",
        "site_kind_zh",
        "walk_m",
        "walk_min",
        "floor_area_m2",
    ]
    long = pd.DataFrame(rows, columns=cols)
    long["short"] = pd.array(long["short"], dtype="boolean")
    return space, long


# ------------------------------------------------------------------------------- complete
def _count_within_layer(acc: CityAccess, profile: Profile) -> np.ndarray:
    """Outlets of each format within its own walking layer: the count at the smallest computed
    layer >= the format's layer (``counts`` are at ``acc.layers_min``)."""
    layers = np.asarray(acc.layers_min, float)
    out = np.zeros(acc.nearest_m.shape, dtype=np.int64)
    for f, fmt in enumerate(profile.formats):
        ok = np.flatnonzero(layers >= fmt.layer_min - 1e-9)
        k = int(ok[np.argmin(layers[ok])]) if len(ok) else int(np.argmax(layers))
        out[:, f] = acc.counts[:, f, k]
    return out


def complete_format_mix(
    communities: pd.DataFrame, acc: CityAccess, profile: Profile, *, settings: CommunityTypeSettings | None = None
) -> pd.DataFrame:
    """Per complete community and basic/quality format: ``community_id, name, district, format,
    format_zh, class, layer_min, nearest_min, n_within_layer, city_median, status`` (``under`` /
    ``ok`` / ``over``), ``status_zh``. ``city_median`` is over non-industrial communities."""
    st = settings or CommunityTypeSettings()
    kind = _str(communities, "kind")
    counts = _count_within_layer(acc, profile)
    resid = kind != "industrial"
    median = np.median(counts[resid], axis=0) if resid.any() else np.zeros(counts.shape[1])
    fmts = [(f, fmt) for f, fmt in enumerate(profile.formats) if fmt.cls in ("basic", "quality")]
    sel = np.flatnonzero(kind == "complete")
    rows = []
    ids, names, dist = _str(communities, "id"), _str(communities, "name"), _str(communities, "district")
    nearest_min = acc.nearest_min
    for i in sel:
        for f, fmt in fmts:
            n = int(counts[i, f])
            within = bool(acc.within[i, f])
            over = n >= st.over_supply_factor * max(float(median[f]), 1.0) and n >= st.over_supply_min
            status = "under" if not within else ("over" if over else "ok")
            rows.append(
                {
                    "community_id": ids[i],
                    "name": names[i],
                    "district": dist[i],
                    "format": fmt.code,
                    "format_zh": fmt.zh,
                    "class": fmt.cls,
                    "layer_min": fmt.layer_min,
                    "nearest_min": float(nearest_min[i, f]),
                    "n_within_layer": n,
                    "city_median": float(median[f]),
                    "status": status,
                    "status_zh": {"under": "不足（步行层内没有）", "ok": "适中", "over": "过多"}[status],
                }
            )
    cols = [
        "community_id",
        "name",
        "district",
        "format",
        "format_zh",
        "class",
        "layer_min",
        "nearest_min",
        "n_within_layer",
        "city_median",
        "status",
        "status_zh",
    ]
    return pd.DataFrame(rows, columns=cols)


# ------------------------------------------------------------------------------ industrial
def industrial_access(communities: pd.DataFrame, acc: CityAccess, profile: Profile) -> pd.DataFrame:
    """Per industrial park, its workers' access: ``id, name, district, workers,
    basic_within_layer, basic_total, basic_complete, basic_complete_elderly``, ``missing_basic``
    (format codes), ``missing_basic_zh``, ``quality_within_15``, ``smart_within_layer``."""
    kind = _str(communities, "kind")
    sel = np.flatnonzero(kind == "industrial")
    cls = np.array([f.cls for f in profile.formats])
    basic, quality, smart = cls == "basic", cls == "quality", cls == "smart"
    q_layer = max(acc.layers_min) if acc.layers_min else 15.0
    with np.errstate(invalid="ignore"):
        within15 = within(acc.nearest_m, metres(q_layer, acc.speed_kmh))
    codes = np.array(profile.codes, dtype=object)
    zh = np.array([f.zh for f in profile.formats], dtype=object)
    rows = []
    ids, names, dist, pop = (
        _str(communities, "id"),
        _str(communities, "name"),
        _str(communities, "district"),
        _num(communities, "population"),
    )
    for i in sel:
        miss = basic & ~acc.within[i]
        rows.append(
            {
                "id": ids[i],
                "name": names[i],
                "district": dist[i],
                "workers": int(np.nan_to_num(pop[i])),
                "basic_within_layer": int((acc.within[i] & basic).sum()),
                "basic_total": int(basic.sum()),
                "basic_complete": bool(not miss.any()),
                "basic_complete_elderly": bool((acc.within_elderly[i] | ~basic).all()),
                "missing_basic": ";".join(codes[miss]),
                "missing_basic_zh": "、".join(zh[miss]),
                "quality_within_15": int((within15[i] & quality).sum()),
                "smart_within_layer": bool((acc.within[i] & smart).any()),
            }
        )
    cols = [
        "id",
        "name",
        "district",
        "workers",
        "basic_within_layer",
        "basic_total",
        "basic_complete",
        "basic_complete_elderly",
        "missing_basic",
        "missing_basic_zh",
        "quality_within_15",
        "smart_within_layer",
    ]
    return pd.DataFrame(rows, columns=cols)


# ------------------------------------------------------------------------------------ all
@dataclass
class CommunityTypeReport:
    """Tidy tables per community type (see the module docstring); ``summary`` has one row per
    kind: ``kind, kind_zh, communities, population`` and a headline in Chinese and English."""

    summary: pd.DataFrame
    old: pd.DataFrame
    old_sites: pd.DataFrame
    new: pd.DataFrame
    complete: pd.DataFrame
    industrial: pd.DataFrame
    notes: list[str] = field(default_factory=list)


def community_types(
    communities: pd.DataFrame,
    net: WalkNetwork,
    profile: Profile,
    *,
    outlets: pd.DataFrame,
    sites: pd.DataFrame,
    settings: CommunityTypeSettings | None = None,
    access: CityAccess | None = None,
) -> CommunityTypeReport:
    """Every community-type table at once. ``access``: reuse a :func:`compute_access` result for
    the same communities (row order) and outlets, else it is computed here (one engine pass)."""
    st = settings or CommunityTypeSettings()
    comm = communities.reset_index(drop=True)
    w = profile.walking
    acc = access if access is not None else compute_access(net, comm, outlets.reset_index(drop=True), profile)
    space, long = old_community_sites(comm, sites, net, settings=st, speed_kmh=w.speed_kmh, snap_max_m=w.snap_max_m)
    new = new_commercial_rule(comm, min_share=st.new_commercial_share)
    mix = complete_format_mix(comm, acc, profile, settings=st)
    ind = industrial_access(comm, acc, profile)
    kind = _str(comm, "kind")
    pop = np.nan_to_num(_num(comm, "population"))
    notes = []
    unknown = sorted(set(kind) - set(KIND_ZH))
    if unknown:
        notes.append(
            t(
                f"未知小区类型：{', '.join(unknown)}（未纳入分类处理）",
                f"unknown community kinds: {', '.join(unknown)} (left out)",
            )
        )
    rows = []
    for k in KIND_ZH:
        m = kind == k
        n, p = int(m.sum()), int(pop[m].sum())
        if k == "old":
            n_short = int(space["short"].fillna(False).sum())
            n_unk = int(space["short"].isna().sum())
            n_sites = int((space["n_sites_within"] > 0).sum())
            hz = (
                f"{n_short} 个商业面积不足（{n_unk} 个无数据）；{n_sites} 个在 {st.old_site_walk_min:g} "
                "分钟内有闲置厂房/仓库/公房等候选场地"
            )
            he = (
                f"{n_short} short of commercial space ({n_unk} without data); {n_sites} have candidate sites within "
                f"{st.old_site_walk_min:g} min"
            )
        elif k == "new":
            checked = new["ok"].notna()
            n_ok = int(new["ok"].fillna(False).sum())
            hz = (
                f"{int(checked.sum())} 个可核对，其中 {n_ok} 个商业面积达到 {st.new_commercial_share:.0%}，"
                f"{int(checked.sum()) - n_ok} 个未达到"
            )
            he = (
                f"{int(checked.sum())} checkable; {n_ok} meet the {st.new_commercial_share:.0%} commercial floor-area "
                f"rule, {int(checked.sum()) - n_ok} do not"
            )
        elif k == "complete":
            under = int((mix["status"] == "under").sum())
            over = int((mix["status"] == "over").sum())
            hz = f"业态不足 {under} 项次、过多 {over} 项次（按小区×业态计）"
            he = f"{under} under-supplied and {over} over-supplied (community x format)"
        else:
            workers = float(ind["workers"].sum())
            share = float(ind.loc[ind["basic_complete"], "workers"].sum()) / workers if workers > 0 else float("nan")
            sh = "—" if not np.isfinite(share) else f"{share:.0%}"
            hz = f"职工 {int(workers):,} 人，{sh} 的职工步行可达全部基本保障类业态"
            he = f"{int(workers):,} workers; {sh} reach every basic format within its walking layer"
        rows.append(
            {
                "kind": k,
                "kind_zh": KIND_ZH[k],
                "communities": n,
                "population": p,
                "headline_zh": hz,
                "headline_en": he,
                "headline": t(hz, he),
            }
        )
    return CommunityTypeReport(pd.DataFrame(rows), space, long, new, mix, ind, notes)
