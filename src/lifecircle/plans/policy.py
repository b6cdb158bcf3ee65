"""One plan per circle (一圈一策, M3): what a circle has, what it lacks, where the missing shops
should go, and what the indicators and grade would be after the plan.

For one circle, :func:`circle_plan`:

1. lists the outlets by format present in the circle and its gap list (from the evaluation);
2. for each missing or weak format (the gap list, in priority order, limited to the classes and
   count of the policy settings) chooses ``k`` sites among the city's ``candidate_sites`` with
   :func:`lifecircle.plans.sites.recommend_sites`-style MCLP on the walking network — radius = the
   format's walking layer (minutes) at the profile speed (km/h), demand = the circle's residents,
   existing outlets of the format fixed. Old communities first (M4): sites near the circle's old
   communities are chosen first when they do nearly as well as the best unrestricted choice
   (``old_first_min_ratio``). Formats are sited in priority order and a site takes no more formats
   than its floor area holds: the formats' ``typical_floor_area_m2`` (profile) placed on a site
   add up to at most its ``floor_area_m2`` (a site without a floor area is not limited, and the
   plan says 面积未知);
3. re-evaluates the city with the recommended sites added as outlets — on a copy, through a
   :class:`~lifecircle.plans.scenarios.Scenario`, the base data untouched — and reports the
   indicators and the grade now and after;
4. works out the precise gap-filling (精准补建, :mod:`lifecircle.plans.gapfill`): the fewest
   additions that bring the circle to its next grade, verified the same way.

Settings are data: ``lifecircle/profiles/policy-yichang-2022.toml`` (:func:`load_policy`).
Residents are people, distances metres, walking layers minutes, speeds km/h.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from scipy.sparse import csr_matrix

from lifecircle.city.model import City
from lifecircle.city.schema import split_formats
from lifecircle.config import read_config, unknown_keys
from lifecircle.errors import ConfigError, InputError
from lifecircle.i18n import t
from lifecircle.indicators.evaluate import Evaluation, evaluate_city
from lifecircle.network import Snapped, WalkNetwork, nearest
from lifecircle.network.snap import snap_lonlat
from lifecircle.plans.scenarios import COMPARE_INDICATORS, Scenario, apply_scenario, make_outlets
from lifecircle.plans.sites import (
    SiteResult,
    SiteSettings,
    coverage_matrix,
    layer_radius_m,
    solve_mclp,
)
from lifecircle.profile import Profile

if TYPE_CHECKING:
    from lifecircle.plans.gapfill import GapFill

DEFAULT_POLICY = "policy-yichang-2022"
SITE_KIND_NAMES = {
    "idle_factory": ("闲置厂房", "idle factory"),
    "warehouse": ("仓库", "warehouse"),
    "public_housing": ("公有房屋", "public housing"),
    "vacant_shop": ("空置商铺", "vacant shop"),
    "public_building": ("公共建筑", "public building"),
}
METHODS = ("auto", "exact", "heuristic")


# ------------------------------------------------------------------------------------ settings
@dataclass(frozen=True)
class PolicySettings:
    """How a circle's plan is drawn up (see ``policy-yichang-2022.toml`` for each key)."""

    name: str = DEFAULT_POLICY
    title_zh: str = ""
    title_en: str = ""
    version: str = ""
    k_per_format: int = 1
    plan_classes: tuple[str, ...] = ("basic", "quality")
    max_formats: int = 12
    method: str = "auto"
    old_first_min_ratio: float = 0.8
    new_outlets_chain: bool = True


def load_policy(name_or_path: str | Path = DEFAULT_POLICY) -> PolicySettings:
    """Policy settings by built-in name or TOML path; every problem is reported at once."""
    raw, src = read_config(name_or_path, what_zh="一圈一策参数", what_en="policy", prefix="policy-")
    raw = raw.get("policy", {})
    problems: list[str] = []
    known = PolicySettings.__dataclass_fields__
    problems.extend(msg for _, msg in unknown_keys(raw, known, table="policy"))
    vals: dict[str, Any] = {}
    for key, fld in known.items():
        if key not in raw:
            continue
        v, default = raw[key], fld.default
        ok = True
        if isinstance(default, bool):
            ok = isinstance(v, bool)
        elif isinstance(default, int):
            ok = isinstance(v, int) and not isinstance(v, bool) and v >= (0 if key == "k_per_format" else 1)
        elif isinstance(default, float):
            ok = isinstance(v, int | float) and not isinstance(v, bool) and 0 <= float(v) <= 1
            v = float(v) if ok else v
        elif isinstance(default, tuple):
            ok = isinstance(v, list) and all(isinstance(x, str) for x in v)
            v = tuple(v) if ok else v
        else:
            ok = isinstance(v, str) and (key != "method" or v in METHODS)
        if ok:
            vals[key] = v
        else:
            problems.append(t(f"[policy] {key} = {v!r} 无效", f"[policy] {key} = {v!r} is invalid"))
    if problems:
        raise ConfigError(f"{src}: " + "; ".join(problems))
    return PolicySettings(**vals)


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
        old_cols = np.flatnonzero(ctx.old_first & ok)
        first = run(old_cols, k, already)
        if first.covered > 0 and first.covered >= min_ratio * best.covered - 1e-9:
            used_old = True
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


