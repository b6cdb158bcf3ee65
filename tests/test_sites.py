"""Site recommendation (M8): the exact solver finds the brute-force optimum, the heuristic's answer
and bound are honest, capacities hold, existing outlets are fixed, and coverage is walking distance
on the network (checked against networkx)."""

from __future__ import annotations

import itertools

import networkx as nx
import numpy as np
import pytest
import shapely
from hypothesis import given, settings
from hypothesis import strategies as st
from pyproj import CRS
from scipy.optimize import linprog
from scipy.sparse import csr_matrix
from scipy.sparse import random as sparse_random

from lifecircle.errors import ConfigError, InputError
from lifecircle.network import Snapped, WalkNetwork, snap_points
from lifecircle.plans.sites import (
    SiteSettings,
    _lagrangian_bound,
    _mclp_milp,
    _reduce,
    coverage_matrix,
    layer_radius_m,
    recommend_sites,
    solve_mclp,
)
from lifecircle.profile import load_profile

from reference import build_reference

UTM49 = CRS.from_epsg(32649)


def grid_network(n: int, spacing_m: float) -> WalkNetwork:
    """A synthetic n x n street grid, ``spacing_m`` metres between streets, with one diagonal."""
    lines = []
    for i in range(n):
        lines.append(shapely.LineString([(j * spacing_m, i * spacing_m) for j in range(n)]))
        lines.append(shapely.LineString([(i * spacing_m, j * spacing_m) for j in range(n)]))
    lines.append(shapely.LineString([(0, 0), ((n - 1) * spacing_m, (n - 1) * spacing_m)]))
    return WalkNetwork.from_lines(np.array(lines, dtype=object), UTM49, source="synthetic grid")


def random_instance(seed: int) -> tuple[csr_matrix, np.ndarray, int]:
    rng = np.random.default_rng(seed)
    n_d = int(rng.integers(1, 14))
    n_c = int(rng.integers(1, 8))
    A = (sparse_random(n_d, n_c, density=float(rng.uniform(0.1, 0.6)), random_state=rng) > 0).astype(float)
    w = rng.integers(0, 100, n_d).astype(float)
    k = int(rng.integers(1, 5))
    return csr_matrix(A), w, k


def brute_force(A: csr_matrix, w: np.ndarray, k: int) -> float:
    dense = A.toarray() > 0
    best = 0.0
    for S in itertools.combinations(range(A.shape[1]), min(k, A.shape[1])):
        best = max(best, float(w[dense[:, list(S)].any(axis=1)].sum()))
    return best


def assignment_value(A: csr_matrix, w: np.ndarray, cap: np.ndarray, S: tuple[int, ...]) -> float:
    """Residents the open sites S can serve with capacities: a transportation LP, written here
    independently of the library."""
    dense = A.toarray() > 0
    pairs = [(i, j) for i in range(A.shape[0]) for j in S if dense[i, j]]
    if not pairs:
        return 0.0
    c = -np.array([w[i] for i, _ in pairs])
    rows_i = [[1.0 if p[0] == i else 0.0 for p in pairs] for i in range(A.shape[0])]
    rows_j = [[w[p[0]] if p[1] == j else 0.0 for p in pairs] for j in S]
    res = linprog(
        c,
        A_ub=np.array(rows_i + rows_j),
        b_ub=np.concatenate([np.ones(A.shape[0]), cap[list(S)]]),
        bounds=(0, 1),
        method="highs",
    )
    return float(-res.fun)


# ----------------------------------------------------------------------------------- solvers
@settings(max_examples=40, deadline=None)
@given(st.integers(0, 10_000))
def test_exact_equals_brute_force_and_heuristic_is_honest(seed: int) -> None:
    A, w, k = random_instance(seed)
    opt = brute_force(A, w, k)
    exact = solve_mclp(A, w, k, method="exact")
    assert exact.covered == pytest.approx(opt)
    assert exact.optimal and exact.gap == pytest.approx(0.0, abs=1e-9)
    assert len(exact.chosen_idx) <= k
    heur = solve_mclp(A, w, k, method="heuristic")
    assert heur.covered <= opt + 1e-9
    assert heur.bound >= opt - 1e-6
    assert 0.0 <= heur.gap <= 1.0
    # without the LP, the bound comes from the Lagrangian / submodular / greedy bounds: still valid
    fast = solve_mclp(A, w, k, method="heuristic", settings=SiteSettings(lp_bound_max_nnz=0))
    assert fast.bound >= opt - 1e-6
    # the Lagrangian bound on its own is never below the LP relaxation, whatever it aims for
    red = _reduce(A, w, np.ones(len(w), dtype=bool), None)
    if red.n_rows and k < red.n_cols:
        lp = -_mclp_milp(red, k, integral=False, time_limit_s=10, mip_rel_gap=0).fun
        for aim in (0.0, opt):
            assert _lagrangian_bound(red, k, aim, 300) >= lp - 1e-6 >= opt - 2e-6
    # marginals add up to the total and the chosen set really covers that many
    for r in (exact, heur):
        assert r.added.sum() == pytest.approx(r.covered)
        assert np.all(r.added > 0)
        dense = A.toarray() > 0
        assert float(w[dense[:, r.chosen_idx].any(axis=1)].sum()) == pytest.approx(r.covered)


