"""``lifecircle surface``: the surface file, fairness printed, errors in one line, scenario compare."""

from __future__ import annotations

import geopandas as gpd
import pandas as pd
import pyogrio
import pytest

from lifecircle.city.demo import build_demo_city
from lifecircle.plans.scenarios import Scenario, make_outlets, save_scenario

SCALE = "0.05"


@pytest.fixture(scope="module")
def demo_city():
    """The demo city the commands build (scale SCALE, default seed), built once for the module."""
    return build_demo_city(2022, float(SCALE))


def _add_market(c, folder) -> None:
    """Save the scenario 加菜场: a wet market at the last community of ``c`` (synthetic)."""
    far = c.communities.iloc[-1]
    add = make_outlets(
        [{"id": "new-1", "name": "新菜场", "formats": "wet_market", "lon": far["lon"], "lat": far["lat"]}]
    )
    save_scenario(Scenario("加菜场", added_outlets=add, city=c.name, city_provenance=c.provenance), folder)


def test_surface_on_the_demo_city(cli, tmp_path):
    code, stdout, _ = cli("surface", "--demo", "--scale", SCALE, "--out", tmp_path / "s.gpkg")
    assert code == 0, stdout
    assert "F15" in stdout and "Gini" in stdout and "合成数据" in stdout
    assert {name for name, _ in pyogrio.list_layers(tmp_path / "s.gpkg")} == {"surface", "blind_spots"}
    g = gpd.read_file(tmp_path / "s.gpkg", layer="surface")
    assert g.crs.to_epsg() == 4326 and "min_wet_market" in g and g["population"].sum() > 0


def test_formats_resolution_and_parquet(cli, tmp_path):
    code, stdout, _ = cli(
        "surface",
        "--demo",
        "--scale",
        SCALE,
        "--formats",
        "wet_market",
        "--resolution",
        "8",
        "--out",
        tmp_path / "s.parquet",
    )
    assert code == 0, stdout
    g = gpd.read_parquet(tmp_path / "s.parquet")
    assert [c for c in g.columns if c.startswith("min_")] == ["min_wet_market", "min_elderly_wet_market"]


def test_k_th_nearest_on_the_demo_city(cli, tmp_path):
    code, stdout, _ = cli(
        "surface", "--demo", "--scale", SCALE, "--k", "2", "--formats", "wet_market", "--out", tmp_path / "s.parquet"
    )
    assert code == 0, stdout
    assert "k2_min_" in stdout
    g = gpd.read_parquet(tmp_path / "s.parquet")
    assert {"min_wet_market", "k2_min_wet_market", "k2_min_elderly_wet_market"} <= set(g.columns)
    both = g["k2_min_wet_market"].notna()
    assert both.any() and (g.loc[both, "k2_min_wet_market"] >= g.loc[both, "min_wet_market"]).all()


def test_population_grid(cli, tmp_path, demo_city):
    c = demo_city
    grid = c.communities[["lon", "lat", "population"]].head(5)
    grid.to_csv(tmp_path / "pop.csv", index=False)
    code, stdout, _ = cli(
        "surface", "--demo", "--scale", SCALE, "--population", tmp_path / "pop.csv", "--out", tmp_path / "s.gpkg"
    )
    assert code == 0, stdout
    assert gpd.read_file(tmp_path / "s.gpkg", layer="surface")["population"].sum() == grid["population"].sum()


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["--formats", "nope"], "nope"),
        (["--k", "11"], "--k 11"),
        (["--population", "missing.csv"], "missing.csv"),
        (["--against", "x"], "--compare"),
        (["--resolution", "16"], "--resolution 16"),
    ],
)
def test_one_line_errors(cli, tmp_path, args, words):
    code, _, stderr = cli("surface", "--demo", "--scale", SCALE, *args, "--out", tmp_path / "s.gpkg")
    assert code == 2
    assert words in stderr and len(stderr.strip().splitlines()) == 1
    assert not (tmp_path / "s.gpkg").exists()


def test_bad_population_field_is_named(cli, tmp_path):
    pd.DataFrame({"lon": [111.3], "lat": [30.7], "population": ["many"]}).to_csv(tmp_path / "pop.csv", index=False)
    code, _, stderr = cli(
        "surface", "--demo", "--scale", SCALE, "--population", tmp_path / "pop.csv", "--out", tmp_path / "s.gpkg"
    )
    assert code == 2 and "pop.csv" in stderr and "population" in stderr and "2" in stderr


