"""Bug-hunt regressions: user mistakes on the command line give one line, exit 2, no traceback
and no partial output (access / isochrone / import / profiles)."""

from __future__ import annotations

from pathlib import Path

import pytest

from lifecircle.errors import InputError
from lifecircle.sources.files import check_output_path


def test_output_path_that_is_an_existing_folder_is_refused_before_any_work(tmp_path: Path) -> None:
    folder = tmp_path / "result.csv"
    folder.mkdir()
    with pytest.raises(InputError, match="result.csv"):
        check_output_path(folder, (".csv",))


def test_output_path_under_a_file_is_refused(tmp_path: Path) -> None:
    f = tmp_path / "a.csv"
    f.write_text("x")
    with pytest.raises(InputError, match="a.csv"):
        check_output_path(f / "b.csv", (".csv",))


def test_isochrone_out_is_existing_folder_exits_2(cli, helsinki_pbf, tmp_path: Path) -> None:
    d = tmp_path / "iso.geojson"
    d.mkdir()
    code, _, err = cli("isochrone", "--osm", helsinki_pbf, "--lon", "24.944", "--lat", "60.17", "--out", d)
    assert code == 2
    assert "Traceback" not in err and "iso.geojson" in err
    assert list(tmp_path.iterdir()) == [d] and not list(d.iterdir())


def test_origin_csv_row_numbers_count_blank_lines(tmp_path: Path) -> None:
    from lifecircle.sources.points import read_points

    p = tmp_path / "起点 文件.csv"
    p.write_text("id,lon,lat\na,24.94,60.17\n\nb,24.94,abc\n", encoding="utf-8")
    with pytest.raises(InputError) as exc:
        read_points(p)
    (prob,) = exc.value.problems
    assert (prob.row, prob.field) == (4, "lat")  # line 4 of the file, not 3
    p.write_text("id,lon,lat\na,24.94,60.17\n\n\nb,24.95,60.18\n", encoding="utf-8")
    pts = read_points(p)
    assert pts["id"].tolist() == ["a", "b"] and pts["row"].tolist() == [2, 5]


@pytest.mark.parametrize("minutes", ["nan", "5,inf", "-5", "0"])
def test_isochrone_minutes_not_finite_positive_exit_2_no_output(
    cli, helsinki_pbf, tmp_path: Path, minutes: str
) -> None:
    out = tmp_path / "iso.geojson"
    code, _, err = cli(
        "isochrone", "--osm", helsinki_pbf, "--lon", "24.944", "--lat", "60.17", "--out", out, "--minutes", minutes
    )
    assert code == 2 and "Traceback" not in err
    assert not out.exists()


def test_isochrone_repeated_minutes_give_one_polygon_each(cli, helsinki_pbf, tmp_path: Path) -> None:
    import geopandas as gpd

    out = tmp_path / "iso.geojson"
    code, _, _ = cli(
        "isochrone", "--osm", helsinki_pbf, "--lon", "24.944", "--lat", "60.17", "--out", out, "--minutes", "5,5,10"
    )
    assert code == 0
    assert sorted(gpd.read_file(out)["minutes"]) == [5.0, 10.0]


@pytest.mark.parametrize(
    "walking",
    [
        "speed_kmh = 67",  # metres per minute written as km/h
        "speed_kmh = nan",
        "elderly_speed_kmh = 0",
        "snap_max_m = -1",  # crashed the snapper with a traceback
        "isochrone_buffer_m = -40",
        "layers_min = [5, 0, 15]",
        "layers_min = []",
    ],
)
def test_profile_walking_values_out_of_range_are_config_errors(tmp_path: Path, walking: str) -> None:
    from lifecircle.errors import ConfigError
    from lifecircle.profile import load_profile

    p = tmp_path / "我的 配置.toml"
    p.write_text(f'extends = "yichang-2022"\n[walking]\n{walking}\n', encoding="utf-8")
    with pytest.raises(ConfigError, match="walking"):
        load_profile(p)


def test_profile_format_layer_nan_is_a_config_error(tmp_path: Path) -> None:
    from lifecircle.errors import ConfigError
    from lifecircle.profile import load_profile

    p = tmp_path / "p.toml"
    p.write_text('extends = "yichang-2022"\n[[format]]\ncode = "breakfast"\nlayer_min = nan\n', encoding="utf-8")
    with pytest.raises(ConfigError, match="breakfast"):
        load_profile(p)


