"""Delineate living circles (M2, 科学划定): choose circle centres among the candidates and assign
every community to one centre by walking distance, inside its own district.

Per district, in plan order of phases (pilot 试点, then roll-out 推广, each with the district's quota):

1. **Choice of centres** — exactly ``quota`` centres among the district's candidates that
   maximise *residents within the walk* (``walk_min`` minutes on the network, 1,000 m at 4 km/h)
   plus a small closeness credit (``closeness_weight`` x residents x ``(1 - d / search_m)``) that
   separates equal covers. Centres of earlier phases are fixed. Exact integer programme (HiGHS via
   :func:`scipy.optimize.milp`, its bound and gap reported) when the district is small; greedy then
   swap improvement beyond. A district with too few candidates uses all of them and completes its
   quota with communities as centres (said in the explanation).
2. **Assignment** — every community of the district to one chosen centre, minimising walking
   distance with a penalty for leaving the walk and for circle sizes outside the size range
   (GB 50180: 50,000–100,000 residents; scaled for a district whose residents per circle fall
   outside it). Every circle gets at least one community. A community beyond the walk from every
   centre is still assigned (to the cheapest) and flagged ``beyond_walk``; one the network cannot
   reach (not snapped, or a disconnected piece) is assigned by straight-line distance and flagged
   ``unreachable``.
3. **Boundary** — the union of its communities' Voronoi cells (per district), each cut to
   ``cell_radius_m`` around its community and to the district polygon, so circles never overlap
   and never cross a district boundary.

Residents: ``population`` of communities whose ``kind`` is not ``industrial`` (parks count workers;
they are assigned but do not weigh in choice or size). Distances in metres, walking minutes at the
profile speed (km/h). Settings and quotas come from a versioned TOML (``plan-yichang-2022``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from numpy.typing import NDArray
from pyproj import Transformer
from scipy.optimize import Bounds, LinearConstraint, milp
from scipy.sparse import coo_matrix, csr_matrix

from lifecircle.config import builtin_configs, read_config, unknown_keys
from lifecircle.errors import ConfigError, InputError, ProblemCollector
from lifecircle.i18n import t
from lifecircle.network import Snapped, WalkNetwork, nearest_per_category, snap_points
from lifecircle.network.engine import within

DEFAULT_PLAN = "plan-yichang-2022"
INDUSTRIAL = "industrial"

KIND_ZH = {
    "community_service_centre": "社区综合服务中心",
    "health_centre": "社区卫生服务中心",
    "culture_centre": "文化活动中心",
    "transit_hub": "交通枢纽",
    "shopping_centre": "购物中心",
    "community": "小区（候选不足时补位）",
}
KIND_EN = {
    "community_service_centre": "community service centre",
    "health_centre": "health centre",
    "culture_centre": "culture centre",
    "transit_hub": "transit hub",
    "shopping_centre": "shopping centre",
    "community": "community (standing in: too few candidates)",
}
CIRCLE_COLUMNS = [
    "id", "name", "district", "district_name", "phase", "order", "centre_id", "centre_name", "centre_kind",
    "centre_lon", "centre_lat", "population", "workers", "n_communities", "population_within", "share_within",
    "n_beyond_walk", "covers_within", "adds_within", "size_min", "size_max", "size_ok", "reason_zh", "reason_en",
    "reason", "status",
]
PHASE_ZH = {"pilot": "试点", "rollout": "推广"}
PHASE_EN = {"pilot": "pilot", "rollout": "roll-out"}


# ------------------------------------------------------------------------------- plan settings
@dataclass(frozen=True)
class DistrictQuota:
    """Circles a district must form in each phase (``quotas[phase]``)."""

    code: str
    name_zh: str
    name_en: str
    quotas: dict[str, int]

    @property
    def total(self) -> int:
        return sum(self.quotas.values())


@dataclass(frozen=True)
class DelineationSettings:
    """How circles are delineated; see ``[delineation]`` of ``plan-yichang-2022.toml`` for the
    meaning of each key. Populations in residents, distances in metres, times in minutes/seconds."""

    walk_min: float = 15.0
    min_population: float = 50_000
    max_population: float = 100_000
    search_factor: float = 3.0
    closeness_weight: float = 0.05
    outside_penalty: float = 5.0
    size_penalty: float = 2.0
    exact_max_pairs: int = 200_000
    exact_time_limit_s: float = 10.0
    swap_max_rounds: int = 100
    cell_radius_m: float = 600.0


@dataclass(frozen=True)
class CommunityTypeSettings:
    """Community-type rules (M4); see ``[community_types]`` of the plan TOML."""

    new_commercial_share: float = 0.10
    old_commercial_m2_per_1000: float = 600.0
    old_site_kinds: tuple[str, ...] = ("idle_factory", "warehouse", "public_housing")
    old_site_walk_min: float = 10.0
    old_sites_per_community: int = 5
    over_supply_factor: float = 3.0
    over_supply_min: int = 6


@dataclass(frozen=True)
class PlanConfig:
    """A plan: phases, district quotas, delineation and community-type settings."""

    name: str
    title_zh: str
    title_en: str
    version: str
    source: str
    phases: tuple[str, ...]
    districts: tuple[DistrictQuota, ...]
    delineation: DelineationSettings
    community_types: CommunityTypeSettings

    def quotas(self) -> dict[str, tuple[int, ...]]:
        """Quota per district code, one number per phase (in ``phases`` order)."""
        return {d.code: tuple(d.quotas.get(p, 0) for p in self.phases) for d in self.districts}

    def district_names(self) -> dict[str, str]:
        return {d.code: t(d.name_zh, d.name_en) for d in self.districts}


def builtin_plans() -> list[str]:
    """Names of the plan files shipped with lifecircle."""
    return builtin_configs("plan-")


def _settings(cls: type, raw: Any, table: str, src: str, bag: ProblemCollector) -> Any:
    if raw is None:
        return cls()
    if not isinstance(raw, dict):
        bag.add(t(f"[{table}] 应为表", f"[{table}] must be a table"), field=table)
        return cls()
    known = cls.__dataclass_fields__
    for k, msg in unknown_keys(raw, known, table=table):
        bag.add(msg, field=f"{table}.{k}")
    vals: dict[str, Any] = {}
    for key, fld in known.items():
        if key not in raw:
            continue
        v = raw[key]
        default = fld.default
        try:
            if isinstance(default, tuple):
                if not isinstance(v, list) or not all(isinstance(x, str) for x in v):
                    raise ValueError
                vals[key] = tuple(v)
            elif isinstance(default, int) and not isinstance(default, bool):
                if isinstance(v, bool) or float(v) != int(v) or int(v) < 0:
                    raise ValueError
                vals[key] = int(v)
            else:
                if isinstance(v, bool) or not math.isfinite(float(v)) or float(v) < 0:
                    raise ValueError
                vals[key] = float(v)
        except (TypeError, ValueError):
            bag.add(t(f"[{table}] {key} = {v!r} 无效（应为非负数字或字符串列表）",
                      f"[{table}] {key} = {v!r} is invalid (a non-negative number or list of strings)"),
                    field=f"{table}.{key}")
    return cls(**vals)


def load_plan(name_or_path: str | Path = DEFAULT_PLAN) -> PlanConfig:
    """Load a plan by built-in name (``plan-yichang-2022``) or TOML path; every problem in the file
    is reported at once as a :class:`ConfigError`."""
    raw, src = read_config(name_or_path, what_zh="规划", what_en="plan", prefix="plan-")
    bag = ProblemCollector(file=src)
    meta = raw.get("plan", {})
    phases = tuple(str(p) for p in meta.get("phases", ["pilot", "rollout"]))
    if not phases or len(set(phases)) != len(phases):
        bag.add(t("[plan] phases 应为不重复的阶段名列表", "[plan] phases must be a list of distinct phase names"), field="plan.phases")
    districts: list[DistrictQuota] = []
    seen: set[str] = set()
    for i, d in enumerate(raw.get("district", []), start=1):
        code = str(d.get("code", "")).strip()
        where = t(f"第 {i} 个 [[district]]", f"[[district]] #{i}")
        if not code:
            bag.add(t(f"{where}: 缺少 code", f"{where}: code is missing"), field="district.code")
            continue
        if code in seen:
            bag.add(t(f"{where}: 区代码 {code} 重复", f"{where}: district code {code} repeats"), field="district.code")
        seen.add(code)
        quotas: dict[str, int] = {}
        for p in phases:
            v = d.get(p, 0)
            if isinstance(v, bool) or not isinstance(v, int) or v < 0:
                bag.add(t(f"{where} ({code}): {p} 应为非负整数，而不是 {v!r}", f"{where} ({code}): {p} must be a whole number >= 0, not {v!r}"),
                        field=f"district.{p}")
                v = 0
            quotas[p] = int(v)
        districts.append(DistrictQuota(code, str(d.get("name_zh", code)), str(d.get("name_en", d.get("name_zh", code))), quotas))
    if not districts:
        bag.add(t("规划中没有任何 [[district]] 配额", "the plan has no [[district]] quotas"), field="district")
    dl = _settings(DelineationSettings, raw.get("delineation"), "delineation", src, bag)
    ct = _settings(CommunityTypeSettings, raw.get("community_types"), "community_types", src, bag)
    if dl.min_population > dl.max_population:
        bag.add(t("min_population 大于 max_population", "min_population is above max_population"), field="delineation.min_population")
    if dl.walk_min <= 0:
        bag.add(t("walk_min 须大于 0", "walk_min must be > 0"), field="delineation.walk_min")
    if bag.problems:
        raise ConfigError("; ".join(str(p) for p in bag.problems))
    return PlanConfig(
        name=str(meta.get("name", Path(src).stem)), title_zh=str(meta.get("title_zh", "")),
        title_en=str(meta.get("title_en", "")), version=str(meta.get("version", "")),
        source=str(meta.get("source", "")), phases=phases, districts=tuple(districts),
        delineation=dl, community_types=ct,
    )


# ------------------------------------------------------------------------- walking distances
def snap_lonlat(net: WalkNetwork, lon: NDArray, lat: NDArray, max_m: float) -> Snapped:
    """Project WGS-84 points into the network's CRS and snap them to edges within ``max_m`` metres."""
    lon = np.asarray(lon, float)
    if len(lon) == 0:
        return snap_points(net, np.zeros(0), np.zeros(0), max_m=max_m)
    x, y = net.project(lon, np.asarray(lat, float))
    return snap_points(net, x, y, max_m=max_m)


