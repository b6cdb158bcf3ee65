"""From one point: every target point (outlets) within a walk and the streets reached (the isochrones),
from *one* bounded search over the network.

The search is :func:`lifecircle.network.reach.point_reach` (a Dijkstra bounded at ``max_m`` metres,
built on :func:`lifecircle.network.kernels.dijkstra_seeded`), started at the snapped point as the
batch engine seeds a point (both ends of its edge, the walk to the street included); each target's
distance is resolved as :func:`lifecircle.network.kernels.resolve_origins` resolves an origin, so
it equals the batch engine's distance between the two points (the same sums in the other
direction: equal to the last bits of rounding). The settled nodes with their distances are kept
for the isochrones, which are drawn as :mod:`lifecircle.network.isochrone` draws them (each reached
stretch of street buffered), but only over the edges at the settled nodes.

Thread-safe: each search takes its own work arrays from a pool. Distances in metres.
"""

from __future__ import annotations

import queue
import threading
from dataclasses import dataclass
from typing import Any

import numpy as np
import shapely
from numpy.typing import NDArray
from pyproj import Transformer

from lifecircle.network import kernels
from lifecircle.network.engine import edge_points, kernel_graph
from lifecircle.network.graph import WalkNetwork
from lifecircle.network.reach import point_reach
from lifecircle.network.snap import Snapped


def _sub_lines(geoms: NDArray[np.object_], a_m: NDArray[np.float64], b_m: NDArray[np.float64]) -> NDArray[np.object_]:
    """The parts of lines ``geoms`` from ``a_m`` to ``b_m`` metres along each (``a_m < b_m``), as
    :func:`shapely.ops.substring` cuts them (every vertex in between kept), vectorised."""
    n = len(geoms)
    if n == 0:
        return np.zeros(0, dtype=object)
    xy, gi = shapely.get_coordinates(geoms, return_index=True)
    step = np.hypot(*np.diff(xy, axis=0).T)
    step[gi[1:] != gi[:-1]] = 0.0  # no step between two lines
    along = np.concatenate([[0.0], np.cumsum(step)])
    along -= along[np.searchsorted(gi, gi)]  # from each line's own start
    inner = (along > a_m[gi]) & (along < b_m[gi])
    ends = np.concatenate(
        [
            shapely.get_coordinates(shapely.line_interpolate_point(geoms, a_m)),
            shapely.get_coordinates(shapely.line_interpolate_point(geoms, b_m)),
        ]
    )
    pts = np.concatenate([ends, xy[inner]])
    owner = np.concatenate([np.arange(n), np.arange(n), gi[inner]])
    key = np.concatenate([a_m, b_m, along[inner]])
    order = np.lexsort((key, owner))
    return shapely.linestrings(pts[order], indices=owner[order])


@dataclass
class Found:
    """What one search found: ``target`` indices within ``max_m`` and their ``dist_m``; the settled
    ``nodes`` with their ``node_dist_m``; the start's ``edge``, ``pos_m`` and ``offset_m``."""

    target: NDArray[np.int64]
    dist_m: NDArray[np.float64]
    nodes: NDArray[np.int32]
    node_dist_m: NDArray[np.float64]
    edge: int
    pos_m: float
    offset_m: float


@dataclass
class _Work:
    within: Any
    keep_node: NDArray[np.int32]
    keep_dist: NDArray[np.float64]
    n_targets: int
    calls: int = 0


