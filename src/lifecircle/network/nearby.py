"""From one point: every target point (outlets) within a walk and the streets reached (the isochrones),
from *one* bounded search over the network.

The search is :func:`lifecircle.network.reach.point_reach` (a Dijkstra bounded at ``max_m`` metres,
built on :func:`lifecircle.network.kernels.dijkstra_seeded`), started at the snapped point as the
batch engine seeds a point (both ends of its edge, the walk to the street included); each target's
distance is resolved as :func:`lifecircle.network.kernels.resolve_origins` resolves an origin, so
it equals the batch engine's distance between the two points (the same sums in the other
direction: equal to the last bits of rounding). The settled nodes with their distances are kept
for the isochrones: as in :mod:`lifecircle.network.isochrone`, the places within a buffer of the
streets reached (so an area never leaks across a river no street crosses), but drawn on a grid of
:data:`CELL_M` metres — points along the reached streets, a distance transform, the cells' outline
— which takes milliseconds where a union of buffered streets takes tens of them.

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
from scipy import ndimage

from lifecircle.network import kernels
from lifecircle.network.engine import edge_points, kernel_graph
from lifecircle.network.graph import WalkNetwork
from lifecircle.network.reach import point_reach
from lifecircle.network.snap import Snapped

CELL_M = 20.0  # the isochrones' grid, metres


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
        self._tr = Transformer.from_crs(net.crs, 4326, always_xy=True)
        self._tr_lock = threading.Lock()
        self._sample_cache: dict[float, tuple[NDArray[np.int64], NDArray[np.float64], NDArray[np.float64]]] = {}

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
            n = point_reach(self.graph, starts, 0, w.calls, float(max_m), targets, w.within, w.keep_node, w.keep_dist)
            q = w.within.touched[:n].copy()
            d = w.within.best_m[q].copy()
            end = np.flatnonzero(w.keep_node == -1)
            n_set = int(end[0]) if len(end) else len(w.keep_node)
            nodes, nd = w.keep_node[:n_set].copy(), w.keep_dist[:n_set].copy()
        finally:
            self._pool.put(w)
        return Found(q, d, nodes, nd, int(start.edge[0]), float(start.pos_m[0]), float(start.offset_m[0]))

    # ------------------------------------------------------------------ isochrones
    def _to_wgs84(self, xy: NDArray[np.float64]) -> NDArray[np.float64]:
        """Projected ``(n, 2)`` metres → WGS-84 degrees rounded to 1e-6 (0.1 m). One transformer,
        made once (making one takes tens of milliseconds), used under a lock."""
        with self._tr_lock:
            x, y = self._tr.transform(xy[:, 0], xy[:, 1])
        return np.round(np.column_stack([x, y]), 6)

    def _samples(self, step_m: float) -> tuple[NDArray[np.int64], NDArray[np.float64], NDArray[np.float64]]:
        """Points every ``step_m`` metres (at most) along every street, each end included, made once:
        CSR ``(ptr, s, xy)``, edge ``e``'s being ``ptr[e]:ptr[e + 1]`` at ``s`` metres from its u end."""
        with self._tr_lock:
            got = self._sample_cache.get(step_m)
            if got is None:
                L = self.net.edge_len
                k = np.maximum(1, np.ceil(L / step_m).astype(np.int64))  # pieces per edge; k + 1 points
                ptr = np.concatenate([[0], np.cumsum(k + 1)]).astype(np.int64)
                e = np.repeat(np.arange(len(L)), k + 1)
                s = np.minimum((np.arange(ptr[-1]) - ptr[e]) * (L / k)[e], L[e])
                xy = shapely.get_coordinates(shapely.line_interpolate_point(self.net.edge_geom[e], s))
                got = self._sample_cache[step_m] = (ptr, s, xy)
            return got

    def reached_samples(self, found: Found, step_m: float) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        """Points every ``step_m`` metres (at most) along every street the search reached, each end
        included (projected ``(n, 2)``), and their walking distance from the start (metres): through
        either end of their edge, or straight along the start's own edge."""
        net, g = self.net, self.graph
        edges = np.zeros(0, dtype=np.int64)
        if len(found.nodes):
            lo, hi = g.indptr[found.nodes], g.indptr[found.nodes + 1]
            lens = hi - lo
            idx = np.repeat(lo - np.cumsum(lens) + lens, lens) + np.arange(int(lens.sum()))
            edges = g.edge_id[idx].astype(np.int64)
        edges = np.unique(np.append(edges, found.edge))
        ptr, s_all, xy_all = self._samples(step_m)
        n = ptr[edges + 1] - ptr[edges]
        at = np.repeat(ptr[edges] - np.cumsum(n) + n, n) + np.arange(int(n.sum()))
        e = np.repeat(edges, n)
        s = s_all[at]
        dist = np.full(net.n_nodes, np.inf)
        dist[found.nodes] = found.node_dist_m
        d = np.minimum(dist[net.edge_u[e]] + s, dist[net.edge_v[e]] + (net.edge_len[e] - s))
        own = e == found.edge
        d[own] = np.minimum(d[own], np.abs(s[own] - found.pos_m) + found.offset_m)
        ok = np.isfinite(d)
        return xy_all[at[ok]], d[ok]

    def isochrones(self, found: Found, radii_m: list[float], buffer_m: float, cell_m: float = CELL_M) -> list[Any]:
        """The area within each of ``radii_m`` walking metres (WGS-84 polygons): every place within
        ``buffer_m`` metres of a street reached within the radius, on a grid of ``cell_m`` metres
        (cells aligned on the network's coordinates, so the areas of several radii, or of two
        searches, nest exactly where their streets nest), outlined and simplified to the cell."""
        pts, d = self.reached_samples(found, cell_m * 0.75)  # the buffer covers the cells between
        out = []
        for r in radii_m:
            p = pts[d <= r]
            if not len(p):
                out.append(shapely.Polygon())
                continue
            geom = _cells_within(p, buffer_m, cell_m)
            out.append(shapely.transform(geom, self._to_wgs84))
        return out


