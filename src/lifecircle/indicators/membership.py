"""Which circle an outlet belongs to, and the drawn boundary of each circle.

Communities belong to the circle named in ``communities.circle_id``.

Outlets — the choice made here:

1. an outlet inside a circle's *given* boundary (``circles.geometry``) belongs to that circle
   (the first one listed if boundaries overlap);
2. otherwise it belongs to the circle of its nearest community by walking distance, if that
   community is at most the largest walking layer away (15 minutes at the default speed, 1,000 m
   at 4 km/h) and its circle has *no* given boundary (an outlet outside a drawn boundary is not
   in that circle);
3. otherwise it is in no circle (it still serves residents: access is computed from all outlets).

Boundary-less circles are drawn as the convex hull of their communities buffered by
``hull_buffer_m`` metres (computed in the network's metric CRS, returned in WGS-84).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd
import shapely
from numpy.typing import NDArray
from pyproj import Transformer

from lifecircle.network import Snapped, WalkNetwork, nearest_per_category


def valid_geom(g: object) -> bool:
    """True for a non-empty shapely geometry (not None, NaN or empty)."""
    return g is not None and hasattr(g, "is_empty") and not g.is_empty


def outlet_circles(
    net: WalkNetwork,
    outlets_lonlat: tuple[NDArray, NDArray],
    outlets_snapped: Snapped,
    communities_snapped: Snapped,
    community_circle: NDArray[np.int64],
    circle_geoms: list,
    max_m: float,
    *,
    nearest_community: Callable[[Snapped], NDArray[np.int64]] | None = None,
) -> NDArray[np.int64]:
    """Circle index of every outlet (``-1`` = none), by the rules in the module docstring.

    ``community_circle``: circle index per community (``-1`` = none); ``circle_geoms``: the given
    WGS-84 boundary of each circle or ``None``; ``max_m``: metres for rule 2.
    ``nearest_community``: a function giving, for snapped outlets, the nearest community within
    ``max_m`` metres (``-1`` = none) exactly as :func:`nearest_per_category` does — the live
    indicators pass one that reuses the community search they keep; default: run that search.
    """
    lon, lat = outlets_lonlat
    if len(lon) == 0:
        return np.full(0, -1, dtype=np.int64)
    has_geom = np.array([valid_geom(g) for g in circle_geoms], dtype=bool)
    out = point_in_polygons(lon, lat, pd.Series(circle_geoms, dtype=object))
    todo = out < 0
    if todo.any() and communities_snapped.ok.any():
        if nearest_community is None:
            _, lab = nearest_per_category(
                net,
                communities_snapped,
                np.zeros(len(communities_snapped), dtype=np.int64),
                1,
                outlets_snapped,
                max_m=max_m,
            )
            comm = lab[:, 0]
        else:
            comm = nearest_community(outlets_snapped)
        circ = np.where(comm >= 0, community_circle[np.maximum(comm, 0)], -1)
        ok = todo & (circ >= 0)
        ok[ok] &= ~has_geom[circ[ok]]
        out[ok] = circ[ok]
    return out


def circle_boundaries(
    net: WalkNetwork,
    given: list,
    community_circle: NDArray[np.int64],
    lon: NDArray,
    lat: NDArray,
    buffer_m: float,
) -> list:
    """A WGS-84 boundary per circle: the given one, or the hull of its communities + ``buffer_m``
    metres; ``None`` for a circle without boundary or communities."""
    out = list(given)
    if len(lon) == 0:
        return out
    x, y = net.project(np.asarray(lon, float), np.asarray(lat, float))
    back = Transformer.from_crs(net.crs, 4326, always_xy=True)
    for i, g in enumerate(out):
        if valid_geom(g):
            continue
        m = community_circle == i
        if not m.any():
            out[i] = None
            continue
        hull = shapely.convex_hull(shapely.multipoints(np.column_stack([x[m], y[m]])))
        poly = shapely.buffer(hull, max(buffer_m, 1.0))
        out[i] = shapely.transform(poly, lambda xy: np.column_stack(back.transform(xy[:, 0], xy[:, 1])))
    return out


def point_in_polygons(lon: NDArray, lat: NDArray, geoms: pd.Series) -> NDArray[np.int64]:
    """Position in ``geoms`` of the first polygon containing each point (``-1`` = none)."""
    out = np.full(len(lon), -1, dtype=np.int64)
    valid = np.array([valid_geom(g) for g in geoms], dtype=bool)
    if len(lon) == 0 or not valid.any():
        return out
    gidx = np.flatnonzero(valid)
    tree = shapely.STRtree(np.asarray([geoms.iloc[i] for i in gidx], dtype=object))
    pi, gi = tree.query(shapely.points(np.asarray(lon, float), np.asarray(lat, float)), predicate="intersects")
    order = np.lexsort((gidx[gi], pi))
    pi, gi = pi[order], gi[order]
    first = np.ones(len(pi), dtype=bool)
    first[1:] = pi[1:] != pi[:-1]
    out[pi[first]] = gidx[gi[first]]
    return out