def test_profile_snap_negative_exits_2_on_the_cli(cli, helsinki_pbf, tmp_path: Path) -> None:
    p = tmp_path / "p.toml"
    p.write_text('extends = "yichang-2022"\n[walking]\nsnap_max_m = -1\n', encoding="utf-8")
    out = tmp_path / "i.geojson"
    code, _, err = cli(
        "isochrone", "--osm", helsinki_pbf, "--lon", "24.944", "--lat", "60.17", "--out", out, "--profile", p
    )
    assert code == 2 and "snap_max_m" in err and not out.exists()


def _titled_workbook(path: Path) -> None:
    import openpyxl

    wb = openpyxl.Workbook()
    ws = wb.active
    ws["A1"] = "宜昌市小区统计表（2024）"
    ws.merge_cells("A1:G1")
    ws.append(["小区名称", "人口", "户数", "区", "类型", "经度", "纬度"])
    ws.append(["桃花岭", "1,234人", 500, "420502", "老旧", 111.30, 30.70])
    ws.append(["夷陵", "很多", 600, "420502", "新建", 111.31, 30.71])
    wb.save(path)


def test_excel_with_merged_title_row_reads_header_from_row_2_and_names_real_rows(tmp_path: Path) -> None:
    from lifecircle.sources.importer import import_file

    p = tmp_path / "小区 统计.xlsx"
    _titled_workbook(p)
    with pytest.raises(InputError) as exc:
        import_file("communities", p)
    (prob,) = exc.value.problems
    assert (prob.row, prob.field) == (4, "population")  # the spreadsheet's own row 4
    df, rep = import_file("communities", p, skip_bad_rows=True)
    assert df["population"].tolist() == [1234] and rep.rows_read == 2


def test_vector_origins_duplicate_ids_and_missing_geometry_are_reported_not_dropped(tmp_path: Path) -> None:
    import geopandas as gpd
    import shapely

    from lifecircle.sources.points import read_points

    p = tmp_path / "小区 面.geojson"
    boxes = [shapely.box(24.940, 60.170, 24.941, 60.171), shapely.box(24.942, 60.170, 24.943, 60.171), None]
    gpd.GeoDataFrame({"id": ["a", "a", "b"]}, geometry=boxes, crs=4326).to_file(p)
    with pytest.raises(InputError) as exc:
        read_points(p)
    got = {(q.row, q.field) for q in exc.value.problems}
    assert got == {(3, "id"), (4, "geometry")}


def test_vector_origins_polygons_become_points_inside_them(tmp_path: Path) -> None:
    import geopandas as gpd
    import shapely

    from lifecircle.sources.points import read_points

    p = tmp_path / "poly.geojson"
    boxes = [shapely.box(24.940, 60.170, 24.941, 60.171), shapely.box(24.942, 60.170, 24.943, 60.171)]
    gpd.GeoDataFrame({"id": ["a", "b"]}, geometry=boxes, crs=4326).to_file(p)
    pts = read_points(p)
    assert pts["id"].tolist() == ["a", "b"] and pts["row"].tolist() == [2, 3]
    assert all(b.contains(shapely.Point(x, y)) for b, x, y in zip(boxes, pts["lon"], pts["lat"], strict=True))


@pytest.mark.parametrize(("lon", "lat"), [("nan", "60.17"), ("200", "60.17"), ("111.29", "30.69")])
def test_isochrone_point_bad_or_outside_names_no_row_zero(
    cli, helsinki_pbf, tmp_path: Path, lon: str, lat: str
) -> None:
    out = tmp_path / "i.geojson"
    code, _, err = cli("isochrone", "--osm", helsinki_pbf, "--lon", lon, "--lat", lat, "--out", out)
    assert code == 2 and "Traceback" not in err and not out.exists()
    assert "第0行" not in err and "第" not in err.split("错误")[-1].split(":")[0]


def test_demo_out_is_an_existing_file_exits_2(cli, tmp_path: Path) -> None:
    f = tmp_path / "结果 out"
    f.write_text("keep me", encoding="utf-8")
    code, _, err = cli("demo", "--out", f, "--scale", "0.05")
    assert code == 2 and "Traceback" not in err and "结果 out" in err
    assert f.read_text(encoding="utf-8") == "keep me"


def test_demo_bad_scale_creates_no_output_folder(cli, tmp_path: Path) -> None:
    out = tmp_path / "out"
    code, _, err = cli("demo", "--out", out, "--scale", "0")
    assert code == 2 and "scale" in err
    assert not out.exists()


