"""The k nearest distinct sources (lifecircle.network.knearest) against a brute force: one scipy
Dijkstra per source (from its snapped point to every node), then per node the k smallest.

Graphs are synthetic and small: random streets from ``WalkNetwork.from_lines`` with a second,
disconnected piece (unreachable nodes), sources scattered (some unsnapped), one source given
twice (a tie at the same point), one exactly at a node, three on one edge, and a category with
no source at all.
"""

from __future__ import annotations

import numpy as np
import shapely
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pyproj import CRS
from scipy.sparse.csgraph import csgraph_from_dense, dijkstra
from scipy.spatial import cKDTree

from lifecircle.network import Snapped, WalkNetwork, nearest_per_category, snap_points
from lifecircle.network.knearest import k_nearest_per_category

X0, Y0 = 500_000.0, 3_390_000.0
N_CAT = 3  # category 2 has no source


def _streets(rng: np.random.Generator, n: int) -> WalkNetwork:
    """Synthetic streets: a random piece of ``n`` points and a small piece 4 km away."""
    lines = []
    for m, ox in ((n, 0.0), (4, 4000.0)):
        pts = rng.uniform(0, 800, (m, 2)) + [X0 + ox, Y0]
        _, nbr = cKDTree(pts).query(pts, k=3)
        pairs = {(min(i, j), max(i, j)) for i in range(m) for j in nbr[i, 1:]} | {(i, i + 1) for i in range(m - 1)}
        lines += [shapely.LineString([pts[i], pts[j]]) for i, j in sorted(pairs)]
    return WalkNetwork.from_lines(np.array(lines, dtype=object), CRS.from_epsg(32649), source="synthetic")


def _join(*parts: Snapped) -> Snapped:
    return Snapped(
        *(np.concatenate([getattr(p, f) for p in parts]) for f in ("edge", "pos_m", "offset_m", "ok", "x", "y"))
    )


def _sources(net: WalkNetwork, rng: np.random.Generator) -> tuple[Snapped, np.ndarray]:
    x = rng.uniform(net.node_x.min() - 100, net.node_x.max() + 100, 14)
    y = rng.uniform(net.node_y.min() - 100, net.node_y.max() + 100, 14)
    scattered = snap_points(net, x, y, max_m=80.0)
    e = int(rng.integers(net.n_edges))
    on_edge = Snapped(
        np.full(3, e, np.int32), net.edge_len[e] * np.array([0.2, 0.5, 0.9]), np.array([3.0, 0.0, 7.0]),
        np.ones(3, bool), np.zeros(3), np.zeros(3),
    )  # fmt: skip
    at_node = Snapped.at_nodes(net, rng.integers(net.n_nodes, size=1))
    s = _join(scattered, on_edge, at_node, scattered.subset(np.array([0])))  # the last: source 0 again (a tie)
    cat = rng.integers(0, N_CAT - 1, len(s))
    cat[-1] = cat[0]
    return s, cat


def _per_source_m(net: WalkNetwork, s: Snapped) -> np.ndarray:
    """Brute force: metres from each source's snapped point to every node (``inf`` if unsnapped)."""
    w = np.full((net.n_nodes, net.n_nodes), np.inf)
    for e in range(net.n_edges):
        a, b = net.edge_u[e], net.edge_v[e]
        w[a, b] = w[b, a] = min(w[a, b], net.edge_len[e])
    d = dijkstra(csgraph_from_dense(w, null_value=np.inf), directed=False)
    out = np.full((len(s), net.n_nodes), np.inf)
    for i in np.flatnonzero(s.ok):
        e = s.edge[i]
        via_u = s.offset_m[i] + s.pos_m[i] + d[net.edge_u[e]]
        via_v = s.offset_m[i] + (net.edge_len[e] - s.pos_m[i]) + d[net.edge_v[e]]
        out[i] = np.minimum(via_u, via_v)
    return out


