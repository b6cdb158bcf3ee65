"""Noding real centre lines: make street lines meet where they should, and only there.

Street centre lines drawn by hand (or exported from CAD or a map service) rarely share vertices
exactly: an end stops 0.4 m short of the street it meets, or two ends of a junction sit 30 cm
apart. :func:`node_lines` repairs that within a tolerance (metres) and reports what it did:

* lines that share a vertex join there (as OSM ways that share a node do);
* an END within the tolerance of another END (transitively): the ends move to one point and join,
  the point that at least two of them already share (an existing junction stays put), else their
  mean;
* an END within the tolerance of another line's MIDDLE: that line is split there and joined (T);
* two lines that merely cross (no shared vertex) stay apart: an underpass, a footbridge;
* levels (OSM ``bridge`` / ``tunnel`` / ``layer``): a vertex shared by two lines on different
  levels joins them only if it is an end of one of them (a bridge's end meets the ground road; its
  middle passing over a road does not). An end joins another level's middle only when it touches it
  exactly or that middle is at ground level.

All coordinates are metres in a projected CRS. The result goes to
:meth:`lifecircle.network.graph.WalkNetwork.from_lines` with the returned levels.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
import pandas as pd
import shapely
from numpy.typing import NDArray
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

DEFAULT_TOLERANCE_M = 2.0
"""Ends this close (metres) to another end or to another line are joined to it."""

_FALSE = {"", "no", "0", "false", "nan", "none", "null"}
_BRIDGE, _TUNNEL = 1, 2


@dataclass(frozen=True)
class NodingReport:
    """What :func:`node_lines` did. Lengths in metres.

    ``ends_joined``: line ends moved (by at most ``tolerance_m``) to meet another line;
    ``t_joins``: points where an end was joined to the middle of another line that did not already
    have a vertex there, which was split there (``lines_split`` lines in all); ``piece_m``: the
    street metres of each piece of the result that stays apart from the others (largest first).
    """

    tolerance_m: float
    lines_in: int
    lines_out: int
    ends_joined: int
    t_joins: int
    lines_split: int
    piece_m: tuple[float, ...]

    @property
    def n_pieces(self) -> int:
        return len(self.piece_m)

    def lines(self) -> list[str]:
        """The report as bilingual lines for a command's output."""
        from lifecircle.i18n import t

        small = sum(1 for m in self.piece_m[1:] if m < 200.0)
        return [
            t(
                f"路网接合（容差 {self.tolerance_m:g} 米）：{self.ends_joined:,} 个线端移动接合，"
                f"{self.t_joins:,} 处 T 形接合（{self.lines_split:,} 条线被打断）",
                f"noding (tolerance {self.tolerance_m:g} m): {self.ends_joined:,} line ends moved to join, "
                f"{self.t_joins:,} T-joins ({self.lines_split:,} lines split)",
            ),
            t(
                f"路网分为 {self.n_pieces:,} 块互不连通的部分（最大 {self.piece_m[0] if self.piece_m else 0:,.0f} 米，"
                f"{small:,} 块短于 200 米）",
                f"the network has {self.n_pieces:,} pieces that stay apart (largest "
                f"{self.piece_m[0] if self.piece_m else 0:,.0f} m, "
                f"{small:,} shorter than 200 m)",
            ),
        ]


def _truthy(values: Sequence | NDArray | pd.Series) -> NDArray[np.bool_]:
    """OSM-style yes/no tag values (``yes``, ``1``, ``true``, ``viaduct`` ... vs ``no``, empty)."""
    s = pd.Series(np.asarray(values, dtype=object))
    return ~s.isna().to_numpy() & ~s.astype(str).str.strip().str.lower().isin(_FALSE).to_numpy()


def line_levels(n: int, bridge=None, tunnel=None, layer=None) -> NDArray[np.int16]:
    """One level code per line from OSM ``bridge`` / ``tunnel`` / ``layer`` values (any may be
    None). ``0`` is the ground; lines with different codes are on different levels. A bridge
    without ``layer`` is on layer 1, a tunnel on layer -1 (the OSM convention)."""
    b = _truthy(bridge) if bridge is not None else np.zeros(n, bool)
    tu = _truthy(tunnel) & ~b if tunnel is not None else np.zeros(n, bool)
    lay = (
        pd.to_numeric(pd.Series(np.asarray(layer, dtype=object)), errors="coerce").to_numpy(float)
        if layer is not None
        else np.full(n, np.nan)
    )
    default = np.where(b, 1.0, np.where(tu, -1.0, 0.0))
    lay = np.where(np.isfinite(lay), np.round(lay), default).clip(-5, 5)
    kind = np.where(b, _BRIDGE, np.where(tu, _TUNNEL, 0))
    return (lay * 3 + kind).astype(np.int16)


