"""A very large city inside the province batch, cut into tiles (issue 13): the same evaluation as
one task, with its walking accessibility — the engine pass from every community to every format —
computed in square tiles with buffers (:mod:`lifecircle.scale.tiles`).

A city runs in three steps, each a Dask task or tasks submitted with retries:

1. :func:`city_task` (a worker) builds or loads the city and its walking network. If the network
   has at most ``Tiling.above_nodes`` nodes the city is evaluated there and then, as before.
   Otherwise the task writes the network to ``Tiling.folder`` (one sub-folder per city, emptied
   first, so a rerun redoes it cleanly), places the communities and the outlets (one point per
   outlet × format) on their streets exactly as the evaluation does, and returns a
   :class:`CityPlan` instead of a result.
2. :func:`walk_city` (the client) runs the tiles: one task per tile of ``Tiling.tile_m`` metres,
   each reading only its buffered part of the network; keys ``lifecircle-<city>-tile-<n>-…``; a
   tile that still fails after its retries fails the city with the tile's name.
3. :func:`finish_task` (a worker) builds the network again from the city (the same network: the
   build is deterministic) and runs :func:`lifecircle.indicators.evaluate.evaluate_city` with the
   tiles' distances and counts in place of its engine pass (:class:`CityWalks`); everything
   else — membership, circles, grades, districts — runs as for any city. F15 (``f15``,
   ``f15_elderly``) comes from the city's walking-time surface
   (:func:`lifecircle.scale.cities.city_evaluation`): the tiles walk from the communities only, so
   this step walks the whole network once for it (one nearest search per format over every node,
   no counts; ``n_nodes × n_formats`` × 8 bytes on this worker).

The tiles give the same nearest distances (metres) and counts as the whole network (see
:mod:`lifecircle.scale.tiles`), and the surface's search is the one the untiled evaluation makes,
so the row of figures equals the untiled one, F15 included. Nothing of a tiled
city is stored until step 3 has finished; the batch then stores it and writes its marker.
"""

from __future__ import annotations

import dataclasses
import hashlib
import re
import shutil
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from lifecircle.config import read_config, unknown_keys
from lifecircle.errors import ConfigError, LifecircleError
from lifecircle.i18n import t, use_lang
from lifecircle.network.snap import Snapped
from lifecircle.scale.cities import (
    CitySource,
    base_row,
    city_evaluation,
    evaluation_row,
    failed_row,
    source_city_network,
)
from lifecircle.scale.cluster import use_worker_threads
from lifecircle.scale.tiles import NetworkFile, TiledRun, TilePoints, check_tile_m, tiled_walks, write_network

CONFIG = "scale-batch"
TILE_PRIORITY = 10  # tile tasks run before the cities still queued: their city waits for them


@dataclass(frozen=True)
class Tiling:
    """When and how the batch cuts a city into tiles: a network of more than ``above_nodes``
    nodes is tiled in squares of ``tile_m`` metres; networks are written under ``folder``
    (every worker must be able to read it)."""

    above_nodes: int
    tile_m: float
    folder: Path

    def __post_init__(self) -> None:
        if self.above_nodes < 0:
            raise ConfigError(
                t(
                    f"--tile-above 不能为负（收到 {self.above_nodes}）",
                    f"--tile-above cannot be negative (got {self.above_nodes})",
                )
            )
        check_tile_m(self.tile_m)


def tiling_defaults() -> tuple[int, float]:
    """``(above_nodes, tile_m)`` from the shipped configuration ``scale-batch.toml``."""
    data, src = read_config(CONFIG, what_zh="集群批量设置", what_en="batch settings", known=[CONFIG])
    tiles = data.get("tiles", {})
    bad = unknown_keys(data, ["tiles"]) + unknown_keys(tiles, ["above_nodes", "tile_m"], table="tiles")
    if bad:
        raise ConfigError(f"{src}: {bad[0][1]}")
    try:
        return int(tiles.get("above_nodes", 200_000)), float(tiles.get("tile_m", 5000.0))
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{src}: [tiles] {exc}") from None


def task_name(label: str) -> str:
    """A Dask-key-safe name of a city: its ASCII letters and digits and a short hash of the label."""
    ascii_part = re.sub(r"[^0-9A-Za-z_.]+", "_", label).strip("_")[:40]
    digest = hashlib.blake2b(label.encode(), digest_size=4).hexdigest()
    return f"{ascii_part}-{digest}" if ascii_part else digest


@dataclass
class CityPlan:
    """A city too large for one task (step 1's answer): its first columns (``row``), the city as
    built (not renamed), its network on disk, the points to walk from and to, the network's size
    and the seconds spent so far. ``label``: the city's :attr:`CitySource.city_id` (names its tiles)."""

    label: str
    row: dict[str, Any]
    city: Any
    network: NetworkFile
    points: TilePoints
    n_nodes: int
    n_edges: int
    seconds: float