# ------------------------------------------------------------------------------------ the plan
@dataclass
class CirclePlan:
    """The plan of one circle (see the module docstring). Shares 0..1, residents people.

    ``outlets_by_format``: one row per format of the profile: ``format, format_zh, format_en,
    class, layer_min, n_outlets`` (outlets of the circle serving it), ``share_now, share_after``
    (residents within its walking layer), ``uncovered_now, uncovered_after, is_gap, priority,
    n_sites``. ``gaps``: the circle's rows of ``Evaluation.gaps``. ``sites``: every recommended
    site, per format (``format, format_zh`` + :class:`FormatSites` columns). ``indicators``:
    ``indicator, label_zh, label_en, now, after``. ``scenario``: the plan as a scenario (the sites
    added as outlets), ``evaluation_after`` the city evaluated with it. ``gapfill``: precise
    gap-filling (精准补建, :func:`lifecircle.plans.gapfill.gap_fill`): the fewest additions that bring
    the circle to its next grade, verified by the engine (None when not asked for).
    """

    circle_id: str
    circle_name: str
    district: str
    district_name: str
    city_name: str
    synthetic: bool
    circle: dict[str, Any]
    circle_after: dict[str, Any]
    communities: pd.DataFrame
    outlets: pd.DataFrame
    outlets_by_format: pd.DataFrame
    gaps: pd.DataFrame
    formats: list[FormatSites]
    sites: pd.DataFrame
    indicators: pd.DataFrame
    scenario: Scenario
    evaluation: Evaluation
    evaluation_after: Evaluation
    settings: PolicySettings
    notes: list[str] = field(default_factory=list)
    gapfill: GapFill | None = None

    @property
    def grade_now(self) -> tuple[str, str, str]:
        """(code, 中文, English) of the grade now."""
        return _grade(self.circle)

    @property
    def grade_after(self) -> tuple[str, str, str]:
        """(code, 中文, English) of the grade after the plan."""
        return _grade(self.circle_after)

    @property
    def residents_added(self) -> float:
        """Residents newly within a format's layer, summed over formats (a resident counts once per format)."""
        return float(sum(f.covered for f in self.formats))


def _grade(rec: dict[str, Any]) -> tuple[str, str, str]:
    return (
        str(rec.get("grade_code", "none")),
        str(rec.get("grade", "未达标")),
        str(rec.get("grade_en", rec.get("grade", ""))),
    )


def _circle_row(ev: Evaluation, circle_id: str) -> dict[str, Any]:
    c = ev.circles[ev.circles["id"].astype(str) == str(circle_id)]
    if not len(c):
        raise InputError(t(f"评估结果中没有生活圈 '{circle_id}'", f"circle '{circle_id}' is not in the evaluation"))
    return c.iloc[0].to_dict()


def _outlets_by_format(
    profile: Profile, ev: Evaluation, ev_after: Evaluation, circle_id: str, gaps: pd.DataFrame, sites: pd.DataFrame
) -> pd.DataFrame:
    outl = ev.outlets
    mine = outl[outl["circle_id"].astype(object).eq(str(circle_id)).to_numpy()] if len(outl) else outl
    counts: dict[str, int] = {}
    for v in mine.get("formats", pd.Series(dtype=object)):
        for c in set(split_formats(v)) if isinstance(v, str) else ():
            counts[c] = counts.get(c, 0) + 1

    def cov(e: Evaluation) -> pd.DataFrame:
        fc = e.format_coverage
        return fc[(fc["level"] == "circle") & (fc["unit_id"].astype(str) == str(circle_id))].set_index("format")

    now, after = cov(ev), cov(ev_after)
    prio = dict(zip(gaps["format"], gaps["priority"], strict=True)) if len(gaps) else {}
    n_sites = sites.groupby("format").size().to_dict() if len(sites) else {}
    rows = []
    for f in profile.formats:
        rows.append(
            {
                "format": f.code,
                "format_zh": f.zh,
                "format_en": f.en,
                "class": f.cls,
                "layer_min": float(f.layer_min),
                "n_outlets": counts.get(f.code, 0),
                "share_now": float(now["share_within_layer"].get(f.code, np.nan)),
                "share_after": float(after["share_within_layer"].get(f.code, np.nan)),
                "uncovered_now": int(now["residents_uncovered"].get(f.code, 0)),
                "uncovered_after": int(after["residents_uncovered"].get(f.code, 0)),
                "is_gap": f.code in prio,
                "priority": prio.get(f.code),
                "n_sites": int(n_sites.get(f.code, 0)),
            }
        )
    return pd.DataFrame(rows)


