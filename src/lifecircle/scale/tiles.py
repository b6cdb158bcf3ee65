"""Accessibility in square tiles with buffers, one Dask task per tile, each loading only its part
of the network (M17, issue 13 part 3). Distances in metres, times in minutes, speeds in km/h.

1. :func:`write_network` stores a built network once as two parquet files in a folder
   (``edges.parquet``: one row per edge with its end points, length in metres, bounding box and
   WKB geometry, sorted by tile so that row groups are spatially compact; ``nodes.parquet``) and
   ``network.json`` (CRS, source, counts, bounds and a content hash).
2. The origins' extent is cut into squares of ``tile_m`` metres (in the network's metric CRS).
   Each origin belongs to exactly one tile (its *core*); a tile task reads from the parquet only
   the edges whose bounding box meets the core grown by the *buffer* (``read_network_box``, with
   predicate push-down: other row groups are never read), builds its small network there and
   computes the rows of its own core origins only.
3. The buffer is ``reach + 3 × snap_max_m``, ``reach`` being the longest walking layer in metres
   (its minutes at the walking speed). No walk of at most ``reach`` metres from a core origin
   leaves the buffered tile: its every point is within ``reach`` of the origin's street point,
   which is within ``snap_max_m`` of the origin; an outlet reached so lies within ``snap_max_m``
   more, and every street it could snap to within ``snap_max_m`` more again. So inside the tile
   the origin and every outlet within ``reach`` snap to the same streets as in the whole network,
   and every path of at most ``reach`` metres is there with the same edge lengths: counts within
   the layers, and every nearest distance of at most ``reach``, equal the whole network's exactly
   (the same float sums along the same paths).
4. A nearest distance above ``reach`` (or none found) may be cut by the tile edge. Those origins
   go round again with a wider buffer (at least double, and at least the distance the tile found,
   which is a true path and so an upper bound), until the distance is within the buffer's reach or
   the buffered tile holds the whole network. Usually few origins and formats need this.

Results are put back in the caller's order; the table is built by the same builder as
:func:`lifecircle.network.table.access_table`, so it equals the single-machine table. Tasks are
submitted with ``retries`` (a task lost with a worker is re-run by Dask in any case); every origin
comes back exactly once (checked).
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import shapely
from pyproj import CRS, Transformer

from lifecircle.errors import ConfigError, InputError
from lifecircle.i18n import t
from lifecircle.network.engine import count_within, metres, nearest_per_category
from lifecircle.network.graph import WalkNetwork, pack_lines
from lifecircle.network.snap import Snapped, snap_points
from lifecircle.network.table import AccessTable, build_access_table, outlet_names
from lifecircle.profile import Profile
from lifecircle.scale.cluster import use_worker_threads

EDGES = "edges.parquet"
NODES = "nodes.parquet"
META = "network.json"
ROW_GROUP = 4096  # edges per parquet row group: the unit a tile task skips or reads
Box = tuple[float, float, float, float]  # xmin, ymin, xmax, ymax in metres


# ---------------------------------------------------------------------------- the network on disk
@dataclass(frozen=True)
class NetworkFile:
    """A network written by :func:`write_network`: its folder, CRS, bounds (metres) and content hash."""

    folder: Path
    crs_wkt: str
    source: str
    n_nodes: int
    n_edges: int
    bounds: Box
    digest: str

    @property
    def crs(self) -> CRS:
        return CRS.from_wkt(self.crs_wkt)


def write_network(net: WalkNetwork, folder: str | Path, *, sort_cell_m: float = 500.0) -> NetworkFile:
    """Write ``net`` to ``folder`` (created) as ``edges.parquet``, ``nodes.parquet`` and
    ``network.json``; edges sorted by the ``sort_cell_m``-metre cell (row-major) of their
    bounding box's centre, so a tile reads few row groups."""
    p = Path(folder)
    p.mkdir(parents=True, exist_ok=True)
    geoms = net.edge_lines()  # shapely lines built from the packed coordinates, for the WKB column
    b = shapely.bounds(geoms)
    cx, cy = (b[:, 0] + b[:, 2]) / 2, (b[:, 1] + b[:, 3]) / 2
    x0, y0 = float(net.node_x.min()), float(net.node_y.min())
    cell = np.floor((cy - y0) / sort_cell_m).astype(np.int64) * 1_000_000 + np.floor((cx - x0) / sort_cell_m).astype(
        np.int64
    )
    order = np.argsort(cell, kind="stable")
    u, v = net.edge_u.astype(np.int64), net.edge_v.astype(np.int64)
    edges = pa.table(
        {
            "e": order.astype(np.int64),
            "u": u[order],
            "v": v[order],
            "ux": net.node_x[u][order],
            "uy": net.node_y[u][order],
            "vx": net.node_x[v][order],
            "vy": net.node_y[v][order],
            "len_m": net.edge_len[order],
            "minx": b[order, 0],
            "miny": b[order, 1],
            "maxx": b[order, 2],
            "maxy": b[order, 3],
            "wkb": shapely.to_wkb(geoms[order]),
        }
    )
    pq.write_table(edges, p / EDGES, row_group_size=ROW_GROUP)
    nodes = pa.table({"x": net.node_x, "y": net.node_y, "node_id": np.asarray(net.node_id, np.int64)})
    pq.write_table(nodes, p / NODES, row_group_size=65536)
    h = hashlib.blake2b(digest_size=16)
    for f in (EDGES, NODES):
        h.update((p / f).read_bytes())
    bounds = (float(b[:, 0].min()), float(b[:, 1].min()), float(b[:, 2].max()), float(b[:, 3].max()))
    meta = {
        "crs_wkt": net.crs.to_wkt(),
        "source": str(net.source),
        "n_nodes": int(net.n_nodes),
        "n_edges": int(net.n_edges),
        "bounds": bounds,
        "digest": h.hexdigest(),
    }
    (p / META).write_text(json.dumps(meta, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    return open_network(p)


def open_network(folder: str | Path) -> NetworkFile:
    """The network written by :func:`write_network` in ``folder`` (its description only; no edges are read)."""
    p = Path(folder)
    try:
        m = json.loads((p / META).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise InputError(
            t(f"{p}: 不是已写出的路网文件夹：{exc}", f"{p}: not a written network folder: {exc}")
        ) from None
    return NetworkFile(p, m["crs_wkt"], m["source"], m["n_nodes"], m["n_edges"], tuple(m["bounds"]), m["digest"])


def read_network_box(nf: NetworkFile, box: Box) -> tuple[WalkNetwork, np.ndarray]:
    """The part of the network whose edges' bounding boxes meet ``box`` (metres), read with
    push-down filters (row groups wholly outside are skipped). Returns the small network (edges
    whole, same geometries and lengths; ``node_id`` the whole network's node index) and, per local edge, its
    index in the whole network. Raises :class:`InputError` if no edge meets the box."""
    tab = pq.read_table(
        nf.folder / EDGES, filters=_box_filter(box), columns=["e", "u", "v", "ux", "uy", "vx", "vy", "len_m", "wkb"]
    )
    df = tab.to_pandas()
    gu, gv = df["u"].to_numpy(np.int64), df["v"].to_numpy(np.int64)
    nodes, inv = np.unique(np.concatenate([gu, gv]), return_inverse=True)
    nx_ = np.empty(len(nodes))
    ny_ = np.empty(len(nodes))
    nx_[inv] = np.concatenate([df["ux"].to_numpy(), df["vx"].to_numpy()])
    ny_[inv] = np.concatenate([df["uy"].to_numpy(), df["vy"].to_numpy()])
    xy, ptr = pack_lines(np.asarray(shapely.from_wkb(df["wkb"].to_numpy()), dtype=object))
    net = WalkNetwork(
        crs=nf.crs,
        node_x=nx_,
        node_y=ny_,
        edge_u=inv[: len(gu)].astype(np.int32),
        edge_v=inv[len(gu) :].astype(np.int32),
        edge_len=df["len_m"].to_numpy(np.float64),
        edge_xy=xy,
        edge_ptr=ptr,
        node_id=nodes,
        source=nf.source,
    )
    return net, df["e"].to_numpy(np.int64)


def _box_filter(box: Box) -> list[tuple[str, str, float]]:
    x0, y0, x1, y1 = box
    return [("maxx", ">=", x0), ("minx", "<=", x1), ("maxy", ">=", y0), ("miny", "<=", y1)]


# ---------------------------------------------------------------------------- the task (runs on a worker)
@dataclass
class TileJob:
    """One tile's work: its core origins (positions in the caller's order, and either projected
    ``x, y`` in metres or whole-network node indices), the outlets in its buffered box (positions,
    ``x, y``, category), which of them lie in its core (their snapping is reported here), the box
    and the thresholds (metres; empty: nearest only)."""

    tile: str
    box: Box
    o_pos: np.ndarray
    o_x: np.ndarray | None
    o_y: np.ndarray | None
    o_node: np.ndarray | None
    s_pos: np.ndarray
    s_x: np.ndarray
    s_y: np.ndarray
    s_cat: np.ndarray
    s_core: np.ndarray
    n_cat: int
    snap_max_m: float
    thresholds_m: list[float]
    o_snapped: Snapped | None = None  # snapped on the whole network (edges: whole-network indices)
    s_snapped: Snapped | None = None


def _localise(sn: Snapped, gedge: np.ndarray, *, every: bool) -> Snapped:
    """Points snapped on the whole network, on the tile's network: whole-network edge indices
    become the tile's. A point whose street is not in the tile is off the streets there; with
    ``every`` that is a bug (a core origin's street always lies in its buffered tile)."""
    if len(gedge) == 0:
        return Snapped(np.zeros(len(sn), np.int32), sn.pos_m, sn.offset_m, np.zeros(len(sn), bool), sn.x, sn.y)
    order = np.argsort(gedge)
    i = np.clip(np.searchsorted(gedge[order], sn.edge), 0, len(order) - 1)
    loc = order[i]
    here = sn.ok & (gedge[loc] == sn.edge)
    if every and (sn.ok & ~here).any():
        raise RuntimeError("tiled access: an origin's street lies outside its buffered tile")
    return Snapped(np.where(here, loc, 0).astype(np.int32), sn.pos_m, sn.offset_m, here, sn.x, sn.y)


def run_tile(nf: NetworkFile, job: TileJob) -> dict[str, Any]:
    """Compute one tile from the network file: snapped origins, nearest per format (metres and the
    outlet's position in the caller's outlets), counts within each threshold, and the snapping of
    the core outlets. Runs on a worker; reads only the tile's part of the network."""
    use_worker_threads()
    if not pq.read_table(nf.folder / EDGES, filters=_box_filter(job.box), columns=["e"]).num_rows:
        return _empty_tile(job)
    net, gedge = read_network_box(nf, job.box)
    if job.o_snapped is not None:
        o_snap = _localise(job.o_snapped, gedge, every=True)
    elif job.o_node is not None:
        local = np.searchsorted(net.node_id, job.o_node)
        o_snap = Snapped.at_nodes(net, local)
    else:
        o_snap = snap_points(net, np.asarray(job.o_x), np.asarray(job.o_y), max_m=job.snap_max_m)
    if job.s_snapped is not None:
        s_snap = _localise(job.s_snapped, gedge, every=False)
    else:
        s_snap = snap_points(net, job.s_x, job.s_y, max_m=job.snap_max_m)
    dist, lab = nearest_per_category(net, s_snap, job.s_cat, job.n_cat, o_snap)
    src = np.where(lab >= 0, job.s_pos[np.clip(lab, 0, None)] if len(job.s_pos) else -1, -1).astype(np.int64)
    counts = count_within(net, s_snap, job.s_cat, job.n_cat, o_snap, job.thresholds_m) if job.thresholds_m else None
    return {
        "tile": job.tile,
        "o_pos": job.o_pos,
        "o_ok": o_snap.ok,
        "o_offset": o_snap.offset_m,
        "o_edge": np.where(o_snap.ok, gedge[o_snap.edge] if len(gedge) else -1, -1),
        "dist": dist,
        "src": src,
        "counts": counts,
        "s_core_pos": job.s_pos[job.s_core],
        "s_core_ok": s_snap.ok[job.s_core],
        "n_edges": net.n_edges,
    }


def _empty_tile(job: TileJob) -> dict[str, Any]:
    """A tile with no street in its buffered box: every origin and core outlet is off the streets."""
    n, ns = len(job.o_pos), int(job.s_core.sum())
    return {
        "tile": job.tile,
        "o_pos": job.o_pos,
        "o_ok": np.zeros(n, bool),
        "o_offset": np.full(n, np.inf),
        "o_edge": np.full(n, -1, np.int64),
        "dist": np.full((n, job.n_cat), np.inf),
        "src": np.full((n, job.n_cat), -1, np.int64),
        "counts": np.zeros((n, job.n_cat, len(job.thresholds_m)), np.int32) if job.thresholds_m else None,
        "s_core_pos": job.s_pos[job.s_core],
        "s_core_ok": np.zeros(ns, bool),
        "n_edges": 0,
    }


# ---------------------------------------------------------------------------- driver (runs on the client)
Progress = Callable[[int, int], None]


def _tile_keys(x: np.ndarray, y: np.ndarray, x0: float, y0: float, tile_m: float) -> np.ndarray:
    """The tile of each point (metres): column × 1,000,000 + row, counted from ``x0, y0``."""
    return np.floor((x - x0) / tile_m).astype(np.int64) * 1_000_000 + np.floor((y - y0) / tile_m).astype(np.int64)


def _core(key: int, x0: float, y0: float, tile_m: float) -> Box:
    """The square (metres) of tile ``key`` (see :func:`_tile_keys`)."""
    i, j = divmod(int(key), 1_000_000)
    return (x0 + i * tile_m, y0 + j * tile_m, x0 + (i + 1) * tile_m, y0 + (j + 1) * tile_m)


def _grow(box: Box, m: float) -> Box:
    return (box[0] - m, box[1] - m, box[2] + m, box[3] + m)


def _covers(box: Box, b: Box) -> bool:
    return box[0] <= b[0] and box[1] <= b[1] and box[2] >= b[2] and box[3] >= b[3]


def _inside(x: np.ndarray, y: np.ndarray, box: Box) -> np.ndarray:
    return (x >= box[0]) & (x <= box[2]) & (y >= box[1]) & (y <= box[3])


@dataclass
class TiledRun:
    """What :func:`access_table_tiles` did: tasks per round, the most edges one task read in each
    round (against ``n_edges`` in the whole network), and the origin×format pairs that needed a
    wider buffer (summed over rounds)."""

    n_tiles: int
    rounds: list[int]
    max_edges_read: list[int]
    n_edges: int
    widened: int


def access_table_tiles(
    network: NetworkFile | str | Path,
    origins: pd.DataFrame | None,
    outlets: pd.DataFrame,
    profile: Profile,
    client: Any,
    *,
    tile_m: float = 5000.0,
    speed_kmh: float | None = None,
    formats: list[str] | None = None,
    retries: int = 2,
    on_progress: Progress | None = None,
    net: WalkNetwork | None = None,
) -> tuple[AccessTable, TiledRun]:
    """:func:`lifecircle.network.table.access_table` in tiles of ``tile_m`` metres on the cluster
    behind ``client``, each task reading only its buffered part of ``network`` (a folder written by
    :func:`write_network`, which every worker must be able to read). ``origins``: ``id, lon, lat``
    (WGS-84) or None for every node; ``outlets``: ``id, name, format, lon, lat``; ``speed_kmh``
    (km/h) defaults to the profile's; ``retries``: re-runs of a failed task. Returns the table
    (equal to the single-machine one) and a :class:`TiledRun`.

    ``net``: the whole network the folder was written from, if the caller holds it. The origins and
    outlets are then placed on their streets once, here, exactly as the single-machine run places
    them, and the tasks only search. Without it each task places the points on its own part: the
    same streets, except that a point whose nearest street point is a junction may take another
    of the equally near streets there, which can change a distance in its last bit."""
    check_tile_m(tile_m)
    nf = network if isinstance(network, NetworkFile) else open_network(network)
    speed = speed_kmh or profile.walking.speed_kmh
    fmts = [profile.format(c) for c in dict.fromkeys(formats)] if formats else list(profile.formats)
    codes = [f.code for f in fmts]
    outlets = outlets[outlets["format"].isin(codes)].reset_index(drop=True)
    cat = outlets["format"].map({c: i for i, c in enumerate(codes)}).to_numpy(np.int64)
    snap = float(profile.walking.snap_max_m)
    layer_min = sorted(set(profile.walking.layers_min))
    thresholds = [float(metres(m, speed)) for m in layer_min]
    all_nodes = origins is None
    origins, ox, oy, sx, sy, o_full, s_full = _place_points(nf, origins, outlets, net, snap)
    pts = TilePoints(ox, oy, sx, sy, cat, len(codes), thresholds, snap, all_nodes, o_full, s_full)
    res, run = tiled_walks(nf, pts, client, tile_m=tile_m, retries=retries, on_progress=on_progress)
    ok, offset, s_ok = res.ok, res.offset, res.s_ok
    if o_full is not None and s_full is not None:
        ok, offset, s_ok = o_full.ok, o_full.offset_m, s_full.ok
    o_snap = Snapped(np.zeros(len(origins), np.int32), np.zeros(len(origins)), offset, ok, ox, oy)
    table, unsnapped_o = build_access_table(
        origins, o_snap, res.dist, res.src, res.counts, fmts, outlet_names(outlets), layer_min, speed
    )
    return AccessTable(table, unsnapped_o, outlets.iloc[np.flatnonzero(~s_ok)].copy()), run


def check_tile_m(tile_m: float) -> None:
    """Refuse a tile side (metres) that is not a positive number."""
    if not tile_m > 0:
        raise ConfigError(
            t(f"分块边长须为正数（米），收到 {tile_m}", f"the tile size must be positive metres, got {tile_m}")
        )


@dataclass
class TilePoints:
    """The points of a tiled run in the network's CRS (metres): origins ``ox, oy`` (with
    ``all_nodes`` the origins are the network's nodes, in node order), sources ``sx, sy`` of
    category ``cat`` (``n_cat`` categories), the thresholds to count within (metres, the longest
    sets the buffer), the snapping limit (metres) and, optionally, the origins and sources already
    snapped on the whole network (then every task uses those streets)."""

    ox: np.ndarray
    oy: np.ndarray
    sx: np.ndarray
    sy: np.ndarray
    cat: np.ndarray
    n_cat: int
    thresholds_m: list[float]
    snap_max_m: float
    all_nodes: bool = False
    o_snapped: Snapped | None = None
    s_snapped: Snapped | None = None


@dataclass
class TiledWalks:
    """What the tiles found, in the caller's order: nearest metres per origin and category
    (``inf`` = none) and the source it is (``-1``), counts within each threshold, whether each
    origin is on the streets and how far from them (metres), and whether each source is."""

    dist: np.ndarray
    src: np.ndarray
    counts: np.ndarray
    ok: np.ndarray
    offset: np.ndarray
    s_ok: np.ndarray


class TileError(RuntimeError):
    """A tile task that failed even after its retries; the message names the tile."""


def tiled_walks(
    nf: NetworkFile,
    pts: TilePoints,
    client: Any,
    *,
    tile_m: float,
    retries: int = 2,
    on_progress: Progress | None = None,
    name: str = "",
    priority: int = 0,
) -> tuple[TiledWalks, TiledRun]:
    """The nearest distances and counts of ``pts`` in tiles of ``tile_m`` metres with buffers (see
    the module), one task per tile on the cluster behind ``client`` reading only its part of ``nf``;
    wider rounds for the nearest distances a tile could not settle. ``name`` prefixes the tasks'
    keys (a city in the province batch), ``priority`` is their Dask priority. Raises
    :class:`TileError` naming the tile whose task failed after ``retries`` re-runs."""
    check_tile_m(tile_m)
    ox, oy, sx, sy, cat, snap = pts.ox, pts.oy, pts.sx, pts.sy, pts.cat, pts.snap_max_m
    thresholds = list(pts.thresholds_m)
    reach0 = max(thresholds, default=0.0) * (1 + 1e-6) + 1.0  # the longest layer, and a hair for the tolerance
    n, nc = len(ox), pts.n_cat
    gx0 = min(nf.bounds[0], np.min(ox, initial=np.inf), np.min(sx, initial=np.inf))
    gy0 = min(nf.bounds[1], np.min(oy, initial=np.inf), np.min(sy, initial=np.inf))
    o_tile, s_tile = _tile_keys(ox, oy, gx0, gy0, tile_m), _tile_keys(sx, sy, gx0, gy0, tile_m)

    def job(key: int, o_pos: np.ndarray, reach: float, first: bool) -> TileJob:
        box = _grow(_core(key, gx0, gy0, tile_m), reach + 3 * snap)
        s_in = np.flatnonzero(_inside(sx, sy, box))
        return TileJob(
            tile=f"tile-{key}",
            box=box,
            o_pos=o_pos,
            o_x=None if pts.all_nodes else ox[o_pos],
            o_y=None if pts.all_nodes else oy[o_pos],
            o_node=o_pos if pts.all_nodes else None,
            s_pos=s_in,
            s_x=sx[s_in],
            s_y=sy[s_in],
            s_cat=cat[s_in],
            s_core=(s_tile[s_in] == key) if first else np.zeros(len(s_in), bool),
            n_cat=nc,
            snap_max_m=snap,
            thresholds_m=thresholds if first else [],
            o_snapped=None if pts.o_snapped is None else pts.o_snapped.subset(o_pos),
            s_snapped=None if pts.s_snapped is None else pts.s_snapped.subset(s_in),
        )

    res = TiledWalks(
        dist=np.full((n, nc), np.inf),
        src=np.full((n, nc), -1, np.int64),
        counts=np.zeros((n, nc, len(thresholds)), np.int32),
        ok=np.zeros(n, bool),
        offset=np.full(n, np.inf),
        s_ok=np.zeros(len(sx), bool),
    )
    seen = np.zeros(n, np.int64)
    keys = sorted(set(o_tile.tolist()) | set(s_tile.tolist()))
    todo = {k: (np.flatnonzero(o_tile == k), reach0) for k in keys}
    run = TiledRun(len(keys), [], [], nf.n_edges, 0)
    pending = np.ones((n, nc), bool)  # nearest distance not yet known to be exact
    first = True
    while todo:
        jobs = [job(k, pos, reach, first) for k, (pos, reach) in todo.items()]
        results = _run_jobs(client, nf, jobs, retries, on_progress, name=name, priority=priority)
        run.rounds.append(len(jobs))
        run.max_edges_read.append(max(int(r["n_edges"]) for r in results))
        nxt: dict[int, tuple[np.ndarray, float]] = {}
        for (k, (_, reach)), j, r in zip(todo.items(), jobs, results, strict=True):
            pos = r["o_pos"]
            if first:
                seen[pos] += 1
                res.ok[pos], res.offset[pos] = r["o_ok"], r["o_offset"]
                if thresholds:
                    res.counts[pos] = r["counts"]
                res.s_ok[r["s_core_pos"]] = r["s_core_ok"]
                pending[pos] &= r["o_ok"][:, None]
            fix = pending[pos]
            exact = fix & ((r["dist"] <= reach) | _covers(j.box, nf.bounds))
            res.dist[pos] = np.where(exact, r["dist"], res.dist[pos])
            res.src[pos] = np.where(exact, r["src"], res.src[pos])
            left = fix & ~exact
            pending[pos] = left
            rows = left.any(axis=1)
            if rows.any():
                run.widened += int(left.sum())
                found = r["dist"][left]
                bound = float(found[np.isfinite(found)].max(initial=0.0))  # a true path: an upper bound
                nxt[k] = (pos[rows], max(2 * reach, bound * (1 + 1e-9) + 1.0))
        todo, first = nxt, False
    if (seen != 1).any():
        raise RuntimeError(f"tiled access: origins computed {sorted(set(seen.tolist()))} times, expected once each")
    return res, run


def _place_points(
    nf: NetworkFile, origins: pd.DataFrame | None, outlets: pd.DataFrame, net: WalkNetwork | None, snap: float
) -> tuple[pd.DataFrame, np.ndarray, np.ndarray, np.ndarray, np.ndarray, Snapped | None, Snapped | None]:
    """Origins (every node when None) and outlets in the network's CRS (metres), and — when the
    whole network ``net`` is given — snapped on it as :func:`access_table` snaps them."""
    fwd = Transformer.from_crs(4326, nf.crs, always_xy=True)
    all_nodes = origins is None
    if origins is None:
        nodes = pq.read_table(nf.folder / NODES).to_pandas()
        ox, oy = nodes["x"].to_numpy(), nodes["y"].to_numpy()
        lon, lat = Transformer.from_crs(nf.crs, 4326, always_xy=True).transform(ox, oy)
        origins = pd.DataFrame({"id": nodes["node_id"].astype(str), "lon": lon, "lat": lat})
    else:
        ox, oy = fwd.transform(origins["lon"].to_numpy(float), origins["lat"].to_numpy(float))
    sx, sy = fwd.transform(outlets["lon"].to_numpy(float), outlets["lat"].to_numpy(float))
    o_full = s_full = None
    if net is not None and (net.n_nodes, net.n_edges) != (nf.n_nodes, nf.n_edges):
        raise ConfigError(
            t(
                f"{nf.folder}: 路网文件夹与给出的路网不是同一个（节点或边数不同）",
                f"{nf.folder}: the network folder was not written from the network given (other node or edge count)",
            )
        )
    if net is not None:  # placed as access_table places them
        if not all_nodes:
            ox, oy = net.project(origins["lon"].to_numpy(float), origins["lat"].to_numpy(float))
        sx, sy = net.project(outlets["lon"].to_numpy(float), outlets["lat"].to_numpy(float))
        o_full = Snapped.at_nodes(net, np.arange(net.n_nodes)) if all_nodes else snap_points(net, ox, oy, max_m=snap)
        s_full = snap_points(net, sx, sy, max_m=snap)
    return origins, ox, oy, sx, sy, o_full, s_full


def _run_jobs(
    client: Any,
    nf: NetworkFile,
    jobs: list[TileJob],
    retries: int,
    on_progress: Progress | None,
    *,
    name: str = "",
    priority: int = 0,
) -> list[dict[str, Any]]:
    """Submit one task per job (``retries`` re-runs each; keys ``lifecircle-<name>-<tile>-…``) and
    gather them in order; a task that still fails raises :class:`TileError` naming its tile."""
    from distributed import as_completed

    prefix = f"lifecircle-{name}-" if name else "lifecircle-"
    futs = [
        client.submit(
            run_tile,
            nf,
            j,
            retries=retries,
            pure=False,
            priority=priority,
            key=f"{prefix}{j.tile}-{uuid.uuid4().hex[:12]}",
        )
        for j in jobs
    ]
    try:
        for done, _ in enumerate(as_completed(futs), start=1):
            if on_progress:
                on_progress(done, len(futs))
        out = []
        for j, f in zip(jobs, futs, strict=True):
            try:
                out.append(f.result())
            except Exception as exc:  # a tile that failed after its retries: named for the report
                raise TileError(f"{j.tile}: {type(exc).__name__}: {' '.join(str(exc).split())}") from exc
        return out
    finally:
        client.cancel(futs)
