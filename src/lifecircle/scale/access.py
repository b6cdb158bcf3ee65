"""Accessibility for one very large network on a Dask cluster: the same long table as
:func:`lifecircle.network.table.access_table`, computed in parts.

How the work is split (distances in metres, times in minutes, speeds in km/h):

1. The network is sent to every worker once (``scatter(broadcast=True)``) as plain arrays
   (:class:`NetworkPayload`); each worker builds its adjacency and spatial index once and keeps
   them for all its tasks.
2. Outlets are snapped in one task; origins are split into chunks of ``chunk`` rows and each chunk
   is snapped by its own task (or placed on its nodes when every node is an origin).
3. *Counts within each layer* are one bounded Dijkstra **per origin**, so they are split by origin
   chunk: one task per chunk, no communication between them.
4. *Nearest outlet per format* is one multi-source Dijkstra **per format over the whole
   network**, whatever the number of origins: splitting it by origin chunk would repeat the same
   whole-network search in every chunk. So it runs once per format, one task per format (formats
   spread over the workers), and each such task resolves that format's distance for every origin
   from its node distances (only ``n_origins`` numbers per format come back, never the
   ``n_nodes`` field).
5. The client gathers the arrays and builds the table with the very builder ``access_table``
   uses (:func:`lifecircle.network.table.build_access_table`); streamed chunks build theirs
   with it too.

Each part runs the very same engine kernels on the same inputs, so the result equals the
single-machine table bit for bit (tested on the Helsinki extract and on generated grids).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from lifecircle.errors import ConfigError, InputError
from lifecircle.i18n import t
from lifecircle.network.engine import count_within, metres, nearest_per_category
from lifecircle.network.graph import WalkNetwork
from lifecircle.network.snap import Snapped, snap_points
from lifecircle.network.table import AccessTable, build_access_table, format_columns, outlet_names
from lifecircle.profile import Format, Profile
from lifecircle.scale.cluster import use_worker_threads, wait_all
from lifecircle.sources.files import atomic_output

Progress = Callable[[int, int], None]


# ---------------------------------------------------------------------------- tasks (run on workers)
class NetworkPayload:
    """A :class:`WalkNetwork` as it travels to the workers: plain arrays only.

    Edge geometries are already one coordinate array plus offsets (``edge_xy, edge_ptr``), never
    one pickled object per edge, which is an order of magnitude faster for millions of edges.
    Unpickling rebuilds the network once per worker; its adjacency and spatial index are then
    built on first use and kept for every task on that worker (the scattered object stays in the worker's memory).
    """

    def __init__(self, net: WalkNetwork):
        self.net = net

    def __getstate__(self) -> dict[str, Any]:
        n = self.net
        return {
            "crs": n.crs,
            "node_x": n.node_x,
            "node_y": n.node_y,
            "edge_u": n.edge_u,
            "edge_v": n.edge_v,
            "edge_len": n.edge_len,
            "edge_xy": n.edge_xy,
            "edge_ptr": n.edge_ptr,
            "node_id": n.node_id,
            "source": n.source,
        }

    def __setstate__(self, st: dict[str, Any]) -> None:
        self.net = WalkNetwork(
            crs=st["crs"],
            node_x=st["node_x"],
            node_y=st["node_y"],
            edge_u=st["edge_u"],
            edge_v=st["edge_v"],
            edge_len=st["edge_len"],
            edge_xy=st["edge_xy"],
            edge_ptr=st["edge_ptr"],
            node_id=st["node_id"],
            source=st["source"],
        )
        global _PAYLOADS_RECEIVED  # noqa: PLW0603 - a per-worker counter the tests read to prove the network is sent once
        _PAYLOADS_RECEIVED += 1


_PAYLOADS_RECEIVED = 0  # networks unpickled in this process (a worker counts what it was sent)


def payloads_received() -> int:
    """How many networks this process has received (unpickled) so far; run on the workers with
    ``client.run(payloads_received)`` to see whether a network was sent again."""
    return _PAYLOADS_RECEIVED


def network_hash(net: WalkNetwork) -> str:
    """A content hash (BLAKE2b, 128 bits, hex) of the network's arrays: node coordinates (metres),
    edges, edge lengths (metres), edge geometries, node ids, CRS and source label. Two networks with
    the same hash are the same network for the engine."""
    h = hashlib.blake2b(digest_size=16)
    h.update(net.crs.to_wkt().encode())
    h.update(str(net.source).encode())
    for part in (net.node_x, net.node_y, net.edge_u, net.edge_v, net.edge_len, net.node_id, net.edge_xy, net.edge_ptr):
        a = np.ascontiguousarray(part)
        h.update(f"{a.dtype.str}{a.shape}".encode())
        h.update(a.tobytes())
    return h.hexdigest()


@dataclass
class DistributedNetwork:
    """A network held in the memory of every worker of a cluster, under a key derived from its
    content (``lifecircle-network-<hash>-<suffix>``; ``digest`` is :func:`network_hash`).

    Made by :func:`distribute_network`, which sends it once (``scatter(broadcast=True)``) and
    remembers it on the client: passing the same network (same arrays) to
    :func:`access_table_dask` again reuses the copy on the workers instead of sending it again,
    and each worker keeps the adjacency and spatial index it built. :meth:`release` frees it.
    """

    net: WalkNetwork
    key: str
    future: Any = field(repr=False)
    digest: str = ""

    def release(self) -> None:
        """Drop the workers' copy (and forget it on the client)."""
        client = self.future.client
        held = getattr(client, "_lifecircle_networks", {})
        if held.get(self.digest) is self:
            del held[self.digest]
        self.future.release()


KEEP_NETWORKS = 2  # distinct networks kept on the workers per client; the least recently used goes first


def distribute_network(client: Any, net: WalkNetwork | DistributedNetwork) -> DistributedNetwork:
    """The network on every worker of ``client``'s cluster, sent only if it is not there yet.

    The client remembers the last ``KEEP_NETWORKS`` networks it sent (by content hash); older
    ones are released from the workers."""
    if isinstance(net, DistributedNetwork):
        if net.future.status == "finished":
            return net
        net = net.net
    digest = network_hash(net)
    held: dict[str, DistributedNetwork] = client.__dict__.setdefault("_lifecircle_networks", {})
    dn = held.pop(digest, None)
    if dn is None or dn.future.status != "finished":
        # a fresh suffix per sending: a key just released may still be being forgotten by the scheduler
        key = f"lifecircle-network-{digest}-{uuid.uuid4().hex[:8]}"
        futs = client.scatter({key: NetworkPayload(net)}, broadcast=True)
        dn = DistributedNetwork(net, key, futs[key], digest)
    held[digest] = dn  # most recently used last
    while len(held) > KEEP_NETWORKS:
        held.pop(next(iter(held))).future.release()
    return dn


def _snap_task(payload: NetworkPayload, lon: np.ndarray, lat: np.ndarray, max_m: float) -> Snapped:
    net = payload.net
    x, y = net.project(lon, lat)
    return snap_points(net, x, y, max_m=max_m)


def _nodes_task(payload: NetworkPayload, lo: int, hi: int) -> Snapped:
    net = payload.net
    return Snapped.at_nodes(net, np.arange(lo, hi))


def _concat_task(*parts: Snapped) -> Snapped:
    return concat_snapped(list(parts))


def _count_task(
    payload: NetworkPayload, sources: Snapped, cat: np.ndarray, n_cat: int, origins: Snapped, thresholds_m: list[float]
) -> np.ndarray:
    use_worker_threads()
    return count_within(payload.net, sources, cat, n_cat, origins, thresholds_m)


def _nearest_task(
    payload: NetworkPayload, sources: Snapped, cat: np.ndarray, c: int, origins: Snapped
) -> tuple[np.ndarray, np.ndarray]:
    """Nearest source of category ``c`` for every origin: ``(metres, index into sources)``."""
    use_worker_threads()
    net = payload.net
    mask = cat == c
    idx = np.flatnonzero(mask)
    d, lab = nearest_per_category(net, sources.subset(mask), np.zeros(len(idx), dtype=np.int64), 1, origins)
    lab = lab[:, 0]
    full = np.where(lab >= 0, idx[np.clip(lab, 0, None)] if len(idx) else -1, -1).astype(np.int64)
    return np.ascontiguousarray(d[:, 0]), full


def _slice_task(near: tuple[np.ndarray, np.ndarray], lo: int, hi: int) -> tuple[np.ndarray, np.ndarray]:
    d, s = near
    return d[lo:hi].copy(), s[lo:hi].copy()


def concat_snapped(parts: list[Snapped]) -> Snapped:
    """One :class:`Snapped` from several, in order."""
    if not parts:
        z = np.zeros(0)
        return Snapped(np.zeros(0, np.int32), z, z, np.zeros(0, bool), z, z)
    return Snapped(
        *(np.concatenate([getattr(p, f) for p in parts]) for f in ("edge", "pos_m", "offset_m", "ok", "x", "y"))
    )


# ---------------------------------------------------------------------------- driver (runs on the client)
def auto_chunk(n_origins: int, n_threads: int) -> int:
    """Origins per task: about four tasks per worker thread (load balance), 2,000–50,000 each."""
    return int(min(50_000, max(2_000, -(-n_origins // max(1, 4 * n_threads)))))


def _total_threads(client: Any) -> int:
    info = client.scheduler_info()
    return max(1, sum(int(w.get("nthreads", 1)) for w in info.get("workers", {}).values()))


def access_table_dask(
    net: WalkNetwork | DistributedNetwork,
    origins: pd.DataFrame | None,
    outlets: pd.DataFrame,
    profile: Profile,
    client: Any,
    *,
    speed_kmh: float | None = None,
    formats: list[str] | None = None,
    chunk: int | None = None,
    on_progress: Progress | None = None,
    out_dir: str | Path | None = None,
) -> AccessTable | StreamedAccess:
    """:func:`lifecircle.network.table.access_table` on the cluster behind ``client``.

    ``net``: a :class:`WalkNetwork` or a :class:`DistributedNetwork`; either way the network is
    sent to the workers only if they do not hold it already (see :func:`distribute_network`).
    ``origins``: ``id, lon, lat`` (WGS-84) or None for every network node; ``outlets``: ``id, name,
    format, lon, lat``; ``speed_kmh`` (km/h) defaults to the profile's; ``chunk``: origins per task
    (default: about four tasks per worker thread). ``on_progress(done, total)`` is called as tasks
    finish. The returned table equals the single-machine one row for row.

    ``out_dir``: stream the table to this folder instead of gathering it on the client: each chunk
    task writes ``part-00000.parquet`` … itself (atomically) and returns a small summary; the
    client writes ``_SUCCESS`` (listing the parts) only when every part is written, and removes
    the parts if any chunk fails. The folder must be reachable by every worker (a shared file
    system on a real cluster). Returns a :class:`StreamedAccess` then; read it with
    :func:`read_parts`.
    """
    if chunk is not None and chunk < 1:
        raise ConfigError(t(f"--chunk 须至少为 1（收到 {chunk}）", f"--chunk must be at least 1 (got {chunk})"))
    out = _prepare_out_dir(out_dir) if out_dir is not None else None
    dnet = distribute_network(client, net)
    net = dnet.net
    speed = speed_kmh or profile.walking.speed_kmh
    fmts = [profile.format(c) for c in formats] if formats else list(profile.formats)
    codes = [f.code for f in fmts]
    cat_of = {c: i for i, c in enumerate(codes)}
    outlets = outlets[outlets["format"].isin(codes)].reset_index(drop=True)
    max_snap = profile.walking.snap_max_m
    layer_min = sorted(set(profile.walking.layers_min))
    thresholds = [float(metres(m, speed)) for m in layer_min]
    cat = outlets["format"].map(cat_of).to_numpy(np.int64)

    all_nodes = origins is None
    if origins is None:
        lon, lat = net.node_lonlat()
        origins = pd.DataFrame({"id": net.node_id.astype(str), "lon": lon, "lat": lat})
    o_lon = origins["lon"].to_numpy(float)
    o_lat = origins["lat"].to_numpy(float)
    n = len(origins)
    size = chunk or auto_chunk(n, _total_threads(client))
    bounds = [(lo, min(n, lo + size)) for lo in range(0, n, size)] or [(0, 0)]

    net_f = dnet.future
    s_f = client.submit(
        _snap_task, net_f, outlets["lon"].to_numpy(float), outlets["lat"].to_numpy(float), max_snap, pure=False
    )
    if all_nodes:
        o_fs = [client.submit(_nodes_task, net_f, lo, hi, pure=False) for lo, hi in bounds]
    else:
        o_fs = [client.submit(_snap_task, net_f, o_lon[lo:hi], o_lat[lo:hi], max_snap, pure=False) for lo, hi in bounds]
    o_all_f = client.submit(_concat_task, *o_fs, pure=False)
    near_fs = [client.submit(_nearest_task, net_f, s_f, cat, c, o_all_f, pure=False) for c in range(len(codes))]
    if out is not None:
        return _stream(
            client,
            out,
            net_f,
            s_f,
            o_fs,
            o_all_f,
            near_fs,
            bounds,
            origins,
            outlets,
            fmts,
            cat,
            thresholds,
            layer_min,
            speed,
            on_progress,
        )
    count_fs = [client.submit(_count_task, net_f, s_f, cat, len(codes), of, thresholds, pure=False) for of in o_fs]

    watched = [s_f, *o_fs, o_all_f, *count_fs, *near_fs]
    wait_all(watched, on_progress)
    s_snap, o_snap = client.gather([s_f, o_all_f])
    counts = (
        np.concatenate(client.gather(count_fs), axis=0)
        if count_fs
        else np.zeros((0, len(codes), len(thresholds)), np.int32)
    )
    near = client.gather(near_fs)
    client.cancel(watched)  # the network stays on the workers for the next call
    if near:
        dist = np.stack([d for d, _ in near], axis=1)
        src = np.stack([s for _, s in near], axis=1)
    else:
        dist = np.zeros((n, 0))
        src = np.zeros((n, 0), dtype=np.int64)
    table, unsnapped_o = build_access_table(
        origins, o_snap, dist, src, counts, fmts, outlet_names(outlets), layer_min, speed
    )
    return AccessTable(table, unsnapped_o, outlets.iloc[np.flatnonzero(~s_snap.ok)].copy())


# ---------------------------------------------------------------------------- streaming to a folder
SUCCESS = "_SUCCESS"
ABORTED = "_ABORTED"
_PART = re.compile(r"^part-\d{5,}\.parquet$")
_TMP = re.compile(r"^\.part-\d{5,}\.parquet\..*\.tmp$")


def _ours(name: str) -> bool:
    return name in (SUCCESS, ABORTED) or bool(_PART.match(name) or _TMP.match(name))


@dataclass
class StreamedAccess:
    """What :func:`access_table_dask` returns with ``out_dir``: the folder and its parts (the
    table itself stays on disk), the number of rows, the origins left out as too far from a
    street (with ``distance_to_street_m``), the outlets that could not be placed on a street, and
    per format the number of origins and of those within the format's walking layer."""

    out_dir: Path
    parts: list[str]
    n_rows: int
    unsnapped_origins: pd.DataFrame
    unsnapped_outlets: pd.DataFrame
    per_format: pd.DataFrame


def _prepare_out_dir(out_dir: str | Path) -> Path:
    """An empty (or previously written) result folder; anything else in it is left alone and is an error."""
    p = Path(out_dir)
    if p.exists() and not p.is_dir():
        raise InputError(
            t(f"{p}: 不是文件夹（分块输出需要一个文件夹）", f"{p}: not a folder (streamed output needs a folder)")
        )
    if not p.parent.exists():
        raise InputError(t(f"{p}: 上级目录 {p.parent} 不存在", f"{p}: parent folder {p.parent} does not exist"))
    p.mkdir(exist_ok=True)
    foreign = sorted(f.name for f in p.iterdir() if not _ours(f.name))
    if foreign:
        raise InputError(
            t(
                f"{p}: 文件夹中有其他文件（{', '.join(foreign[:3])}），请使用空文件夹",
                f"{p}: the folder holds other files ({', '.join(foreign[:3])}); use an empty folder",
            )
        )
    (p / SUCCESS).unlink(missing_ok=True)  # first: a reader must never take old parts for a result
    _remove_parts(p)
    (p / ABORTED).unlink(missing_ok=True)
    return p


def _remove_parts(p: Path) -> None:
    for f in p.iterdir():
        if _PART.match(f.name) or _TMP.match(f.name):
            f.unlink(missing_ok=True)


def _sweep_after_abort(p: Path, *, grace_s: float = 60.0) -> None:
    """Remove every part of an aborted run. Cancelled tasks may still be inside a write (Dask
    cannot stop a running function): wait until their temporary files are gone — each task,
    seeing ``_ABORTED``, removes its own — and sweep again, so the caller returns to a clean folder."""
    deadline = time.monotonic() + grace_s
    _remove_parts(p)
    while any(_TMP.match(f.name) for f in p.iterdir()) and time.monotonic() < deadline:
        time.sleep(0.05)
    _remove_parts(p)


def _write_part(table: pd.DataFrame, path: Path) -> bool:
    """Write one part atomically (a temporary name, then a rename). A run that was aborted
    (``_ABORTED`` in the folder) keeps no part: checked before and after the rename, so a part
    renamed while the client sweeps the folder is removed by one side or the other."""
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    abort = path.parent / ABORTED
    if abort.exists():  # the run already failed: write nothing at all
        return False
    try:
        table.to_parquet(tmp, index=False)
        if abort.exists():
            return False
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    if abort.exists():
        path.unlink(missing_ok=True)
        return False
    return True


def _write_chunk_task(
    payload: NetworkPayload,
    sources: Snapped,
    cat: np.ndarray,
    n_cat: int,
    thresholds_m: list[float],
    o_snap: Snapped,
    origins: pd.DataFrame,
    names: np.ndarray,
    fmts: list[Format],
    layer_min: list[float],
    speed: float,
    path: str,
    *near_all: tuple,
) -> dict[str, Any]:
    """Counts for one chunk of origins, its rows of the table written to ``path``; returns a summary."""
    use_worker_threads()
    counts = count_within(payload.net, sources, cat, n_cat, o_snap, thresholds_m)
    if near_all:
        dist = np.stack([d for d, _ in near_all], axis=1)
        src = np.stack([s for _, s in near_all], axis=1)
    else:
        dist, src = np.zeros((len(origins), 0)), np.zeros((len(origins), 0), dtype=np.int64)
    table, unsnapped = build_access_table(origins, o_snap, dist, src, counts, fmts, names, layer_min, speed)
    p = Path(path)
    _write_part(table, p)
    per = table.groupby("format", sort=False)["within_layer"].agg(["size", "sum"])
    return {
        "part": p.name,
        "rows": len(table),
        "unsnapped_origins": unsnapped,
        "n": per["size"].to_dict(),
        "within": per["sum"].to_dict(),
    }


def _stream(
    client: Any,
    out: Path,
    net_f: Any,
    s_f: Any,
    o_fs: list,
    o_all_f: Any,
    near_fs: list,
    bounds: list[tuple[int, int]],
    origins: pd.DataFrame,
    outlets: pd.DataFrame,
    fmts: list,
    cat: np.ndarray,
    thresholds: list[float],
    layer_min: list[float],
    speed: float,
    on_progress: Progress | None,
) -> StreamedAccess:
    from distributed import as_completed

    [names_f] = client.scatter([outlet_names(outlets)], broadcast=True, hash=False)
    fcols = format_columns(fmts)
    parts = [f"part-{k:05d}.parquet" for k in range(len(bounds))]
    # each chunk takes only its slice of every format's nearest distances (sliced where they lie),
    # never the whole n_origins x n_formats field
    slice_fs = [[client.submit(_slice_task, nf, lo, hi, pure=False) for nf in near_fs] for lo, hi in bounds]
    write_fs = [
        client.submit(
            _write_chunk_task,
            net_f,
            s_f,
            cat,
            len(fmts),
            thresholds,
            of,
            origins.iloc[lo:hi],
            names_f,
            fmts,
            layer_min,
            speed,
            str(out / part),
            *sl,
            pure=False,
        )
        for (lo, hi), of, part, sl in zip(bounds, o_fs, parts, slice_fs, strict=True)
    ]
    watched = [s_f, *o_fs, o_all_f, *near_fs, *write_fs]
    try:
        for done, f in enumerate(as_completed(watched), start=1):
            if f.status == "error":
                f.result()  # raises the task's error here
            if on_progress:
                on_progress(done, len(watched))
        summaries = client.gather(write_fs)
        s_snap = client.gather(s_f)
    except BaseException as exc:
        (out / ABORTED).write_text(f"{type(exc).__name__}: {exc}\n", encoding="utf-8")
        client.cancel(watched + [f for sl in slice_fs for f in sl] + [names_f])
        _sweep_after_abort(out)
        raise
    client.cancel(watched + [f for sl in slice_fs for f in sl] + [names_f])
    rows = [s["rows"] for s in summaries]
    with atomic_output(out / SUCCESS) as tmp:
        tmp.write_text(
            json.dumps({"parts": parts, "rows": rows, "n_rows": int(sum(rows))}, indent=1) + "\n", encoding="utf-8"
        )
    uo = [s["unsnapped_origins"] for s in summaries if len(s["unsnapped_origins"])]
    unsnapped_o = pd.concat(uo) if uo else summaries[0]["unsnapped_origins"]
    codes = fcols["format"]
    n_per = np.array([sum(int(s["n"].get(c, 0)) for s in summaries) for c in codes])
    w_per = np.array([sum(int(s["within"].get(c, 0)) for s in summaries) for c in codes])
    per_format = pd.DataFrame({**fcols, "n_origins": n_per, "n_within_layer": w_per})
    return StreamedAccess(
        out, parts, int(sum(rows)), unsnapped_o, outlets.iloc[np.flatnonzero(~s_snap.ok)].copy(), per_format
    )


def read_parts(out_dir: str | Path) -> pd.DataFrame:
    """The table a streamed run wrote to ``out_dir``, parts in order; refused (InputError) unless
    the run finished (``_SUCCESS`` present)."""
    p = Path(out_dir)
    marker = p / SUCCESS
    if not marker.exists():
        raise InputError(
            t(f"{p}: 没有 {SUCCESS} 标记，结果不完整或未写完", f"{p}: no {SUCCESS} marker; the result is incomplete")
        )
    parts = json.loads(marker.read_text(encoding="utf-8"))["parts"]
    frames = [pd.read_parquet(p / name) for name in parts]
    non_empty = [f for f in frames if len(f)] or frames[:1]
    return pd.concat(non_empty, ignore_index=True)
