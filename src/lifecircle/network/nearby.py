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


SAMPLES = 6  # points along a part of a street: the isochrone's buffer hides finer bends


def _sub_lines(geoms: NDArray[np.object_], a_m: NDArray[np.float64], b_m: NDArray[np.float64]) -> NDArray[np.object_]:
    """The parts of lines ``geoms`` from ``a_m`` to ``b_m`` metres along each, as lines through
    :data:`SAMPLES` points evenly spaced along the part (vectorised; for drawing, not measuring)."""
    n = len(geoms)
    if n == 0:
        return np.zeros(0, dtype=object)
    frac = np.linspace(0.0, 1.0, SAMPLES)
    dist = a_m[:, None] + (b_m - a_m)[:, None] * frac[None, :]
    pts = shapely.line_interpolate_point(np.repeat(geoms, SAMPLES), dist.ravel())
    return shapely.linestrings(shapely.get_coordinates(pts), indices=np.repeat(np.arange(n), SAMPLES))


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
        (simplified to ``simplify_m`` metres) buffered by ``buffer_m`` metres, simplified again."""
        out = []
        tr = self._to_wgs84()
        for r in radii_m:
            pieces = self.streets_reached(found, r)
            if not pieces:
                out.append(shapely.Polygon())
                continue
            lines = shapely.simplify(np.array(pieces, dtype=object), simplify_m)  # fewer vertices: a faster union
            geom = shapely.simplify(shapely.union_all(shapely.buffer(lines, buffer_m, quad_segs=2)), simplify_m)
            out.append(shapely.transform(geom, lambda xy, tr=tr: np.column_stack(tr.transform(xy[:, 0], xy[:, 1]))))
        return out
