"""The Dask layer (M17): partitioned accessibility equals the single-machine table bit for bit,
many cities evaluate in parallel with the same figures as one by one, and the CLI runs on a
cluster. One real LocalCluster (2 worker processes, loopback only) serves the whole module."""

from __future__ import annotations

import numpy as np
import pandas as pd
import psutil
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lifecircle.errors import ConfigError, InputError
from lifecircle.network.table import access_table
from lifecircle.profile import load_profile
from lifecircle.scale import CitySource, access_table_dask, demo_sources, evaluate_many, get_client
from lifecircle.scale.cluster import close_client
from lifecircle.scale.synthetic import grid_network, random_outlets, random_points

PROFILE = load_profile("yichang-2022")


@pytest.fixture(scope="module")
def client():
    c = get_client(n_workers=2, threads_per_worker=1, memory_limit="2GiB")
    yield c
    close_client(c)


@pytest.fixture(scope="module")
def helsinki(helsinki_pbf):
    from lifecircle.sources.osm import osm_outlets, read_osm_network

    return read_osm_network(helsinki_pbf), osm_outlets(helsinki_pbf, PROFILE)


@pytest.fixture(scope="module")
def grid():
    net = grid_network(40, 30, seed=3)
    return net, random_outlets(net, PROFILE, 400, seed=3)


def _same(a, b) -> None:
    pd.testing.assert_frame_equal(a.table, b.table, check_exact=True)
    pd.testing.assert_frame_equal(
        a.unsnapped_origins.reset_index(drop=True), b.unsnapped_origins.reset_index(drop=True)
    )
    pd.testing.assert_frame_equal(
        a.unsnapped_outlets.reset_index(drop=True), b.unsnapped_outlets.reset_index(drop=True)
    )


def test_local_cluster_has_two_processes_on_loopback_without_dashboard(client):
    info = client.scheduler_info()
    assert len(info["workers"]) == 2
    assert info["address"].startswith("tcp://127.0.0.1:")
    assert all(w.startswith("tcp://127.0.0.1:") for w in info["workers"])
    me = psutil.Process()
    listening = [
        c.laddr.ip
        for p in [me, *me.children(recursive=True)]
        for c in p.net_connections(kind="inet")
        if c.status == psutil.CONN_LISTEN
    ]
    assert len(listening) >= 3  # scheduler, and each worker (+ nanny)
    assert set(listening) == {"127.0.0.1"}


def test_helsinki_every_node_equals_single_machine(client, helsinki):
    net, outlets = helsinki
    single = access_table(net, None, outlets, PROFILE)
    dist = access_table_dask(net, None, outlets, PROFILE, client, chunk=1000)  # ~2,400 nodes: 3 chunks
    assert len(dist.table) == net.n_nodes * len(PROFILE.formats)
    assert dist.table["nearest_m"].notna().any() and (dist.table["n_15min"] > 0).any()
    _same(single, dist)


def test_helsinki_given_origins_with_unsnapped_equals_single_machine(client, helsinki):
    net, outlets = helsinki
    origins = random_points(net, 700, seed=5, margin_m=2000)  # some beyond the snap limit
    codes = ["convenience_store", "pharmacy", "supermarket"]
    single = access_table(net, origins, outlets, PROFILE, speed_kmh=4.0, formats=codes)
    seen = []
    dist = access_table_dask(
        net,
        origins,
        outlets,
        PROFILE,
        client,
        speed_kmh=4.0,
        formats=codes,
        chunk=97,
        on_progress=lambda d, n: seen.append((d, n)),
    )
    assert len(single.unsnapped_origins) > 0
    _same(single, dist)
    assert seen[-1][0] == seen[-1][1] and len(seen) == seen[-1][1]


def test_grid_equals_single_machine_with_outlets_off_the_streets(client, grid):
    net, outlets = grid
    far = random_points(net, 20, seed=9, prefix="far", margin_m=5000)
    far = far.assign(name="far", format="pharmacy")[outlets.columns]
    outs = pd.concat([outlets, far], ignore_index=True)
    single = access_table(net, None, outs, PROFILE)
    dist = access_table_dask(net, None, outs, PROFILE, client, chunk=333)
    _same(single, dist)


