"""Site recommendation (M8): choose ``k`` candidate sites for a missing format so that the most
residents live within the format's walking layer — the maximal covering location problem (MCLP).

Coverage is walking distance on the network (metres, including the walk from each point to its
street), never a straight line. Existing outlets of the format are fixed: residents already within
the walking layer of one need nothing and are not counted as newly covered. With a capacity per
site (residents it can serve) the problem becomes an assignment model; a demand point's residents
may then be split between sites.

Two solvers:

* **exact** — an integer programme solved by HiGHS (:func:`scipy.optimize.milp`) with a time
  limit; the solver's own dual bound and gap are reported (0 gap = proven optimal).
* **heuristic** — greedy, then a 1-opt swap (interchange) local search; the reported bound is the
  best of the LP relaxation (when the size allows), the submodular bound ``f(S) + sum of the k
  largest marginal gains`` and the greedy ``f / (1 - 1/e)`` bound, so the gap is honest.

:func:`recommend_sites` works from the network; :func:`solve_mclp` from a coverage matrix; the
solvers themselves are in :mod:`lifecircle.plans.site_solvers`.
Residents are counts of people; distances are metres.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Literal

import numba as nb
import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.sparse import coo_matrix, csr_matrix

from lifecircle.config import unknown_keys
from lifecircle.errors import ConfigError, ProblemCollector
from lifecircle.i18n import t
from lifecircle.network import Snapped, WalkNetwork, nearest
from lifecircle.network.engine import edge_points, kernel_graph
from lifecircle.network.kernels import points_within, within_work
from lifecircle.plans.site_solvers import (
    _cap_assignment,
    _exact,
    _heuristic,
    _order_and_marginals,
    _reduce,
    _Solution,
)
from lifecircle.plans.site_solvers import _lagrangian_bound as _lagrangian_bound  # re-exported
from lifecircle.plans.site_solvers import _mclp_milp as _mclp_milp  # re-exported
from lifecircle.profile import Profile

Method = Literal["auto", "exact", "heuristic"]


# --------------------------------------------------------------------------------------- settings
@dataclass(frozen=True)
class SiteSettings:
    """How site recommendation chooses and runs its solvers. Read from the profile's optional
    ``[sites]`` table (:meth:`from_profile`); every key has the default shown here.

    ``exact_max_nnz`` / ``exact_max_candidates``: ``method="auto"`` uses the exact solver when the
    reduced instance has at most this many covered (demand, site) pairs and candidate sites.
    ``time_limit_s``: seconds the exact solver may run before it returns its best answer and bound.
    ``mip_rel_gap``: relative gap at which the exact solver stops (0 = prove optimality).
    ``lp_bound_max_nnz``: the heuristic also solves the LP relaxation for its bound up to this size.
    ``swap_max_rounds``: at most this many improving swaps in the local search.
    ``lagrangian_iters``: subgradient steps for the heuristic's Lagrangian bound.
    """

    exact_max_nnz: int = 400_000
    exact_max_candidates: int = 5_000
    time_limit_s: float = 60.0
    mip_rel_gap: float = 0.0
    lp_bound_max_nnz: int = 400_000
    swap_max_rounds: int = 200
    lagrangian_iters: int = 300

    @classmethod
    def from_profile(cls, profile: Profile) -> SiteSettings:
        """Settings from ``profile.extra["sites"]`` (the ``[sites]`` TOML table), defaults otherwise."""
        raw = profile.extra.get("sites", {})
        if not isinstance(raw, dict):
            raise ConfigError(t(f"{profile.name}: [sites] 应为表", f"{profile.name}: [sites] must be a table"))
        known = cls.__dataclass_fields__
        problems = [msg for _, msg in unknown_keys(raw, known)]
        vals: dict[str, Any] = {}
        for key, fld in known.items():
            if key not in raw:
                continue
            typ = int if fld.type in ("int", int) else float
            try:
                v = typ(raw[key])
                if v < 0:
                    raise ValueError
                vals[key] = v
            except (TypeError, ValueError):
                problems.append(t(f"'{key}' 须为非负数", f"'{key}' must be a non-negative number"))
        if problems:
            raise ConfigError(f"{profile.name} [sites]: " + "; ".join(problems))
        return cls(**vals)


def layer_radius_m(profile: Profile, format_code: str, *, elderly: bool = False) -> float:
    """Coverage radius in metres for a format: its walking layer (minutes) at the profile's walking
    speed (km/h), or at the elderly speed when ``elderly``."""
    fmt = profile.format(format_code)
    w = profile.walking
    return w.metres(fmt.layer_min, w.elderly_speed_kmh if elderly else w.speed_kmh)


# --------------------------------------------------------------------------------- coverage matrix
@nb.njit(cache=True, nogil=True)
def _coverage_kernel(g, candidates, lo, hi, demand, radius):
    """Walking metres on graph ``g`` (:class:`~lifecircle.network.kernels.Graph`) from
    ``candidates`` ``lo..hi-1`` to every ``demand`` point (both
    :class:`~lifecircle.network.kernels.EdgePoints`; demand grouped by edge) within ``radius``
    metres. Returns ``(candidate, demand, metres)`` triples; pairs beyond the radius are absent."""
    w = within_work(g, demand.edge.shape[0])
    best, touched = w.best_m, w.touched
    out_c = np.empty(1024, dtype=np.int64)
    out_d = np.empty(1024, dtype=np.int64)
    out_m = np.empty(1024, dtype=np.float64)
    n_out = 0
    for j in range(lo, hi):
        if not candidates.ok[j]:
            continue
        n_touch = points_within(g, candidates, j, radius, demand, w)
        if n_out + n_touch > out_c.shape[0]:
            size = max(2 * out_c.shape[0], n_out + n_touch)
            nc = np.empty(size, dtype=np.int64)
            nd = np.empty(size, dtype=np.int64)
            nm = np.empty(size, dtype=np.float64)
            nc[:n_out] = out_c[:n_out]
            nd[:n_out] = out_d[:n_out]
            nm[:n_out] = out_m[:n_out]
            out_c, out_d, out_m = nc, nd, nm
        for i in range(n_touch):
            s = touched[i]
            if best[s] <= radius:
                out_c[n_out] = j
                out_d[n_out] = s
                out_m[n_out] = best[s]
                n_out += 1
    return out_c[:n_out].copy(), out_d[:n_out].copy(), out_m[:n_out].copy()


def coverage_matrix(net: WalkNetwork, demand: Snapped, candidates: Snapped, radius_m: float) -> csr_matrix:
    """Which candidate sites cover which demand points: walking distance ``<= radius_m`` metres.

    Returns a ``(n_demand, n_candidates)`` CSR matrix whose stored entries are exactly the covered
    pairs; each value is the walking distance in metres (it can be ``0.0`` — a stored zero still
    means covered, so read coverage from the sparsity pattern, not from the values). Pairs out of
    reach, and points not snapped to the network, are simply absent (never ``NaN`` or ``inf``).
    One Dijkstra bounded at ``radius_m`` runs per candidate, on as many threads as numba uses.
    """
    n_d, n_c = len(demand), len(candidates)
    if n_d == 0 or n_c == 0 or not (radius_m >= 0):
        return csr_matrix((n_d, n_c), dtype=np.float64)
    g = kernel_graph(net)
    starts = edge_points(candidates, net.n_edges, group=False)
    targets = edge_points(demand, net.n_edges)

    def run(lo: int, hi: int) -> tuple[NDArray, NDArray, NDArray]:
        return _coverage_kernel(g, starts, lo, hi, targets, float(radius_m))

    n_threads = max(1, nb.get_num_threads())
    n_chunks = max(1, min(n_c, 4 * n_threads))
    edges = np.linspace(0, n_c, n_chunks + 1).astype(int)
    if n_chunks == 1:
        parts = [run(0, n_c)]
    else:
        with ThreadPoolExecutor(n_threads) as pool:
            parts = list(pool.map(run, edges[:-1], edges[1:]))
    cc = np.concatenate([p[0] for p in parts])
    dd = np.concatenate([p[1] for p in parts])
    mm = np.concatenate([p[2] for p in parts])
    out = coo_matrix((mm, (dd, cc)), shape=(n_d, n_c)).tocsr()  # pairs are unique: no summing
    out.sort_indices()
    return out


# ------------------------------------------------------------------------------------------ result
@dataclass
class SiteResult:
    """Recommended sites and how good the answer is. Residents are people; shares are 0..1.

    ``chosen_idx``/``chosen_ids``: the recommended candidates (indices into the candidate list, and
    the caller's ids), ordered by contribution; ``added[i]``: residents newly covered by site ``i``
    that no outlet or earlier-listed site covers (with capacities: residents assigned to it), so
    ``added.sum() == covered``. Sites that would add nobody are not recommended, so fewer than
    ``k`` sites may be listed. ``covered``: residents newly within the walking layer.
    ``already_covered``: residents already within the layer of an existing outlet.
    ``share_before`` / ``share_after``: share of all residents within the layer before and after
    (``None`` when there are no residents). ``bound``: an upper bound on the residents any ``k``
    sites could newly cover; ``gap = (bound - covered) / bound`` (0 when ``bound`` is 0);
    ``optimal``: the answer is proven optimal. ``solve_s``: seconds spent solving.
    """

    chosen_idx: NDArray[np.int64]
    chosen_ids: list[Any]
    added: NDArray[np.float64]
    covered: float
    already_covered: float
    total_residents: float
    share_before: float | None
    share_after: float | None
    k: int
    method: str
    optimal: bool
    bound: float
    gap: float
    solve_s: float
    notes: list[str] = field(default_factory=list)

    @property
    def covered_total(self) -> float:
        """Residents within the walking layer after the plan (existing outlets and new sites)."""
        return self.already_covered + self.covered


# -------------------------------------------------------------------------------------- solve
def _check_inputs(
    n_d: int,
    n_c: int,
    residents: NDArray,
    k: int,
    capacity: NDArray | None,
    candidate_ids: Sequence[Any] | None,
    covered_already: NDArray | None,
) -> None:
    pc = ProblemCollector()
    if len(residents) != n_d:
        pc.add(
            t(
                f"居民数有 {len(residents)} 个，需求点有 {n_d} 个",
                f"{len(residents)} resident counts for {n_d} demand points",
            ),
            field="residents",
        )
    bad = np.flatnonzero(~np.isfinite(residents) | (residents < 0))
    for i in bad[:20]:
        pc.add(t("居民数须为非负数", "residents must be a non-negative number"), row=int(i) + 2, field="residents")
    if k < 0:
        pc.add(t(f"选址数 k={k} 不能为负", f"number of sites k={k} cannot be negative"), field="k")
    if capacity is not None:
        if len(capacity) != n_c:
            pc.add(
                t(f"容量有 {len(capacity)} 个，候选点有 {n_c} 个", f"{len(capacity)} capacities for {n_c} candidates"),
                field="capacity",
            )
        else:
            for i in np.flatnonzero(np.isnan(capacity) | (capacity < 0))[:20]:
                pc.add(
                    t("容量须为非负数（人）", "capacity must be a non-negative number of residents"),
                    row=int(i) + 2,
                    field="capacity",
                )
    if candidate_ids is not None and len(candidate_ids) != n_c:
        pc.add(
            t(
                f"候选点编号有 {len(candidate_ids)} 个，候选点有 {n_c} 个",
                f"{len(candidate_ids)} ids for {n_c} candidates",
            ),
            field="id",
        )
    if covered_already is not None and len(covered_already) != n_d:
        pc.add(t("已覆盖标记与需求点数量不一致", "covered_already must have one entry per demand point"))
    pc.raise_if_any()


def solve_mclp(
    cover: csr_matrix,
    residents: ArrayLike,
    k: int,
    *,
    covered_already: ArrayLike | None = None,
    capacity: ArrayLike | None = None,
    candidate_ids: Sequence[Any] | None = None,
    method: Method = "auto",
    settings: SiteSettings | None = None,
) -> SiteResult:
    """Choose ``k`` sites from a coverage matrix to newly cover the most residents.

    ``cover``: ``(n_demand, n_candidates)`` sparse matrix whose stored entries are the covered
    pairs (as from :func:`coverage_matrix`; values are ignored). ``residents``: people at each demand
    point. ``covered_already``: demand points already within the layer of an existing outlet (they
    need nothing). ``capacity``: residents each site can serve (``inf`` = unlimited); with it,
    residents are assigned to sites and may be split. ``method``: ``"exact"`` (HiGHS integer
    programme, time-limited), ``"heuristic"`` (greedy + swap) or ``"auto"`` (exact when the reduced
    instance is within ``settings.exact_max_*``).
    """
    st = settings or SiteSettings()
    cover = csr_matrix(cover)
    n_d, n_c = cover.shape
    w = np.asarray(residents, dtype=np.float64).ravel()
    cap = None if capacity is None else np.asarray(capacity, dtype=np.float64).ravel()
    ca = None if covered_already is None else np.asarray(covered_already, dtype=bool).ravel()
    _check_inputs(n_d, n_c, w, int(k), cap, candidate_ids, ca)
    if method not in ("auto", "exact", "heuristic"):
        raise ConfigError(
            t(
                f"未知求解方法 '{method}'：可用 auto、exact、heuristic",
                f"unknown method '{method}': use auto, exact or heuristic",
            )
        )
    k = int(k)
    t0 = time.perf_counter()
    need = np.ones(n_d, dtype=bool) if ca is None else ~ca
    if cap is not None:
        cap = np.where(np.isinf(cap), float(w.sum()), cap)
    red = _reduce(cover, w, need, cap)
    total = float(w.sum())
    already = float(w[~need].sum())
    notes: list[str] = []
    sol: _Solution | None
    if red.n_rows == 0 or k == 0:
        reason = (
            t("没有需要且可被候选点覆盖的居民", "no residents need a site and can reach a candidate")
            if k
            else t("k = 0", "k = 0")
        )
        sol = _Solution([], 0.0, 0.0, True, "trivial", [reason])
    elif k >= red.n_cols:
        every = list(range(red.n_cols))
        why = [t("k 不少于有效候选点数：全部选用", "k is at least the number of useful candidates: all chosen")]
        if red.cap is None:
            sol = _Solution(every, float(red.w.sum()), float(red.w.sum()), True, "trivial", why)
        else:
            value, per = _cap_assignment(red, every, st.time_limit_s)
            sol = _Solution(every, value, value, True, "trivial", why, per)
    else:
        small = red.A.nnz <= st.exact_max_nnz and red.n_cols <= st.exact_max_candidates
        use_exact = method == "exact" or (method == "auto" and small)
        sol = None
        if use_exact:
            heur = _heuristic(red, k, st, lp_bound=False) if method == "auto" else None
            if heur is not None and heur.optimal:
                sol = heur  # the heuristic's bound already proves it optimal
                sol.notes.append(t("启发式解已被上界证明最优", "the heuristic answer is proven optimal by its bound"))
            else:
                sol = _exact(red, k, st)
                if sol is not None and heur is not None and heur.value > sol.value:
                    heur.bound = min(heur.bound, sol.bound)
                    heur.optimal = heur.bound - heur.value <= 1e-6 * max(1.0, heur.bound)
                    heur.notes += sol.notes
                    sol = heur
        if sol is None:
            if use_exact:
                notes.append(t("精确求解未给出可行解，改用启发式", "exact solver gave no answer; used the heuristic"))
            sol = _heuristic(red, k, st)
    assert sol is not None  # every branch above ends with a solution

    if sol.per_site is not None:
        per_site = sol.per_site
        order = sorted((j for j in sol.S if per_site.get(j, 0.0) > 1e-9), key=lambda j: -per_site[j])
        added = np.array([per_site[j] for j in order], dtype=np.float64)
    else:
        order, added = _order_and_marginals(red, sol.S)
    chosen = red.cols[np.asarray(order, dtype=np.int64)] if order else np.zeros(0, dtype=np.int64)
    ids = [candidate_ids[int(j)] for j in chosen] if candidate_ids is not None else [int(j) for j in chosen]
    covered = float(added.sum())
    bound = covered if sol.optimal else max(sol.bound, covered)  # proven optimal: no gap to report
    gap = (bound - covered) / bound if bound > 0 else 0.0
    return SiteResult(
        chosen_idx=chosen.astype(np.int64),
        chosen_ids=ids,
        added=added,
        covered=covered,
        already_covered=already,
        total_residents=total,
        share_before=already / total if total > 0 else None,
        share_after=(already + covered) / total if total > 0 else None,
        k=k,
        method=sol.method,
        optimal=sol.optimal,
        bound=bound,
        gap=gap,
        solve_s=time.perf_counter() - t0,
        notes=notes + sol.notes,
    )


def recommend_sites(
    net: WalkNetwork,
    demand: Snapped,
    residents: ArrayLike,
    candidates: Snapped,
    k: int,
    radius_m: float,
    *,
    existing: Snapped | None = None,
    capacity: ArrayLike | None = None,
    candidate_ids: Sequence[Any] | None = None,
    method: Method = "auto",
    settings: SiteSettings | None = None,
) -> SiteResult:
    """Recommend ``k`` candidate sites for a format so the most residents live within ``radius_m``
    metres' walk (the format's walking layer, see :func:`layer_radius_m`).

    ``demand``: homes or communities snapped to the network, with ``residents`` people each.
    ``existing``: the format's existing outlets, fixed — residents within ``radius_m`` of one are
    already covered. Points not snapped to the network reach nothing. See :func:`solve_mclp` for
    ``capacity``, ``method`` and ``settings``.
    """
    if not (radius_m > 0 and np.isfinite(radius_m)):
        raise ConfigError(
            t(
                f"覆盖半径须为正的米数，而不是 {radius_m}",
                f"the coverage radius must be a positive number of metres, not {radius_m}",
            )
        )
    cover = coverage_matrix(net, demand, candidates, radius_m)
    covered_already = None
    if existing is not None and len(existing) and len(demand):
        covered_already = np.isfinite(nearest(net, existing, demand, max_m=radius_m))
    result = solve_mclp(
        cover,
        residents,
        k,
        covered_already=covered_already,
        capacity=capacity,
        candidate_ids=candidate_ids,
        method=method,
        settings=settings,
    )
    n_bad = int((~demand.ok).sum())
    if n_bad:
        result.notes.append(
            t(
                f"{n_bad} 个需求点离路网太远，无法覆盖",
                f"{n_bad} demand points are too far from any street to be covered",
            )
        )
    return result