def test_evaluate_out_is_an_existing_file_exits_2_before_loading(cli, tmp_path: Path) -> None:
    f = tmp_path / "out"
    f.write_text("x")
    code, _, err = cli("evaluate", "--db", tmp_path / "missing.db", "--city", "x", "--out", f)
    assert code == 2 and "--out" in err and "Traceback" not in err


def test_csv_with_a_column_given_twice_is_refused_not_half_read(tmp_path: Path) -> None:
    from lifecircle.sources.importer import import_file

    p = tmp_path / "小区.csv"
    p.write_text(
        "小区名称,人口,人口,户数,区,类型,经度,纬度\n桃花岭,1234,999,500,420502,老旧,111.30,30.70\n", encoding="utf-8"
    )
    with pytest.raises(InputError) as exc:
        import_file("communities", p)
    (prob,) = exc.value.problems
    assert (prob.row, prob.field) == (1, "人口")


def test_excel_with_a_column_given_twice_is_refused(tmp_path: Path) -> None:
    import openpyxl

    from lifecircle.sources.importer import import_file

    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(["小区名称", "人口", "户数", "区", "类型", "经度", "纬度", "人口"])
    ws.append(["桃花岭", 1234, 500, "420502", "老旧", 111.30, 30.70, 999])
    p = tmp_path / "c.xlsx"
    wb.save(p)
    with pytest.raises(InputError) as exc:
        import_file("communities", p)
    assert (exc.value.problems[0].row, exc.value.problems[0].field) == (1, "人口")


def test_access_on_a_pbf_without_shops_warns(cli, helsinki_pbf, tmp_path: Path, monkeypatch) -> None:
    import pandas as pd

    import lifecircle.sources.osm as osm

    empty = pd.DataFrame({"id": [], "name": [], "format": [], "lon": [], "lat": []})
    monkeypatch.setattr(osm, "osm_outlets", lambda osm, prof: empty.astype({"lon": float, "lat": float}))
    o = tmp_path / "o.csv"
    o.write_text("id,lon,lat\na,24.944,60.17\n", encoding="utf-8")
    out = tmp_path / "a.csv"
    code, _, err = cli("access", "--osm", helsinki_pbf, "--origins", o, "--out", out)
    assert code == 0 and out.exists()
    assert "没有任何属于业态目录的商业网点" in err


@pytest.mark.parametrize("sep", [";", "\t"])
def test_origin_csv_with_semicolons_or_tabs_is_read(tmp_path: Path, sep: str) -> None:
    from lifecircle.sources.points import read_points

    p = tmp_path / "o.csv"
    p.write_text(sep.join(["id", "lon", "lat"]) + "\n" + sep.join(["a", "24.94", "60.17"]) + "\n", encoding="utf-8")
    assert read_points(p)["id"].tolist() == ["a"]


def test_origin_csv_empty_id_and_repeated_column_are_reported(tmp_path: Path) -> None:
    from lifecircle.sources.points import read_points

    p = tmp_path / "o.csv"
    p.write_text("id,lon,lat\na,24.94,60.17\n,24.95,60.17\n", encoding="utf-8")
    with pytest.raises(InputError) as exc:
        read_points(p)
    assert [(q.row, q.field) for q in exc.value.problems] == [(3, "id")]
    p.write_text("id,lon,lat,lon\na,24.94,60.17,1\n", encoding="utf-8")
    with pytest.raises(InputError, match="lon"):
        read_points(p)


def test_access_formats_given_twice_counts_once_not_zero(cli, helsinki_pbf, tmp_path: Path) -> None:
    import pandas as pd

    o = tmp_path / "o.csv"
    o.write_text("id,lon,lat\na,24.944,60.17\n", encoding="utf-8")
    out = tmp_path / "a.csv"
    code, _, _ = cli("access", "--osm", helsinki_pbf, "--origins", o, "--out", out, "--formats", "tea_cafe, tea_cafe")
    assert code == 0
    df = pd.read_csv(out)
    assert len(df) == 1 and df["n_15min"].iloc[0] > 0 and df["nearest_m"].notna().all()


def test_access_table_formats_given_twice_library(helsinki_pbf) -> None:
    import pandas as pd

    from lifecircle.network.table import access_table
    from lifecircle.profile import load_profile
    from lifecircle.sources.osm import read_osm_network

    net = read_osm_network(helsinki_pbf)
    o = pd.DataFrame({"id": ["a"], "lon": [24.944], "lat": [60.17]})
    s = pd.DataFrame({"id": ["s"], "name": ["Cafe"], "format": ["tea_cafe"], "lon": [24.9441], "lat": [60.1701]})
    t = access_table(net, o, s, load_profile(), formats=["tea_cafe", "tea_cafe"]).table
    assert len(t) == 1 and t["n_15min"].iloc[0] == 1