def _cells_within(pts: NDArray[np.float64], buffer_m: float, cell_m: float) -> Any:
    """The union of the grid cells whose centre lies within ``buffer_m`` metres of a cell holding one
    of ``pts`` (projected metres), as a (multi)polygon outlined along the cells and simplified."""
    pad = int(np.ceil(buffer_m / cell_m)) + 2
    i0 = np.floor(pts.min(axis=0) / cell_m).astype(np.int64) - pad  # aligned on multiples of cell_m
    ij = np.floor(pts / cell_m).astype(np.int64) - i0
    nx, ny = ij.max(axis=0) + pad + 1
    free = np.ones((ny, nx), dtype=bool)
    free[ij[:, 1], ij[:, 0]] = False
    inside = ndimage.distance_transform_edt(free) * cell_m <= buffer_m
    return shapely.simplify(_scaled(mask_polygon(inside), cell_m, i0), cell_m * 0.5)


def _scaled(geom: Any, cell_m: float, i0: NDArray[np.int64]) -> Any:
    return shapely.transform(geom, lambda xy: (xy + i0) * cell_m)


def mask_polygon(inside: NDArray[np.bool_]) -> Any:
    """The cells ``inside`` (rows = y, columns = x; the border cells must be outside) as one
    (multi)polygon in cell units: cell ``(j, i)`` is the square ``[i, i + 1] × [j, j + 1]``."""
    faces = shapely.get_parts(shapely.polygonize(shapely.linestrings(_outline(inside))))
    at = np.floor(shapely.get_coordinates(shapely.point_on_surface(faces))).astype(np.int64)
    return shapely.multipolygons(faces[inside[at[:, 1], at[:, 0]]])  # the holes are faces too: keep the cells'


def _outline(inside: NDArray[np.bool_]) -> NDArray[np.float64]:
    """The outline of the cells ``inside`` (rows = y, columns = x; the border cells outside) as
    straight runs of cell sides, ``(n, 2, 2)`` in cell units: a run stops where the outline turns
    and where two corners touch, so the runs meet only at their ends (as polygonize needs)."""
    v = inside[:, 1:] != inside[:, :-1]  # v[j, k]: the side at x = k + 1 from y = j to j + 1
    h = inside[1:, :] != inside[:-1, :]  # h[r, i]: the side at y = r + 1 from x = i to i + 1
    ny, nk = v.shape
    # vertical runs go on through a corner with no horizontal side at it
    cont = np.zeros((ny + 1, nk), dtype=bool)
    cont[1:ny] = v[:-1] & v[1:] & ~(h[:, :-1] | h[:, 1:])
    k0, j0 = np.nonzero((v & ~cont[:-1]).T)  # starts, column by column
    k1, j1 = np.nonzero((v & ~cont[1:]).T)  # ends, in the same order
    vert = np.stack([np.stack([k0 + 1, j0], axis=1), np.stack([k1 + 1, j1 + 1], axis=1)], axis=1)
    nr, ni = h.shape
    cont = np.zeros((nr, ni + 1), dtype=bool)
    cont[:, 1:ni] = h[:, :-1] & h[:, 1:] & ~(v[:-1, :] | v[1:, :])
    r0, i0 = np.nonzero(h & ~cont[:, :-1])
    r1, i1 = np.nonzero(h & ~cont[:, 1:])
    horiz = np.stack([np.stack([i0, r0 + 1], axis=1), np.stack([i1 + 1, r1 + 1], axis=1)], axis=1)
    return np.concatenate([vert, horiz]).astype(np.float64)
