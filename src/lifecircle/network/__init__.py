"""The walking network engine: a street graph held as compact arrays, points snapped to edges,
and compiled shortest-path kernels for nearest distances, counts within minutes and isochrones."""

from lifecircle.network.engine import AccessResult, count_within, nearest, nearest_per_category
from lifecircle.network.graph import WalkNetwork
from lifecircle.network.snap import Snapped, snap_lonlat, snap_points

__all__ = [
    "AccessResult",
    "Snapped",
    "WalkNetwork",
    "count_within",
    "nearest",
    "nearest_per_category",
    "snap_lonlat",
    "snap_points",
]
