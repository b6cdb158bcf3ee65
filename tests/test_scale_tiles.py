"""Tiles with buffers on Dask (issue 13 part 3): each tile task reads only its buffered part of the
network from parquet, and the tiled table equals the single-machine one exactly — on a generated
grid and on the Helsinki extract, with tiles far smaller than a walk — also when a worker process
is killed in the middle of the run. One LocalCluster (2 worker processes, loopback) per module."""

from __future__ import annotations

import dataclasses
import os
import signal

import numpy as np
import pandas as pd
import pytest

from lifecircle.errors import ConfigError
from lifecircle.network.engine import metres
from lifecircle.network.table import access_table
from lifecircle.profile import load_profile
from lifecircle.scale import get_client
from lifecircle.scale.cluster import close_client
from lifecircle.scale.synthetic import grid_network, random_outlets, random_points
from lifecircle.scale.tiles import access_table_tiles, read_network_box, write_network

PROFILE = load_profile("yichang-2022")
# a short snap limit and a slow walk (15 min = 500 m) keep the buffers small against the grid
SMALL = dataclasses.replace(PROFILE, walking=dataclasses.replace(PROFILE.walking, snap_max_m=100.0))
SPEED = 2.0


@pytest.fixture(scope="module")
def client():
    c = get_client(n_workers=2, threads_per_worker=1, memory_limit="2GiB")
    yield c
    close_client(c)


@pytest.fixture(scope="module")
def grid(tmp_path_factory):
    net = grid_network(50, 40, seed=5)  # about 4.5 × 3.6 km
    nf = write_network(net, tmp_path_factory.mktemp("grid-net"))
    return net, nf, random_outlets(net, SMALL, 1500, seed=5), random_points(net, 1500, seed=6, margin_m=150)


def _same(a, b) -> None:
    pd.testing.assert_frame_equal(a.table, b.table, check_exact=True)
    for x, y in ((a.unsnapped_origins, b.unsnapped_origins), (a.unsnapped_outlets, b.unsnapped_outlets)):
        pd.testing.assert_frame_equal(x.reset_index(drop=True), y.reset_index(drop=True), check_exact=True)


def test_a_box_reads_only_its_edges_with_the_same_geometry(grid):
    net, nf, _, _ = grid
    x0, y0 = net.node_x.min(), net.node_y.min()
    part, gedge = read_network_box(nf, (x0, y0, x0 + 500, y0 + 500))
    assert 0 < part.n_edges < net.n_edges / 10
    assert np.array_equal(part.edge_len, net.edge_len[gedge])
    assert all(a.equals_exact(b, 0) for a, b in zip(part.edge_geom, net.edge_geom[gedge], strict=True))


def test_grid_tiles_equal_single_machine_given_origins(client, grid):
    net, nf, outlets, origins = grid
    single = access_table(net, origins, outlets, SMALL, speed_kmh=SPEED)
    tiled, run = access_table_tiles(nf, origins, outlets, SMALL, client, tile_m=450, speed_kmh=SPEED, net=net)
    assert metres(15, SPEED) > 450  # every tile is narrower than a 15-minute walk
    assert run.n_tiles >= 30
    assert run.max_edges_read[0] < net.n_edges * 0.6  # a first-round tile reads only its part
    assert len(single.unsnapped_origins) > 0  # origins in the margin are off the streets in both
    _same(single, tiled)
    assert tiled.table["origin_id"].is_unique is False  # one row per format
    assert (tiled.table.groupby("origin_id").size() == len(SMALL.formats)).all()


def test_grid_tiles_equal_single_machine_for_every_node(client, grid):
    net, nf, outlets, _ = grid
    single = access_table(net, None, outlets, SMALL, speed_kmh=SPEED)
    tiled, _ = access_table_tiles(nf, None, outlets, SMALL, client, tile_m=450, speed_kmh=SPEED, net=net)
    _same(single, tiled)


