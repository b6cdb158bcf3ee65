"""The tile-by-tile nearest search (issue 13, ``network/tiled.py``) gives exactly what the
whole-city search gives: bit for bit in float64, and the same float32 values — with islands,
outlets far from their street, bounded and unbounded searches, edges shorter than the straight
line between their ends, and tiles far smaller than the city."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from lifecircle.network import kernels, snap_points
from lifecircle.network.engine import _prepare_sources, kernel_graph, nearest_distance_nodes
from lifecircle.network.graph import WalkNetwork
from lifecircle.network.tiled import MAX_TILES, MIN_RATIO, Tiling, edge_ratio, nearest_dist_tiled, plan_tiles
from lifecircle.scale.synthetic import grid_network


def _city(nx: int, ny: int, seed: int, drop: float, n_out: int, spread_m: float):
    net = grid_network(nx, ny, seed=seed, drop=drop)  # dropped links: islands, some unreachable
    rng = np.random.default_rng(seed)
    k = rng.integers(0, net.n_edges, n_out)
    x = (net.node_x[net.edge_u[k]] + net.node_x[net.edge_v[k]]) / 2 + rng.normal(0, spread_m, n_out)
    y = (net.node_y[net.edge_u[k]] + net.node_y[net.edge_v[k]]) / 2 + rng.normal(0, spread_m, n_out)
    return net, snap_points(net, x, y, max_m=300.0), rng.integers(0, 6, n_out) % 5  # category 5 empty


def _shorten(net: WalkNetwork, share: float, factor: float, seed: int) -> WalkNetwork:
    """The network with a ``share`` of its edges ``factor`` times as long as their straight line."""
    rng = np.random.default_rng(seed)
    length = net.edge_len.copy()
    pick = rng.random(len(length)) < share
    length[pick] *= factor
    return dataclasses.replace(net, edge_len=length, node_id=None)


def _tiles(net: WalkNetwork, bound_m: float, core_nodes: int) -> tuple[Tiling, int]:
    """The tiling and the number of tiles it cuts the city into (0: searched whole)."""
    til = Tiling(core_nodes=core_nodes, bound_m=bound_m, min_nodes=0)
    ratio = edge_ratio(net.node_x, net.node_y, net.edge_u, net.edge_v, net.edge_len)
    plan = plan_tiles(net.node_x, net.node_y, ratio, til)
    return til, 0 if plan is None else plan.n_x * plan.n_y


@settings(max_examples=40, deadline=None)
@given(
    st.integers(8, 40),
    st.integers(8, 40),
    st.integers(0, 10_000),
    st.sampled_from([0.0, 0.1, 0.3]),
    st.floats(0.05, 1.0),
    st.integers(4, 80),
    st.sampled_from([np.inf, 150.0, 700.0]),
    st.sampled_from([1.0, 0.6]),
)
def test_tiled_search_equals_the_whole_city_search(nx, ny, seed, drop, bound_share, core_nodes, max_m, shorter):
    net, src, cat = _city(nx, ny, seed, drop, n_out=max(4, nx * ny // 8), spread_m=60.0)
    if shorter < 1.0:
        net = _shorten(net, 0.2, shorter, seed)
    span = min(np.ptp(net.node_x), np.ptp(net.node_y))
    til, n_tiles = _tiles(net, bound_share * span / 3, core_nodes)
    assume(n_tiles > 1)  # the test really cuts the city
    whole = nearest_distance_nodes(net, src, cat, 6, max_m=max_m, dtype=np.float64, tiling=None)
    tiled = nearest_distance_nodes(net, src, cat, 6, max_m=max_m, dtype=np.float64, tiling=til)
    np.testing.assert_array_equal(tiled, whole)
    tiled32 = nearest_distance_nodes(net, src, cat, 6, max_m=max_m, tiling=til)
    np.testing.assert_array_equal(tiled32, whole.astype(np.float32))


def test_far_outlets_islands_and_the_fix_up_are_all_exercised():
    """One fixed case where every path of the argument is taken: nodes farther than the bound
    (fix-up seeds from tiles), outlets whose walk to the street is longer than the bound (seeds
    beyond it), unreachable islands, and a category with no outlet."""
    net, src, cat = _city(60, 50, 7, 0.25, n_out=120, spread_m=150.0)
    bound = 120.0
    assert (src.offset_m[src.ok] > bound).any()
    til, n_tiles = _tiles(net, bound, 100)
    assert n_tiles > 4
    whole = nearest_distance_nodes(net, src, cat, 6, dtype=np.float64, tiling=None)
    assert np.isinf(whole).any() and (whole[np.isfinite(whole)] > 3 * bound).any() and np.isinf(whole[:, 5]).all()
    np.testing.assert_array_equal(nearest_distance_nodes(net, src, cat, 6, dtype=np.float64, tiling=til), whole)


def test_the_fix_up_searches_few_open_nodes_alone_and_many_on_the_whole_network():
    """Category 0's outlets are all in the west three quarters of the city, so only its east edge
    is beyond the bound (few open nodes: searched on their own streets); category 1 has three
    outlets (most nodes open: searched on the whole network with the known ones closed)."""
    net, src, cat = _city(60, 50, 5, 0.05, n_out=400, spread_m=20.0)
    x = net.node_x[net.edge_u[np.where(src.ok, src.edge, 0)]]
    west = x < net.node_x.min() + 0.7 * np.ptp(net.node_x)
    cat = np.where(west, 0, 2)
    cat[np.flatnonzero(west)[:3]] = 1
    bound = 400.0
    til, n_tiles = _tiles(net, bound, 300)
    assert n_tiles > 4
    whole = nearest_distance_nodes(net, src, cat, 6, dtype=np.float64, tiling=None)
    beyond = (whole > bound).mean(axis=0)
    assert 0 < beyond[0] < 1 / 3 and beyond[1] > 1 / 3
    np.testing.assert_array_equal(nearest_distance_nodes(net, src, cat, 6, dtype=np.float64, tiling=til), whole)


def test_the_region_must_widen_by_the_shortest_edge_ratio():
    """Where edges are shorter than their straight line, the regions widen by 1 / ratio; a plan
    that trusts straight lines (ratio 1) misses walks and gets distances wrong. So the widening
    matters, and the equality above is not vacuous."""
    net, src, cat = _city(50, 40, 11, 0.0, n_out=60, spread_m=30.0)
    net = _shorten(net, 0.6, 0.3, 11)
    ratio = edge_ratio(net.node_x, net.node_y, net.edge_u, net.edge_v, net.edge_len)
    assert MIN_RATIO <= ratio < 0.31
    whole = nearest_distance_nodes(net, src, cat, 6, dtype=np.float64, tiling=None)
    til = Tiling(core_nodes=120, bound_m=150.0, min_nodes=0)
    g, prep = kernel_graph(net), _prepare_sources(net, src, cat, 6)

    def run(r: float) -> np.ndarray:
        plan = plan_tiles(net.node_x, net.node_y, r, til)
        assert plan is not None
        out = np.empty((6, net.n_nodes))
        return nearest_dist_tiled(g, plan, prep.seeds, prep.cat_ptr, np.inf, out, 2).T

    np.testing.assert_array_equal(run(ratio), whole)
    assert not np.array_equal(run(1.0), whole)


def test_no_tiles_when_they_cannot_pay():
    net, src, cat = _city(30, 30, 2, 0.1, n_out=80, spread_m=30.0)
    r = edge_ratio(net.node_x, net.node_y, net.edge_u, net.edge_v, net.edge_len)
    assert r == 1.0  # a grid's edges are straight
    assert plan_tiles(net.node_x, net.node_y, r, Tiling(min_nodes=net.n_nodes + 1)) is None  # small network
    assert plan_tiles(net.node_x, net.node_y, r, Tiling(min_nodes=0, bound_m=1e6)) is None  # one tile
    assert plan_tiles(net.node_x, net.node_y, MIN_RATIO / 2, Tiling(min_nodes=0, bound_m=50.0)) is None
    bent = _shorten(net, 0.01, 0.0, 2)  # an edge of no length between two points: search whole
    assert edge_ratio(bent.node_x, bent.node_y, bent.edge_u, bent.edge_v, bent.edge_len) == 0.0
    np.testing.assert_array_equal(
        nearest_distance_nodes(bent, src, cat, 6, tiling=Tiling(min_nodes=0, bound_m=50.0)),
        nearest_distance_nodes(bent, src, cat, 6, tiling=None),
    )


@settings(max_examples=25, deadline=None)
@given(st.lists(st.integers(0, 30), max_size=200), st.integers(31, 40))
def test_counting_order_is_a_stable_argsort(keys, n_keys):
    key = np.asarray(keys, dtype=np.int64)
    np.testing.assert_array_equal(kernels.counting_order(key, n_keys), np.argsort(key, kind="stable"))


def _with_far_island(net: WalkNetwork, far_m: float) -> WalkNetwork:
    """``net`` and a 3 x 3 island ``far_m`` metres north-east of it (a ferry's far end, an offshore
    county, or a stray way in the extract)."""
    isl = grid_network(3, 3, seed=3, drop=0.0)
    dx, dy = far_m + np.ptp(net.node_x), far_m + np.ptp(net.node_y)
    return WalkNetwork(
        crs=net.crs,
        node_x=np.concatenate([net.node_x, isl.node_x + dx]),
        node_y=np.concatenate([net.node_y, isl.node_y + dy]),
        edge_u=np.concatenate([net.edge_u, isl.edge_u + net.n_nodes]),
        edge_v=np.concatenate([net.edge_v, isl.edge_v + net.n_nodes]),
        edge_len=np.concatenate([net.edge_len, isl.edge_len]),
        edge_xy=np.concatenate([net.edge_xy, isl.edge_xy + [dx, dy]]),
        edge_ptr=np.concatenate([net.edge_ptr, isl.edge_ptr[1:] + net.edge_ptr[-1]]),
    )


def test_a_far_island_does_not_make_the_tiles_bigger():
    """Tiles are sized by the density around the nodes, not over their bounding box: a few nodes
    200 km away (mostly empty extent) leave the city's tiles at about ``core_nodes`` nodes. Sized
    over the box, the whole city fell into one tile and was searched whole — or, with a nearer
    island, into a few tiles of several cores each, slower than the whole search."""
    net, src, cat = _city(120, 100, 4, 0.05, n_out=300, spread_m=30.0)
    til = Tiling(core_nodes=600, bound_m=200.0, min_nodes=0)
    sizes = []
    for far in (0.0, 20_000.0, 200_000.0):
        far_net = _with_far_island(net, far)
        plan = plan_tiles(far_net.node_x, far_net.node_y, 1.0, til)
        assert plan is not None
        sizes.append(int(np.diff(plan.core_ptr).max()))
    assert max(sizes) < 2 * min(sizes) and max(sizes) < 3 * til.core_nodes, sizes
    whole = nearest_distance_nodes(far_net, src, cat, 6, dtype=np.float64, tiling=None)
    np.testing.assert_array_equal(nearest_distance_nodes(far_net, src, cat, 6, dtype=np.float64, tiling=til), whole)


def test_tiles_stay_few_whatever_the_coordinates():
    """A stray node 10,000 km away does not cut the extent into millions of empty tiles."""
    net = _with_far_island(grid_network(60, 60, seed=1), 1e7)
    plan = plan_tiles(net.node_x, net.node_y, 1.0, Tiling(core_nodes=100, bound_m=50.0, min_nodes=0))
    assert plan is not None and plan.n_x * plan.n_y <= MAX_TILES + plan.n_x + plan.n_y


def test_a_nan_bound_reaches_nothing_tiled_or_whole():
    net, src, cat = _city(40, 40, 1, 0.05, n_out=60, spread_m=20.0)
    til, n_tiles = _tiles(net, 200.0, 100)
    assert n_tiles > 1
    for max_m in (np.nan, -1.0, 0.0):
        whole = nearest_distance_nodes(net, src, cat, 6, max_m=max_m, dtype=np.float64, tiling=None)
        assert np.isinf(whole).all()
        np.testing.assert_array_equal(
            nearest_distance_nodes(net, src, cat, 6, max_m=max_m, dtype=np.float64, tiling=til), whole
        )


def _cache_dir(root, caches: dict[str, tuple[str, str]]):
    for index, (level, size) in caches.items():
        (root / index).mkdir(parents=True)
        (root / index / "level").write_text(level + "\n")
        (root / index / "size").write_text(size + "\n")
    return root


def test_the_tiles_start_where_the_cache_ends(tmp_path, monkeypatch):
    """The last-level cache as Linux lists it sets where tiles start (300 bytes of cache per
    node, never under 200,000 nodes); an unlisted or unreadable cache leaves the floor."""
    from lifecircle.network import tiled

    listed = _cache_dir(tmp_path / "a", {"index0": ("1", "48K"), "index2": ("2", "2M"), "index3": ("3", "307200K")})
    assert tiled.last_level_cache_bytes(listed) == 300 << 20
    odd = _cache_dir(tmp_path / "b", {"index0": ("1", "32K"), "index1": ("3", "lots"), "index2": ("2", "1G")})
    assert tiled.last_level_cache_bytes(odd) == 1 << 30  # the unreadable level skipped
    assert tiled.last_level_cache_bytes(tmp_path / "none") == 0
    for cache, want in ((300 << 20, (300 << 20) // 300), (32 << 20, 200_000), (0, 200_000)):
        monkeypatch.setattr(tiled, "last_level_cache_bytes", lambda c=cache: c)
        assert tiled.cache_min_nodes() == want == tiled.Tiling().min_nodes


def test_the_cache_size_is_read_in_every_form_and_never_raises(tmp_path, monkeypatch):
    """Sizes in bytes without a unit and with a lower-case unit count (``1024``, ``32768k``); a
    cache folder that cannot even be listed (a sandbox denying ``/sys``) leaves the floor rather
    than failing the import of the engine, which reads it for ``DEFAULT_TILING``."""
    from pathlib import Path

    from lifecircle.network import tiled

    bare = _cache_dir(tmp_path / "a", {"index0": ("1", "32768"), "index3": ("3", "33554432")})
    assert tiled.last_level_cache_bytes(bare) == 32 << 20
    lower = _cache_dir(tmp_path / "b", {"index0": ("1", "32k"), "index3": ("3", "65536k")})
    assert tiled.last_level_cache_bytes(lower) == 64 << 20

    def denied(self, pattern):
        raise PermissionError(13, "Permission denied", str(self))

    monkeypatch.setattr(Path, "glob", denied)
    assert tiled.last_level_cache_bytes(bare) == 0
    assert tiled.cache_min_nodes() == tiled.MIN_TILED_NODES == tiled.Tiling().min_nodes


@pytest.mark.parametrize("bad", [{"bound_m": np.inf}, {"bound_m": np.nan}, {"core_nodes": 0}])
def test_a_tiling_that_cannot_cut_tiles_is_refused_when_made(bad):
    """An infinite or NaN bound (tiles of infinite side, or none) or an empty core is a
    ValueError naming the field when the Tiling is made, not a ZeroDivisionError in plan_tiles."""
    field_name = next(iter(bad))
    with pytest.raises(ValueError, match=f"Tiling.{field_name}"):
        Tiling(**bad)