@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(chunk=st.integers(1, 400), n_origins=st.integers(0, 300))
def test_result_does_not_depend_on_the_chunk_size(client, grid, chunk, n_origins):
    net, outlets = grid
    origins = random_points(net, n_origins, seed=n_origins)
    single = access_table(net, origins, outlets, PROFILE, formats=["pharmacy", "breakfast"])
    dist = access_table_dask(net, origins, outlets, PROFILE, client, formats=["pharmacy", "breakfast"], chunk=chunk)
    _same(single, dist)


def test_chunk_below_one_is_a_config_error(client, grid):
    net, outlets = grid
    with pytest.raises(ConfigError):
        access_table_dask(net, None, outlets, PROFILE, client, chunk=0)


# ---------------------------------------------------------------------------- network kept on the workers
def test_second_call_with_the_same_network_does_not_send_it_again(client, grid, monkeypatch):
    from lifecircle.scale.access import distribute_network, payloads_received

    net, outlets = grid
    origins = random_points(net, 150, seed=11)
    fresh = grid_network(40, 30, seed=3)  # same content, another object: same key
    first = access_table_dask(net, origins, outlets, PROFILE, client, formats=["pharmacy"], chunk=40)
    handle = distribute_network(client, net)
    assert handle.key == distribute_network(client, fresh).key and handle.key.startswith("lifecircle-network-")
    received = client.run(payloads_received)
    scatters = []
    real = client.scatter
    monkeypatch.setattr(client, "scatter", lambda *a, **k: scatters.append(a) or real(*a, **k))
    again = access_table_dask(fresh, origins, outlets, PROFILE, client, formats=["pharmacy"], chunk=40)
    via_handle = access_table_dask(handle, origins, outlets, PROFILE, client, formats=["pharmacy"], chunk=40)
    assert scatters == []  # nothing scattered: the network was not sent again ...
    assert client.run(payloads_received) == received  # ... and no worker received (unpickled) one
    assert handle.key in client.who_has([handle.future])
    _same(first, again)
    _same(first, via_handle)


def test_a_different_network_is_sent_and_released_networks_are_sent_again(client, grid):
    from lifecircle.scale.access import distribute_network, payloads_received

    net, _ = grid
    other = grid_network(12, 10, seed=4)
    before = sum(client.run(payloads_received).values())
    h = distribute_network(client, other)
    assert h.key != distribute_network(client, net).key
    assert sum(client.run(payloads_received).values()) == before + 2 * 1  # broadcast: both workers, once
    h.release()
    h2 = distribute_network(client, other)
    assert h2.future.status == "finished" and sum(client.run(payloads_received).values()) == before + 4


# ---------------------------------------------------------------------------- streaming to a folder
def test_streamed_parts_equal_the_single_machine_table(client, helsinki, tmp_path):
    from lifecircle.scale import read_parts

    net, outlets = helsinki
    origins = random_points(net, 700, seed=5, margin_m=2000)
    codes = ["convenience_store", "pharmacy", "supermarket"]
    single = access_table(net, origins, outlets, PROFILE, formats=codes)
    out = tmp_path / "acc"
    res = access_table_dask(net, origins, outlets, PROFILE, client, formats=codes, chunk=97, out_dir=out)
    names = sorted(p.name for p in out.iterdir())
    assert names == ["_SUCCESS"] + [f"part-{k:05d}.parquet" for k in range(8)]
    assert res.parts == names[1:] and res.n_rows == len(single.table)
    got = pd.concat([pd.read_parquet(out / p) for p in res.parts], ignore_index=True)
    pd.testing.assert_frame_equal(got, single.table, check_exact=True)
    pd.testing.assert_frame_equal(read_parts(out), single.table, check_exact=True)
    pd.testing.assert_frame_equal(
        res.unsnapped_origins.reset_index(drop=True), single.unsnapped_origins.reset_index(drop=True)
    )
    pd.testing.assert_frame_equal(
        res.unsnapped_outlets.reset_index(drop=True), single.unsnapped_outlets.reset_index(drop=True)
    )
    per = single.table.groupby("format")["within_layer"].sum()
    assert dict(zip(res.per_format["format"], res.per_format["n_within_layer"], strict=True)) == per.to_dict()


def _fail_part_one():
    """Run on each worker: the part writer fails for part-00001 (a full disk, say)."""
    import lifecircle.scale.access as acc

    real = acc.__dict__.setdefault("_real_write_part", acc._write_part)

    def failing(table, path):
        if path.name == "part-00001.parquet":
            raise OSError("disk full (injected)")
        return real(table, path)

    acc._write_part = failing


