"""End-to-end tests of `lifecircle access` and `lifecircle isochrone` on the real Helsinki extract,
including every kind of bad input the issue names."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest

from lifecircle.sources.osm import read_osm_network

# points inside the Helsinki extract (WGS-84)
INSIDE = [(24.9440, 60.1700), (24.9480, 60.1720), (24.9400, 60.1680)]


@pytest.fixture(scope="module")
def origins_csv(tmp_path_factory) -> Path:
    p = tmp_path_factory.mktemp("o") / "origins.csv"
    pd.DataFrame({"id": ["a", "b", "c"], "lon": [x for x, _ in INSIDE], "lat": [y for _, y in INSIDE]}).to_csv(
        p, index=False
    )
    return p


def test_access_writes_long_table(cli, helsinki_pbf, origins_csv, tmp_path):
    out = tmp_path / "acc.parquet"
    code, stdout, _ = cli("access", "--osm", helsinki_pbf, "--origins", origins_csv, "--out", out)
    assert code == 0, stdout
    df = pd.read_parquet(out)
    for col in ("origin_id", "lon", "lat", "format", "nearest_m", "n_15min", "n_5min", "n_10min"):
        assert col in df.columns
    assert set(df["origin_id"]) == {"a", "b", "c"}
    assert len(df) == 3 * df["format"].nunique()
    # Helsinki's centre has cafés; a format absent from the extract is empty, not a number
    cafe = df[df.format == "tea_cafe"]
    assert cafe["nearest_m"].notna().all() and (cafe["n_15min"] > 0).all()
    none = df[df.format == "forward_warehouse"]
    assert none["nearest_m"].isna().all() and (none["n_15min"] == 0).all()
    # counts grow with the layer
    assert (df["n_5min"] <= df["n_10min"]).all() and (df["n_10min"] <= df["n_15min"]).all()
    assert "已写出" in stdout


def test_access_every_node_and_formats_and_speed(cli, helsinki_pbf, tmp_path):
    out = tmp_path / "acc.csv"
    code, _, stderr = cli(
        "access", "--osm", helsinki_pbf, "--formats", "pharmacy,tea_cafe", "--speed", "3", "--out", out
    )
    assert code == 0
    df = pd.read_csv(out, encoding="utf-8-sig")
    from lifecircle.network.islands import drop_small_pieces

    net, dropped = drop_small_pieces(read_osm_network(helsinki_pbf), 200.0)  # the profile's min_piece_m
    assert len(df) == 2 * net.n_nodes and len(dropped) > 0  # every node of the pieces kept, none of the dropped
    assert f"{len(dropped)} 个不足 200 米的孤立路段已剔除" in stderr
    assert set(df["format"]) == {"pharmacy", "tea_cafe"}
    ok = df["nearest_m"].notna()
    np.testing.assert_allclose(df.loc[ok, "nearest_min"], df.loc[ok, "nearest_m"] / (3000 / 60))


def test_access_gpkg_output(cli, helsinki_pbf, origins_csv, tmp_path):
    out = tmp_path / "acc.gpkg"
    code, _, _ = cli("access", "--osm", helsinki_pbf, "--origins", origins_csv, "--formats", "pharmacy", "--out", out)
    assert code == 0
    g = gpd.read_file(out)
    assert len(g) == 3 and g.crs.to_epsg() == 4326


def test_gcj02_origins_are_converted(cli, helsinki_pbf, tmp_path):
    # outside China GCJ-02 equals WGS-84, so results match; inside China it would shift ~500 m
    p = tmp_path / "o.csv"
    pd.DataFrame({"id": ["a"], "lon": [INSIDE[0][0]], "lat": [INSIDE[0][1]]}).to_csv(p, index=False)
    a, b = tmp_path / "a.csv", tmp_path / "b.csv"
    assert cli("access", "--osm", helsinki_pbf, "--origins", p, "--crs", "wgs84", "--out", a)[0] == 0
    assert cli("access", "--osm", helsinki_pbf, "--origins", p, "--crs", "gcj02", "--out", b)[0] == 0
    pd.testing.assert_frame_equal(pd.read_csv(a), pd.read_csv(b))


def _bad(cli, *args):
    code, stdout, stderr = cli(*args)
    assert code != 0
    text = stdout + stderr
    assert "Traceback" not in text
    return text


@pytest.mark.parametrize("case", ["missing", "not_pbf", "wrong_ext"])
def test_bad_network_file(cli, tmp_path, case):
    out = tmp_path / "x.parquet"
    if case == "missing":
        f = tmp_path / "nope.osm.pbf"
        expect = "不存在"
    elif case == "not_pbf":
        f = tmp_path / "fake.osm.pbf"
        f.write_text("this is not a pbf")
        expect = "不是 OSM PBF"
    else:
        f = tmp_path / "city.txt"
        f.write_text("x")
        expect = "不支持的文件类型"
    text = _bad(cli, "access", "--osm", f, "--out", out)
    assert expect in text and str(f.name) in text
    assert not out.exists()


def test_csv_without_lonlat(cli, helsinki_pbf, tmp_path):
    p = tmp_path / "o.csv"
    p.write_text("id,x_coord,y_coord\n1,24.94,60.17\n")
    out = tmp_path / "x.parquet"
    text = _bad(cli, "access", "--osm", helsinki_pbf, "--origins", p, "--out", out)
    assert "o.csv" in text and "lon" in text
    assert not out.exists()


def test_swapped_lat_lon_named_by_row(cli, helsinki_pbf, tmp_path):
    p = tmp_path / "o.csv"
    pd.DataFrame({"id": ["a", "b"], "lon": [24.944, 60.172], "lat": [60.170, 24.948]}).to_csv(p, index=False)
    out = tmp_path / "x.parquet"
    text = _bad(cli, "access", "--osm", helsinki_pbf, "--origins", p, "--out", out)
    assert "第3行" in text and "写反" in text
    assert not out.exists()


def test_swapped_beyond_90_named(cli, helsinki_pbf, tmp_path):
    p = tmp_path / "o.csv"
    pd.DataFrame({"id": ["a"], "lon": [30.7], "lat": [111.3]}).to_csv(p, index=False)
    text = _bad(cli, "access", "--osm", helsinki_pbf, "--origins", p, "--out", tmp_path / "x.csv")
    assert "第2行" in text and "写反" in text


def test_points_outside_extent(cli, helsinki_pbf, tmp_path):
    p = tmp_path / "o.csv"
    pd.DataFrame({"id": ["yc"], "lon": [111.29], "lat": [30.70]}).to_csv(p, index=False)
    out = tmp_path / "x.parquet"
    text = _bad(cli, "access", "--osm", helsinki_pbf, "--origins", p, "--out", out)
    assert "路网范围" in text and "第2行" in text
    assert not out.exists()


def test_unknown_profile_and_format(cli, helsinki_pbf, tmp_path):
    text = _bad(cli, "access", "--osm", helsinki_pbf, "--profile", "atlantis", "--out", tmp_path / "x.csv")
    assert "atlantis" in text and "yichang-2022" in text
    text = _bad(cli, "access", "--osm", helsinki_pbf, "--formats", "pharmacy,spaceport", "--out", tmp_path / "x.csv")
    assert "spaceport" in text and "pharmacy" in text


def test_empty_area(cli, tmp_path):
    # a real street file with no lines in it
    p = tmp_path / "empty.geojson"
    gpd.GeoDataFrame({"name": ["p"]}, geometry=gpd.points_from_xy([24.9], [60.1]), crs=4326).to_file(p)
    text = _bad(cli, "isochrone", "--streets", p, "--lon", "24.9", "--lat", "60.1", "--out", tmp_path / "i.geojson")
    assert "没有线要素" in text


def test_english_messages(cli, helsinki_pbf, tmp_path):
    text = _bad(cli, "--lang", "en", "access", "--osm", tmp_path / "nope.osm.pbf", "--out", tmp_path / "x.csv")
    assert "file not found" in text


def test_isochrone_nested(cli, helsinki_pbf, tmp_path):
    out = tmp_path / "iso.geojson"
    code, stdout, _ = cli(
        "isochrone",
        "--osm",
        helsinki_pbf,
        "--lon",
        INSIDE[0][0],
        "--lat",
        INSIDE[0][1],
        "--minutes",
        "5,10,15",
        "--out",
        out,
    )
    assert code == 0, stdout
    g = gpd.read_file(out).sort_values("minutes")
    assert list(g["minutes"]) == [5, 10, 15]
    areas = g.to_crs(32635).area.to_numpy()
    assert areas[0] < areas[1] < areas[2]
    assert g.geometry.iloc[2].buffer(1e-6).contains(g.geometry.iloc[0])


def test_real_subprocess_one_line_error(tmp_path):
    """The installed console script prints one line and exits non-zero on a user mistake."""
    exe = Path(sys.executable).parent / "lifecircle"
    r = subprocess.run(
        [str(exe), "access", "--osm", str(tmp_path / "none.osm.pbf"), "--out", str(tmp_path / "o.csv")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert r.returncode == 2
    lines = [ln for ln in r.stderr.strip().splitlines() if ln.strip()]
    assert len(lines) == 1 and "none.osm.pbf" in lines[0]
    assert "Traceback" not in r.stderr
