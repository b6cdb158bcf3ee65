"""End to end: `lifecircle demo` builds the synthetic demo city into the SQLite store, evaluates it
and writes the dashboard, workbook and GeoPackage; `lifecircle evaluate` re-reads the store."""

from __future__ import annotations

import geopandas as gpd
import openpyxl
import pandas as pd

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


def test_district_names_meet_their_codes():
    """Communities imported before the district boundaries say 西陵区, not 420502: the
    evaluation counts them in the right district instead of inventing a second one."""
    from lifecircle.city.demo import build_demo_city
    from lifecircle.indicators.evaluate import evaluate_city
    from lifecircle.profile import load_profile
    from lifecircle.sources.network_loader import network_from_city

    city = build_demo_city(scale=0.03)
    net, prof = network_from_city(city), load_profile()
    base = evaluate_city(city, net, prof)
    names = dict(zip(city.districts["code"].astype(str), city.districts["name_zh"], strict=True))
    comm = city.tables["communities"].copy()
    comm["district"] = [names[str(d)] for d in comm["district"]]  # 西陵区 ...
    outl = city.tables["outlets"].copy()
    outl["district"] = [names.get(str(d), d)[:-1] if isinstance(d, str) else d for d in outl["district"]]  # 西陵 ...
    city.tables["communities"], city.tables["outlets"] = comm, outl
    ev = evaluate_city(city, net, prof)
    assert list(ev.districts["code"]) == list(base.districts["code"])
    pd.testing.assert_series_equal(ev.districts["population"], base.districts["population"])
    pd.testing.assert_series_equal(ev.districts["chain_share"], base.districts["chain_share"])