def test_swap_search_improves_on_greedy_trap() -> None:
    # greedy takes the big middle site first; the optimum for k=2 is the two side sites
    A = csr_matrix(np.array([[1, 1, 0], [1, 1, 0], [1, 0, 1], [1, 0, 1], [0, 1, 0], [0, 0, 1]], dtype=float))
    # columns: 0 = middle (rows 0-3), 1 = left (rows 0,1,4), 2 = right (rows 2,3,5)
    w = np.array([10, 10, 10, 10, 9, 9], dtype=float)
    heur = solve_mclp(A, w, 2, method="heuristic")
    assert heur.covered == pytest.approx(58.0)
    assert sorted(heur.chosen_idx.tolist()) == [1, 2]


@settings(max_examples=25, deadline=None)
@given(st.integers(0, 10_000))
def test_capacitated_exact_equals_brute_force_and_respects_capacity(seed: int) -> None:
    A, w, k = random_instance(seed)
    rng = np.random.default_rng(seed + 1)
    cap = rng.integers(0, 150, A.shape[1]).astype(float)
    opt = max(assignment_value(A, w, cap, S) for S in itertools.combinations(range(A.shape[1]), min(k, A.shape[1])))
    exact = solve_mclp(A, w, k, capacity=cap, method="exact")
    assert exact.covered == pytest.approx(opt, abs=1e-6)
    assert np.all(exact.added <= cap[exact.chosen_idx] + 1e-6)
    heur = solve_mclp(A, w, k, capacity=cap, method="heuristic")
    assert heur.covered <= opt + 1e-6
    assert heur.bound >= opt - 1e-6
    assert np.all(heur.added <= cap[heur.chosen_idx] + 1e-6)
    uncapped = solve_mclp(A, w, k, method="exact")
    assert exact.covered <= uncapped.covered + 1e-6


def test_exact_branches_when_the_lp_is_fractional() -> None:
    # four sites, one home for each pair of sites, k = 2: the LP opens every site by half and
    # covers all six homes (60); two whole sites cover five (50), so the solver must branch
    pairs = list(itertools.combinations(range(4), 2))
    A = csr_matrix(np.array([[1.0 if j in p else 0.0 for j in range(4)] for p in pairs]))
    w = np.full(6, 10.0)
    r = solve_mclp(A, w, 2, method="exact")
    assert r.covered == 50 and r.optimal and r.bound == 50
    assert not any("LP" in n or "线性松弛" in n for n in r.notes)
    heur = solve_mclp(A, w, 2, method="heuristic")
    assert heur.covered == 50 and 50 <= heur.bound <= 60 + 1e-6


def test_capacity_binds() -> None:
    A = csr_matrix(np.ones((3, 1)))
    r = solve_mclp(A, [100, 100, 100], 1, capacity=[120])
    assert r.covered == pytest.approx(120)
    assert r.added.tolist() == pytest.approx([120])


def test_existing_coverage_is_not_counted() -> None:
    A = csr_matrix(np.array([[1, 0], [1, 0], [0, 1]], dtype=float))
    w = np.array([50.0, 50.0, 60.0])
    free = solve_mclp(A, w, 1)
    assert free.chosen_idx.tolist() == [0] and free.covered == 100
    fixed = solve_mclp(A, w, 1, covered_already=[True, True, False])
    assert fixed.chosen_idx.tolist() == [1]
    assert fixed.covered == 60 and fixed.already_covered == 100
    assert fixed.share_before == pytest.approx(100 / 160) and fixed.share_after == pytest.approx(1.0)


def test_edge_cases_k_at_least_candidates_zero_demand_nothing_reachable() -> None:
    A = csr_matrix(np.array([[1, 0, 0], [0, 1, 0], [0, 1, 0]], dtype=float))
    everything = solve_mclp(A, [1, 2, 3], 10, candidate_ids=["a", "b", "c"])
    assert everything.chosen_ids == ["b", "a"]  # c covers nobody, so it is not recommended
    assert everything.added.tolist() == [5, 1] and everything.optimal
    zero = solve_mclp(A, [0, 0, 0], 2)
    assert zero.covered == 0 and len(zero.chosen_idx) == 0 and zero.share_after is None
    none = solve_mclp(csr_matrix((3, 3)), [1, 2, 3], 2)
    assert none.covered == 0 and none.bound == 0 and none.gap == 0 and none.share_after == 0
    empty = solve_mclp(csr_matrix((0, 0)), [], 2)
    assert empty.total_residents == 0 and len(empty.chosen_ids) == 0
    k0 = solve_mclp(A, [1, 2, 3], 0)
    assert k0.covered == 0