@dataclass
class CityWalks:
    """The engine pass of a city computed in tiles: nearest metres (communities × formats,
    ``inf`` = none) and counts within each threshold (metres). Called as
    :data:`lifecircle.indicators.access.Walks`; refuses inputs other than those it was computed for."""

    dist: NDArray[np.float64]
    counts: NDArray[np.int32]
    thresholds_m: list[float]
    n_tiles: int = 0

    def __call__(
        self,
        net: Any,
        sources: Snapped,
        category: NDArray[np.int64],
        n_cat: int,
        origins: Snapped,
        thresholds_m: list[float],
    ) -> tuple[NDArray[np.float64], NDArray[np.int32]]:
        if self.dist.shape != (len(origins), n_cat) or list(thresholds_m) != self.thresholds_m:
            raise RuntimeError("tiled walks: computed for other communities, formats or layers")
        return self.dist, self.counts


def city_task(src: CitySource, lang: str | None, tiling: Tiling | None) -> tuple[dict[str, Any], Any] | CityPlan:
    """Step 1 on a worker: the city's row and the city renamed to its batch identity
    (:attr:`CitySource.city_id`; None when it failed), or a :class:`CityPlan` when its network has
    more than ``tiling.above_nodes`` nodes."""
    use_worker_threads()
    t0 = time.perf_counter()
    row = base_row(src)
    with use_lang(lang):
        try:
            city, net, profile = source_city_network(src)
            if tiling is not None and net.n_nodes > tiling.above_nodes and len(city.communities):
                return _plan(src, city, net, profile, tiling, row, t0)
            ev, fair = city_evaluation(city, net, profile)
        except LifecircleError as exc:
            return failed_row(row, src, exc, t0), None
    row = evaluation_row(row, net, ev, t0, fair)
    row["tiles"] = 0
    return row, dataclasses.replace(city, name=src.city_id)


def network_folder(tiling: Tiling, label: str) -> Path:
    """The folder of a tiled city's network under ``tiling.folder``."""
    return tiling.folder / f"net-{task_name(label)}"


def _plan(src: CitySource, city: Any, net: Any, profile: Any, tiling: Tiling, row: dict, t0: float) -> CityPlan:
    """Write the network (an earlier attempt's files removed first) and place the points."""
    from lifecircle.indicators.access import access_inputs

    folder = network_folder(tiling, src.city_id)
    shutil.rmtree(folder, ignore_errors=True)
    nf = write_network(net, folder)
    inp = access_inputs(net, city.communities.reset_index(drop=True), city.outlets.reset_index(drop=True), profile)
    c, s = inp.communities, inp.sources
    pts = TilePoints(  # placed on the whole network: every tile uses these streets
        ox=c.x,
        oy=c.y,
        sx=s.x,
        sy=s.y,
        cat=inp.exploded.cat,
        n_cat=len(profile.codes),
        thresholds_m=inp.thresholds_m,
        snap_max_m=float(profile.walking.snap_max_m),
        o_snapped=c,
        s_snapped=s,
    )
    return CityPlan(src.city_id, row, city, nf, pts, net.n_nodes, net.n_edges, time.perf_counter() - t0)


def walk_city(client: Any, plan: CityPlan, tiling: Tiling, *, retries: int = 2) -> tuple[CityWalks, TiledRun]:
    """Step 2 on the client: the plan's tiles on the cluster (see :func:`tiled_walks`); raises
    :class:`lifecircle.scale.tiles.TileError` naming a tile that failed after ``retries``."""
    res, run = tiled_walks(
        plan.network,
        plan.points,
        client,
        tile_m=tiling.tile_m,
        retries=retries,
        name=task_name(plan.label),
        priority=TILE_PRIORITY,
    )
    return CityWalks(res.dist, res.counts, list(plan.points.thresholds_m), run.n_tiles), run


def finish_task(
    src: CitySource, lang: str | None, city: Any, walks: CityWalks, seconds: float
) -> tuple[dict[str, Any], Any]:
    """Step 3 on a worker: the city evaluated with the tiles' engine pass, and its F15 from its
    walking-time surface (one more nearest search over the whole network, see the module); its row
    (``seconds`` includes the earlier steps', ``tiles`` the number of tiles) and the city renamed
    to its batch identity (:attr:`CitySource.city_id`)."""
    from lifecircle.profile import load_profile
    from lifecircle.sources.network_loader import network_from_city

    use_worker_threads()
    t0 = time.perf_counter() - seconds
    row = base_row(src)
    with use_lang(lang):
        try:
            net = network_from_city(city)
            ev, fair = city_evaluation(city, net, load_profile(src.profile or city.profile), walks=walks)
        except LifecircleError as exc:
            return failed_row(row, src, exc, t0), None
    row = evaluation_row(row, net, ev, t0, fair)
    row["tiles"] = walks.n_tiles
    return row, dataclasses.replace(city, name=src.city_id)


def submit_key(label: str, step: str) -> str:
    """A unique Dask key naming the city and the step (``city``, ``finish``)."""
    return f"lifecircle-{task_name(label)}-{step}-{uuid.uuid4().hex[:12]}"
