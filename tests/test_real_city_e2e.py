"""End to end on a city imported from its own files (issue 8): every command runs on it, and the
figures are checked by hand.

The city is the shipped sample ``examples/mini-city/`` (SYNTHETIC, made by
``scripts/make_mini_city.py``), in metres (UTM 49N around X0, Y0, near Yichang), written as a bureau would hand it over:
street lines as GeoJSON with Chinese headers and digitising defects, two Amap exports in GCJ-02,
communities as Excel with Chinese headers, districts as GeoJSON, circles, sites, centres and
surveys as CSV::

    y=600                 B (side street, ends 0.4 m short of A: a T to be noded)
    y=300      s1 ·       |                 ┃ D bridge x=1500, y -300..300, layer 1, crosses A
    y=250                 |      E (80 m stub, x 1000..1080: dropped)   ┃ C4 (1520, 280) on the bridge
    y=20   C1             |C2 (520,500)                 ┃         C3 (1800, 30)
    y=0   ─A1─────────────┴─────────────────── ·0.5 m gap· ─A2──╂──────────────
    x:     0   200 300    500        1000     1200            1500   1700 1800 1900 2000
    outlets: a1 convenience (300,10), a2 supermarket (1000,10)  [export 1]
             b1 pharmacy (1700,15),   b2 convenience (1900,10)  [export 2]

By hand (the walk to and from the street counts; 4 km/h, 5 min = 333 m):
  C1 → convenience: 20 + 100 + 10 = 130 m;  C1 → supermarket: 20 + 800 + 10 = 830 m
  C2 → convenience: 20 + 500 (down B) + 200 + 10 = 730 m (only because B's end is joined to A)
  C3 → convenience: 30 + 100 + 10 = 140 m;  C3 → supermarket: 30 + 800 + 10 = 840 m (across the gap)
  C4 sits on the bridge, which meets nothing: it is on an island and is named, not silently uncovered.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import geopandas as gpd
import numpy as np
import openpyxl
import pandas as pd
import pytest
from pyproj import CRS, Transformer

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "mini-city"
CITY = "mini"
X0, Y0 = 520_000.0, 3_390_000.0
_to_wgs = Transformer.from_crs(CRS.from_epsg(32649), 4326, always_xy=True)


def ll(x: float, y: float) -> tuple[float, float]:
    lon, lat = _to_wgs.transform(X0 + x, Y0 + y)
    return float(lon), float(lat)


FILES = {
    "streets": "streets.geojson",
    "amap1": "amap_export_1.csv",
    "amap2": "amap_export_2.csv",
    "communities": "communities.xlsx",
    "districts": "districts.geojson",
    "circles": "circles.csv",
    "candidate_sites": "candidate_sites.csv",
    "centre_candidates": "centres.csv",
    "surveys": "surveys.csv",
    "plan": "plan-mini.toml",
}


@pytest.fixture(scope="module")
def imported(tmp_path_factory, cli_module):
    """The city imported into a fresh store, file by file, as the README's worked example does."""
    d = tmp_path_factory.mktemp("mini")
    shutil.copytree(EXAMPLE, d / "files")
    files = {k: d / "files" / v for k, v in FILES.items()}
    db = d / "city.db"
    log = {}
    for kind in ("streets", "districts", "communities", "circles", "candidate_sites", "centre_candidates", "surveys"):
        log[kind] = cli_module("import", kind, files[kind], "--db", db, "--city", CITY)
        assert log[kind][0] == 0, (kind, log[kind])
    log["amap1"] = cli_module("import", "outlets", files["amap1"], "--db", db, "--city", CITY)
    log["amap2"] = cli_module("import", "outlets", files["amap2"], "--db", db, "--city", CITY)
    log["amap1_again"] = cli_module("import", "outlets", files["amap1"], "--db", db, "--city", CITY)
    return d, db, files, log