def vertex_keys(
    coords: NDArray[np.float64], is_end: NDArray[np.bool_], level: NDArray[np.integer] | None, precision_m: float
) -> tuple[NDArray[np.int64], NDArray[np.float64]]:
    """Node of every vertex: vertices closer than ``precision_m`` metres (on a grid) are one node,
    except that a line's interior vertex off the ground keeps its level, so it joins only lines of
    the same level or ends. Returns ``(node per vertex, node xy)``."""
    grid = np.round(coords / precision_m).astype(np.int64)
    tag = np.zeros(len(coords), np.int64) if level is None else np.where(is_end, 0, np.asarray(level, np.int64))
    uniq, inv = np.unique(np.column_stack([grid, tag]), axis=0, return_inverse=True)
    return inv.ravel(), uniq[:, :2].astype(np.float64) * precision_m


def _explode(
    lines: NDArray[np.object_], level: NDArray[np.int16]
) -> tuple[NDArray[np.object_], NDArray[np.int16], NDArray[np.int64]]:
    """The LineStrings of ``lines`` (parts of multi-lines; empty, zero-length and non-line
    geometries dropped), their levels and the index of the input line each came from."""
    lines = np.asarray(lines, dtype=object)
    ok = np.flatnonzero(~shapely.is_missing(lines) & ~shapely.is_empty(lines))
    parts, pi = shapely.get_parts(lines[ok], return_index=True)
    keep = (shapely.get_type_id(parts) == 1) & (shapely.length(parts) > 0)
    return parts[keep], level[ok][pi][keep], ok[pi][keep].astype(np.int64)


def _cluster_ends(
    ends: NDArray[np.float64], end_line: NDArray[np.int64], radius: float, precision_m: float
) -> NDArray[np.int64]:
    """Cluster label of every end: ends within ``radius`` metres of each other, transitively
    (a line's own two ends only when they touch)."""
    pts = shapely.points(ends)
    a, b = shapely.STRtree(pts).query(pts, predicate="dwithin", distance=radius)
    sel = a < b
    a, b = a[sel], b[sel]
    own = end_line[a] == end_line[b]
    far = np.hypot(*(ends[a] - ends[b]).T) > precision_m
    a, b = a[~(own & far)], b[~(own & far)]
    n = len(ends)
    g = coo_matrix((np.ones(len(a)), (a, b)), shape=(n, n))
    return connected_components(g, directed=False)[1].astype(np.int64)


def _cluster_points(ends: NDArray[np.float64], label: NDArray[np.int64]) -> NDArray[np.float64]:
    """Where each cluster of ends meets: the point most of its ends already share, if at least two
    share one (an existing junction stays where it is), else the mean of the ends."""
    k = int(label.max()) + 1
    cnt = np.bincount(label, minlength=k)
    point = np.column_stack([np.bincount(label, ends[:, i], minlength=k) / cnt for i in range(2)])
    key, first, times = np.unique(
        np.column_stack([label, ends.view(np.int64).reshape(-1, 2)]), axis=0, return_index=True, return_counts=True
    )
    order = np.lexsort((-times, key[:, 0]))
    top = order[np.r_[True, key[order, 0][1:] != key[order, 0][:-1]]]
    shared = times[top] >= 2
    point[key[top[shared], 0]] = ends[first[top[shared]]]
    return point