class PointSearch:
    """Bounded searches from single points of ``net`` (see the module docstring)."""

    def __init__(self, net: WalkNetwork) -> None:
        self.net = net
        self.graph = kernel_graph(net)
        self._pool: queue.SimpleQueue[_Work] = queue.SimpleQueue()
        self._local = threading.local()

    def _work(self, n_targets: int) -> _Work:
        try:
            w = self._pool.get_nowait()
        except queue.Empty:
            w = None
        if w is None or w.n_targets < n_targets:
            cap = max(16, int(n_targets * 1.25))  # room for outlets registered later
            n = self.net.n_nodes + 1
            w = _Work(
                kernels.within_work(self.graph, cap), np.empty(n, dtype=np.int32), np.empty(n, dtype=np.float64), cap
            )
        return w

    def search(self, start: Snapped, targets: kernels.EdgePoints, max_m: float) -> Found:
        """The ``targets`` (grouped by edge, :func:`~lifecircle.network.engine.edge_points`) within
        ``max_m`` metres of the single snapped point ``start`` (it must be ``ok``)."""
        if len(start) != 1 or not bool(start.ok[0]):
            raise ValueError("search() takes one snapped point")
        starts = edge_points(start, self.net.n_edges, group=False)
        w = self._work(len(targets.edge))
        try:
            w.calls += 1
            n = point_reach(
                self.graph, starts, 0, w.calls, float(max_m), targets, w.within, w.keep_node, w.keep_dist
            )
            q = w.within.touched[:n].copy()
            d = w.within.best_m[q].copy()
            end = np.flatnonzero(w.keep_node == -1)
            n_set = int(end[0]) if len(end) else len(w.keep_node)
            nodes, nd = w.keep_node[:n_set].copy(), w.keep_dist[:n_set].copy()
        finally:
            self._pool.put(w)
        return Found(q, d, nodes, nd, int(start.edge[0]), float(start.pos_m[0]), float(start.offset_m[0]))

    # ------------------------------------------------------------------ isochrones
    def _to_wgs84(self) -> Transformer:
        tr = getattr(self._local, "tr", None)
        if tr is None:  # a transformer per thread: they are not shared across threads
            tr = self._local.tr = Transformer.from_crs(self.net.crs, 4326, always_xy=True)
        return tr

    def streets_reached(self, found: Found, radius_m: float) -> list[Any]:
        """The stretches of street (projected LineStrings) within ``radius_m`` walking metres of the
        search's start (``radius_m`` at most the search's bound), as
        :func:`lifecircle.network.isochrone.reached_streets` cuts them."""
        net, g = self.net, self.graph
        pieces: list[Any] = []
        if len(found.nodes):
            lo, hi = g.indptr[found.nodes], g.indptr[found.nodes + 1]
            lens = hi - lo
            idx = np.repeat(lo - np.cumsum(lens) + lens, lens) + np.arange(int(lens.sum()))
            edges = np.unique(g.edge_id[idx])
            dist = np.full(net.n_nodes, np.inf)
            dist[found.nodes] = found.node_dist_m
            du, dv = dist[net.edge_u[edges]], dist[net.edge_v[edges]]
            L = net.edge_len[edges]
            ru = np.clip(radius_m - du, 0, None)
            rv = np.clip(radius_m - dv, 0, None)
            full = ru + rv >= L
            pieces.extend(net.edge_geom[edges[full]])
            part = ~full
            a, b = part & (ru > 0), part & (rv > 0)
            pieces.extend(_sub_lines(net.edge_geom[edges[a]], np.zeros(int(a.sum())), ru[a]))
            pieces.extend(_sub_lines(net.edge_geom[edges[b]], L[b] - rv[b], L[b]))
        left = radius_m - found.offset_m
        if left > 0:  # along the start edge itself, directly from the point
            e, p = found.edge, found.pos_m
            lo_m, hi_m = max(0.0, p - left), min(float(net.edge_len[e]), p + left)
            pieces.extend(_sub_lines(net.edge_geom[[e]], np.array([lo_m]), np.array([hi_m])))
        return pieces

    def isochrones(self, found: Found, radii_m: list[float], buffer_m: float, simplify_m: float = 5.0) -> list[Any]:
        """The area within each of ``radii_m`` walking metres (WGS-84 polygons): the reached streets
        (joined where they meet, simplified to ``simplify_m`` metres) buffered by ``buffer_m``
        metres, simplified again."""
        out = []
        tr = self._to_wgs84()
        for r in radii_m:
            pieces = self.streets_reached(found, r)
            if not pieces:
                out.append(shapely.Polygon())
                continue
            # joined end to end and simplified first: fewer, simpler polygons make a much faster union
            lines = shapely.get_parts(shapely.line_merge(shapely.multilinestrings(pieces)))
            lines = shapely.simplify(lines, simplify_m)
            geom = shapely.simplify(shapely.union_all(shapely.buffer(lines, buffer_m, quad_segs=2)), simplify_m)
            out.append(shapely.transform(geom, lambda xy, tr=tr: np.column_stack(tr.transform(xy[:, 0], xy[:, 1]))))
        return out
