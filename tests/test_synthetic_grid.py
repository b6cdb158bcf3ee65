"""The generated grid (scale/synthetic.py, labelled synthetic) built in one compiled pass equals
the grid as the vectorised numpy code built it before, link for link and coordinate for coordinate."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lifecircle.errors import InputError
from lifecircle.network.graph import line_lengths
from lifecircle.scale.synthetic import SOURCE, grid_network


def _reference(nx, ny, block_m, drop, seed):
    rng = np.random.default_rng(seed)
    xs = np.cumsum(rng.uniform(0.8, 1.2, nx)) * block_m + 300_000.0
    ys = np.cumsum(rng.uniform(0.8, 1.2, ny)) * block_m + 3_390_000.0
    gx, gy = np.meshgrid(xs, ys, indexing="xy")
    node = np.arange(nx * ny, dtype=np.int64).reshape(ny, nx)
    u = np.concatenate([node[:, :-1].ravel(), node[:-1, :].ravel()])
    v = np.concatenate([node[:, 1:].ravel(), node[1:, :].ravel()])
    keep = rng.random(len(u)) >= drop
    u, v = u[keep], v[keep]
    x, y = gx.ravel(), gy.ravel()
    xy = np.stack([np.stack([x[u], y[u]], axis=1), np.stack([x[v], y[v]], axis=1)], axis=1).reshape(-1, 2)
    return x, y, u, v, xy, line_lengths(xy, np.arange(0, 2 * len(u) + 1, 2))


@settings(max_examples=30, deadline=None)
@given(
    st.integers(1, 30),
    st.integers(1, 30),
    st.floats(10, 200),
    st.sampled_from([0.0, 0.1, 0.5, 1.0]),
    st.integers(0, 99),
)
def test_grid_equals_the_numpy_reference(nx, ny, block_m, drop, seed):
    x, y, u, v, xy, length = _reference(nx, ny, block_m, drop, seed)
    if len(u) == 0:  # every link dropped: a network with no street is refused, as any would be
        with pytest.raises(InputError):
            grid_network(nx, ny, block_m=block_m, drop=drop, seed=seed)
        return
    net = grid_network(nx, ny, block_m=block_m, drop=drop, seed=seed)
    for got, want in ((net.node_x, x), (net.node_y, y), (net.edge_u, u), (net.edge_v, v), (net.edge_xy, xy)):
        np.testing.assert_array_equal(got, want)
    np.testing.assert_array_equal(net.edge_len, length)
    assert net.source == SOURCE and "synthetic" in net.source