def _measures(
    coords: NDArray[np.float64], cidx: NDArray[np.int64], n: int
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Metres along its line of every vertex, and the same made global (each line's measures
    offset past the previous line's), so one sorted array holds every line in order."""
    seg = np.r_[0.0, np.hypot(*np.diff(coords, axis=0).T)]
    seg[np.r_[True, cidx[1:] != cidx[:-1]]] = 0.0
    cum = np.cumsum(seg)
    first = np.searchsorted(cidx, np.arange(n))
    along = cum - cum[first][cidx]
    lengths = np.bincount(cidx, seg, minlength=n)
    offset = np.r_[0.0, np.cumsum(lengths + 1.0)[:-1]]
    return along, along + offset[cidx]


def _t_candidates(parts, level, centre, cl_line_keys, cl_levels, radius, precision_m):
    """(cluster, line, distance) of every line within ``radius`` of a cluster point, that has no
    end in the cluster and that the level rule allows to join."""
    n = len(parts)
    c, j = shapely.STRtree(parts).query(shapely.points(centre), predicate="dwithin", distance=radius)
    keep = ~np.isin(c * n + j, cl_line_keys)
    c, j = c[keep], j[keep]
    d = shapely.distance(shapely.points(centre[c]), parts[j])
    same_level = np.isin(c * 64 + (level[j].astype(np.int64) + 32), cl_levels)
    allowed = (d <= precision_m) | (level[j] == 0) | same_level
    return c[allowed], j[allowed], d[allowed]


def _choose_t(c, j, d, precision_m):
    """Per cluster: every line it touches exactly, or else only the nearest line."""
    exact = d <= precision_m
    has_exact = np.zeros(int(c.max()) + 1 if len(c) else 0, bool)
    has_exact[c[exact]] = True
    order = np.lexsort((d, c))
    first = order[np.r_[True, c[order][1:] != c[order][:-1]]] if len(c) else order
    nearest = np.zeros(len(c), bool)
    nearest[first] = True
    keep = np.where(has_exact[c], exact, nearest)
    return c[keep], j[keep], d[keep]


class Noded(NamedTuple):
    """The result of :func:`node_lines`: LineStrings (metres), their level codes, the index of the
    input line each piece came from, and the report."""

    lines: NDArray[np.object_]
    level: NDArray[np.int16]
    origin: NDArray[np.int64]
    report: NodingReport


def node_lines(
    lines: NDArray[np.object_] | Sequence,
    *,
    level: NDArray[np.integer] | None = None,
    tolerance_m: float = DEFAULT_TOLERANCE_M,
    precision_m: float = 0.01,
) -> Noded:
    """Node projected street lines (metres): see the module docstring for the rules.

    ``level``: one code per line (:func:`line_levels`), None = all on the ground. Lines of the
    result meet exactly where they share an end or (same level) a vertex, to ``precision_m``
    metres; build the network with ``WalkNetwork.from_lines(noded.lines, crs, level=noded.level)``.
    """
    lines = np.asarray(lines, dtype=object)
    lev_in = np.zeros(len(lines), np.int16) if level is None else np.asarray(level, np.int16)
    parts, lev, src = _explode(lines, lev_in)
    n = len(parts)
    if n == 0:
        return Noded(parts, lev, src, NodingReport(float(tolerance_m), len(lines), 0, 0, 0, 0, ()))
    radius = max(float(tolerance_m), precision_m)
    coords, cidx = shapely.get_coordinates(parts, return_index=True)
    first = np.searchsorted(cidx, np.arange(n))
    last = np.r_[first[1:], len(coords)] - 1
    end_row = np.concatenate([first, last])
    end_line = np.concatenate([np.arange(n), np.arange(n)])
    ends = coords[end_row]
    label = _cluster_ends(ends, end_line, radius, precision_m)
    centre = _cluster_points(ends, label)
    # T-joins: an end cluster near the middle of a line that has no end in the cluster
    cl_line_keys = np.unique(label * n + end_line)
    cl_levels = np.unique(label * 64 + (lev[end_line].astype(np.int64) + 32))
    c, j, d = _t_candidates(parts, lev, centre, cl_line_keys, cl_levels, radius, precision_m)
    c, j, d = _choose_t(c, j, d, precision_m)
    _, glob = _measures(coords, cidx, n)
    m = shapely.line_locate_point(parts[j], shapely.points(centre[c]))
    length = shapely.length(parts)
    inner = (m > precision_m) & (m < length[j] - precision_m)
    c, j, m, d = c[inner], j[inner], m[inner], d[inner]
    split_xy, split_glob, on_vertex = _split_points(parts, coords, glob, cidx, j, m, glob[first][j], precision_m)
    exact = (d <= precision_m) & (on_vertex < 0)
    split_xy[exact] = centre[c[exact]]  # an end lying on the line: the line passes through it
    split_xy, split_glob, on_vertex = _merge_close_splits(j, split_xy, split_glob, on_vertex, precision_m)
    moved_to = centre.copy()
    moved_to[c] = split_xy  # a cluster joined to a line's middle moves onto that line
    new_ends = moved_to[label]
    ends_joined = int((np.hypot(*(new_ends - ends).T) > precision_m).sum())
    coords = coords.copy()
    coords[end_row] = new_ends
    out, piece_line = _cut(coords, cidx, glob, split_xy, split_glob, on_vertex, j)
    out_lev = lev[piece_line]
    # a repair is a join the lines did not have: an end already on a vertex of a ground-level line
    # (a junction drawn with a shared vertex) joined anyway and is not counted, though the line is cut there
    repaired = ~((d <= precision_m) & (on_vertex >= 0) & (lev[j] == 0))
    key = np.unique(np.column_stack([j[repaired], np.round(split_glob[repaired] / precision_m)]), axis=0)
    report = NodingReport(
        tolerance_m=float(tolerance_m),
        lines_in=len(lines),
        lines_out=len(out),
        ends_joined=ends_joined,
        t_joins=len(key),
        lines_split=len(np.unique(j[repaired])),
        piece_m=piece_lengths(out, out_lev, precision_m),
    )
    return Noded(out, out_lev, src[piece_line], report)


def _split_points(parts, coords, glob, cidx, j, m, glob0, precision_m):
    """Where each T-join splits its line: the point at ``m`` metres along line ``j``, moved onto
    the line's vertex when one is within ``precision_m``. Returns ``(xy, global measure, vertex row
    or -1)``."""
    g = glob0 + m
    after = np.clip(np.searchsorted(glob, g), 0, len(glob) - 1)
    before = np.clip(after - 1, 0, len(glob) - 1)
    best = np.where(np.abs(glob[after] - g) < np.abs(glob[before] - g), after, before)
    on = (np.abs(glob[best] - g) <= precision_m) & (cidx[best] == j)
    xy = shapely.get_coordinates(shapely.line_interpolate_point(parts[j], m)) if len(j) else np.empty((0, 2))
    xy[on] = coords[best[on]]
    g = np.where(on, glob[best], g)
    return xy, g, np.where(on, best, -1)


def _merge_close_splits(j, xy, g, on_vertex, precision_m):
    """Split points of one line closer than ``precision_m`` become one (the first), so every end
    joined there moves to the same point."""
    if len(j) == 0:
        return xy, g, on_vertex
    order = np.lexsort((g, j))
    js, gs = j[order], g[order]
    new_group = np.r_[True, (js[1:] != js[:-1]) | (np.diff(gs) > precision_m)]
    lead = order[np.flatnonzero(new_group)[np.cumsum(new_group) - 1]]
    out = np.empty_like(order)
    out[order] = lead
    return xy[out].copy(), g[out].copy(), on_vertex[out].copy()


def _cut(coords, cidx, glob, split_xy, split_glob, on_vertex, split_line):
    """Cut the lines at the split points (each becomes the end of one piece and the start of the
    next). Returns the pieces and the line each came from."""
    is_split = np.zeros(len(coords), bool)
    is_split[on_vertex[on_vertex >= 0]] = True
    uniq = np.unique(np.column_stack([split_line, split_glob]), axis=0, return_index=True)[1]
    new = np.zeros(len(on_vertex), bool)
    new[uniq] = on_vertex[uniq] < 0
    xy = np.vstack([coords, split_xy[new]])
    line = np.concatenate([cidx, split_line[new]])
    g = np.concatenate([glob, split_glob[new]])
    flag = np.concatenate([is_split, np.ones(new.sum(), bool)])
    order = np.argsort(g, kind="stable")
    xy, line, flag = xy[order], line[order], flag[order]
    rep = np.where(flag, 2, 1)
    copy = np.arange(rep.sum()) - np.repeat(np.cumsum(rep) - rep, rep)
    xy, line, flag = np.repeat(xy, rep, axis=0), np.repeat(line, rep), np.repeat(flag, rep)
    start = np.r_[True, line[1:] != line[:-1]] | (flag & (copy == 1))
    piece = np.cumsum(start) - 1
    out = shapely.linestrings(xy, indices=piece)
    return out, line[start]


def piece_labels(
    lines: NDArray[np.object_], level: NDArray[np.integer] | None, precision_m: float = 0.01
) -> NDArray[np.int64]:
    """Connected piece of every noded line: lines meet where they share an end or, on the same
    level, a vertex (see :func:`vertex_keys`)."""
    coords, cidx = shapely.get_coordinates(lines, return_index=True)
    n = len(lines)
    is_end = np.r_[True, cidx[1:] != cidx[:-1]] | np.r_[cidx[1:] != cidx[:-1], True]
    node, _ = vertex_keys(coords, is_end, None if level is None else np.asarray(level)[cidx], precision_m)
    k = int(node.max()) + 1
    g = coo_matrix((np.ones(len(node)), (cidx, n + node)), shape=(n + k, n + k))
    return connected_components(g, directed=False)[1][:n].astype(np.int64)


def piece_lengths(
    lines: NDArray[np.object_], level: NDArray[np.integer] | None, precision_m: float = 0.01
) -> tuple[float, ...]:
    """Street metres of each connected piece of noded lines (largest first)."""
    if len(lines) == 0:
        return ()
    lab = piece_labels(lines, level, precision_m)
    metres = np.bincount(lab, shapely.length(lines))
    metres = metres[np.bincount(lab) > 0]
    return tuple(float(x) for x in np.sort(metres)[::-1])
