"""A generated street grid with outlets and origins, for tests and benchmarks of the scaled
engine. Everything here is synthetic (合成数据) and says so in ``source``.

The grid lies in UTM zone 49N (EPSG:32649, metres) around Yichang; block sides vary by ±20 %,
and a share of links is removed so that paths are not all Manhattan.
"""

from __future__ import annotations

import numba as nb
import numpy as np
import pandas as pd
from pyproj import CRS

from lifecircle.network.graph import WalkNetwork, line_lengths
from lifecircle.profile import Profile

SOURCE = "合成网格 / synthetic grid"
_X0, _Y0 = 300_000.0, 3_390_000.0  # metres in EPSG:32649, near Yichang


def grid_network(nx: int, ny: int, *, block_m: float = 90.0, drop: float = 0.1, seed: int = 0) -> WalkNetwork:
    """An ``nx`` × ``ny`` street grid (blocks of about ``block_m`` metres) with a share ``drop``
    of its links removed at random."""
    rng = np.random.default_rng(seed)
    xs = np.cumsum(rng.uniform(0.8, 1.2, nx)) * block_m + _X0
    ys = np.cumsum(rng.uniform(0.8, 1.2, ny)) * block_m + _Y0
    n_links = ny * (nx - 1) + (ny - 1) * nx  # the east links row by row, then the north ones
    keep = rng.random(n_links) >= drop
    u, v, xy = _grid_links(xs, ys, keep)
    ptr = np.arange(0, 2 * len(u) + 1, 2, dtype=np.int64)
    return WalkNetwork(
        crs=CRS.from_epsg(32649),
        node_x=np.tile(xs, ny),
        node_y=np.repeat(ys, nx),
        edge_u=u,
        edge_v=v,
        edge_len=line_lengths(xy, ptr),
        edge_xy=xy,
        edge_ptr=ptr,
        source=SOURCE,
    )


@nb.njit(cache=True)
def _grid_links(xs, ys, keep):
    """The kept links of the grid (node ``row * nx + col`` at ``xs[col], ys[row]``): the links to
    the east neighbour row by row, then to the north neighbour; each a straight line ``u`` → ``v``.
    One pass, no temporaries the size of the grid."""
    nx, ny = xs.shape[0], ys.shape[0]
    m = 0
    for k in range(keep.shape[0]):
        m += keep[k]
    u = np.empty(m, dtype=np.int32)
    v = np.empty(m, dtype=np.int32)
    xy = np.empty((2 * m, 2))
    k = 0
    e = 0
    for north in range(2):
        for r in range(ny - north):
            for c in range(nx - 1 + north):
                if keep[k]:
                    a = r * nx + c
                    b = a + nx if north else a + 1
                    u[e], v[e] = a, b
                    xy[2 * e, 0], xy[2 * e, 1] = xs[c], ys[r]
                    xy[2 * e + 1, 0], xy[2 * e + 1, 1] = xs[c + 1 - north], ys[r + north]
                    e += 1
                k += 1
    return u, v, xy


def random_points(net: WalkNetwork, n: int, *, seed: int = 0, prefix: str = "p", margin_m: float = 0.0) -> pd.DataFrame:
    """``n`` points (``id, lon, lat`` WGS-84) uniformly inside the network's extent, grown by
    ``margin_m`` metres (points in the margin may lie beyond the snapping limit)."""
    rng = np.random.default_rng(seed)
    x = rng.uniform(net.node_x.min() - margin_m, net.node_x.max() + margin_m, n)
    y = rng.uniform(net.node_y.min() - margin_m, net.node_y.max() + margin_m, n)
    lon, lat = net.to_wgs84.transform(x, y)
    return pd.DataFrame({"id": [f"{prefix}{i}" for i in range(n)], "lon": lon, "lat": lat, "source": "synthetic"})


def random_outlets(net: WalkNetwork, profile: Profile, n: int, *, seed: int = 0) -> pd.DataFrame:
    """``n`` outlets (``id, name, format, lon, lat``) at random places, formats drawn from the
    profile's (basic formats three times as often)."""
    rng = np.random.default_rng(seed + 1)
    pts = random_points(net, n, seed=seed + 2, prefix="o")
    codes = np.array([f.code for f in profile.formats])
    w = np.array([3.0 if f.cls == "basic" else 1.0 for f in profile.formats])
    pts["format"] = rng.choice(codes, size=n, p=w / w.sum())
    pts["name"] = [f"合成网点 {i}" for i in range(n)]
    return pts[["id", "name", "format", "lon", "lat", "source"]]