def circle_plan(
    city: City,
    net: WalkNetwork,
    profile: Profile,
    evaluation: Evaluation,
    circle_id: str,
    *,
    k_per_format: int | None = None,
    formats: Sequence[str] | None = None,
    method: str | None = None,
    policy: PolicySettings | str | Path | None = None,
    gapfill: bool = True,
) -> CirclePlan:
    """Draw up the plan of circle ``circle_id`` (一圈一策).

    ``evaluation`` is :func:`evaluate_city` of ``city`` on ``net`` with ``profile`` (its grading
    rules are reused for the evaluation after the plan). ``formats``: plan these format codes
    (default: the circle's gap list, filtered by the policy's classes and ``max_formats``).
    ``k_per_format`` and ``method`` default to the policy settings. ``city`` and ``net`` are not
    modified. ``gapfill``: also work out the precise gap-filling (精准补建) to the next grade.
    """
    pol = policy if isinstance(policy, PolicySettings) else load_policy(policy or DEFAULT_POLICY)
    k = pol.k_per_format if k_per_format is None else int(k_per_format)
    how = method or pol.method
    if how not in METHODS:
        raise ConfigError(
            t(
                f"未知求解方法 '{how}'：可用 auto、exact、heuristic",
                f"unknown method '{how}': use auto, exact or heuristic",
            )
        )
    if k < 0:
        raise InputError(t(f"每业态选址数 {k} 不能为负", f"sites per format {k} cannot be negative"))
    cid = str(circle_id)
    _check_circle(city, cid)
    base = _circle_row(evaluation, cid)
    gaps = (
        evaluation.gaps[evaluation.gaps["circle_id"].astype(str) == cid].sort_values("priority").reset_index(drop=True)
    )
    notes: list[str] = []
    if formats is not None:
        codes = list(dict.fromkeys(str(c) for c in formats))
        bad = [c for c in codes if c not in profile.by_code]
        if bad:
            raise ConfigError(
                t(
                    f"未知业态代码：{', '.join(bad)}；可用：{', '.join(profile.codes)}",
                    f"unknown format codes: {', '.join(bad)}; known: {', '.join(profile.codes)}",
                )
            )
    else:
        eligible = gaps[gaps["class"].isin(pol.plan_classes)]
        codes = [str(c) for c in eligible["format"]][: pol.max_formats]
        if len(eligible) > pol.max_formats:
            rest = "、".join(str(z) for z in eligible["format_zh"].iloc[pol.max_formats :])
            rest_en = ", ".join(
                profile.by_code[str(c)].en if str(c) in profile.by_code else str(c)
                for c in eligible["format"].iloc[pol.max_formats :]
            )
            notes.append(
                t(
                    f"缺口较多，本期按优先级为前 {pol.max_formats} 项选址；其余留待下期：{rest}",
                    f"many gaps: sites for the first {pol.max_formats} by priority; later: {rest_en}",
                )
            )

    ctx = _context(city, net, profile, cid)
    st = SiteSettings.from_profile(profile)
    room = site_room(ctx.sites)  # m² left per site, taken by each format placed there in priority order
    results = []
    for c in codes:
        r = _solve_format(ctx, net, profile, c, k, how, True, pol.old_first_min_ratio, st, room=room)
        need = profile.by_code[c].typical_floor_area_m2 or 0.0
        pos = ctx.sites["id"].astype(str).reset_index(drop=True)
        for sid in r.sites["site_id"]:
            room[(pos == str(sid)).to_numpy()] -= need
        results.append(r)
    unknown_area = sorted(
        {str(s) for r in results for s in r.sites["site_id"]}
        & set(ctx.sites.loc[np.isnan(site_room(ctx.sites)), "id"].astype(str))
    )
    if unknown_area:
        notes.append(
            t(
                f"场地 {'、'.join(unknown_area)} 面积未知：未按面积核对安排的业态数",
                f"sites {', '.join(unknown_area)}: floor area unknown (面积未知); the formats placed there were not "
                "checked against it",
            )
        )

    # the sites as outlets of a scenario (one outlet per site, serving every format chosen there)
    by_site: dict[str, dict[str, Any]] = {}
    site_rows = []
    for r in results:
        for rec in r.sites.to_dict("records"):
            site_rows.append(
                {"format": r.format, "format_zh": r.format_zh, "format_en": r.format_en, "class": r.cls, **rec}
            )
            o = by_site.setdefault(
                rec["site_id"],
                {
                    "id": f"PLAN-{cid}-{rec['site_id']}",
                    "name": rec["site_name"],
                    "formats": [],
                    "lon": rec["lon"],
                    "lat": rec["lat"],
                    "district": rec["district"],
                    "is_chain": pol.new_outlets_chain,
                    "source": "plan",
                },
            )
            o["formats"].append(r.format)
    sites = pd.DataFrame(site_rows, columns=["format", "format_zh", "format_en", "class", *_SITE_COLS])
    added = [{**o, "formats": ";".join(o["formats"])} for o in by_site.values()]
    for o in added:
        if o["district"] is None:
            del o["district"]
    scenario = Scenario(
        name=f"plan-{cid}",
        description=t(
            f"{base.get('name', cid)} 一圈一策：新增 {len(added)} 处网点", f"plan of {cid}: {len(added)} new outlets"
        ),
        added_outlets=make_outlets(added, file=f"plan {cid}"),
        city=city.name,
        origin=f"plan {cid}",
        city_provenance=dict(city.provenance),
    )
    city_after, net_after = apply_scenario(city, net, scenario)
    ev_after = evaluate_city(city_after, net_after, profile, rules=evaluation.rules) if len(added) else evaluation
    after = _circle_row(ev_after, cid)

    ind_rows = []
    for key, zh, en in COMPARE_INDICATORS:
        if key.startswith("n_") and key != "n_outlets":
            continue
        if key == "grade":
            ind_rows.append(
                {
                    "indicator": key,
                    "label_zh": zh,
                    "label_en": en,
                    "now": base.get("grade"),
                    "after": after.get("grade"),
                }
            )
            continue
        ind_rows.append(
            {
                "indicator": key,
                "label_zh": zh,
                "label_en": en,
                "now": base.get(key, np.nan),
                "after": after.get(key, np.nan),
            }
        )
    dnames = (
        dict(zip(evaluation.districts["code"].astype(str), evaluation.districts["name_zh"].astype(str), strict=True))
        if len(evaluation.districts)
        else {}
    )
    district = str(base.get("district") or "")
    comm = evaluation.communities[evaluation.communities["circle_id"].astype(object).eq(cid).to_numpy()].reset_index(
        drop=True
    )
    outl = (
        evaluation.outlets[evaluation.outlets["circle_id"].astype(object).eq(cid).to_numpy()].reset_index(drop=True)
        if len(evaluation.outlets)
        else evaluation.outlets
    )
    if k == 0:
        notes.append(t("每业态选址数为 0：只列现状与缺口", "zero sites per format: current state and gaps only"))
    fill = None
    if gapfill:
        from lifecircle.plans.gapfill import gap_fill

        fill = gap_fill(city, net, profile, cid, evaluation=evaluation, policy=pol)
    return CirclePlan(
        circle_id=cid,
        circle_name=str(base.get("name") or cid),
        district=district,
        district_name=dnames.get(district, district),
        city_name=city.display_name,
        synthetic=bool(city.synthetic or evaluation.synthetic),
        circle=base,
        circle_after=after,
        communities=comm,
        outlets=outl,
        outlets_by_format=_outlets_by_format(profile, evaluation, ev_after, cid, gaps, sites),
        gaps=gaps,
        formats=results,
        sites=sites,
        indicators=pd.DataFrame(ind_rows),
        scenario=scenario,
        evaluation=evaluation,
        evaluation_after=ev_after,
        settings=pol,
        notes=notes,
        gapfill=fill,
    )


def plan_summary_line(plan: CirclePlan) -> str:
    """One line: sites recommended, residents added, grade now → after."""
    n_sites = plan.sites["site_id"].nunique() if len(plan.sites) else 0
    g0, g1 = plan.grade_now, plan.grade_after
    return t(
        f"{plan.circle_name}：{len(plan.formats)} 项缺口业态，推荐 {n_sites} 处场地，新增覆盖 "
        f"{plan.residents_added:,.0f} 人次；等级 {g0[1]} → {g1[1]}",
        f"{plan.circle_name}: {len(plan.formats)} gap formats, {n_sites} sites recommended, "
        f"{plan.residents_added:,.0f} resident-formats newly covered; grade {g0[2]} → {g1[2]}",
    )
