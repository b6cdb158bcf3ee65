"""Sites for one format (per-format site recommendation): where to put ``k`` new outlets of one
format so the most residents of a circle (or of the city) get it within its walking layer.

:func:`recommend_format_sites` is MCLP (:func:`lifecircle.plans.sites.solve_mclp`) on the walking
network among the city's ``candidate_sites`` — radius = the format's walking layer (minutes) at the
profile speed (km/h), demand = the residents, existing outlets of the format fixed — with old
communities first (sites near old communities are taken when they do nearly as well as the best
unrestricted choice, ``old_first_min_ratio``). :func:`site_room` and :func:`fits` are the one rule
of how many formats a site's floor area takes. The result is a :class:`FormatSites`.

:func:`lifecircle.plans.policy.circle_plan` calls ``_solve_format`` once per gap format on one
shared ``_Context`` (demand, sites and outlets snapped once).
Residents are people, distances metres, walking layers minutes, speeds km/h, floor areas m².
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy.sparse import csr_matrix

from lifecircle.city.model import City
from lifecircle.city.schema import split_formats
from lifecircle.errors import ConfigError, InputError
from lifecircle.i18n import t
from lifecircle.network import Snapped, WalkNetwork, nearest
from lifecircle.network.snap import snap_lonlat
from lifecircle.plans.policy_settings import METHODS, PolicySettings, load_policy
from lifecircle.plans.sites import (
    SiteResult,
    SiteSettings,
    coverage_matrix,
    layer_radius_m,
    solve_mclp,
)
from lifecircle.profile import Profile


# ------------------------------------------------------------------------------------ context
def _num(df: pd.DataFrame, col: str) -> np.ndarray:
    if col not in df.columns:
        return np.full(len(df), np.nan)
    return pd.to_numeric(df[col], errors="coerce").to_numpy(float)


@dataclass
class _Context:
    """Everything snapped once for several formats: demand (the residents), candidate sites and
    the old-first subset, and outlets."""

    demand: pd.DataFrame
    weights: np.ndarray
    demand_snap: Snapped
    sites: pd.DataFrame
    sites_snap: Snapped
    old_first: np.ndarray  # bool per site
    outlets: pd.DataFrame
    outlets_snap: Snapped
    outlet_formats: list[list[str]]


def _context(city: City, net: WalkNetwork, profile: Profile, circle_id: str | None) -> _Context:
    comm = city.communities.reset_index(drop=True)
    if circle_id is not None:
        cid = (
            comm["circle_id"].astype(object).where(comm["circle_id"].notna(), "").astype(str)
            if "circle_id" in comm
            else pd.Series([""] * len(comm))
        )
        comm = comm[(cid == str(circle_id)).to_numpy()].reset_index(drop=True)
    kind = comm["kind"].astype(str).to_numpy() if "kind" in comm else np.full(len(comm), "")
    w = np.where(kind == "industrial", 0.0, np.nan_to_num(_num(comm, "population")))
    snap_m = profile.walking.snap_max_m
    sites = city.candidate_sites.reset_index(drop=True)
    outl = city.outlets.reset_index(drop=True)
    old_first = np.zeros(len(sites), dtype=bool)
    if len(sites) and (kind == "old").any():
        from lifecircle.plans.circles import load_plan
        from lifecircle.plans.community_types import old_community_sites

        st = load_plan().community_types
        _, long = old_community_sites(
            comm, sites, net, settings=st, speed_kmh=profile.walking.speed_kmh, snap_max_m=snap_m
        )
        old_first = sites["id"].astype(str).isin(set(long["site_id"].astype(str))).to_numpy()
    return _Context(
        demand=comm,
        weights=w,
        demand_snap=snap_lonlat(net, _num(comm, "lon"), _num(comm, "lat"), snap_m),
        sites=sites,
        sites_snap=snap_lonlat(net, _num(sites, "lon"), _num(sites, "lat"), snap_m),
        old_first=old_first,
        outlets=outl,
        outlets_snap=snap_lonlat(net, _num(outl, "lon"), _num(outl, "lat"), snap_m),
        outlet_formats=[split_formats(v) if isinstance(v, str) else [] for v in (outl.get("formats", []))],
    )


# ------------------------------------------------------------------------------------ one format
@dataclass
class FormatSites:
    """Sites recommended for one format. Residents are people, ``radius_m`` metres.

    ``sites``: one row per chosen site, in order of contribution: ``rank, site_id, site_name,
    site_kind, lon, lat, district, residents_added`` (newly within the layer thanks to this site
    and no earlier one), ``n_communities, communities`` (those it newly covers), ``old_first``.
    ``covered``: residents newly covered in all; ``bound``: an upper bound on what any ``k`` sites
    could newly cover; ``gap = (bound - covered) / bound``.
    """

    format: str
    format_zh: str
    format_en: str
    cls: str
    layer_min: float
    radius_m: float
    k: int
    sites: pd.DataFrame
    residents: float
    already_covered: float
    covered: float
    share_before: float | None
    share_after: float | None
    bound: float
    gap: float
    optimal: bool
    method: str
    old_first_used: bool
    notes: list[str] = field(default_factory=list)

    @property
    def name(self) -> str:
        return t(self.format_zh, self.format_en)


_SITE_COLS = [
    "rank",
    "site_id",
    "site_name",
    "site_kind",
    "lon",
    "lat",
    "district",
    "residents_added",
    "n_communities",
    "communities",
    "old_first",
]


def _site_rows(
    ctx: _Context, cover: csr_matrix, already: np.ndarray, chosen: list[int], added: list[float]
) -> pd.DataFrame:
    covered = already.copy()
    pat = cover.tocsc()
    rows = []
    names = ctx.demand["name"].astype(str).to_numpy() if "name" in ctx.demand else np.full(len(ctx.demand), "")
    for r, (j, a) in enumerate(zip(chosen, added, strict=True), start=1):
        hit = np.zeros(len(covered), dtype=bool)
        hit[pat.indices[pat.indptr[j] : pat.indptr[j + 1]]] = True
        new = hit & ~covered & (ctx.weights > 0)
        covered |= hit
        s = ctx.sites.iloc[j]
        rows.append(
            {
                "rank": r,
                "site_id": str(s["id"]),
                "site_name": str(s.get("name", s["id"])),
                "site_kind": str(s.get("kind", "")),
                "lon": float(s["lon"]),
                "lat": float(s["lat"]),
                "district": None if pd.isna(s.get("district")) else str(s.get("district")),
                "residents_added": float(a),
                "n_communities": int(new.sum()),
                "communities": "、".join(names[new]),
                "old_first": bool(ctx.old_first[j]),
            }
        )
    return pd.DataFrame(rows, columns=_SITE_COLS)


def site_room(sites: pd.DataFrame) -> np.ndarray:
    """Floor area (m²) of each candidate site, NaN where unknown (no ``floor_area_m2``)."""
    if "floor_area_m2" not in sites.columns:
        return np.full(len(sites), np.nan)
    return pd.to_numeric(sites["floor_area_m2"], errors="coerce").to_numpy(dtype=float, copy=True)


def fits(room: np.ndarray, need: float | None) -> np.ndarray:
    """Which sites have room (m² left, NaN = unknown) for one more outlet needing ``need`` m²:
    the one rule of how many formats a site takes. Unknown room or need fits."""
    if need is None or not np.isfinite(need):
        return np.ones(len(room), dtype=bool)
    return np.isnan(room) | (room >= need - 1e-9)


def _old_first_choice(
    ctx: _Context,
    run: Callable[[np.ndarray, int, np.ndarray], SiteResult],
    cover: csr_matrix,
    ok: np.ndarray,
    all_cols: np.ndarray,
    already: np.ndarray,
    k: int,
    min_ratio: float,
    best: SiteResult,
) -> tuple[list[int], list[float]] | None:
    """Old communities first: ``k`` sites chosen among those near old communities (``ok`` ones),
    the remaining slots filled from every site, when they cover at least ``min_ratio`` of what the
    best unrestricted choice ``best`` covers; ``(chosen site positions, residents added)`` or None."""
    old_cols = np.flatnonzero(ctx.old_first & ok)
    first = run(old_cols, k, already)
    if not (first.covered > 0 and first.covered >= min_ratio * best.covered - 1e-9):
        return None
    chosen = [int(c) for c in first.chosen_ids]
    added = [float(a) for a in first.added]
    if len(chosen) < k:  # fill the remaining slots from every site, the old-first ones fixed
        done = already.copy()
        for j in chosen:
            done[cover[:, j].nonzero()[0]] = True
        rest = np.setdiff1d(all_cols, chosen)
        fill = run(rest, k - len(chosen), done)
        chosen += [int(c) for c in fill.chosen_ids]
        added += [float(a) for a in fill.added]
    return chosen, added


def _solve_format(
    ctx: _Context,
    net: WalkNetwork,
    profile: Profile,
    code: str,
    k: int,
    method: str,
    old_first: bool,
    min_ratio: float,
    settings: SiteSettings,
    room: np.ndarray | None = None,
) -> FormatSites:
    """Sites for one format; ``room`` (m² left per site, NaN unknown) limits them to the sites
    with room for the format's typical floor area (default: each site's whole floor area)."""
    fmt = profile.format(code)
    radius = layer_radius_m(profile, code)
    total = float(ctx.weights.sum())
    have = np.array([code in f for f in ctx.outlet_formats], dtype=bool)
    existing = ctx.outlets_snap.subset(have) if len(have) else ctx.outlets_snap
    already = np.zeros(len(ctx.demand), dtype=bool)
    if len(existing) and existing.ok.any() and len(ctx.demand):
        already = np.isfinite(nearest(net, existing, ctx.demand_snap, max_m=radius))
    notes: list[str] = []
    n_s = len(ctx.sites)
    cover = (
        coverage_matrix(net, ctx.demand_snap, ctx.sites_snap, radius)
        if n_s and len(ctx.demand)
        else csr_matrix((len(ctx.demand), n_s))
    )
    ids = list(range(n_s))

    def run(cols: np.ndarray, kk: int, done: np.ndarray) -> SiteResult:
        return solve_mclp(
            cover[:, cols],
            ctx.weights,
            kk,
            covered_already=done,
            candidate_ids=[ids[c] for c in cols],
            method=method,  # type: ignore[arg-type]
            settings=settings,
        )

    ok = (
        fits(site_room(ctx.sites) if room is None else room, fmt.typical_floor_area_m2)
        if n_s
        else np.zeros(0, dtype=bool)
    )
    all_cols = np.flatnonzero(ok)
    if n_s and not ok.all():
        notes.append(
            t(
                f"{int((~ok).sum())} 处候选场地面积小于{fmt.zh}通常所需的 {fmt.typical_floor_area_m2:,.0f} "
                "平方米（或已用于其他业态），未选用",
                f"{int((~ok).sum())} candidate sites have less floor area than a {fmt.en.lower()} typically needs "
                f"({fmt.typical_floor_area_m2:,.0f} m², or it went to other formats); not used",
            )
        )
    best = run(all_cols, k, already)
    chosen: list[int] = [int(c) for c in best.chosen_ids]
    added: list[float] = [float(a) for a in best.added]
    method_used, optimal, bound = best.method, best.optimal, best.bound
    notes += best.notes
    used_old = False
    if old_first and k > 0 and ctx.old_first.any() and best.covered > 0:
        pick = _old_first_choice(ctx, run, cover, ok, all_cols, already, k, min_ratio, best)
        if pick is not None:
            used_old = True
            chosen, added = pick
            optimal = optimal and abs(sum(added) - best.covered) <= 1e-6 * max(1.0, best.covered)
            notes.append(
                t(
                    f"优先选用老旧小区周边场地（覆盖 {sum(added):,.0f} 人，不限场地时最多 {best.covered:,.0f} 人）",
                    f"sites near old communities first ({sum(added):,.0f} residents covered; {best.covered:,.0f} with "
                    "any site)",
                )
            )
    covered = float(sum(added))
    bound = max(bound, covered)
    if n_s == 0:
        notes.append(t("城市没有候选场地（candidate_sites）", "the city has no candidate sites"))
    elif covered == 0 and total > already @ ctx.weights:
        notes.append(
            t(
                f"没有候选场地在步行 {fmt.layer_min:g} 分钟内可覆盖尚未覆盖的居民",
                f"no candidate site reaches uncovered residents within {fmt.layer_min:g} walking minutes",
            )
        )
    n_bad = int((~ctx.demand_snap.ok).sum())
    if n_bad:
        notes.append(
            t(f"{n_bad} 个小区离道路太远，无法覆盖", f"{n_bad} communities are too far from any street to be covered")
        )
    already_w = float(ctx.weights[already].sum())
    return FormatSites(
        format=code,
        format_zh=fmt.zh,
        format_en=fmt.en,
        cls=fmt.cls,
        layer_min=float(fmt.layer_min),
        radius_m=radius,
        k=k,
        sites=_site_rows(ctx, cover, already, chosen, added),
        residents=total,
        already_covered=already_w,
        covered=covered,
        share_before=already_w / total if total > 0 else None,
        share_after=(already_w + covered) / total if total > 0 else None,
        bound=bound,
        gap=(bound - covered) / bound if bound > 0 else 0.0,
        optimal=optimal,
        method=method_used + ("+old-first" if used_old else ""),
        old_first_used=used_old,
        notes=list(dict.fromkeys(notes)),
    )


def recommend_format_sites(
    city: City,
    net: WalkNetwork,
    profile: Profile,
    format_code: str,
    *,
    circle_id: str | None = None,
    k: int = 1,
    method: str = "auto",
    old_first: bool = True,
    policy: PolicySettings | None = None,
) -> FormatSites:
    """Recommend ``k`` of the city's candidate sites for ``format_code`` so the most residents of
    ``circle_id`` (or of the whole city) get the format within its walking layer; existing outlets
    of the format are fixed. ``method``: auto | exact | heuristic (see :mod:`lifecircle.plans.sites`)."""
    profile.format(format_code)
    if method not in METHODS:
        raise ConfigError(
            t(
                f"未知求解方法 '{method}'：可用 auto、exact、heuristic",
                f"unknown method '{method}': use auto, exact or heuristic",
            )
        )
    if k < 0:
        raise InputError(t(f"选址数 k={k} 不能为负", f"number of sites k={k} cannot be negative"))
    pol = policy or load_policy()
    if circle_id is not None:
        _check_circle(city, circle_id)
    ctx = _context(city, net, profile, circle_id)
    return _solve_format(
        ctx,
        net,
        profile,
        format_code,
        int(k),
        method,
        old_first,
        pol.old_first_min_ratio,
        SiteSettings.from_profile(profile),
    )


def _check_circle(city: City, circle_id: str) -> None:
    known = set(city.circles["id"].astype(str)) | set(
        city.communities.get("circle_id", pd.Series(dtype=object)).dropna().astype(str)
    )
    if str(circle_id) not in known:
        sample = "、".join(sorted(known)[:12])
        raise InputError(
            t(
                f"未知生活圈 '{circle_id}'；已有：{sample}{' …' if len(known) > 12 else ''}",
                f"unknown circle '{circle_id}'; known: {sample}{' …' if len(known) > 12 else ''}",
            )
        )