def test_compare_a_scenario_gain_loss_and_histograms(cli, tmp_path, demo_city):
    _add_market(demo_city, tmp_path)
    code, stdout, _ = cli(
        "surface", "--demo", "--scale", SCALE, "--compare", "加菜场", "--dir", tmp_path, "--out", tmp_path / "g.gpkg"
    )
    assert code == 0, stdout
    g = gpd.read_file(tmp_path / "g.gpkg", layer="gain_loss")
    assert (g["gain_wet_market"].fillna(0) >= 0).all() and (g["gain_wet_market"] > 0).any()
    h = pd.read_csv(tmp_path / "g_histogram.csv")
    wm = h[h["format"] == "wet_market"]
    assert wm["before"].sum() == pytest.approx(wm["after"].sum())
    assert wm["after"].iloc[0] >= wm["before"].iloc[0]
    assert "步行时间变化（分钟）：菜市场" in (tmp_path / "g.html").read_text(encoding="utf-8")  # the name, not the code
    _gain_page_in_chromium(tmp_path / "g.html", tmp_path, len(g))


def _gain_page_in_chromium(page, tmp_path, n_cells: int) -> None:
    """The comparison page rendered in headless chromium: a coloured polygon per hexagon, a gain."""
    import os
    import re
    import shutil
    import subprocess

    exe = shutil.which("chromium") or shutil.which("chromium-browser")
    if exe is None:
        pytest.fail("chromium is not installed: run .ci/install-system-packages (Debian package 'chromium')")
    dom = subprocess.run(
        [exe, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", f"--user-data-dir={tmp_path / 'p'}"]
        + ["--dump-dom", page.as_uri()],
        capture_output=True,
        text=True,
        timeout=180,
        env={**os.environ, "HOME": str(tmp_path)},
    ).stdout
    fills = re.findall(r'<polygon class="gain" points="[^"]+" fill="(#[0-9a-f]{6})"', dom)
    assert len(fills) == n_cells
    assert {"#d1e5f0", "#67a9cf", "#2166ac"} & set(fills)  # some hexagon gains
    assert not {"#b2182b", "#ef8a62"} & set(fills)  # an added outlet makes nothing worse
    assert len(re.findall(r'<rect class="bar (before|after)"', dom)) > 0


def test_demo_with_surface_and_compare_adds_the_layer_section_and_sheets(cli, tmp_path, demo_city):
    import openpyxl

    _add_market(demo_city, tmp_path / "scn")
    args = ("--surface", "--compare", "加菜场", "--dir", tmp_path / "scn")
    code, stdout, _ = cli("demo", "--scale", SCALE, "--out", tmp_path / "out", *args)
    assert code == 0, stdout
    html = (tmp_path / "out" / "dashboard.html").read_text(encoding="utf-8")
    assert 'class="hex"' in html and 'id="fairness"' in html
    assert 'id="compare"' in html and "情景对比：基准 → 加菜场" in html and 'id="gain-map"' in html
    sheets = openpyxl.load_workbook(tmp_path / "out" / "evaluation.xlsx", read_only=True).sheetnames
    assert "可达公平性" in sheets and "情景对比" in sheets


def test_a_missing_scenario_is_named_with_those_there(cli, tmp_path, demo_city):
    _add_market(demo_city, tmp_path / "scn")
    code, _, stderr = cli(
        "demo", "--scale", SCALE, "--out", tmp_path / "out", "--compare", "西陵方案", "--dir", tmp_path / "scn"
    )
    assert code == 2 and len(stderr.strip().splitlines()) == 1
    assert "找不到情景 西陵方案" in stderr and "现有情景：加菜场" in stderr
    assert not (tmp_path / "out").exists()  # refused before the city is built


def test_surface_of_a_stored_city(cli, tmp_path, demo_city):
    from lifecircle.city.store import save_city

    c = demo_city
    save_city(c, tmp_path / "city.db")
    code, stdout, _ = cli("surface", "--db", tmp_path / "city.db", "--city", c.name, "--out", tmp_path / "s.parquet")
    assert code == 0, stdout
    assert gpd.read_parquet(tmp_path / "s.parquet")["population"].sum() == c.communities["population"].sum()
    code, _, stderr = cli("surface", "--db", tmp_path / "city.db", "--city", "nowhere", "--out", tmp_path / "t.parquet")
    assert code == 2 and "nowhere" in stderr and not (tmp_path / "t.parquet").exists()
