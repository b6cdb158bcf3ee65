"""The demo street network step by step (lattice -> links -> bridges -> largest piece), at a
small scale: each step's result checked on its own, and the steps give what ``streets()`` gives."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import shapely
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from lifecircle.city.demo import bridge_names
from lifecircle.city.demo_gen import _Gen

SEED, SCALE = 7, 0.05


@pytest.fixture(scope="module")
def steps():
    g = _Gen(SEED, SCALE)
    lat = g._lattice()
    lk = g._links(lat)
    crossing_before = lk.keep.copy()
    bridges = g._bridges(lk)
    kept = g._largest_piece(lk, bridges)
    return g, lat, lk, crossing_before, bridges, kept


def test_lattice_spacing_and_districts(steps):
    g, lat, _, _, _, _ = steps
    cc = g.cfg["city"]
    # the grid coarsens with the scale (metres), never beyond max_block_m
    assert lat.d == pytest.approx(min(cc["grid_spacing_m"] / np.sqrt(SCALE), cc["max_block_m"]))
    assert lat.x.shape == lat.y.shape == lat.dist_idx.shape == lat.GI.shape
    assert set(np.unique(lat.dist_idx)) <= set(range(-1, len(g.dcfg)))
    assert (lat.dist_idx >= 0).any() and (lat.dist_idx == -1).any()  # land and water/outside
    assert lat.core.min() >= 0.0 and lat.core.max() <= 1.0


def test_links_are_on_land_and_never_cross_the_river(steps):
    g, _, lk, _, _, _ = steps
    idx = np.flatnonzero(lk.keep)
    assert len(idx) > 100
    assert (lk.df[lk.a[idx]] >= 0).all() and (lk.df[lk.b[idx]] >= 0).all()
    segs = shapely.linestrings(
        np.stack(
            [
                np.column_stack([lk.xf[lk.a[idx]], lk.yf[lk.a[idx]]]),
                np.column_stack([lk.xf[lk.b[idx]], lk.yf[lk.b[idx]]]),
            ],
            axis=1,
        )
    )
    assert not shapely.intersects(segs, g.river_m).any()
    assert set(lk.hw[idx]) <= {"primary", "secondary", "tertiary", "residential", "service", "footway"}


def test_bridges_are_the_named_ones_and_join_the_banks(steps):
    g, _, lk, _, bridges, kept = steps
    names = [n for _, _, n in bridges]
    assert names and set(names) <= set(bridge_names())
    for u, v, _ in bridges:
        seg = shapely.LineString([(lk.xf[u], lk.yf[u]), (lk.xf[v], lk.yf[v])])
        assert seg.intersects(g.river_m)  # a bridge crosses the river
    assert set(kept) <= set(bridges)


def test_largest_piece_is_one_connected_network(steps):
    _, _, lk, before, _, kept = steps
    assert (lk.keep <= before).all()  # only removes links
    ea = np.concatenate([lk.a[lk.keep], [u for u, _, _ in kept]])
    eb = np.concatenate([lk.b[lk.keep], [v for _, v, _ in kept]])
    nodes = np.unique(np.concatenate([ea, eb]))
    remap = np.searchsorted(nodes, np.concatenate([ea, eb]))
    n = len(nodes)
    g = coo_matrix((np.ones(len(ea)), (remap[: len(ea)], remap[len(ea) :])), shape=(n, n))
    assert connected_components(g, directed=False)[0] == 1


def test_steps_give_what_streets_gives():
    streets, nodes = _Gen(SEED, SCALE).streets()
    g = _Gen(SEED, SCALE)
    lat = g._lattice()
    lk = g._links(lat)
    kept = g._largest_piece(lk, g._bridges(lk))
    used = np.zeros(lk.n_lat, bool)
    used[lk.a[lk.keep]] = True
    used[lk.b[lk.keep]] = True
    np.testing.assert_array_equal(nodes.x, lk.xf[used])
    assert int(used.sum()) == len(nodes.x)
    assert list(streets["name"].iloc[len(streets) - len(kept) :]) == [n for _, _, n in kept]
    pd.testing.assert_series_equal(
        streets["highway"].iloc[len(streets) - len(kept) :].reset_index(drop=True),
        pd.Series(["primary"] * len(kept), name="highway"),
    )