@pytest.fixture(scope="module")
def cli_module():
    from typer.testing import CliRunner

    from lifecircle.cli import _register, app

    _register()
    runner = CliRunner()

    def run(*args):
        r = runner.invoke(app, [str(a) for a in args], catch_exceptions=False)
        return r.exit_code, r.stdout, r.stderr

    return run


def test_second_export_adds_and_the_same_file_twice_changes_nothing(imported):
    from lifecircle.city.store import load_city

    _, db, _, log = imported
    assert "新增 2" in log["amap2"][1], log["amap2"]
    assert "新增 0" in log["amap1_again"][1] and "未变 2" in log["amap1_again"][1], log["amap1_again"]
    city = load_city(db, CITY)
    assert sorted(city.outlets["id"]) == ["B0MINI001", "B0MINI002", "B0MINI003", "B0MINI004"]
    assert len(city.streets) == 5 and len(city.communities) == 4


def test_city_check_says_everything_can_run(imported, cli_module):
    _, db, _, _ = imported
    code, out, err = cli_module("city", "check", "--db", db, "--city", CITY)
    assert code == 0, out + err
    assert "缺数据" not in out, out
    assert "streets" in out and "candidate_sites" in out


def test_access_on_the_stored_city_matches_the_figures_by_hand(imported, cli_module):
    d, db, _, _ = imported
    out_csv = d / "access.csv"
    code, out, err = cli_module("access", "--db", db, "--city", CITY, "--out", out_csv)
    assert code == 0, out + err
    tab = pd.read_csv(out_csv).set_index(["origin_id", "format"])["nearest_m"]
    assert tab[("C1", "convenience_store")] == pytest.approx(130, abs=1.0)
    assert tab[("C1", "supermarket")] == pytest.approx(830, abs=1.0)
    assert tab[("C2", "convenience_store")] == pytest.approx(730, abs=1.0)
    assert tab[("C3", "convenience_store")] == pytest.approx(140, abs=1.0)
    assert tab[("C3", "supermarket")] == pytest.approx(840, abs=1.5)
    assert np.isnan(tab[("C4", "convenience_store")])
    assert "C4" in err and "孤岛" in err  # named, not silently uncovered


def test_access_from_files_without_a_store_or_osm(imported, cli_module):
    d, _, files, _ = imported
    out_csv = d / "access_files.csv"
    code, out, err = cli_module(
        "access",
        "--streets",
        files["streets"],
        "--outlets",
        files["amap1"],
        "--origins",
        files["communities"],
        "--out",
        out_csv,
    )
    assert code == 0, out + err
    tab = pd.read_csv(out_csv).set_index(["origin_id", "format"])["nearest_m"]
    assert tab[("C1", "convenience_store")] == pytest.approx(130, abs=1.0)
    assert tab[("C3", "supermarket")] == pytest.approx(840, abs=1.5)


def test_evaluate_on_the_imported_city(imported, cli_module):
    d, db, _, _ = imported
    out_dir = d / "ev"
    code, out, err = cli_module("evaluate", "--db", db, "--city", CITY, "--out", out_dir)
    assert code == 0, out + err
    assert "C4" in err and "孤岛" in err
    comm = gpd.read_file(out_dir / "evaluation.gpkg", layer="communities").set_index("id")
    assert comm.loc["C3", "commercial_share"] == pytest.approx(6000 / 50000)
    assert bool(comm.loc["C4", "on_island"]) and not bool(comm.loc["C1", "on_island"])
    wb = openpyxl.load_workbook(out_dir / "evaluation.xlsx", read_only=True)
    city_sheet = {r[0]: r[1] for r in wb["城市"].iter_rows(min_row=2, values_only=True)}
    sat = [v for k, v in city_sheet.items() if k and "满意" in str(k)]
    assert sat and sat[0] == pytest.approx((92 + 70) / 180)
    isl = [r for r in wb["路网孤岛"].iter_rows(min_row=2, values_only=True)]
    assert any(r[1] == "C4" for r in isl)