def walk_matrix(net: WalkNetwork, origins: Snapped, targets: Snapped, *, max_m: float = np.inf,
                max_entries: int = 4_000_000) -> NDArray[np.float64]:
    """Walking distance (metres) from every origin to every target, ``(n_origins, n_targets)``,
    ``inf`` where unreachable, beyond ``max_m`` or either point not snapped.

    Each target is its own category of :func:`nearest_per_category`, run in batches so that the
    engine's node tables stay under ``max_entries`` entries.
    """
    n_o, n_t = len(origins), len(targets)
    out = np.full((n_o, n_t), np.inf)
    ok = np.flatnonzero(targets.ok)
    if n_o == 0 or len(ok) == 0 or not origins.ok.any():
        return out
    batch = max(1, min(len(ok), max_entries // max(net.n_nodes, 1)))
    for a in range(0, len(ok), batch):
        idx = ok[a:a + batch]
        sub = targets.subset(idx)
        d, _ = nearest_per_category(net, sub, np.arange(len(idx), dtype=np.int64), len(idx), origins, max_m=max_m)
        out[:, idx] = d
    return out


# ------------------------------------------------------------------------------- centre choice
@dataclass
class ChoiceResult:
    """Chosen candidates (positions in the pool, in choice order), how they were found, the
    objective (residents-equivalents), its upper bound and the relative gap."""

    chosen: list[int]
    method: str
    objective: float
    bound: float
    gap: float
    optimal: bool


def _value(G: NDArray, S: Sequence[int]) -> float:
    if len(S) == 0:
        return 0.0
    return float(G[:, list(S)].max(axis=1).sum())


def _greedy(G: NDArray, bonus: NDArray, fixed: list[int], k: int, allowed: NDArray[np.bool_]) -> list[int]:
    S = list(fixed)
    best = G[:, S].max(axis=1) if S else np.zeros(G.shape[0])
    avail = allowed.copy()
    avail[S] = False
    for _ in range(k):
        if not avail.any():
            break
        gain = np.maximum(G - best[:, None], 0.0).sum(axis=0) + bonus
        gain[~avail] = -np.inf
        j = int(np.argmax(gain))
        S.append(j)
        avail[j] = False
        best = np.maximum(best, G[:, j])
    return S


def _swap(G: NDArray, bonus: NDArray, S: list[int], fixed: set[int], allowed: NDArray[np.bool_], max_rounds: int) -> list[int]:
    """1-opt interchange: replace one free chosen centre by one unchosen candidate while that
    raises the objective (value + bonus) by more than a rounding error."""
    S = list(S)
    for _ in range(max_rounds):
        cur = _value(G, S) + float(bonus[S].sum())
        best_gain, best_move = 1e-9 * max(1.0, abs(cur)), None
        outside = allowed.copy()
        outside[S] = False
        if not outside.any():
            break
        for pos, s in enumerate(S):
            if s in fixed:
                continue
            rest = [x for x in S if x != s]
            base = G[:, rest].max(axis=1) if rest else np.zeros(G.shape[0])
            vals = np.maximum(G, base[:, None]).sum(axis=0) + bonus + float(bonus[rest].sum())
            vals[~outside] = -np.inf
            j = int(np.argmax(vals))
            if vals[j] - cur > best_gain:
                best_gain, best_move = vals[j] - cur, (pos, j)
        if best_move is None:
            break
        S[best_move[0]] = best_move[1]
    return S


def _choose_exact(G: NDArray, bonus: NDArray, fixed: list[int], k: int, allowed: NDArray[np.bool_],
                  time_limit_s: float) -> tuple[list[int], float, float, bool] | None:
    """Exact choice by an integer programme: max sum_i sum_j G_ij z_ij + bonus . x, with
    sum_j z_ij <= 1, z_ij <= x_j, sum x_j = |fixed| + k. ``None`` when HiGHS finds no solution."""
    n_i, n_j = G.shape
    ii, jj = np.nonzero(G > 0)
    n_p = len(ii)
    q = len(fixed) + k
    c = -np.concatenate([bonus, G[ii, jj]])
    rows = []
    # sum_j z_ij <= 1
    a1 = coo_matrix((np.ones(n_p), (ii, n_j + np.arange(n_p))), shape=(n_i, n_j + n_p))
    rows.append(LinearConstraint(a1, -np.inf, 1.0))
    # z_p - x_j <= 0
    r = np.arange(n_p)
    a2 = coo_matrix((np.concatenate([np.ones(n_p), -np.ones(n_p)]), (np.concatenate([r, r]), np.concatenate([n_j + r, jj]))),
                    shape=(n_p, n_j + n_p))
    rows.append(LinearConstraint(a2, -np.inf, 0.0))
    a3 = coo_matrix((np.ones(n_j), (np.zeros(n_j, int), np.arange(n_j))), shape=(1, n_j + n_p))
    rows.append(LinearConstraint(a3, q, q))
    lo = np.zeros(n_j + n_p)
    hi = np.ones(n_j + n_p)
    lo[fixed] = 1.0
    hi[:n_j][~allowed] = 0.0
    hi[fixed] = 1.0
    integrality = np.concatenate([np.ones(n_j), np.zeros(n_p)])
    res = milp(c, constraints=rows, integrality=integrality, bounds=Bounds(lo, hi),
               options={"time_limit": float(time_limit_s), "mip_rel_gap": 0.0, "disp": False})
    if res.x is None:
        return None
    x = res.x[:n_j] > 0.5
    chosen = [j for j in np.flatnonzero(x) if j not in set(fixed)]
    value = -float(res.fun)
    bound = -float(getattr(res, "mip_dual_bound", res.fun) or res.fun)
    return chosen, value, max(bound, value), res.status == 0


def choose_centres(G: NDArray, k: int, *, fixed: Sequence[int] = (), bonus: NDArray | None = None,
                   allowed: NDArray[np.bool_] | None = None, settings: DelineationSettings | None = None,
                   method: str = "auto") -> ChoiceResult:
    """Choose ``k`` more columns of the gain matrix ``G`` (communities x candidates, residents-
    equivalents) besides ``fixed`` ones, maximising ``sum_i max_{j in S} G_ij + sum_{j in S} bonus_j``.

    ``method``: ``exact`` (HiGHS), ``heuristic`` (greedy + swap) or ``auto`` (exact when the
    number of positive entries of ``G`` is at most ``settings.exact_max_pairs``). The returned
    ``chosen`` excludes ``fixed`` and is in greedy order within the chosen set.
    """
    st = settings or DelineationSettings()
    n_i, n_j = G.shape
    bonus = np.zeros(n_j) if bonus is None else np.asarray(bonus, float)
    allowed = np.ones(n_j, bool) if allowed is None else np.asarray(allowed, bool)
    fixed = [int(f) for f in fixed]
    k = min(k, int(allowed.sum()) - len(set(fixed) & set(np.flatnonzero(allowed))))
    if k <= 0:
        v = _value(G, fixed) + float(bonus[fixed].sum())
        return ChoiceResult([], "none", v, v, 0.0, True)
    use_exact = method == "exact" or (method == "auto" and int((G > 0).sum()) + n_j <= st.exact_max_pairs)
    heur = _swap(G, bonus, _greedy(G, bonus, fixed, k, allowed), set(fixed), allowed, st.swap_max_rounds)
    h_val = _value(G, heur) + float(bonus[heur].sum())
    chosen, value, bound, optimal, how = [j for j in heur if j not in set(fixed)], h_val, np.inf, False, "heuristic"
    if use_exact:
        ex = _choose_exact(G, bonus, fixed, k, allowed, st.exact_time_limit_s)
        if ex is not None:
            e_chosen, e_val, e_bound, e_opt = ex
            e_val = _value(G, fixed + e_chosen) + float(bonus[fixed + e_chosen].sum())
            if e_val >= h_val - 1e-9 * max(1.0, abs(h_val)):
                chosen, value, optimal, how = e_chosen, e_val, e_opt, "exact"
            bound = e_bound if not e_opt else max(value, e_bound)
    if not np.isfinite(bound):
        # submodular bound: value + the k largest marginal gains over the chosen set
        S = fixed + chosen
        best = G[:, S].max(axis=1)
        gains = np.maximum(G - best[:, None], 0.0).sum(axis=0) + np.maximum(bonus, 0.0)
        gains[S] = 0.0
        gains[~allowed] = 0.0
        bound = value + float(np.sort(gains)[::-1][:k].sum())
    # order the chosen set greedily (for the explanation)
    order = _greedy(G, bonus, fixed, len(chosen), np.isin(np.arange(n_j), chosen))[len(fixed):]
    gap = 0.0 if optimal else (bound - value) / max(abs(bound), 1e-12)
    return ChoiceResult(order, how, value, bound, max(gap, 0.0), optimal)


# ---------------------------------------------------------------------------------- assignment
def _penalty(pop: NDArray, lo: float, hi: float, lam: float) -> NDArray:
    return lam * (np.maximum(pop - hi, 0.0) + np.maximum(lo - pop, 0.0))


def assign_communities(cost: NDArray, w: NDArray, lo: float, hi: float, *, size_penalty: float,
                       exact_max_pairs: int = 20_000, time_limit_s: float = 10.0) -> tuple[NDArray[np.int64], str]:
    """Assign each row (community) to one column (centre) minimising ``sum cost + size_penalty x
    (residents above hi + below lo)`` per column, with at least one community per column.

    ``cost``: finite ``(n, q)``; ``w``: residents per community. Exact MILP when ``n x q <=
    exact_max_pairs``; else nearest then single-move local search. Returns (column per row, method).
    """
    n, q = cost.shape
    if q == 1:
        return np.zeros(n, dtype=np.int64), "trivial"
    if n * q <= exact_max_pairs:
        nv = n * q
        # variables: x (n*q, row-major), over (q), under (q)
        c = np.concatenate([cost.ravel(), np.full(2 * q, size_penalty)])
        ri = np.repeat(np.arange(n), q)
        cj = np.tile(np.arange(q), n)
        one = LinearConstraint(csr_matrix((np.ones(nv), (ri, np.arange(nv))), shape=(n, nv + 2 * q)), 1.0, 1.0)
        cols = np.arange(nv)
        size_hi = csr_matrix((np.concatenate([w[ri], -np.ones(q)]), (np.concatenate([cj, np.arange(q)]), np.concatenate([cols, nv + np.arange(q)]))),
                             shape=(q, nv + 2 * q))
        size_lo = csr_matrix((np.concatenate([w[ri], np.ones(q)]), (np.concatenate([cj, np.arange(q)]), np.concatenate([cols, nv + q + np.arange(q)]))),
                             shape=(q, nv + 2 * q))
        nonempty = csr_matrix((np.ones(nv), (cj, cols)), shape=(q, nv + 2 * q))
        cons = [one, LinearConstraint(size_hi, -np.inf, hi), LinearConstraint(size_lo, lo, np.inf), LinearConstraint(nonempty, 1.0, np.inf)]
        hi_b = np.concatenate([np.ones(nv), np.full(2 * q, np.inf)])
        res = milp(c, constraints=cons, integrality=np.concatenate([np.ones(nv), np.zeros(2 * q)]),
                   bounds=Bounds(np.zeros(nv + 2 * q), hi_b),
                   options={"time_limit": float(time_limit_s), "mip_rel_gap": 1e-6, "disp": False})
        if res.x is not None:
            x = res.x[:nv].reshape(n, q)
            return np.argmax(x, axis=1).astype(np.int64), "exact" if res.status == 0 else "exact (time limit)"
    return _assign_local(cost, w, lo, hi, size_penalty), "heuristic"


def _assign_local(cost: NDArray, w: NDArray, lo: float, hi: float, lam: float, max_passes: int = 50) -> NDArray[np.int64]:
    n, q = cost.shape
    a = np.argmin(cost, axis=1).astype(np.int64)
    # every column gets at least one row: the cheapest row not the only member of its column
    for j in range(q):
        if (a == j).any():
            continue
        counts = np.bincount(a, minlength=q)
        movable = counts[a] > 1
        extra = cost[:, j] - cost[np.arange(n), a]
        extra[~movable] = np.inf
        a[int(np.argmin(extra))] = j
    for _ in range(max_passes):
        improved = False
        pop = np.bincount(a, weights=w, minlength=q)
        counts = np.bincount(a, minlength=q)
        for i in range(n):
            s = a[i]
            if counts[s] <= 1:
                continue
            base = _penalty(pop[s], lo, hi, lam)
            after_s = _penalty(pop[s] - w[i], lo, hi, lam)
            delta = cost[i] - cost[i, s] + (after_s - base) + _penalty(pop + w[i], lo, hi, lam) - _penalty(pop, lo, hi, lam)
            delta[s] = 0.0
            j = int(np.argmin(delta))
            if delta[j] < -1e-9:
                a[i] = j
                pop[s] -= w[i]
                pop[j] += w[i]
                counts[s] -= 1
                counts[j] += 1
                improved = True
        if not improved:
            break
    return a


# -------------------------------------------------------------------------------- the result
@dataclass
class Delineation:
    """Circles and the assignment of communities (all WGS-84 for geometry).

    ``circles``: GeoDataFrame, one row per circle: ``id, name, district, district_name, phase,
    order, centre_id, centre_name, centre_kind, population, workers, n_communities,
    population_within, share_within, n_beyond_walk, size_min, size_max, size_ok, reason_zh,
    reason_en, reason, status, source, geometry``.
    ``communities``: ``id, name, district, kind, population, circle_id, centre_id, walk_m,
    walk_min, within_walk, flag`` (``""``, ``beyond_walk``, ``unreachable``, ``no_quota``).
    ``centres``: every candidate with ``chosen``, ``circle_id``, ``covers_within`` (residents
    within the walk), ``rank_in_district``.
    ``districts``: per district: ``quota_<phase>``, ``quota``, ``circles``, ``communities``,
    ``population``, ``population_within``, ``share_within``, ``choice_method`` (exact / heuristic),
    ``assign_method``, ``objective``, ``bound``, ``gap`` (of the last phase's choice), ``size_min``,
    ``size_max`` (the range used), ``note``.
    """

    circles: gpd.GeoDataFrame
    communities: pd.DataFrame
    centres: pd.DataFrame
    districts: pd.DataFrame
    walk_m: float
    settings: DelineationSettings
    phases: tuple[str, ...]
    notes: list[str] = field(default_factory=list)

    def for_phase(self, phase: str) -> Delineation:
        """Only the circles of ``phase`` (``all`` = every phase). Communities of other circles keep
        their row with an empty ``circle_id`` (the plan as a whole is unchanged)."""
        if phase == "all":
            return self
        if phase not in self.phases:
            raise InputError(t(f"未知阶段 '{phase}'；可用：all, {', '.join(self.phases)}",
                               f"unknown phase '{phase}'; use all, {', '.join(self.phases)}"))
        keep = self.circles["phase"] == phase
        circles = self.circles[keep].reset_index(drop=True)
        ids = set(circles["id"])
        comm = self.communities.copy()
        out = ~comm["circle_id"].isin(ids)
        comm.loc[out, ["circle_id", "centre_id"]] = None
        cen = self.centres.copy()
        cen.loc[~cen["circle_id"].isin(ids), ["chosen"]] = False
        return Delineation(circles, comm, cen, self.districts, self.walk_m, self.settings, self.phases, list(self.notes))


# -------------------------------------------------------------------------------- validation
def _check_inputs(communities: pd.DataFrame, centres: pd.DataFrame, districts: pd.DataFrame | None) -> None:
    bag = ProblemCollector(file="communities")
    for col in ("id", "district", "lon", "lat", "population"):
        if col not in communities.columns:
            bag.add(t(f"缺少必填列 '{col}'", f"required column '{col}' is missing"), field=col)
    bag.raise_if_any()
    ids = communities["id"].astype(str)
    for r in np.flatnonzero(ids.duplicated().to_numpy()):
        bag.add(t(f"小区 id '{ids.iloc[r]}' 重复", f"community id '{ids.iloc[r]}' repeats"), row=int(r) + 2, field="id")
    pop = pd.to_numeric(communities["population"], errors="coerce").to_numpy(float)
    for r in np.flatnonzero(~np.isfinite(pop) | (pop < 0)):
        bag.add(t("人口应为非负数字", "population must be a number >= 0"), row=int(r) + 2, field="population")
    for col in ("lon", "lat"):
        v = pd.to_numeric(communities[col], errors="coerce").to_numpy(float)
        for r in np.flatnonzero(~np.isfinite(v)):
            bag.add(t("坐标缺失或无效", "missing or invalid coordinate"), row=int(r) + 2, field=col)
    bag2 = ProblemCollector(file="centre_candidates")
    for col in ("id", "lon", "lat"):
        if col not in centres.columns:
            bag2.add(t(f"缺少必填列 '{col}'", f"required column '{col}' is missing"), field=col)
    if not bag2.problems:
        cids = centres["id"].astype(str)
        for r in np.flatnonzero(cids.duplicated().to_numpy()):
            bag2.add(t(f"中心候选 id '{cids.iloc[r]}' 重复", f"centre candidate id '{cids.iloc[r]}' repeats"), row=int(r) + 2, field="id")
    if districts is not None and len(districts) and "code" not in districts.columns:
        bag.add(t("区表缺少 'code' 列", "the districts table has no 'code' column"), field="code")
    bag.problems.extend(bag2.problems)
    bag.raise_if_any()


def _code(v: Any) -> str | None:
    """A district code as text: ``420502``, ``420502.0`` and ``" 420502 "`` are all ``"420502"``;
    empty / NaN is None."""
    if v is None or (isinstance(v, float) and not np.isfinite(v)) or v is pd.NA:
        return None
    if isinstance(v, float | np.floating) and float(v).is_integer():
        return str(int(v))
    s = str(v).strip()
    return s or None


def _normalise_quotas(quotas: Mapping[str, int | Sequence[int]], phases: Sequence[str]) -> dict[str, tuple[int, ...]]:
    out: dict[str, tuple[int, ...]] = {}
    bag = ProblemCollector(file="quotas")
    for code, q in quotas.items():
        vals = (q,) + (0,) * (len(phases) - 1) if isinstance(q, int | np.integer) else tuple(q)
        if len(vals) != len(phases) or any(int(v) != v or v < 0 for v in vals):
            bag.add(t(f"区 {code} 的配额 {q!r} 应为每个阶段一个非负整数（{', '.join(phases)}）",
                      f"district {code}: quota {q!r} must be one whole number >= 0 per phase ({', '.join(phases)})"), field=str(code))
            continue
        out[_code(code) or str(code)] = tuple(int(v) for v in vals)
    bag.raise_if_any()
    return out


# ------------------------------------------------------------------------------- main entry
def delineate_circles(
    communities: pd.DataFrame,
    centres: pd.DataFrame,
    net: WalkNetwork,
    districts: pd.DataFrame | None,
    *,
    quotas: Mapping[str, int | Sequence[int]],
    max_walk_m: float,
    size_range: tuple[float, float] = (50_000, 100_000),
    phases: Sequence[str] = ("pilot", "rollout"),
    settings: DelineationSettings | None = None,
    snap_max_m: float = 300.0,
    district_names: Mapping[str, str] | None = None,
    method: str = "auto",
) -> Delineation:
    """Choose centres and form circles, district by district (see the module docstring).

    ``communities``: ``id, name, district, lon, lat, population`` (+ ``kind``); ``centres``: centre
    candidates ``id, name, kind, lon, lat`` (+ ``district``; if empty, the district polygon that
    contains the point); ``districts``: ``code, name_zh, geometry`` (WGS-84) or None (no clipping).
    ``quotas``: circles per district code, one number per phase in ``phases`` order (an int = all
    in the first phase). ``max_walk_m``: the walk (metres) that serves a community (15 minutes:
    1,000 m at 4 km/h). ``size_range``: residents per circle (GB 50180: 50,000–100,000).
    ``snap_max_m``: points farther from every street are not snapped (metres).
    """
    st = settings or DelineationSettings()
    phases = tuple(phases)
    q_all = _normalise_quotas(quotas, phases)
    _check_inputs(communities, centres, districts)
    if max_walk_m <= 0:
        raise ConfigError(t("步行距离 max_walk_m 须大于 0", "max_walk_m must be > 0"))
    lo_nom, hi_nom = float(size_range[0]), float(size_range[1])
    if lo_nom > hi_nom or lo_nom < 0:
        raise ConfigError(t(f"规模区间 {size_range} 无效", f"size range {size_range} is invalid"))
    notes: list[str] = []
    comm = communities.reset_index(drop=True)
    cand = centres.reset_index(drop=True)
    n_c = len(comm)
    R = float(max_walk_m)
    search_m = max(R * st.search_factor, R)

    c_dist = np.array([_code(v) or "" for v in comm["district"].tolist()], dtype=object)
    kind = comm["kind"].astype(str).to_numpy(dtype=object) if "kind" in comm else np.full(n_c, "", dtype=object)
    pop = pd.to_numeric(comm["population"], errors="coerce").fillna(0).to_numpy(float)
    resid = np.where(kind == INDUSTRIAL, 0.0, pop)
    names_c = comm["name"].astype(str).to_numpy(dtype=object) if "name" in comm else comm["id"].astype(str).to_numpy(dtype=object)
    c_lon, c_lat = comm["lon"].to_numpy(float), comm["lat"].to_numpy(float)
    c_snap = snap_lonlat(net, c_lon, c_lat, snap_max_m)
    cx, cy = c_snap.x, c_snap.y

    # districts: polygons (projected) and names
    dgeom: dict[str, Any] = {}
    dname: dict[str, str] = dict(district_names or {})
    if districts is not None and len(districts):
        to_m = net.from_wgs84
        for _, row in districts.iterrows():
            code = _code(row["code"]) or ""
            g = row.get("geometry")
            if g is not None and hasattr(g, "is_empty") and not g.is_empty:
                # densify first (about 10 m) so straight edges in degrees stay on the boundary in metres
                g = shapely.segmentize(shapely.make_valid(g), 1e-4)
                dgeom[code] = shapely.make_valid(shapely.transform(g, lambda xy: np.column_stack(to_m.transform(xy[:, 0], xy[:, 1]))))
            if code not in dname:
                dname[code] = t(str(row.get("name_zh", code)), str(row.get("name_en", row.get("name_zh", code)) or code))

    # candidates: district from the column, else the polygon containing the point
    n_k = len(cand)
    k_lon, k_lat = (cand["lon"].to_numpy(float), cand["lat"].to_numpy(float)) if n_k else (np.zeros(0), np.zeros(0))
    k_snap = snap_lonlat(net, k_lon, k_lat, snap_max_m)
    k_dist = np.full(n_k, None, dtype=object)
    if n_k and "district" in cand:
        k_dist[:] = [_code(v) for v in cand["district"].tolist()]
    if n_k and dgeom and (k_dist == None).any():  # noqa: E711 - elementwise
        pts = shapely.points(k_snap.x, k_snap.y)
        for code, g in dgeom.items():
            inside = shapely.contains(g, pts) & (k_dist == None)  # noqa: E711
            k_dist[inside] = code
    if n_k and (~k_snap.ok).any():
        bad = cand["id"].astype(str).to_numpy()[~k_snap.ok]
        notes.append(t(f"{len(bad)} 个中心候选距最近道路超过 {snap_max_m:g} 米，未参与选择：{', '.join(bad[:10])}",
                       f"{len(bad)} centre candidates are more than {snap_max_m:g} m from every street and were not considered: {', '.join(bad[:10])}"))
    k_kind = cand["kind"].astype(str).to_numpy(dtype=object) if n_k and "kind" in cand else np.full(n_k, "community_service_centre", dtype=object)
    k_name = cand["name"].astype(str).to_numpy(dtype=object) if n_k and "name" in cand else (cand["id"].astype(str).to_numpy(dtype=object) if n_k else np.zeros(0, object))
    k_ids = cand["id"].astype(str).to_numpy(dtype=object) if n_k else np.zeros(0, object)

    comm_circle = np.full(n_c, None, dtype=object)
    comm_centre = np.full(n_c, None, dtype=object)
    comm_walk = np.full(n_c, np.nan)
    comm_flag = np.full(n_c, "", dtype=object)
    cen_chosen = np.zeros(n_k, bool)
    cen_circle = np.full(n_k, None, dtype=object)
    cen_cover = np.zeros(n_k)
    cen_rank = np.zeros(n_k, dtype=np.int64)

    circle_rows: list[dict[str, Any]] = []
    district_rows: list[dict[str, Any]] = []
    circle_geoms: list[Any] = []

    no_quota = sorted(set(c_dist) - {c for c, q in q_all.items() if sum(q) > 0})
    for code in no_quota:
        m = c_dist == code
        comm_flag[m] = "no_quota"
        notes.append(t(f"区 {code} 没有生活圈配额，其 {int(m.sum())} 个小区未划入任何生活圈",
                       f"district {code} has no circle quota; its {int(m.sum())} communities are in no circle"))

    for code, qs in q_all.items():
        label = dname.get(code, code)
        members = np.flatnonzero(c_dist == code)
        n_m = len(members)
        quota_total = sum(qs)
        drow: dict[str, Any] = {"district": code, "district_name": label}
        for p, q in zip(phases, qs, strict=True):
            drow[f"quota_{p}"] = q
        drow["quota"] = quota_total
        if quota_total == 0:
            continue
        if n_m == 0:
            notes.append(t(f"区 {label} 有 {quota_total} 个生活圈配额，但没有小区数据，未形成生活圈",
                           f"district {label} has a quota of {quota_total} circles but no communities; none formed"))
            district_rows.append({**drow, "circles": 0, "communities": 0, "population": 0, "population_within": 0,
                                  "share_within": np.nan, "choice_method": "none", "assign_method": "none", "objective": np.nan, "bound": np.nan, "gap": np.nan,
                                  "size_min": np.nan, "size_max": np.nan, "note": t("无小区", "no communities")})
            continue
        # quotas that cannot be met: never more circles than communities
        eff = list(qs)
        excess = sum(eff) - n_m
        for pi in range(len(eff) - 1, -1, -1):
            if excess <= 0:
                break
            cut = min(eff[pi], excess)
            eff[pi] -= cut
            excess -= cut
        if sum(eff) < quota_total:
            notes.append(t(f"区 {label} 只有 {n_m} 个小区，少于配额 {quota_total}，只能形成 {sum(eff)} 个生活圈",
                           f"district {label} has only {n_m} communities, fewer than its quota of {quota_total}; {sum(eff)} circles formed"))
        q_tot = sum(eff)

        # candidate pool: the district's snapped candidates; communities stand in when too few
        real = np.flatnonzero((k_dist == code) & k_snap.ok) if n_k else np.zeros(0, dtype=np.int64)
        pool_src = [("cand", int(j)) for j in real]
        short = len(real) < q_tot
        if short:
            pool_src += [("comm", int(i)) for i in members if c_snap.ok[i]] or [("comm", int(i)) for i in members]
            notes.append(t(f"区 {label} 只有 {len(real)} 个中心候选（需 {q_tot} 个），已全部选用，并以小区为中心补足",
                           f"district {label} has {len(real)} centre candidates for {q_tot} circles; all are used and communities stand in for the rest"))
        pool_snap = Snapped(
            np.array([k_snap.edge[j] if s == "cand" else c_snap.edge[j] for s, j in pool_src], dtype=np.int32),
            np.array([k_snap.pos_m[j] if s == "cand" else c_snap.pos_m[j] for s, j in pool_src], dtype=float),
            np.array([k_snap.offset_m[j] if s == "cand" else c_snap.offset_m[j] for s, j in pool_src], dtype=float),
            np.array([k_snap.ok[j] if s == "cand" else c_snap.ok[j] for s, j in pool_src], dtype=bool),
            np.array([k_snap.x[j] if s == "cand" else c_snap.x[j] for s, j in pool_src], dtype=float),
            np.array([k_snap.y[j] if s == "cand" else c_snap.y[j] for s, j in pool_src], dtype=float),
        )
        m_snap = c_snap.subset(members)
        w = resid[members]
        D = walk_matrix(net, m_snap, pool_snap, max_m=search_m)
        in_walk = within(D, R)
        close = np.where(np.isfinite(D), np.clip(1.0 - D / search_m, 0.0, 1.0), 0.0)
        G = w[:, None] * (in_walk + st.closeness_weight * close)
        is_real = np.array([s == "cand" for s, _ in pool_src])
        bonus = np.where(is_real, float(w.sum()) + 1.0, 0.0) if short else np.zeros(len(pool_src))
        cover = (w[:, None] * in_walk).sum(axis=0)

        # choose phase by phase, earlier phases fixed
        chosen: list[int] = []
        chosen_phase: list[str] = []
        methods, objective, bound = [], 0.0, 0.0
        allowed = np.ones(len(pool_src), bool)
        for p, q in zip(phases, eff, strict=True):
            if q == 0:
                continue
            res = choose_centres(G, q, fixed=chosen, bonus=bonus, allowed=allowed, settings=st, method=method)
            chosen += res.chosen
            chosen_phase += [p] * len(res.chosen)
            methods.append(res.method)
            objective, bound = res.objective, res.bound
        b_total = float(bonus[chosen].sum())
        objective -= b_total
        bound -= b_total
        q_tot = len(chosen)

        # explanation data: greedy marginal at each position, and the best alternative then
        marg, best_alt = [], []
        best = np.zeros(n_m)
        avail = np.ones(len(pool_src), bool)
        for j in chosen:
            gains_cov = (np.maximum(w[:, None] * in_walk - best[:, None], 0.0)).sum(axis=0)
            marg.append(float(gains_cov[j]))
            avail[j] = False
            alt = gains_cov.copy()
            alt[~avail] = -np.inf
            best_alt.append(float(alt.max()) if avail.any() else 0.0)
            best = np.maximum(best, w * in_walk[:, j])
        uniq = []
        W = in_walk[:, chosen]
        for pos, j in enumerate(chosen):
            others = np.delete(W, pos, axis=1).any(axis=1) if q_tot > 1 else np.zeros(n_m, bool)
            uniq.append(float((w * (in_walk[:, j] & ~others)).sum()))
        order_real = np.argsort(-cover[is_real], kind="stable") if is_real.any() else np.zeros(0, int)
        rank_of = np.zeros(len(pool_src), dtype=np.int64)
        rank_of[np.flatnonzero(is_real)[order_real]] = np.arange(1, len(order_real) + 1)
        for j, (s, src_i) in enumerate(pool_src):
            if s == "cand":
                cen_cover[src_i] = cover[j]
                cen_rank[src_i] = rank_of[j]

        # assignment: exact distances to the chosen centres
        Dsel = walk_matrix(net, m_snap, pool_snap.subset(np.asarray(chosen, dtype=np.int64)))
        unreach = ~np.isfinite(Dsel).any(axis=1)
        cost_d = Dsel.copy()
        if unreach.any():
            sx, sy = pool_snap.x[chosen], pool_snap.y[chosen]
            straight = np.hypot(cx[members][unreach, None] - sx[None, :], cy[members][unreach, None] - sy[None, :])
            cost_d[unreach] = straight + 10 * search_m
        cost_d = np.where(np.isfinite(cost_d), cost_d, 10 * search_m + R * 100)
        wt = np.maximum(w, 1.0)
        cost = wt[:, None] * (cost_d / R + st.outside_penalty * ~within(cost_d, R))
        # size range, scaled when the district's residents per circle fall outside it
        per = float(w.sum()) / max(q_tot, 1)
        lo, hi = lo_nom, hi_nom
        size_note = ""
        if per > 0 and (per < lo_nom or per > hi_nom) and hi_nom > 0:
            f = per / ((lo_nom + hi_nom) / 2)
            lo, hi = lo_nom * f, hi_nom * f
            size_note = t(f"本区每圈平均 {per:,.0f} 人，不在 {lo_nom:,.0f}–{hi_nom:,.0f} 人之间；规模区间按比例调整为 {lo:,.0f}–{hi:,.0f} 人",
                          f"{per:,.0f} residents per circle on average, outside {lo_nom:,.0f}–{hi_nom:,.0f}; size range scaled to {lo:,.0f}–{hi:,.0f}")
            notes.append(f"{label}: {size_note}")
        a, a_method = assign_communities(cost, w, lo, hi, size_penalty=st.size_penalty,
                                         exact_max_pairs=st.exact_max_pairs, time_limit_s=st.exact_time_limit_s)
        walk = Dsel[np.arange(n_m), a]

        # circles
        phase_count: dict[str, int] = {}
        ids: list[str] = []
        for pos, (j, p) in enumerate(zip(chosen, chosen_phase, strict=True)):
            phase_count[p] = phase_count.get(p, 0) + 1
            cid = f"{code}-{p[:1].upper()}{phase_count[p]:02d}"
            ids.append(cid)
            s, src_i = pool_src[j]
            if s == "cand":
                centre_id, centre_name, centre_kind = str(k_ids[src_i]), str(k_name[src_i]), str(k_kind[src_i])
                cen_chosen[src_i] = True
                cen_circle[src_i] = cid
            else:
                centre_id, centre_name, centre_kind = f"community:{comm['id'].iloc[src_i]}", str(names_c[src_i]), "community"
            mem = a == pos
            cpop = float(w[mem].sum())
            cwithin = float(w[mem & within(walk, R)].sum())
            share = cwithin / cpop if cpop > 0 else np.nan
            reason_zh, reason_en = _reason(
                p, phase_count[p], centre_kind, marg[pos], best_alt[pos], float(cover[j]), int(rank_of[j]),
                int(is_real.sum()), uniq[pos], cpop, share, st.walk_min, s == "cand", pos == 0,
            )
            circle_rows.append({
                "id": cid, "name": f"{centre_name}生活圈" if centre_kind != "community" else f"{centre_name}（小区中心）生活圈",
                "district": code, "district_name": label, "phase": p, "order": pos + 1,
                "centre_id": centre_id, "centre_name": centre_name, "centre_kind": centre_kind,
                "centre_lon": float(k_lon[src_i]) if s == "cand" else float(c_lon[src_i]),
                "centre_lat": float(k_lat[src_i]) if s == "cand" else float(c_lat[src_i]),
                "population": int(round(cpop)), "workers": int(pop[members][mem & (kind[members] == INDUSTRIAL)].sum()),
                "n_communities": int(mem.sum()), "population_within": int(round(cwithin)), "share_within": share,
                "n_beyond_walk": int((mem & ~within(walk, R)).sum()),
                "covers_within": int(round(cover[j])), "adds_within": int(round(marg[pos])),
                "size_min": lo, "size_max": hi, "size_ok": bool(lo - 1e-6 <= cpop <= hi + 1e-6),
                "reason_zh": reason_zh, "reason_en": reason_en, "reason": t(reason_zh, reason_en),
                "status": "planned",
            })
        for pos in range(q_tot):
            mem = members[a == pos]
            comm_circle[mem] = ids[pos]
            comm_centre[mem] = circle_rows[len(circle_rows) - q_tot + pos]["centre_id"]
        comm_walk[members] = walk
        flag = np.where(unreach, "unreachable", np.where(within(walk, R), "", "beyond_walk"))
        comm_flag[members] = flag
        circle_geoms += _district_cells(cx[members], cy[members], a, q_tot, dgeom.get(code), st.cell_radius_m)
        if code not in dgeom and districts is not None:
            notes.append(t(f"区表中没有区 {label} 的边界，生活圈边界未按区裁剪",
                           f"no boundary for district {label} in the districts table; its circles are not clipped"))
        if unreach.any():
            notes.append(t(f"区 {label} 有 {int(unreach.sum())} 个小区在路网上无法到达任何已选中心（未接入路网或孤立路段），按直线距离划入最近的生活圈并标记",
                           f"district {label}: {int(unreach.sum())} communities cannot reach any chosen centre on the network (not snapped, or a disconnected piece); assigned by straight-line distance and flagged"))
        tot_w = float(w.sum())
        wi = float(w[within(walk, R)].sum())
        district_rows.append({
            **drow, "circles": q_tot, "communities": n_m, "population": int(round(tot_w)),
            "population_within": int(round(wi)), "share_within": wi / tot_w if tot_w > 0 else np.nan,
            "choice_method": "+".join(sorted(set(methods))), "assign_method": a_method,
            "objective": objective, "bound": bound,
            "gap": max(0.0, (bound - objective) / max(abs(bound), 1e-12)) if np.isfinite(bound) else np.nan,
            "size_min": lo, "size_max": hi, "note": size_note,
        })

    back = Transformer.from_crs(net.crs, 4326, always_xy=True)
    geoms = [None if g is None or g.is_empty else valid_polygonal(shapely.transform(g, lambda xy: np.column_stack(back.transform(xy[:, 0], xy[:, 1]))))
             for g in circle_geoms]
    circ = pd.DataFrame(circle_rows, columns=CIRCLE_COLUMNS)
    synthetic = _is_synthetic(communities) or _is_synthetic(centres)
    circ["source"] = "synthetic" if synthetic else "lifecircle"
    circles = gpd.GeoDataFrame(circ, geometry=gpd.GeoSeries(geoms, crs=4326) if geoms else gpd.GeoSeries([], crs=4326), crs=4326)
    speed_m_per_min = R / st.walk_min if st.walk_min else np.nan
    communities_out = pd.DataFrame({
        "id": comm["id"].astype(str).to_numpy(), "name": names_c, "district": c_dist, "kind": kind,
        "population": pop.astype(np.int64), "lon": c_lon, "lat": c_lat,
        "circle_id": comm_circle, "centre_id": comm_centre, "walk_m": comm_walk,
        "walk_min": comm_walk / speed_m_per_min, "within_walk": np.isfinite(comm_walk) & within(comm_walk, R),
        "flag": comm_flag,
    })
    centres_out = pd.DataFrame({
        "id": k_ids, "name": k_name, "kind": k_kind, "district": k_dist, "lon": k_lon, "lat": k_lat,
        "snapped": k_snap.ok, "chosen": cen_chosen, "circle_id": cen_circle,
        "covers_within": cen_cover.round().astype(np.int64), "rank_in_district": cen_rank,
    })
    return Delineation(circles, communities_out, centres_out, pd.DataFrame(district_rows), R, st, phases, notes)


def _is_synthetic(df: pd.DataFrame) -> bool:
    return "source" in df.columns and bool((df["source"].astype(str) == "synthetic").any())


def _reason(phase: str, k: int, kind: str, marginal: float, best_alt: float, cover: float, rank: int, n_real: int,
            unique: float, pop: float, share: float, walk_min: float, real: bool, first: bool) -> tuple[str, str]:
    """Why this centre, in Chinese and English."""
    kz, ke = KIND_ZH.get(kind, kind), KIND_EN.get(kind, kind)
    pz, pe = PHASE_ZH.get(phase, phase), PHASE_EN.get(phase, phase)
    wm = f"{walk_min:g}"
    if not real:
        why_zh = f"区内中心候选不足，以该小区为中心补足配额；步行{wm}分钟内覆盖 {cover:,.0f} 名居民"
        why_en = f"too few centre candidates in the district, so this community stands in as a centre; it covers {cover:,.0f} residents within {wm} min"
    elif marginal >= best_alt - 1e-6:
        if first and abs(marginal - cover) < 1e-6:
            why_zh = f"步行{wm}分钟内覆盖 {cover:,.0f} 名居民，为全部候选中最多"
            why_en = f"covers {cover:,.0f} residents within {wm} min, the most of any candidate"
        else:
            why_zh = f"在此前已选中心之外新增覆盖 {marginal:,.0f} 名居民（{wm}分钟步行），为剩余候选中最多"
            why_en = f"adds {marginal:,.0f} residents within {wm} min not covered by the centres chosen before it, the most of any remaining candidate"
    else:
        why_zh = f"在此前已选中心之外新增覆盖 {marginal:,.0f} 名居民；与同区其他中心组合后总覆盖最大（整体最优选择）"
        why_en = f"adds {marginal:,.0f} residents not covered by the centres chosen before it; chosen because, together with the district's other centres, the set covers the most (whole-set optimum)"
    rank_zh = f"；单独覆盖 {cover:,.0f} 人，在本区 {n_real} 个候选中排第 {rank} 位" if real and rank else ""
    rank_en = f"; on its own it covers {cover:,.0f}, rank {rank} of {n_real} candidates in the district" if real and rank else ""
    if real and first and rank == 1 and abs(marginal - cover) < 1e-6:
        rank_zh, rank_en = f"（本区共 {n_real} 个候选）", f" ({n_real} candidates in the district)"
    sh = "—" if not np.isfinite(share) else f"{share:.0%}"
    zh = (f"{pz}第 {k} 个中心（{kz}）：{why_zh}{rank_zh}；其中 {unique:,.0f} 人不在其他已选中心的{wm}分钟范围内。"
          f"本圈居民 {pop:,.0f} 人，{sh} 在中心{wm}分钟步行范围内。")
    en = (f"{pe} centre {k} ({ke}): {why_en}{rank_en}; {unique:,.0f} of them are within {wm} min of no other chosen centre. "
          f"The circle has {pop:,.0f} residents, {sh} within a {wm}-minute walk of the centre.")
    return zh, en


def valid_polygonal(geom: Any) -> Any:
    """``geom`` as a valid (Multi)Polygon, or None: repaired (``make_valid``) and only its polygonal
    parts kept. A union of cells that is valid in metres can self-intersect once projected back to
    degrees (20 of the demo's 30 circles did); every circle boundary written passes here."""
    if geom is None or geom.is_empty:
        return None
    if shapely.is_valid(geom) and shapely.get_type_id(geom) in (3, 6):
        return geom
    polys = [p for p in shapely.get_parts(shapely.make_valid(geom)) if shapely.get_type_id(p) in (3, 6)]
    g = shapely.union_all(polys) if polys else None
    return None if g is None or g.is_empty else g


def _district_cells(x: NDArray, y: NDArray, assign: NDArray, q: int, district: Any, radius_m: float) -> list[Any]:
    """Projected boundary per circle: the union of its communities' Voronoi cells (within the
    district), each cut to ``radius_m`` around its community and to the district polygon."""
    n = len(x)
    pts = shapely.points(x, y)
    if n == 0:
        return [None] * q
    xy = np.column_stack([x, y])
    uniq, first, inv = np.unique(np.round(xy, 3), axis=0, return_index=True, return_inverse=True)
    inv = inv.ravel()
    if len(uniq) == 1:
        cells_u = [shapely.box(-1e12, -1e12, 1e12, 1e12)]
    else:
        env = shapely.envelope(shapely.multipoints(uniq))
        extent = shapely.buffer(env if district is None else shapely.union(env, shapely.envelope(district)), 10 * radius_m + 1)
        vor = shapely.voronoi_polygons(shapely.multipoints(uniq), extend_to=extent, ordered=True)
        cells_u = list(shapely.get_parts(vor))
        if len(cells_u) != len(uniq):  # defensive: match cells to points by containment
            tree = shapely.STRtree(cells_u)
            hit = tree.query(shapely.points(uniq), predicate="intersects")
            mapped = [None] * len(uniq)
            for pi, ci in zip(*hit, strict=True):
                if mapped[pi] is None:
                    mapped[pi] = cells_u[ci]
            cells_u = [c if c is not None else shapely.Point(*uniq[i]).buffer(radius_m) for i, c in enumerate(mapped)]
    # a cell belongs to the first community at that point; duplicates at one point follow it
    owner = first[inv]
    cells = []
    for i in range(n):
        if owner[i] != i:
            cells.append(None)
            continue
        c = shapely.intersection(cells_u[inv[i]], shapely.buffer(pts[i], radius_m))
        if district is not None:
            c = shapely.intersection(c, district)
        cells.append(c)
    out = []
    for j in range(q):
        parts = [cells[i] for i in np.flatnonzero(assign == j) if cells[i] is not None and not cells[i].is_empty]
        geom = shapely.union_all(parts) if parts else None
        if geom is not None:
            geom = shapely.make_valid(geom)
            polys = [g for g in shapely.get_parts(geom) if shapely.get_type_id(g) in (3, 6)]
            geom = shapely.union_all(polys) if polys else None
        out.append(geom)
    return out


# ----------------------------------------------------------------------- user-given boundaries
@dataclass
class GivenAssignment:
    """Communities assigned to user-given circle boundaries by point in polygon.

    ``communities``: ``id, name, district, population, circle_id`` (None outside every circle),
    ``n_circles`` (how many boundaries contain the point; >1 = overlapping boundaries, the first
    listed wins), ``district_mismatch`` (circle's district differs from the community's).
    ``outside``: the communities in no circle. ``circles``: GeoDataFrame (WGS-84) per circle
    ``id, name, district, n_communities, population, geometry``.
    """

    communities: pd.DataFrame
    outside: pd.DataFrame
    circles: gpd.GeoDataFrame
    notes: list[str] = field(default_factory=list)


def assign_to_given_circles(communities: pd.DataFrame, circles_gdf: gpd.GeoDataFrame) -> GivenAssignment:
    """Assign each community (``lon, lat`` WGS-84) to the circle polygon that contains it.

    ``circles_gdf``: ``id`` (+ ``name``, ``district``) and polygon ``geometry``; reprojected to
    WGS-84 if it has another CRS. Communities outside every circle are reported, not guessed.
    """
    bag = ProblemCollector(file="circles")
    if "id" not in circles_gdf.columns:
        bag.add(t("缺少必填列 'id'", "required column 'id' is missing"), field="id")
    if not isinstance(circles_gdf, gpd.GeoDataFrame) or circles_gdf.geometry is None:
        bag.add(t("没有几何列（边界多边形）", "no geometry column (boundary polygons)"), field="geometry")
    bag.raise_if_any()
    g = circles_gdf.to_crs(4326) if circles_gdf.crs is not None and not circles_gdf.crs.equals(4326) else circles_gdf
    g = g.reset_index(drop=True)
    for i, geom in enumerate(g.geometry):
        if geom is None or geom.is_empty:
            bag.add(t("边界为空", "empty boundary"), row=i + 2, field="geometry")
        elif shapely.get_type_id(geom) not in (3, 6):
            bag.add(t(f"边界应为多边形，而不是 {geom.geom_type}", f"the boundary must be a polygon, not a {geom.geom_type}"), row=i + 2, field="geometry")
    ids = g["id"].astype(str)
    for r in np.flatnonzero(ids.duplicated().to_numpy()):
        bag.add(t(f"生活圈 id '{ids.iloc[r]}' 重复", f"circle id '{ids.iloc[r]}' repeats"), row=int(r) + 2, field="id")
    bag.raise_if_any()
    comm = communities.reset_index(drop=True)
    pts = shapely.points(comm["lon"].to_numpy(float), comm["lat"].to_numpy(float))
    geoms = np.asarray([shapely.make_valid(x) for x in g.geometry], dtype=object)
    tree = shapely.STRtree(geoms)
    pi, gi = tree.query(pts, predicate="intersects")
    n = len(comm)
    first = np.full(n, -1, dtype=np.int64)
    count = np.bincount(pi, minlength=n) if len(pi) else np.zeros(n, dtype=np.int64)
    order = np.lexsort((gi, pi))
    for p_, g_ in zip(pi[order][::-1], gi[order][::-1], strict=True):
        first[p_] = g_
    circle_id = np.where(first >= 0, ids.to_numpy()[np.maximum(first, 0)], None)
    c_district = g["district"].astype(str).to_numpy() if "district" in g else None
    out = pd.DataFrame({
        "id": comm["id"].astype(str), "name": comm["name"] if "name" in comm else comm["id"].astype(str),
        "district": comm["district"].astype(str) if "district" in comm else None,
        "population": pd.to_numeric(comm["population"], errors="coerce").fillna(0).astype(np.int64) if "population" in comm else 0,
        "circle_id": circle_id, "n_circles": count.astype(np.int64),
    })
    if c_district is not None and "district" in comm:
        cd = np.where(first >= 0, c_district[np.maximum(first, 0)], None)
        out["district_mismatch"] = (first >= 0) & (cd != out["district"].to_numpy())
    else:
        out["district_mismatch"] = False
    notes = []
    outside = out[out["circle_id"].isna()].reset_index(drop=True)
    if len(outside):
        notes.append(t(f"{len(outside)} 个小区（{int(outside['population'].sum()):,} 人）不在任何生活圈边界内",
                       f"{len(outside)} communities ({int(outside['population'].sum()):,} residents) lie outside every circle boundary"))
    if (count > 1).any():
        notes.append(t(f"{int((count > 1).sum())} 个小区位于重叠的生活圈边界内，已划入先列出的生活圈",
                       f"{int((count > 1).sum())} communities lie where circle boundaries overlap; each went to the circle listed first"))
    if out["district_mismatch"].any():
        notes.append(t(f"{int(out['district_mismatch'].sum())} 个小区所在生活圈属于其他区",
                       f"{int(out['district_mismatch'].sum())} communities fall in a circle of another district"))
    per = out.groupby("circle_id").agg(n_communities=("id", "size"), population=("population", "sum"))
    circ = gpd.GeoDataFrame({"id": ids, "name": g["name"].astype(str) if "name" in g else ids,
                             "district": g["district"].astype(str) if "district" in g else None},
                            geometry=gpd.GeoSeries([valid_polygonal(x) for x in geoms], crs=4326), crs=4326)
    circ = circ.join(per, on="id")
    circ[["n_communities", "population"]] = circ[["n_communities", "population"]].fillna(0).astype(np.int64)
    empty = circ[circ["n_communities"] == 0]
    if len(empty):
        notes.append(t(f"{len(empty)} 个生活圈边界内没有小区：{', '.join(empty['id'][:10])}",
                       f"{len(empty)} circle boundaries contain no community: {', '.join(empty['id'][:10])}"))
    return GivenAssignment(out, outside, circ, notes)