def test_access_formats_without_any_code_exits_2(cli, helsinki_pbf, tmp_path: Path) -> None:
    o = tmp_path / "o.csv"
    o.write_text("id,lon,lat\na,24.944,60.17\n", encoding="utf-8")
    out = tmp_path / "a.csv"
    code, _, err = cli("access", "--osm", helsinki_pbf, "--origins", o, "--out", out, "--formats", ",")
    assert code == 2 and "--formats" in err and not out.exists()


@pytest.mark.parametrize("args", [("evaluate", "--city", "x"), ("import", "communities", "FILE")])
def test_db_that_is_not_a_database_exits_2(cli, tmp_path: Path, args: tuple[str, ...]) -> None:
    db = tmp_path / "笔记 notes.db"
    db.write_text("this is not sqlite\n" * 10, encoding="utf-8")
    c = tmp_path / "c.csv"
    c.write_text("小区名称,人口,户数,区,类型,经度,纬度\n桃花岭,1234,500,420502,老旧,111.30,30.70\n", encoding="utf-8")
    code, _, err = cli(*[str(c) if a == "FILE" else a for a in args], "--db", db)
    assert code == 2 and "Traceback" not in err and "notes.db" in err
    assert db.read_text(encoding="utf-8").startswith("this is not sqlite")


def test_csv_with_a_title_line_above_the_header_names_real_rows(tmp_path: Path) -> None:
    from lifecircle.sources.importer import import_file

    p = tmp_path / "小区 统计.csv"
    p.write_text(
        "宜昌市小区统计表,,,,,,\n小区名称,人口,户数,区,类型,经度,纬度\n"
        '桃花岭,"1,234人",500,420502,老旧,111.30,30.70\n夷陵,很多,600,420502,新建,111.31,30.71\n',
        encoding="utf-8",
    )
    with pytest.raises(InputError) as exc:
        import_file("communities", p)
    (prob,) = exc.value.problems
    assert (prob.row, prob.field) == (4, "population")
    df, _ = import_file("communities", p, skip_bad_rows=True)
    assert df["population"].tolist() == [1234]


def test_access_when_every_origin_is_off_the_streets_exits_2_and_writes_nothing(
    cli, helsinki_pbf, tmp_path: Path
) -> None:
    o = tmp_path / "海上 起点.csv"
    o.write_text("id,lon,lat\nsea,24.9600,60.1560\n", encoding="utf-8")  # in the harbour, inside the extent
    out = tmp_path / "a.csv"
    code, _, err = cli("access", "--osm", helsinki_pbf, "--origins", o, "--out", out)
    assert code == 2 and "sea" in err and "第2行" in err
    assert not out.exists()


def test_isochrone_point_off_the_streets_names_the_point(cli, helsinki_pbf, tmp_path: Path) -> None:
    out = tmp_path / "i.geojson"
    code, _, err = cli("isochrone", "--osm", helsinki_pbf, "--lon", "24.96", "--lat", "60.156", "--out", out)
    assert code == 2 and "--lon 24.96 --lat 60.156" in err and not out.exists()


def test_outlet_formats_listed_with_the_chinese_enumeration_comma(tmp_path: Path) -> None:
    from lifecircle.sources.importer import import_file

    p = tmp_path / "网点.csv"
    p.write_text("名称,业态,经度,纬度,区\n甲,便利店、综合超市,111.30,30.70,420502\n", encoding="utf-8")
    df, rep = import_file("outlets", p)
    assert df["formats"].tolist() == ["convenience_store;supermarket"]
    assert rep.format_counts == {"convenience_store": 1, "supermarket": 1}


def test_error_line_keeps_square_brackets_of_the_message(cli, helsinki_pbf, tmp_path: Path) -> None:
    p = tmp_path / "p[1].toml"
    p.write_text('extends = "yichang-2022"\n[walking]\nspeed_kmh = 67\n', encoding="utf-8")
    code, _, err = cli(
        "isochrone",
        "--osm",
        helsinki_pbf,
        "--lon",
        "24.944",
        "--lat",
        "60.17",
        "--out",
        tmp_path / "i.geojson",
        "--profile",
        p,
    )
    assert code == 2
    assert "[walking] speed_kmh = 67" in err and "p[1].toml" in err


def test_access_crs_spelled_like_import_accepts_it() -> None:
    from lifecircle.cli.access import _check_crs

    assert _check_crs("GCJ_02") == _check_crs("gcj-02") == "gcj02"