def test_helsinki_tiles_equal_single_machine(client, helsinki_pbf, tmp_path):
    from lifecircle.sources.osm import osm_outlets, read_osm_network

    net = read_osm_network(helsinki_pbf)
    outlets = osm_outlets(helsinki_pbf, PROFILE)
    nf = write_network(net, tmp_path / "hel")
    single = access_table(net, None, outlets, PROFILE)
    tiled, run = access_table_tiles(nf, None, outlets, PROFILE, client, tile_m=250, net=net)
    assert run.n_tiles >= 10 and metres(15, PROFILE.walking.speed_kmh) > 250
    assert single.table["nearest_m"].notna().any() and (single.table["n_15min"] > 0).any()
    _same(single, tiled)


def test_without_the_whole_network_tasks_snap_on_their_part(client, grid):
    """From the parquet alone (no process holds the whole network) every count is exact and a
    distance differs at most in its last bits (a point at a junction may take another of the
    equally near streets there)."""
    net, nf, outlets, origins = grid
    single = access_table(net, origins, outlets, SMALL, speed_kmh=SPEED)
    tiled, _ = access_table_tiles(nf, origins, outlets, SMALL, client, tile_m=900, speed_kmh=SPEED)
    a, b = single.table, tiled.table
    pd.testing.assert_frame_equal(
        a.drop(columns=["nearest_m", "nearest_min"]), b.drop(columns=["nearest_m", "nearest_min"])
    )
    np.testing.assert_allclose(a["nearest_m"], b["nearest_m"], rtol=1e-12, atol=1e-9)


def test_tile_size_must_be_positive(client, grid):
    _, nf, outlets, origins = grid
    with pytest.raises(ConfigError):
        access_table_tiles(nf, origins, outlets, SMALL, client, tile_m=0)


def test_a_worker_killed_mid_run_loses_and_duplicates_nothing(grid):
    net, nf, outlets, origins = grid
    origins = origins.iloc[:600]
    single = access_table(net, origins, outlets, SMALL, speed_kmh=SPEED)
    c = get_client(n_workers=2, threads_per_worker=1, memory_limit="2GiB")
    try:
        pids = c.run(os.getpid)
        killed: list[int] = []

        def kill_one(done: int, total: int) -> None:
            if not killed and done >= 2 and done < total - 4:
                victim = next(iter(pids.values()))
                os.kill(victim, signal.SIGKILL)  # a worker process this test's cluster started
                killed.append(victim)

        tiled, run = access_table_tiles(
            nf, origins, outlets, SMALL, c, tile_m=400, speed_kmh=SPEED, retries=3, on_progress=kill_one, net=net
        )
        assert killed, "the worker was not killed while tasks were running"
        assert run.rounds[0] == run.n_tiles
    finally:
        close_client(c)
    ids = tiled.table["origin_id"]
    assert set(ids) | set(tiled.unsnapped_origins["id"]) == set(origins["id"])
    assert (ids.value_counts() == len(SMALL.formats)).all()  # each origin once (one row per format)
    _same(single, tiled)


def test_cli_scale_access_in_tiles_writes_the_single_machine_table(cli, client, helsinki_pbf, tmp_path):
    from lifecircle.sources.osm import osm_outlets, read_osm_network

    out = tmp_path / "acc.parquet"
    args = ["--osm", helsinki_pbf, "--out", out, "--scheduler", client.scheduler.address, "--tile-m", "400"]
    code, stdout, stderr = cli("--lang", "en", "scale", "access", *args, "--formats", "pharmacy,supermarket")
    assert code == 0, stderr
    net = read_osm_network(helsinki_pbf)
    want = access_table(net, None, osm_outlets(helsinki_pbf, PROFILE), PROFILE, formats=["pharmacy", "supermarket"])
    pd.testing.assert_frame_equal(pd.read_parquet(out), want.table, check_exact=True)
    assert "tiles" in stdout


def test_cli_tile_size_must_be_positive_and_out_a_file(cli, tmp_path, helsinki_pbf):
    code, _, stderr = cli("scale", "access", "--osm", helsinki_pbf, "--out", tmp_path / "a.csv", "--tile-m", "-5")
    assert code == 2 and "--tile-m" in stderr and len(stderr.strip().splitlines()) <= 2