def _origin_m(net: WalkNetwork, o: Snapped, s: Snapped, node_m: np.ndarray) -> np.ndarray:
    """Brute force: metres from each origin point to each source (``[origin, source]``)."""
    out = np.full((len(o), len(s)), np.inf)
    for i in np.flatnonzero(o.ok):
        e, p, f = o.edge[i], o.pos_m[i], o.offset_m[i]
        out[i] = np.minimum(f + p + node_m[:, net.edge_u[e]], f + (net.edge_len[e] - p) + node_m[:, net.edge_v[e]])
        same = s.ok & (s.edge == e)
        out[i, same] = np.minimum(out[i, same], np.abs(p - s.pos_m[same]) + f + s.offset_m[same])
    return out


def _k_smallest(m: np.ndarray, cat: np.ndarray, k: int, max_m: float) -> np.ndarray:
    """``[origin, category, j]``: the j-th smallest of ``m[origin, source]`` over the category's
    sources (each source once), ``inf`` beyond ``max_m`` or when there are fewer."""
    out = np.full((m.shape[0], N_CAT, k), np.inf)
    for c in range(N_CAT):
        v = np.sort(m[:, cat == c], axis=1)[:, :k]
        v[v > max_m] = np.inf
        out[:, c, : v.shape[1]] = v
    return out


def _check(got_d, got_l, want, m, cat) -> None:
    assert got_d.shape == want.shape
    assert np.array_equal(np.isinf(got_d), np.isinf(want)), "reachability differs from the brute force"
    fin = np.isfinite(want)
    np.testing.assert_allclose(got_d[fin], want[fin], rtol=0, atol=1e-9)
    assert (got_l[~fin] == -1).all()
    o, c, j = np.nonzero(fin)
    lab = got_l[o, c, j]
    assert (cat[lab] == c).all()  # a source of the category, at the reported distance (ties: any of them)
    np.testing.assert_allclose(m[o, lab], got_d[o, c, j], rtol=0, atol=1e-9)
    for row in got_l.reshape(-1, got_l.shape[2]):  # distinct sources
        named = row[row >= 0]
        assert len(set(named.tolist())) == len(named)


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 2**32 - 1), n=st.integers(6, 30), k=st.integers(1, 5), bounded=st.booleans())
def test_k_nearest_matches_brute_force(seed, n, k, bounded):
    rng = np.random.default_rng(seed)
    net = _streets(rng, n)
    s, cat = _sources(net, rng)
    max_m = 500.0 if bounded else np.inf
    node_m = _per_source_m(net, s)

    d, lab = k_nearest_per_category(net, s, cat, N_CAT, k, max_m=max_m)
    _check(d, lab, _k_smallest(node_m.T, cat, k, max_m), node_m.T, cat)
    assert np.isinf(d[:, N_CAT - 1]).all()  # the category without sources

    origins = snap_points(net, *rng.uniform([X0 - 50, Y0 - 50], [X0 + 850, Y0 + 850], (12, 2)).T, max_m=60.0)
    od, olab = k_nearest_per_category(net, s, cat, N_CAT, k, origins, max_m=max_m)
    om = _origin_m(net, origins, s, node_m)
    _check(od, olab, _k_smallest(om, cat, k, max_m), om, cat)

    # the nearest is the engine's nearest, bit for bit, whatever k
    for got, start in ((d, None), (od, origins)):
        want, _ = nearest_per_category(net, s, cat, N_CAT, start, max_m=max_m)
        assert np.array_equal(got[:, :, 0], want)


def test_two_sources_at_one_point_are_both_counted():
    """A tie: two outlets at the same point are the first and the second nearest, equally far."""
    line = shapely.LineString([(X0, Y0), (X0 + 100, Y0)])
    net = WalkNetwork.from_lines(np.array([line], dtype=object), CRS.from_epsg(32649), source="synthetic")
    s = snap_points(net, [X0 + 30, X0 + 30, X0 + 80], [Y0 + 4, Y0 + 4, Y0])
    d, lab = k_nearest_per_category(net, s, np.zeros(3, np.int64), 1, 3)
    u = int(np.argmin(net.node_x))
    np.testing.assert_allclose(d[u, 0], [34.0, 34.0, 80.0])
    assert sorted(lab[u, 0, :2].tolist()) == [0, 1] and lab[u, 0, 2] == 2
