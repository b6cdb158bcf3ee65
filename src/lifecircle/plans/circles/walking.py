"""Walking distances between snapped points, in metres, on the walking network."""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from lifecircle.network import Snapped, WalkNetwork, nearest_per_category


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
