"""The walking network: nodes and undirected edges in a projected metric CRS, as numpy arrays.

Walking ignores ``oneway``; every edge is usable both ways. Internally nodes are ``0..n-1``
(``*_idx``); the user's or OSM's ids are kept in ``node_id``.

Everything the engine touches is a numpy array: edge geometries are packed coordinates
(``edge_xy`` rows ``edge_ptr[e]:edge_ptr[e + 1]``), and shapely LineStrings are made only for output
(:meth:`WalkNetwork.edge_lines`). A network built from lines numbers its nodes along a Hilbert curve
(:meth:`WalkNetwork.renumbered`), so that a search touches nearby memory.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Any

import numba as nb
import numpy as np
import shapely
from numpy.typing import NDArray
from pyproj import CRS, Transformer
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from lifecircle.errors import InputError
from lifecircle.i18n import t
from lifecircle.network.ordering import hilbert_order, is_identity, renumber_edges

if TYPE_CHECKING:
    from lifecircle.network.noding import NodingReport
    from lifecircle.network.spatial import SegmentIndex


def pack_lines(lines: NDArray[np.object_]) -> tuple[NDArray[np.float64], NDArray[np.int64]]:
    """LineStrings as packed coordinates: ``(xy, ptr)``, line ``i`` being ``xy[ptr[i]:ptr[i + 1]]``."""
    lines = np.asarray(lines, dtype=object)
    xy, idx = shapely.get_coordinates(lines, return_index=True)
    ptr = np.zeros(len(lines) + 1, dtype=np.int64)
    np.cumsum(np.bincount(idx, minlength=len(lines)), out=ptr[1:])
    return xy, ptr


def take_lines(
    xy: NDArray[np.float64], ptr: NDArray[np.int64], idx: NDArray[np.int64]
) -> tuple[NDArray[np.float64], NDArray[np.int64]]:
    """The packed lines ``idx`` (in that order, repeats allowed) of packed lines ``(xy, ptr)``.

    When every line has the same number of points (``ptr`` is ``0, w, 2w, ...``: straight edges of
    two points, as a generated grid's), the lines are copied as rows of ``2 w`` numbers and the
    result's pointers are a view of ``ptr`` (no new array the size of the edges)."""
    xy = np.ascontiguousarray(xy, dtype=np.float64)
    ptr, idx = np.asarray(ptr, dtype=np.int64), np.asarray(idx, dtype=np.int64)
    w = _uniform_width(ptr)
    if w > 0 and len(idx) < len(ptr):
        return _take_rows(xy.reshape(-1, 2 * w), idx).reshape(-1, 2), ptr[: len(idx) + 1]
    return _take_lines(xy, ptr, idx)


@nb.njit(cache=True)
def _uniform_width(ptr):
    """``w`` if ``ptr`` is ``0, w, 2w, ...`` (every line of ``w`` points), else -1."""
    if ptr.shape[0] < 2 or ptr[0] != 0 or ptr[1] <= 0:
        return -1
    w = ptr[1]
    for i in range(2, ptr.shape[0]):
        if ptr[i] != i * w:
            return -1
    return w


@nb.njit(cache=True)
def _take_rows(a, idx):
    """``a[idx]`` for a 2-D array, in one pass."""
    out = np.empty((idx.shape[0], a.shape[1]), dtype=a.dtype)
    for i in range(idx.shape[0]):
        for c in range(a.shape[1]):
            out[i, c] = a[idx[i], c]
    return out


@nb.njit(cache=True)
def _take_lines(xy, ptr, idx):
    """:func:`take_lines` in one pass: no temporaries the size of the coordinates."""
    m = idx.shape[0]
    new_ptr = np.zeros(m + 1, dtype=np.int64)
    for i in range(m):
        new_ptr[i + 1] = new_ptr[i] + ptr[idx[i] + 1] - ptr[idx[i]]
    out = np.empty((new_ptr[m], 2))
    for i in range(m):
        a = ptr[idx[i]]
        b = new_ptr[i]
        for k in range(new_ptr[i + 1] - b):
            out[b + k, 0] = xy[a + k, 0]
            out[b + k, 1] = xy[a + k, 1]
    return out, new_ptr


@nb.njit(cache=True)
def _line_lengths(xy, ptr):
    out = np.zeros(len(ptr) - 1)
    for e in range(len(ptr) - 1):
        s = 0.0
        for k in range(ptr[e] + 1, ptr[e + 1]):
            dx = xy[k, 0] - xy[k - 1, 0]
            dy = xy[k, 1] - xy[k - 1, 1]
            s += np.sqrt(dx * dx + dy * dy)
        out[e] = s
    return out


def line_lengths(xy: NDArray[np.float64], ptr: NDArray[np.int64]) -> NDArray[np.float64]:
    """Length of each packed line, summed segment by segment as GEOS does (the same float)."""
    return _line_lengths(np.ascontiguousarray(xy, dtype=np.float64), np.asarray(ptr, dtype=np.int64))


@nb.njit(cache=True)
def _adjacency_arrays(n_nodes, u, v):
    """CSR adjacency by counting sort, without weights: node ``a``'s half-edges are its edges as
    ``u`` (in edge order), then as ``v`` — the order a stable argsort of ``concat(u, v)`` gives —
    without the argsort's temporary arrays (the 4-million-node network would need about 600 MB of
    them). Returns ``(indptr, neighbour, edge_idx)``."""
    m = u.shape[0]
    indptr = np.zeros(n_nodes + 1, dtype=np.int64)
    for e in range(m):
        indptr[u[e] + 1] += 1
        indptr[v[e] + 1] += 1
    for a in range(n_nodes):
        indptr[a + 1] += indptr[a]
    fill = indptr[:-1].copy()
    nbr = np.empty(2 * m, dtype=np.int32)
    eid = np.empty(2 * m, dtype=np.int32)
    for ends in range(2):
        for e in range(m):
            a, b = (u[e], v[e]) if ends == 0 else (v[e], u[e])
            k = fill[a]
            nbr[k] = b
            eid[k] = e
            fill[a] = k + 1
    return indptr, nbr, eid


def local_metric_crs(lon: float, lat: float) -> CRS:
    """The UTM zone (WGS-84 datum) containing ``lon, lat``: a projected CRS in metres."""
    zone = int((lon + 180.0) // 6.0) + 1
    epsg = (32600 if lat >= 0 else 32700) + zone
    return CRS.from_epsg(epsg)


@dataclass
class WalkNetwork:
    """An undirected walking network.

    Coordinates ``node_x, node_y`` are metres in ``crs``; ``edge_len`` is metres along the edge's
    geometry. Edge ``e``'s geometry (projected, from ``edge_u`` to ``edge_v``) is the coordinates
    ``edge_xy[edge_ptr[e]:edge_ptr[e + 1]]`` (at least two per edge); :attr:`edge_geom` and
    :meth:`edge_lines` make shapely LineStrings of them on demand (never kept).
    """

    crs: CRS
    node_x: NDArray[np.float64]
    node_y: NDArray[np.float64]
    edge_u: NDArray[np.int32]
    edge_v: NDArray[np.int32]
    edge_len: NDArray[np.float64]
    edge_xy: NDArray[np.float64]
    edge_ptr: NDArray[np.int64]
    node_id: NDArray[np.int64] = field(default=None)  # type: ignore[arg-type]  # filled in __post_init__
    source: str = ""
    # pieces removed by lifecircle.network.islands.drop_small_pieces (a DataFrame), and the limit used
    dropped_pieces: Any = None
    min_piece_m: float = 0.0
    edge_level: NDArray[np.int16] | None = None
    noding: NodingReport | None = None

    def __post_init__(self) -> None:
        n = len(self.node_x)
        if self.node_id is None:
            self.node_id = np.arange(n, dtype=np.int64)
        self.edge_u = np.asarray(self.edge_u, dtype=np.int32)
        self.edge_v = np.asarray(self.edge_v, dtype=np.int32)
        self.edge_len = np.asarray(self.edge_len, dtype=np.float64)
        self.edge_xy = np.ascontiguousarray(self.edge_xy, dtype=np.float64).reshape(-1, 2)
        self.edge_ptr = np.asarray(self.edge_ptr, dtype=np.int64)
        if len(self.edge_ptr) != len(self.edge_u) + 1 or (len(self.edge_u) and self.edge_ptr[-1] != len(self.edge_xy)):
            raise ValueError("edge_ptr must have one entry per edge plus one, ending at len(edge_xy)")
        if len(self.edge_u) == 0:
            raise InputError(
                t(
                    f"{self.source or '路网'}: 区域内没有可步行的道路",
                    f"{self.source or 'network'}: no walkable streets in this area",
                )
            )
        if np.any(self.edge_len < 0) or not np.all(np.isfinite(self.edge_len)):
            raise InputError(t("路网中存在无效的边长", "the network has invalid edge lengths"))

    # ------------------------------------------------------------------ construction
    @classmethod
    def from_lines(
        cls,
        lines: NDArray[np.object_],
        crs: CRS,
        *,
        source: str = "",
        precision_m: float = 0.01,
        level: NDArray[np.integer] | None = None,
        simplify: bool = True,
    ) -> WalkNetwork:
        """Build a network from projected LineStrings (metres in ``crs``).

        Lines are split at every vertex; vertices closer than ``precision_m`` metres are one node,
        so lines connect where they share a vertex (a bridge over a street without a shared vertex
        does not). With ``level`` (one code per line, 0 = ground; see
        :func:`lifecircle.network.noding.line_levels`) an interior vertex of a line off the ground
        joins only lines of its level, or line ends. Exact duplicate segments are kept once.

        With ``simplify`` (the default) every chain of degree-2 nodes becomes one edge whose
        geometry is the whole chain: fewer nodes, the same distances (see
        :mod:`lifecircle.network.simplify`). Nodes are then only junctions, dead ends, level
        changes and one extra node on each ring.
        """
        lines = np.asarray(lines, dtype=object)
        ok = ~shapely.is_empty(lines) & ~shapely.is_missing(lines)
        parts, pidx = shapely.get_parts(lines[ok], return_index=True)
        lev = None if level is None else np.asarray(level, np.int64)[ok][pidx]
        line = shapely.get_type_id(parts) == 1  # LineStrings only
        parts = parts[line]
        lev = None if lev is None else lev[line]
        if len(parts) == 0:
            raise InputError(
                t(f"{source}: 没有线要素可作为路网", f"{source}: no line features to build a network from")
            )
        from lifecircle.network.noding import vertex_keys

        coords, idx = shapely.get_coordinates(parts, return_index=True)
        brk = idx[1:] != idx[:-1]
        is_end = np.r_[True, brk] | np.r_[brk, True]
        node, node_xy = vertex_keys(coords, is_end, None if lev is None else lev[idx], precision_m)
        same = ~brk
        u, v = node[:-1][same], node[1:][same]
        a, b = coords[:-1][same], coords[1:][same]
        seg_lev = None if lev is None else lev[idx[:-1][same]]
        keep = u != v
        # merge parallel duplicates (same pair of nodes): keep one
        pair = np.sort(np.stack([u[keep], v[keep]], axis=1), axis=1)
        _, first = np.unique(pair, axis=0, return_index=True)
        first = np.flatnonzero(keep)[np.sort(first)]
        u, v, a, b = u[first], v[first], a[first], b[first]
        seg_lev = None if seg_lev is None else seg_lev[first]
        if not simplify:
            used, inv = np.unique(np.concatenate([u, v]), return_inverse=True)
            node_xy = node_xy[used]
            u, v = inv[: len(u)], inv[len(u) :]
            xy = np.stack([a, b], axis=1).reshape(-1, 2)
            ptr = np.arange(0, 2 * len(u) + 1, 2, dtype=np.int64)
            return cls(
                crs=crs,
                node_x=node_xy[:, 0].copy(),
                node_y=node_xy[:, 1].copy(),
                edge_u=u.astype(np.int32),
                edge_v=v.astype(np.int32),
                edge_len=line_lengths(xy, ptr),
                edge_xy=xy,
                edge_ptr=ptr,
                source=source,
                edge_level=None if seg_lev is None else seg_lev.astype(np.int16),
            ).renumbered()
        return cls._from_chains(crs, node_xy, u, v, a, b, seg_lev, source).renumbered()

    @classmethod
    def _from_chains(
        cls,
        crs: CRS,
        node_xy: NDArray,
        u: NDArray,
        v: NDArray,
        a: NDArray,
        b: NDArray,
        seg_lev: NDArray | None,
        source: str,
    ) -> WalkNetwork:
        """One edge per chain of degree-2 nodes; nodes renumbered to the kept ones."""
        from lifecircle.network.simplify import chain_edges

        ptr, seg, fwd, e_u, e_v, kept = chain_edges(len(node_xy), u, v, seg_lev)
        start = np.where(fwd, 0, 1)  # oriented: the segment's first point along the edge
        ab = np.stack([a, b], axis=1)
        p_start = ab[seg, start]
        p_end = ab[seg, 1 - start]
        heads = ptr[:-1]
        xy = np.insert(p_end, heads, p_start[heads], axis=0)
        xy_ptr = (ptr + np.arange(len(ptr))).astype(np.int64)  # one more point than segments per edge
        used = np.flatnonzero(kept)
        deg = np.bincount(np.concatenate([u, v]), minlength=len(node_xy)) if len(u) else np.zeros(len(node_xy), int)
        has = deg[used] > 0
        used = used[has]
        new_id = np.full(len(node_xy), -1, np.int64)
        new_id[used] = np.arange(len(used))
        return cls(
            crs=crs,
            node_x=node_xy[used, 0].copy(),
            node_y=node_xy[used, 1].copy(),
            edge_u=new_id[e_u].astype(np.int32),
            edge_v=new_id[e_v].astype(np.int32),
            edge_len=line_lengths(xy, xy_ptr),
            edge_xy=xy,
            edge_ptr=xy_ptr,
            source=source,
            edge_level=None if seg_lev is None else seg_lev[seg[heads]].astype(np.int16),
        )

    # ------------------------------------------------------------------ derived structures
    @property
    def n_nodes(self) -> int:
        return len(self.node_x)

    @property
    def n_edges(self) -> int:
        return len(self.edge_u)

    @cached_property
    def adjacency(self) -> tuple[NDArray[np.int64], NDArray[np.int32], NDArray[np.int32]]:
        """Adjacency in CSR form, both directions, without weights: ``(indptr, neighbour,
        edge_idx)``; a half-edge's length is ``edge_len[edge_idx]`` (metres). The lean searches
        (:func:`lifecircle.network.engine.nearest_distance_nodes` tile by tile) need no more:
        8 bytes per half-edge less than :attr:`csr` (110 MB at 4 million nodes)."""
        return _adjacency_arrays(self.n_nodes, self.edge_u, self.edge_v)

    @cached_property
    def csr(self) -> tuple[NDArray[np.int64], NDArray[np.int32], NDArray[np.float64], NDArray[np.int32]]:
        """Adjacency in CSR form, both directions: ``(indptr, neighbour, weight_m, edge_idx)``
        (:attr:`adjacency`'s arrays, shared, and each half-edge's length in metres)."""
        indptr, nbr, eid = self.adjacency
        return indptr, nbr, self.edge_len[eid], eid

    @cached_property
    def components(self) -> NDArray[np.int32]:
        """Connected-component label of every node: 0 = the largest component (most nodes, then most
        metres of street), and so on."""
        n = self.n_nodes
        g = coo_matrix((np.ones(self.n_edges), (self.edge_u, self.edge_v)), shape=(n, n))
        _, labels = connected_components(g, directed=False)
        sizes = np.bincount(labels)
        metres = np.bincount(labels[self.edge_u], weights=self.edge_len, minlength=len(sizes))
        rank = np.empty_like(sizes)
        rank[np.lexsort((-metres, -sizes))] = np.arange(len(sizes))
        return rank[labels].astype(np.int32)

    def component_summary(self) -> dict[str, float]:
        """Sizes of the disconnected pieces: how many, and the share of nodes outside the largest."""
        sizes = np.bincount(self.components)
        return {
            "n_components": int(len(sizes)),
            "largest_nodes": int(sizes[0]),
            "nodes_outside_largest": int(self.n_nodes - sizes[0]),
            "share_outside_largest": float(1 - sizes[0] / self.n_nodes),
        }

    @property
    def edge_geom(self) -> NDArray[np.object_]:
        """One projected shapely LineString per edge, made now from the packed coordinates (for
        output and tests; not kept, so the network holds no per-edge Python object)."""
        return self.edge_lines()

    def edge_lines(self, edges: NDArray[np.integer] | None = None) -> NDArray[np.object_]:
        """Projected shapely LineStrings of ``edges`` (indices; default every edge), in that order."""
        if edges is None:
            xy, ptr = self.edge_xy, self.edge_ptr
        else:
            xy, ptr = take_lines(self.edge_xy, self.edge_ptr, np.asarray(edges, dtype=np.int64).ravel())
        out = np.empty(len(ptr) - 1, dtype=object)
        if len(out):
            out[:] = shapely.linestrings(xy, indices=np.repeat(np.arange(len(out)), np.diff(ptr)))
        return out

    @cached_property
    def edge_tree(self) -> shapely.STRtree:
        """STRtree of the edges' LineStrings (made on first use; the engine's snapping does not use
        it, see :attr:`segment_index`)."""
        return shapely.STRtree(self.edge_geom)

    @cached_property
    def segment_index(self) -> SegmentIndex:
        """Grid index of the edges' straight segments, for snapping (:mod:`lifecircle.network.spatial`)."""
        from lifecircle.network.spatial import SegmentIndex

        return SegmentIndex.build(self.edge_xy, self.edge_ptr)

    def array_nbytes(self) -> int:
        """Bytes held in the network's numpy arrays (nodes, edges, packed geometry and whatever
        derived array has been built: adjacency, components, segment index)."""
        total, seen = 0, set()
        for v in vars(self).values():
            for a in v if isinstance(v, tuple) else (v,):
                if id(a) in seen:
                    continue  # an array shared by two derived structures (adjacency and csr)
                seen.add(id(a))
                if isinstance(a, np.ndarray):
                    total += a.nbytes
                elif hasattr(a, "nbytes_total"):
                    total += a.nbytes_total()
        return total

    def renumbered(self, order: NDArray[np.integer] | None = None) -> WalkNetwork:
        """The same network with its nodes in ``order`` (default: along a Hilbert curve over the
        node coordinates) and its edges sorted by their first node, so that nearby nodes and their
        edges sit close in memory. ``node_id`` moves with the nodes: the caller's ids stay
        attached to the same places (``node_id`` is the caller's id of each new node index)."""
        own = order is None
        order = hilbert_order(self.node_x, self.node_y) if own else np.asarray(order, dtype=np.int64)
        u, v, e_order = renumber_edges(order, self.edge_u, self.edge_v)
        xy, ptr = take_lines(self.edge_xy, self.edge_ptr, e_order)
        # node ids 0..n-1 (the default) become the order itself: no gather, no new array
        node_id = order if own and is_identity(self.node_id) else self.node_id[order]
        return WalkNetwork(
            crs=self.crs,
            node_x=self.node_x[order],
            node_y=self.node_y[order],
            edge_u=u,
            edge_v=v,
            edge_len=self.edge_len[e_order],
            edge_xy=xy,
            edge_ptr=ptr,
            node_id=node_id,
            source=self.source,
            dropped_pieces=self.dropped_pieces,
            min_piece_m=self.min_piece_m,
            edge_level=None if self.edge_level is None else self.edge_level[e_order],
            noding=self.noding,
        )

    @cached_property
    def to_wgs84(self) -> Transformer:
        return Transformer.from_crs(self.crs, 4326, always_xy=True)

    @cached_property
    def from_wgs84(self) -> Transformer:
        return Transformer.from_crs(4326, self.crs, always_xy=True)

    def project(self, lon: NDArray, lat: NDArray) -> tuple[NDArray, NDArray]:
        """WGS-84 degrees → metres in the network's CRS."""
        return self.from_wgs84.transform(np.asarray(lon, float), np.asarray(lat, float))

    def node_lonlat(self) -> tuple[NDArray, NDArray]:
        """WGS-84 longitude and latitude of every node."""
        return self.to_wgs84.transform(self.node_x, self.node_y)

    def bounds_wgs84(self) -> tuple[float, float, float, float]:
        """(min_lon, min_lat, max_lon, max_lat) of the nodes."""
        lon, lat = self.node_lonlat()
        return float(lon.min()), float(lat.min()), float(lon.max()), float(lat.max())

    def with_edges(self, lines_wgs84: NDArray[np.object_]) -> WalkNetwork:
        """A new network with extra street links (WGS-84 LineStrings) added, e.g. a planned path.
        The original is not changed."""
        proj = shapely.transform(
            np.asarray(lines_wgs84, dtype=object), lambda xy: np.column_stack(self.project(xy[:, 0], xy[:, 1]))
        )
        allg = np.concatenate([self.edge_geom, proj])
        # the new links are on the ground; existing edges keep their levels, so a planned path
        # does not join a bridge's middle
        level = None if self.edge_level is None else np.concatenate([self.edge_level, np.zeros(len(proj), np.int16)])
        return WalkNetwork.from_lines(allg, self.crs, source=self.source, level=level)
