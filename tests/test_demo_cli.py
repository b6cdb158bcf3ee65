"""End to end: `lifecircle demo` builds the synthetic demo city into the SQLite store, evaluates it
and writes the dashboard, workbook and GeoPackage; `lifecircle evaluate` re-reads the store."""

from __future__ import annotations

import geopandas as gpd
import openpyxl

from lifecircle.city.store import list_cities


def test_demo_end_to_end_small(cli, tmp_path):
    out = tmp_path / "out"
    code, stdout, stderr = cli("demo", "--out", out, "--scale", "0.05")
    assert code == 0, stdout + stderr
    for name in ("dashboard.html", "evaluation.xlsx", "evaluation.gpkg", "lifecircle.db"):
        assert (out / name).stat().st_size > 0
    assert "合成数据" in stdout  # synthetic data is labelled in the summary
    assert "生活圈评级" in stdout and "西陵区" in stdout
    html = (out / "dashboard.html").read_text(encoding="utf-8")
    assert "合成数据" in html
    circles = gpd.read_file(out / "evaluation.gpkg", layer="circles")
    assert len(circles) == 30 and circles["grade"].notna().all()
    wb = openpyxl.load_workbook(out / "evaluation.xlsx", read_only=True)
    assert len(wb.sheetnames) >= 5
    infos = list_cities(out / "lifecircle.db")
    assert [i.name for i in infos] == ["yichang-demo"]

    again = tmp_path / "again"
    code, stdout, stderr = cli("evaluate", "--db", out / "lifecircle.db", "--city", "yichang-demo", "--out", again)
    assert code == 0, stdout + stderr
    assert (again / "dashboard.html").exists()


def test_evaluate_unknown_city_is_one_line(cli, tmp_path):
    out = tmp_path / "out"
    assert cli("demo", "--out", out, "--scale", "0.02")[0] == 0
    code, stdout, stderr = cli("evaluate", "--db", out / "lifecircle.db", "--city", "atlantis", "--out", tmp_path / "x")
    assert code == 2
    assert "atlantis" in stdout + stderr and "Traceback" not in stdout + stderr
    assert not (tmp_path / "x" / "dashboard.html").exists()


def test_outlets_without_district_get_one_from_the_boundaries():
    """Imported outlets often have no district: the evaluation finds it from the polygons."""
    from lifecircle.city.demo import build_demo_city
    from lifecircle.indicators.evaluate import evaluate_city
    from lifecircle.profile import load_profile
    from lifecircle.sources.network_loader import network_from_city

    city = build_demo_city(scale=0.03)
    outlets = city.tables["outlets"].copy()
    truth = outlets["district"].copy()
    outlets.loc[outlets.index[::2], "district"] = None
    city.tables["outlets"] = outlets
    ev = evaluate_city(city, network_from_city(city), load_profile())
    got = ev.outlets["district"].to_numpy()
    assert (got[::2] == truth.to_numpy()[::2]).mean() > 0.95
    assert city.tables["outlets"]["district"].isna().sum() == len(outlets.index[::2])  # input untouched