def test_evaluate_a_city_without_districts_or_circles_says_what_is_missing(imported, cli_module, tmp_path):
    _, _, files, _ = imported
    db = tmp_path / "partial.db"
    for kind in ("streets", "communities"):
        assert cli_module("import", kind, files[kind], "--db", db, "--city", "partial")[0] == 0
    assert cli_module("import", "outlets", files["amap1"], "--db", db, "--city", "partial")[0] == 0
    code, out, err = cli_module("evaluate", "--db", db, "--city", "partial", "--out", tmp_path / "ev")
    assert code == 0, out + err
    assert "districts" in err and "surveys" in err  # which indicators need which missing table
    code, out, err = cli_module("city", "check", "--db", db, "--city", "partial")
    assert code == 0 and "lifecircle import districts" in out


def test_plans_and_scenarios_on_the_imported_city(imported, cli_module):
    d, db, files, _ = imported
    code, out, err = cli_module(
        "plan",
        "circles",
        "--db",
        db,
        "--city",
        CITY,
        "--out",
        d / "circles.gpkg",
        "--plan",
        files["plan"],
        "--phase",
        "pilot",
    )
    assert code == 0, out + err
    circles = gpd.read_file(d / "circles.gpkg", layer="circles")
    assert len(circles) == 2 and circles.is_valid.all()
    code, out, err = cli_module(
        "plan", "sites", "--db", db, "--city", CITY, "--format", "pharmacy", "--k", "1", "--out", d / "sites.csv"
    )
    assert code == 0, out + err
    sites = pd.read_csv(d / "sites.csv")
    assert "s1" in sites.astype(str).to_numpy().ravel().tolist()  # serves C1 and C2 within 10 min
    code, out, err = cli_module("plan", "types", "--db", db, "--city", CITY, "--out", d / "types.xlsx")
    assert code == 0, out + err
    code, out, err = cli_module("plan", "report", "Q1", "--db", db, "--city", CITY, "--out", d / "plans")
    assert code == 0, out + err
    assert any(p.suffix == ".html" for p in (d / "plans").iterdir())
    code, out, err = cli_module(
        "scenario",
        "create",
        "新药店",
        "--db",
        db,
        "--city",
        CITY,
        "--dir",
        d / "scn",
        "--add",
        "pharmacy,{},{},新药店".format(*ll(500, 20)),
    )
    assert code == 0, out + err
    code, out, err = cli_module(
        "scenario", "compare", "新药店", "--db", db, "--city", CITY, "--dir", d / "scn", "--out", d / "compare.csv"
    )
    assert code == 0, out + err
    saved = json.loads(next((d / "scn").glob("*.json")).read_text(encoding="utf-8"))
    assert saved.get("city") == CITY


def test_platform_init_on_the_imported_city(imported, cli_module, monkeypatch):
    """``platform init --store``: the imported city's circles, streets and engine scorecards; the
    scorecard of Q2 names C4, stranded on the bridge; real data is not called synthetic."""
    from sqlalchemy import select

    from lifecircle.platform.db import Circle, Scorecard, make_engine, session_factory, transaction

    d, db, _, _ = imported
    monkeypatch.setenv("LIFECIRCLE_DATA_DIR", str(d / "platform"))
    monkeypatch.delenv("DATABASE_URL", raising=False)
    code, out, err = cli_module("platform", "init", "--store", db, "--city", CITY)
    assert code == 0, out + err
    assert "合成数据" not in out and "生活圈：2 个" in out, out
    engine = make_engine(f"sqlite:///{d / 'platform' / 'lifecircle.db'}")
    try:
        with transaction(session_factory(engine)) as s:
            assert sorted(s.scalars(select(Circle.id))) == ["Q1", "Q2"]
            card = s.scalar(select(Scorecard).where(Scorecard.circle_id == "Q2"))
            assert card is not None and not card.synthetic
            assert card.indicators["n_communities_on_islands"] == 1
            assert card.indicators["communities_on_islands"] == "C4"
    finally:
        engine.dispose()