def _restore_part_writer():
    import lifecircle.scale.access as acc

    acc._write_part = acc.__dict__.pop("_real_write_part", acc._write_part)


def test_a_failing_chunk_leaves_no_success_marker_and_no_parts(client, grid, tmp_path):
    from lifecircle.scale import read_parts

    net, outlets = grid
    origins = random_points(net, 600, seed=12)
    out = tmp_path / "acc"
    out.mkdir()
    (out / "part-00042.parquet").write_bytes(b"old")  # left over from an earlier run: cleared
    client.run(_fail_part_one)
    try:
        with pytest.raises(OSError, match="injected"):
            access_table_dask(net, origins, outlets, PROFILE, client, formats=["pharmacy"], chunk=50, out_dir=out)
    finally:
        client.run(_restore_part_writer)
    left = sorted(p.name for p in out.iterdir())
    assert "_SUCCESS" not in left and not [n for n in left if "part-" in n], left
    with pytest.raises(InputError, match="_SUCCESS"):
        read_parts(out)
    # the same folder then takes a good run
    res = access_table_dask(net, origins, outlets, PROFILE, client, formats=["pharmacy"], chunk=50, out_dir=out)
    pd.testing.assert_frame_equal(
        read_parts(out), access_table(net, origins, outlets, PROFILE, formats=["pharmacy"]).table, check_exact=True
    )
    assert len(res.parts) == 12 and not (out / "_ABORTED").exists()


def test_out_dir_with_other_files_is_refused_untouched(client, grid, tmp_path):
    net, outlets = grid
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(InputError, match="notes.txt"):
        access_table_dask(net, None, outlets, PROFILE, client, out_dir=tmp_path)
    assert (tmp_path / "notes.txt").read_text() == "mine"


def test_evaluate_many_matches_one_by_one_and_is_labelled_synthetic(client):
    from lifecircle.city.demo import build_demo_city
    from lifecircle.indicators.evaluate import evaluate_city
    from lifecircle.indicators.fairness import city_f15
    from lifecircle.indicators.surface import build_surface
    from lifecircle.sources.network_loader import network_from_city

    sources = demo_sources(3, scale=0.1)  # seeds 1-3 at scales 0.1, 0.15, 0.2: F15 0, then strictly inside 0..1
    df = evaluate_many(sources, client)
    assert list(df["seed"]) == [1, 2, 3]
    assert len(set(df["scale"])) == 3 and len(set(df["n_nodes"])) == 3
    assert df["synthetic"].all() and (df["source"] == "synthetic").all()
    assert all("合成" in lab for lab in df["label"])
    assert (df["error"] == "").all()
    for s, row in zip(sources, df.to_dict("records"), strict=True):
        city = build_demo_city(seed=s.seed, scale=s.scale)
        net = network_from_city(city)
        ev = evaluate_city(city, net, PROFILE)
        for k in ("population", "n_communities", "n_circles", "basic_coverage", "basic_format_coverage", "chain_share"):
            assert row[k] == pytest.approx(ev.city[k], nan_ok=True), k
        surface = build_surface(city, net, PROFILE)  # F15 of the row: the city's own surface's
        assert row["f15"] == city_f15(surface) and row["f15_elderly"] == city_f15(surface, elderly=True)
    # not only the trivial 0: some city has residents both within and beyond 15 minutes, old ones too
    assert (df["f15"] == 0).any() and df["f15"].between(0, 1, inclusive="neither").any()
    assert df["f15_elderly"].between(0, 1, inclusive="neither").any()


def test_evaluate_many_reports_a_bad_city_without_stopping_the_others(client, tmp_path):
    sources = [*demo_sources(1, scale=0.02), CitySource("store", store=str(tmp_path / "missing.db"), name="宜昌")]
    df = evaluate_many(sources, client)
    assert df.loc[0, "error"] == "" and df.loc[0, "population"] > 0
    assert "missing.db" in df.loc[1, "error"]


def test_unreachable_scheduler_is_a_config_error():
    with pytest.raises(ConfigError, match="127.0.0.1:9"):
        get_client("tcp://127.0.0.1:9", timeout="2s")


def test_scheduler_comes_from_the_environment(client, monkeypatch):
    monkeypatch.setenv("LIFECIRCLE_DASK_SCHEDULER", client.scheduler.address)
    c2 = get_client()
    try:
        assert c2.scheduler.address == client.scheduler.address
    finally:
        close_client(c2)
    assert client.status == "running"  # closing the second client left the cluster up


