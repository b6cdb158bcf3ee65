"""Review of the "real city from its own files" path as a hurried user would take it: imports in
the wrong order, files from Chinese desktop GIS, commands run on a half-filled city."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "mini-city"


@pytest.fixture
def files(tmp_path: Path) -> Path:
    d = tmp_path / "files"
    shutil.copytree(EXAMPLE, d)
    return d


def test_communities_before_districts_get_the_district_codes_when_districts_arrive(
    cli, files: Path, tmp_path: Path
) -> None:
    from lifecircle.city.store import load_table

    db = tmp_path / "city.db"
    assert cli("import", "communities", files / "communities.xlsx", "--db", db, "--city", "mini")[0] == 0
    assert cli("import", "circles", files / "circles.csv", "--db", db, "--city", "mini")[0] == 0
    assert set(load_table(db, "mini", "communities")["district"]) == {"西陵区"}  # no districts yet: kept as given
    code, out, _ = cli("import", "districts", files / "districts.geojson", "--db", db, "--city", "mini", "--dry-run")
    assert code == 0 and "区划代码" not in out
    assert set(load_table(db, "mini", "communities")["district"]) == {"西陵区"}  # a dry run changes nothing
    code, out, err = cli("import", "districts", files / "districts.geojson", "--db", db, "--city", "mini")
    assert code == 0, out + err
    assert "communities 4 行" in out and "circles 2 行" in out
    assert set(load_table(db, "mini", "communities")["district"]) == {"420502"}
    assert set(load_table(db, "mini", "circles")["district"]) == {"420502"}


def _gbk_shapefile_without_cpg(files: Path, folder: Path) -> Path:
    """The sample streets as a desktop GIS in China writes them: GBK .dbf, no .cpg."""
    import geopandas as gpd

    folder.mkdir()
    gpd.read_file(files / "streets.geojson").to_file(folder / "道路.shp", encoding="gbk")
    (folder / "道路.cpg").unlink()
    return folder / "道路.shp"


def test_gbk_shapefile_without_cpg_keeps_its_bridge_apart(cli, files: Path, tmp_path: Path) -> None:
    from lifecircle.city.store import load_table

    shp = _gbk_shapefile_without_cpg(files, tmp_path / "shp")
    db = tmp_path / "city.db"
    code, out, err = cli("import", "streets", shp, "--db", db, "--city", "mini")
    assert code == 0, out + err
    st = load_table(db, "mini", "streets")
    assert "东山大桥" in set(st["name"])  # the names read as GBK, not as Latin-1 mojibake
    assert st.loc[st["name"] == "东山大桥", "bridge"].astype(bool).all()
    # the same file read directly (access --streets) keeps the bridge off the main street too
    code, out, err = cli(
        "access",
        "--streets",
        shp,
        "--outlets",
        files / "amap_export_1.csv",
        "--origins",
        files / "communities.xlsx",
        "--out",
        tmp_path / "a.csv",
    )
    assert code == 0, out + err
    assert "孤岛" in err and "C4" in err


def test_evaluate_a_city_with_only_streets_is_refused_naming_what_to_import(cli, files: Path, tmp_path: Path) -> None:
    db = tmp_path / "city.db"
    assert cli("import", "streets", files / "streets.geojson", "--db", db, "--city", "mini")[0] == 0
    out_dir = tmp_path / "ev"
    code, _out, err = cli("evaluate", "--db", db, "--city", "mini", "--out", out_dir)
    assert code == 2 and "Traceback" not in err
    assert "outlets" in err and "communities" in err and "lifecircle import outlets" in err
    assert len(err.strip().splitlines()) == 1
    assert not out_dir.exists()  # no empty dashboard
    code, _, err = cli("--lang", "en", "evaluate", "--db", db, "--city", "mini", "--out", out_dir)
    assert code == 2 and "cannot be evaluated" in err and "评估" not in err


def test_evaluate_without_service_areas_shows_a_dash_not_nan(cli, files: Path, tmp_path: Path) -> None:
    import pandas as pd

    db = tmp_path / "city.db"
    comm = pd.read_excel(files / "communities.xlsx").drop(columns=["社区服务用房面积"])
    comm.to_excel(tmp_path / "c.xlsx", index=False)
    for kind, f in (
        ("streets", files / "streets.geojson"),
        ("communities", tmp_path / "c.xlsx"),
        ("outlets", files / "amap_export_1.csv"),
    ):
        assert cli("import", kind, f, "--db", db, "--city", "mini")[0] == 0
    code, out, err = cli("evaluate", "--db", db, "--city", "mini", "--out", tmp_path / "ev")
    assert code == 0, out + err
    line = next(x for x in out.splitlines() if "每百户社区服务面积" in x)
    assert "nan" not in line and "—" in line


def test_missing_population_column_names_the_chinese_headers_it_accepts(cli, files: Path, tmp_path: Path) -> None:
    import pandas as pd

    comm = pd.read_excel(files / "communities.xlsx").drop(columns=["常住人口"])
    comm = comm[list(comm.columns)[::-1]]  # columns in another order do not matter; a missing one does
    comm.to_excel(tmp_path / "无人口.xlsx", index=False)
    db = tmp_path / "city.db"
    code, out, err = cli("import", "communities", tmp_path / "无人口.xlsx", "--db", db, "--city", "mini")
    assert code == 2 and "Traceback" not in err
    line = next(x for x in (out + err).splitlines() if "population" in x)
    assert "无人口.xlsx" in line and "常住人口" in line
    assert not db.exists()


def test_access_names_the_network_pieces_once_like_evaluate(cli, files: Path, tmp_path: Path) -> None:
    code, out, err = cli(
        "access",
        "--streets",
        files / "streets.geojson",
        "--outlets",
        files / "amap_export_1.csv",
        "--origins",
        files / "communities.xlsx",
        "--out",
        tmp_path / "a.csv",
    )
    assert code == 0, out + err
    # before: '路网分为 3 块…', '提示：路网有 2 个…' and '主网之外还有 1 个…' for the same network
    assert "互不连通" in err and err.count("互不连通") == 1, err
    assert "1 处 T 形接合" in err and "剔除" in err and "C4" in err


@pytest.mark.parametrize("city", ["mnii", "mini"])  # misspelt; a city without circles
def test_platform_init_refuses_a_city_it_cannot_show_before_making_any_file(
    cli, files: Path, tmp_path: Path, monkeypatch, city: str
) -> None:
    db = tmp_path / "city.db"
    for kind, f in (
        ("streets", files / "streets.geojson"),
        ("communities", files / "communities.xlsx"),
        ("outlets", files / "amap_export_1.csv"),
    ):
        assert cli("import", kind, f, "--db", db, "--city", "mini")[0] == 0
    data = tmp_path / "platform"
    monkeypatch.setenv("LIFECIRCLE_DATA_DIR", str(data))
    monkeypatch.delenv("DATABASE_URL", raising=False)
    code, _out, err = cli("platform", "init", "--store", db, "--city", city)
    assert code == 2 and "Traceback" not in err
    assert ("mnii" in err) if city == "mnii" else ("circles" in err and "lifecircle import circles" in err)
    assert not data.exists()  # no platform database made for a city it cannot show


def test_scenario_compare_on_another_city_is_refused_before_the_network_is_built(
    cli, files: Path, tmp_path: Path, monkeypatch
) -> None:
    db = tmp_path / "city.db"
    for name in ("mini", "other"):
        for kind, f in (
            ("streets", files / "streets.geojson"),
            ("communities", files / "communities.xlsx"),
            ("outlets", files / "amap_export_1.csv"),
        ):
            assert cli("import", kind, f, "--db", db, "--city", name, "--create")[0] == 0
    sc = tmp_path / "sc"
    assert (
        cli(
            "scenario",
            "create",
            "新药店",
            "--db",
            db,
            "--city",
            "mini",
            "--dir",
            sc,
            "--add",
            "pharmacy,111.21394,30.64266,新药店",
        )[0]
        == 0
    )
    code, _out, err = cli(
        "scenario", "compare", "新药店", "--db", db, "--city", "other", "--dir", sc, "--out", tmp_path / "cmp.csv"
    )
    assert code == 2 and "Traceback" not in err
    assert err.strip().splitlines() == [err.strip()] and "mini" in err and "other" in err  # only the refusal
    assert not (tmp_path / "cmp.csv").exists()


@pytest.mark.parametrize("kind,source", [("outlets", "amap_export_1.csv"), ("circles", "circles.csv")])
def test_a_file_with_only_its_header_says_so(cli, files: Path, tmp_path: Path, kind: str, source: str) -> None:
    f = tmp_path / "表头.csv"
    f.write_text((files / source).read_text(encoding="utf-8-sig").splitlines()[0] + "\n", encoding="utf-8")
    code, out, err = cli("import", kind, f, "--db", tmp_path / "city.db", "--city", "mini")
    assert code == 2 and "Traceback" not in err
    text = out + err
    assert "表头.csv" in text and "没有数据行" in text and "缺少坐标列" not in text
    assert not (tmp_path / "city.db").exists()


def test_an_excel_workbook_named_csv_is_named_as_a_workbook(cli, files: Path, tmp_path: Path) -> None:
    f = tmp_path / "小区.csv"
    shutil.copy(files / "communities.xlsx", f)
    code, out, err = cli("import", "communities", f, "--db", tmp_path / "city.db", "--city", "mini")
    assert code == 2 and "Traceback" not in err
    assert "Excel" in out + err and ".xlsx" in out + err and "编码" not in out + err


def test_ctrl_c_while_the_command_is_still_starting_is_one_line_exit_130(monkeypatch, capsys) -> None:
    import lifecircle.cli as cli_pkg

    def interrupted() -> None:  # Ctrl-C during the seconds of imports before any command runs
        raise KeyboardInterrupt

    monkeypatch.setattr(cli_pkg, "_register", interrupted)
    with pytest.raises(SystemExit) as exc:
        cli_pkg.main()
    assert exc.value.code == 130
    err = capsys.readouterr().err
    assert err.strip() == "已中断" and "Traceback" not in err


def test_plan_report_under_lang_en_is_english_on_the_terminal_and_in_the_document(
    cli, files: Path, tmp_path: Path
) -> None:
    db = tmp_path / "city.db"
    for kind, f in (
        ("streets", files / "streets.geojson"),
        ("districts", files / "districts.geojson"),
        ("communities", files / "communities.xlsx"),
        ("circles", files / "circles.csv"),
        ("outlets", files / "amap_export_1.csv"),
    ):
        assert cli("import", kind, f, "--db", db, "--city", "mini")[0] == 0
    code, out, err = cli(
        "--lang",
        "en",
        "plan",
        "report",
        "Q1",
        "--db",
        db,
        "--city",
        "mini",
        "--out",
        tmp_path / "plans",
        "--no-pdf",
        "--k",
        "0",
    )
    assert code == 0, out + err
    assert "written:" in out and "已写出" not in out
    assert "路网" not in err and "noding" in err  # the network notes too
    assert '<html lang="en">' in (tmp_path / "plans" / "Q1.html").read_text(encoding="utf-8")


def test_plan_circles_size_range_of_a_small_city_is_not_rounded_away(cli, files: Path, tmp_path: Path) -> None:
    from lifecircle.cli.plan_circles import _people

    assert [_people(500), _people(5000), _people(50_000), _people(100_000)] == ["500", "5,000", "5.0万", "10.0万"]
    db = tmp_path / "city.db"
    for kind, f in (
        ("streets", files / "streets.geojson"),
        ("districts", files / "districts.geojson"),
        ("communities", files / "communities.xlsx"),
        ("centre_candidates", files / "centres.csv"),
    ):
        assert cli("import", kind, f, "--db", db, "--city", "mini")[0] == 0
    code, out, err = cli(
        "plan",
        "circles",
        "--db",
        db,
        "--city",
        "mini",
        "--plan",
        files / "plan-mini.toml",
        "--phase",
        "pilot",
        "--out",
        tmp_path / "c.gpkg",
    )
    assert code == 0, out + err
    assert "500–5,000" in out and "0.1–0.5万" not in out  # plan-mini.toml: 500 to 5,000 residents


def test_city_check_without_city_takes_the_only_city_or_names_them(cli, files: Path, tmp_path: Path) -> None:
    db = tmp_path / "city.db"
    code, _, err = cli("city", "check", "--db", db)  # a brand-new store: no file yet
    assert code == 2 and "city.db" in err and "不存在" in err and "Missing option" not in err
    assert not db.exists()
    assert cli("import", "streets", files / "streets.geojson", "--db", db, "--city", "mini")[0] == 0
    code, out, err = cli("city", "check", "--db", db)
    assert code == 0, out + err
    assert "城市 mini 的数据" in out and "lifecircle import outlets FILE --db STORE --city mini" in out
    assert cli("import", "streets", files / "streets.geojson", "--db", db, "--city", "other", "--create")[0] == 0
    code, _, err = cli("--lang", "en", "city", "check", "--db", db)
    assert code == 2 and "--city" in err and "mini, other" in err
