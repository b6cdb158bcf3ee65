"""Walking distances between snapped points, in metres, on the walking network."""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from lifecircle.network import Snapped, WalkNetwork, nearest_per_category, snap_points


def snap_lonlat(net: WalkNetwork, lon: NDArray, lat: NDArray, max_m: float) -> Snapped:
    """Project WGS-84 points into the network's CRS and snap them to edges within ``max_m`` metres."""
    lon = np.asarray(lon, float)
    if len(lon) == 0:
        return snap_points(net, np.zeros(0), np.zeros(0), max_m=max_m)
    x, y = net.project(lon, np.asarray(lat, float))
    return snap_points(net, x, y, max_m=max_m)


def walk_matrix(
    net: WalkNetwork, origins: Snapped, targets: Snapped, *, max_m: float = np.inf, max_entries: int = 4_000_000
) -> NDArray[np.float64]:
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
        idx = ok[a : a + batch]
        sub = targets.subset(idx)
        d, _ = nearest_per_category(net, sub, np.arange(len(idx), dtype=np.int64), len(idx), origins, max_m=max_m)
        out[:, idx] = d
    return out
