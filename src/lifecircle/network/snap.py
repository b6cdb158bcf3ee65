"""Attach points (homes, outlets) to the nearest walkable *edge*, not the nearest node.

A snapped point sits on edge ``edge`` at ``pos_m`` metres from the edge's ``u`` end, and is
``offset_m`` metres from the street; the walk to the street is counted in every distance.
A point farther than ``max_m`` from every street is *not* moved: it is marked unsnapped and the
caller reports it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from lifecircle.network.graph import WalkNetwork


@dataclass
class Snapped:
    """Points attached to a network's edges. Arrays have one entry per input point;
    ``ok`` is False where the point was farther than the limit from every street."""

    edge: NDArray[np.int32]
    pos_m: NDArray[np.float64]
    offset_m: NDArray[np.float64]
    ok: NDArray[np.bool_]
    x: NDArray[np.float64]
    y: NDArray[np.float64]

    def __len__(self) -> int:
        return len(self.edge)

    def subset(self, mask: NDArray[np.bool_] | NDArray[np.integer]) -> Snapped:
        """The points selected by a boolean mask or by positions (repeats allowed)."""
        return Snapped(
            self.edge[mask], self.pos_m[mask], self.offset_m[mask], self.ok[mask], self.x[mask], self.y[mask]
        )

    def group_by_edge(self, n_edges: int) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
        """Snapped points grouped by edge, CSR style: the points on edge ``e`` are
        ``idx[ptr[e]:ptr[e + 1]]`` (unsnapped points are on no edge)."""
        on = np.flatnonzero(self.ok)
        idx = on[np.argsort(self.edge[on], kind="stable")].astype(np.int64)
        ptr = np.concatenate([[0], np.cumsum(np.bincount(self.edge[idx], minlength=n_edges))]).astype(np.int64)
        return ptr, idx

    @classmethod
    def at_nodes(cls, net: WalkNetwork, nodes: NDArray[np.integer]) -> Snapped:
        """Points placed exactly on network nodes (no walk to the street)."""
        nodes = np.asarray(nodes, dtype=np.int64)
        indptr, _, _, adj_edge = net.csr
        deg = np.diff(indptr)
        ok = deg[nodes] > 0
        edge = np.zeros(len(nodes), dtype=np.int32)
        edge[ok] = adj_edge[indptr[nodes[ok]]]
        pos = np.where(net.edge_u[edge] == nodes, 0.0, net.edge_len[edge])
        return cls(edge, pos.astype(np.float64), np.zeros(len(nodes)), ok, net.node_x[nodes], net.node_y[nodes])


def snap_points(net: WalkNetwork, x: NDArray, y: NDArray, *, max_m: float = 300.0) -> Snapped:
    """Snap projected points (metres in ``net.crs``) to their nearest edge within ``max_m`` metres.

    Compiled and vectorised over the network's packed coordinates (:mod:`lifecircle.network.spatial`):
    the same edge, distance and position as shapely's ``STRtree.query_nearest`` and
    ``line_locate_point``; of edges exactly as near, the one whose nearest point comes first by x, then y
    (see :mod:`lifecircle.network.spatial`)."""
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    e, offset, pos = net.segment_index.nearest(x, y, max_m)
    ok = e >= 0
    edge = np.where(ok, e, 0).astype(np.int32)
    # geometry length and edge_len agree to rounding; clamp so pos stays on the edge
    pos = np.where(ok, np.clip(pos, 0.0, net.edge_len[edge]), 0.0)
    return Snapped(edge, pos, offset, ok, x, y)


def snap_lonlat(net: WalkNetwork, lon: NDArray, lat: NDArray, max_m: float) -> Snapped:
    """Project WGS-84 points (degrees) to the network's CRS and snap them to edges within ``max_m``
    metres (see :func:`snap_points`); an empty input gives an empty :class:`Snapped`."""
    lon = np.asarray(lon, float)
    if len(lon) == 0:
        return snap_points(net, np.zeros(0), np.zeros(0), max_m=max_m)
    x, y = net.project(lon, np.asarray(lat, float))
    return snap_points(net, x, y, max_m=max_m)