# ---------------------------------------------------------------------------- CLI
def test_cli_scale_access_writes_the_single_machine_table(cli, client, helsinki, helsinki_pbf, tmp_path):
    net, outlets = helsinki
    out = tmp_path / "acc.parquet"
    code, stdout, stderr = cli(
        "scale",
        "access",
        "--osm",
        helsinki_pbf,
        "--out",
        out,
        "--scheduler",
        client.scheduler.address,
        "--chunk",
        "2500",
        "--formats",
        "pharmacy,supermarket",
    )
    assert code == 0, stderr
    got = pd.read_parquet(out)
    want = access_table(net, None, outlets, PROFILE, formats=["pharmacy", "supermarket"]).table
    pd.testing.assert_frame_equal(got, want, check_exact=True)
    assert "已写出" in stdout


def test_cli_scale_access_to_a_folder_streams_parts(cli, client, helsinki, helsinki_pbf, tmp_path):
    from lifecircle.scale import read_parts

    net, outlets = helsinki
    out = tmp_path / "acc"
    # the simplified Helsinki network has ~2,400 nodes (junctions and dead ends): 1,000 a chunk
    # gives three parts
    assert net.n_nodes > 2000
    code, stdout, stderr = cli(
        "scale",
        "access",
        "--osm",
        helsinki_pbf,
        "--out",
        f"{out}/",
        "--scheduler",
        client.scheduler.address,
        "--chunk",
        "1000",
        "--formats",
        "pharmacy,supermarket",
    )
    assert code == 0, stderr
    assert (out / "_SUCCESS").exists() and (out / "part-00002.parquet").exists()
    want = access_table(net, None, outlets, PROFILE, formats=["pharmacy", "supermarket"]).table
    pd.testing.assert_frame_equal(read_parts(out), want, check_exact=True)
    assert "已写出" in stdout and "_SUCCESS" in stdout


def test_cli_scale_cities_writes_one_row_per_demo_city(cli, client, tmp_path):
    out = tmp_path / "cities.csv"
    code, stdout, stderr = cli(
        "scale", "cities", "--demo", "2", "--demo-scale", "0.02", "--out", out, "--scheduler", client.scheduler.address
    )
    assert code == 0, stderr
    df = pd.read_csv(out)
    assert len(df) == 2 and df["synthetic"].all()
    assert "合成数据" in stdout
    assert np.isfinite(df["basic_format_coverage"]).all()
    assert df["f15"].between(0, 1).all() and df["f15_elderly"].between(0, 1).all()


@pytest.mark.parametrize(
    "args, needle",
    [
        (["scale", "access", "--osm", "nope.pbf", "--out", "x.txt"], "x.txt"),
        (["scale", "cities", "--demo", "0", "--out", "c.csv"], "--demo"),
        (["scale", "cities", "--out", "c.csv"], "--demo"),
        # checked before any city runs: 0 failed every city, NaN ran the largest ones (scale 4)
        (["scale", "cities", "--demo", "2", "--demo-scale", "0", "--out", "c.csv"], "--demo-scale"),
        (["scale", "cities", "--demo", "2", "--demo-scale", "nan", "--out", "c.csv"], "--demo-scale"),
        (["scale", "cities", "--demo", "2", "--out", "c.csv", "--workers", "0"], "--workers"),
    ],
)
def test_cli_scale_user_errors_are_one_line(cli, tmp_path, monkeypatch, args, needle):
    monkeypatch.chdir(tmp_path)
    code, _, stderr = cli(*args)
    assert code == 2
    assert needle in stderr and "Traceback" not in stderr
    assert len(stderr.strip().splitlines()) <= 2


def test_cli_scale_cities_from_a_store(cli, client, tmp_path):
    from lifecircle.city.demo import build_demo_city
    from lifecircle.city.store import save_city

    db = tmp_path / "store.db"
    save_city(build_demo_city(seed=7, scale=0.02), db)
    out = tmp_path / "cities.parquet"
    code, _, stderr = cli(
        "--lang", "en", "scale", "cities", "--db", db, "--out", out, "--scheduler", client.scheduler.address
    )
    assert code == 0, stderr
    df = pd.read_parquet(out)
    assert len(df) == 1 and df.loc[0, "kind"] == "store" and df.loc[0, "error"] == ""
    assert df.loc[0, "synthetic"] and df.loc[0, "population"] > 0
