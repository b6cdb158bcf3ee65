"""The walking network: nodes and undirected edges in a projected metric CRS, as numpy arrays.

Walking ignores ``oneway``; every edge is usable both ways. Internally nodes are ``0..n-1``
(``*_idx``); the user's or OSM's ids are kept in ``node_id``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Any

import numpy as np
import shapely
from numpy.typing import NDArray
from pyproj import CRS, Transformer
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from lifecircle.errors import InputError
from lifecircle.i18n import t

if TYPE_CHECKING:
    from lifecircle.network.noding import NodingReport


def local_metric_crs(lon: float, lat: float) -> CRS:
    """The UTM zone (WGS-84 datum) containing ``lon, lat``: a projected CRS in metres."""
    zone = int((lon + 180.0) // 6.0) + 1
    epsg = (32600 if lat >= 0 else 32700) + zone
    return CRS.from_epsg(epsg)


@dataclass
class WalkNetwork:
    """An undirected walking network.

    Coordinates ``node_x, node_y`` are metres in ``crs``; ``edge_len`` is metres along the edge's
    geometry. ``edge_geom`` holds one projected LineString per edge, running from ``edge_u`` to
    ``edge_v``.
    """

    crs: CRS
    node_x: NDArray[np.float64]
    node_y: NDArray[np.float64]
    edge_u: NDArray[np.int32]
    edge_v: NDArray[np.int32]
    edge_len: NDArray[np.float64]
    edge_geom: NDArray[np.object_]
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
            geoms = shapely.linestrings(np.stack([a, b], axis=1))
            return cls(
                crs=crs,
                node_x=node_xy[:, 0].copy(),
                node_y=node_xy[:, 1].copy(),
                edge_u=u.astype(np.int32),
                edge_v=v.astype(np.int32),
                edge_len=shapely.length(geoms),
                edge_geom=geoms,
                source=source,
                edge_level=None if seg_lev is None else seg_lev.astype(np.int16),
            )
        return cls._from_chains(crs, node_xy, u, v, a, b, seg_lev, source)

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
        eid = np.repeat(np.arange(len(e_u)), np.diff(ptr))
        heads = ptr[:-1]
        xy = np.insert(p_end, heads, p_start[heads], axis=0)
        gid = np.insert(eid, heads, np.arange(len(e_u)))
        geoms = shapely.linestrings(xy, indices=gid)
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
            edge_len=shapely.length(geoms),
            edge_geom=geoms,
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
    def csr(self) -> tuple[NDArray[np.int64], NDArray[np.int32], NDArray[np.float64], NDArray[np.int32]]:
        """Adjacency in CSR form, both directions: ``(indptr, neighbour, weight_m, edge_idx)``."""
        n = self.n_nodes
        src = np.concatenate([self.edge_u, self.edge_v])
        dst = np.concatenate([self.edge_v, self.edge_u])
        w = np.concatenate([self.edge_len, self.edge_len])
        eid = np.concatenate([np.arange(self.n_edges, dtype=np.int32)] * 2)
        order = np.argsort(src, kind="stable")
        indptr = np.zeros(n + 1, dtype=np.int64)
        np.add.at(indptr, src + 1, 1)
        indptr = np.cumsum(indptr)
        return indptr, dst[order].astype(np.int32), w[order], eid[order]

    @cached_property
    def components(self) -> NDArray[np.int32]:
        """Connected-component label of every node (0 = the largest component)."""
        n = self.n_nodes
        g = coo_matrix((np.ones(self.n_edges), (self.edge_u, self.edge_v)), shape=(n, n))
        _, labels = connected_components(g, directed=False)
        sizes = np.bincount(labels)
        rank = np.empty_like(sizes)
        rank[np.argsort(-sizes, kind="stable")] = np.arange(len(sizes))
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

    @cached_property
    def edge_tree(self) -> shapely.STRtree:
        """Spatial index of edge geometries, for snapping."""
        return shapely.STRtree(self.edge_geom)

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