def test_user_mistakes_are_input_errors() -> None:
    A = csr_matrix(np.ones((2, 2)))
    with pytest.raises(InputError) as exc:
        solve_mclp(A, [1, -5], -1, capacity=[1, float("nan")])
    assert len(exc.value.problems) == 3
    with pytest.raises(InputError):
        solve_mclp(A, [1, 2, 3], 1)
    with pytest.raises(ConfigError):
        solve_mclp(A, [1, 2], 1, method="magic")  # type: ignore[arg-type]


def test_auto_uses_heuristic_beyond_size_limit() -> None:
    A, w, k = random_instance(7)
    small = solve_mclp(A, w, k, settings=SiteSettings(exact_max_nnz=0, lp_bound_max_nnz=0))
    assert small.method in ("heuristic", "trivial")
    assert small.bound >= brute_force(A, w, k) - 1e-6


# ------------------------------------------------------------------------------------ network
def test_coverage_matrix_matches_networkx_reference() -> None:
    net = grid_network(6, 120.0)
    rng = np.random.default_rng(3)
    dem = snap_points(net, rng.uniform(-30, 630, 40), rng.uniform(-30, 630, 40), max_m=25.0)
    can = snap_points(net, rng.uniform(0, 600, 9), rng.uniform(0, 600, 9))
    assert not dem.ok.all()  # some homes are too far from a street and reach nothing
    radius = 333.0
    A = coverage_matrix(net, dem, can, radius)
    g = build_reference(net, {"o": dem, "s": can})
    ref = np.full((len(dem), len(can)), np.inf)
    for j in range(len(can)):
        dist = nx.single_source_dijkstra_path_length(g, ("s", j), cutoff=radius + 1e-6, weight="weight")
        for i in range(len(dem)):
            if dem.ok[i] and ("o", i) in dist:
                ref[i, j] = dist[("o", i)]
    got = np.full(A.shape, np.inf)
    coo = A.tocoo()
    got[coo.row, coo.col] = coo.data
    assert np.array_equal(np.isfinite(got), np.isfinite(ref))
    np.testing.assert_allclose(got[np.isfinite(ref)], ref[np.isfinite(ref)], atol=1e-6)
    assert np.all(np.isfinite(A.data))
    assert np.isfinite(ref).sum() > 20  # the check is not vacuous


def test_recommend_sites_on_network_with_existing_outlet_and_unsnapped_candidate() -> None:
    net = grid_network(11, 100.0)  # 1 km x 1 km
    # homes at the four corners, 1000 residents each
    corners = [(0, 0), (1000, 0), (0, 1000), (1000, 1000)]
    order = [int(np.argmin((net.node_x - x) ** 2 + (net.node_y - y) ** 2)) for x, y in corners]
    dem = Snapped.at_nodes(net, np.array(order))
    cand_xy = np.array([[50, 0], [1000, 950], [5000, 5000]], dtype=float)  # the last is off the network
    can = snap_points(net, cand_xy[:, 0], cand_xy[:, 1])
    outlet = snap_points(net, np.array([0.0]), np.array([980.0]))  # serves the (0, 1000) corner
    r = recommend_sites(
        net,
        dem,
        [1000, 1000, 1000, 1000],
        can,
        1,
        200.0,
        existing=outlet,
        candidate_ids=["near-origin", "near-far-corner", "nowhere"],
    )
    assert r.already_covered == 1000
    assert r.covered == 1000 and r.chosen_ids[0] in ("near-origin", "near-far-corner")
    both = recommend_sites(
        net,
        dem,
        [1000, 1000, 1000, 1000],
        can,
        5,
        200.0,
        existing=outlet,
        candidate_ids=["near-origin", "near-far-corner", "nowhere"],
    )
    assert sorted(both.chosen_ids) == ["near-far-corner", "near-origin"]
    assert both.share_after == pytest.approx(0.75)  # corner (1000, 0) is out of every site's reach
    with pytest.raises(ConfigError):
        recommend_sites(net, dem, [1, 1, 1, 1], can, 1, 0.0)
    # a site standing exactly at a home covers it at 0 m: stored, not dropped as a zero
    same = coverage_matrix(net, dem, dem, 10.0)
    assert same.nnz == 4 and np.all(same.data == 0.0)


def test_layer_radius_and_settings_from_profile() -> None:
    prof = load_profile()
    fmt = next(f for f in prof.formats if f.layer_min == 15)
    assert layer_radius_m(prof, fmt.code) == pytest.approx(15 * prof.walking.speed_kmh * 1000 / 60)
    assert layer_radius_m(prof, fmt.code, elderly=True) < layer_radius_m(prof, fmt.code)
    assert SiteSettings.from_profile(prof) == SiteSettings() or "sites" in prof.extra
    prof.extra["sites"] = {"time_limit_s": 5, "exact_max_nnz": 10}
    s = SiteSettings.from_profile(prof)
    assert s.time_limit_s == 5.0 and s.exact_max_nnz == 10 and isinstance(s.exact_max_nnz, int)
    prof.extra["sites"] = {"time_limit": 5, "exact_max_nnz": -1}
    with pytest.raises(ConfigError):
        SiteSettings.from_profile(prof)
