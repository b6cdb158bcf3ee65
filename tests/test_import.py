"""`lifecircle import`: reading real files (encodings, Excel, GeoJSON/GeoPackage), Amap POI
exports (coordinates, classification, chains), the all-or-nothing rule and --skip-bad-rows."""

from __future__ import annotations

import csv
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pyproj import Geod
from shapely.geometry import Polygon, box

from lifecircle.city.ids import point_ids
from lifecircle.errors import InputError, InputFileError
from lifecircle.i18n import set_lang
from lifecircle.profile import load_profile
from lifecircle.sources.amap import Classifier, base_name, load_chains
from lifecircle.sources.coords import gcj02_to_wgs84, wgs84_to_gcj02
from lifecircle.sources.importer import import_file
from lifecircle.sources.tables import read_table

SAMPLE = Path(__file__).parent / "data" / "amap_sample.csv"
GEOD = Geod(ellps="WGS84")
AMAP_HEADER = ["id", "name", "type", "typecode", "address", "location"]
STORE = ("购物服务;便民商店/便利店;便民商店/便利店", "060200")


@pytest.fixture(scope="module")
def profile():
    return load_profile("yichang-2022")


def write_csv(path: Path, header: list[str], rows: list[list[object]], encoding: str = "utf-8") -> Path:
    with path.open("w", newline="", encoding=encoding) as fh:
        w = csv.writer(fh)
        w.writerow(header)
        w.writerows(rows)
    return path


def amap_row(i: int, name: str, location: str, type_: str = STORE[0], code: str = STORE[1]) -> list[object]:
    return [f"B0TEST{i:04d}", name, type_, code, "夷陵大道1号", location]


# ------------------------------------------------------------------------------ readers


def test_gbk_csv_with_chinese_headers_is_detected_and_read(tmp_path, profile):
    f = write_csv(
        tmp_path / "小区.csv",
        ["小区名称", "所属区", "经度", "纬度", "人口", "户数", "建成年代", "建筑面积", "小区类型"],
        [
            ["桃花岭小区", "420502", 111.2915, 30.7067, "3,200", "1100户", "1995年", "86000㎡", "老旧小区"],
            ["万达华府", "420502", 111.2881, 30.6929, 5400, 1800, 2015, 210000, "新建"],
        ],
        encoding="gbk",
    )
    assert read_table(f).encoding == "gb18030"
    df, rep = import_file("communities", f, profile=profile)
    assert list(df["name"]) == ["桃花岭小区", "万达华府"]
    assert list(df["population"]) == [3200, 5400]
    assert list(df["households"]) == [1100, 1800]
    assert list(df["build_year"]) == [1995, 2015]
    assert list(df["kind"]) == ["old", "new"]
    assert df["floor_area_m2"].iloc[0] == 86000.0
    # no id column: ids made from name + coordinates (stable across files), and the report says so
    assert list(df["id"]) == point_ids("c", ["桃花岭小区", "万达华府"], [111.2915, 111.2881], [30.7067, 30.6929])
    assert all(i.startswith("c-") for i in df["id"])
    assert rep.notes and rep.crs == "wgs84"


def test_utf8_bom_csv_header_has_no_bom(tmp_path, profile):
    f = write_csv(
        tmp_path / "bom.csv", AMAP_HEADER, [amap_row(1, "罗森(测试店)", "111.2958,30.7012")], encoding="utf-8-sig"
    )
    raw = read_table(f)
    assert raw.encoding == "utf-8-sig" and raw.df.columns[0] == "id"
    df, _ = import_file("outlets", f, profile=profile)
    assert df["name"].tolist() == ["罗森(测试店)"]


def test_xlsx_amap_export_with_numeric_typecodes(tmp_path, profile):
    f = tmp_path / "poi.xlsx"
    pd.DataFrame(
        {
            "名称": ["美宜佳(一店)", "益丰大药房(二店)"],
            "类型": [STORE[0], "医疗保健服务;医药保健销售店;药房"],
            "类型编码": [60200, 90601],
            "地址": ["a", "b"],
            "经度": [111.29, 111.30],
            "纬度": [30.70, 30.69],
        }
    ).to_excel(f, index=False)
    df, rep = import_file("outlets", f, profile=profile)
    assert df["formats"].tolist() == ["convenience_store", "pharmacy"]  # 60200 read as 060200
    assert rep.crs == "gcj02" and rep.format_counts == {"convenience_store": 1, "pharmacy": 1}


def test_file_that_is_not_what_its_extension_says(tmp_path, profile):
    f = tmp_path / "fake.xlsx"
    f.write_text("name,location\n", encoding="utf-8")
    with pytest.raises(InputFileError, match="fake.xlsx"):
        import_file("outlets", f, profile=profile)
    g = tmp_path / "x.csv"
    g.write_bytes(b"\xff\xff\x00\x81\xfe" * 10)
    with pytest.raises(InputFileError, match="x.csv"):
        read_table(g)


# ------------------------------------------------------------------------------ Amap rows


def test_bad_locations_are_all_reported_with_file_row_and_field(tmp_path, profile):
    f = write_csv(
        tmp_path / "poi.csv",
        AMAP_HEADER,
        [
            amap_row(1, "便利店A", "111.29,30.70"),
            amap_row(2, "便利店B", "111.29 30.70 12"),  # three numbers
            amap_row(3, "便利店C", "abc,30.70"),  # not a number
            amap_row(4, "便利店D", ""),  # empty
            amap_row(5, "便利店E", "-0.12,51.50"),  # London
        ],
    )
    with pytest.raises(InputError) as exc:
        import_file("outlets", f, profile=profile)
    got = {(p.file, p.row, p.field) for p in exc.value.problems}
    assert got == {
        ("poi.csv", 3, "location"),
        ("poi.csv", 4, "location"),
        ("poi.csv", 5, "location"),
        ("poi.csv", 6, "location"),
    }
    assert "poi.csv" in str(exc.value) and "第3行" in str(exc.value)


def test_swapped_coordinates_are_named_as_swapped(tmp_path, profile):
    f = write_csv(tmp_path / "poi.csv", AMAP_HEADER + [], [amap_row(1, "便利店A", "30.70,111.29")])
    with pytest.raises(InputError) as exc:
        import_file("outlets", f, profile=profile)
    assert len(exc.value.problems) == 1
    assert "颠倒" in exc.value.problems[0].message


def test_missing_column_is_one_problem_without_a_row(tmp_path, profile):
    f = write_csv(tmp_path / "poi.csv", ["name", "address", "location"], [["便利店A", "x", "111.29,30.70"]])
    with pytest.raises(InputError) as exc:
        import_file("outlets", f, profile=profile)
    assert [(p.row, p.field) for p in exc.value.problems] == [(None, "typecode")]
    f2 = write_csv(tmp_path / "c.csv", ["name", "lon", "lat", "population"], [["小区", 111.29, 30.7, 10]])
    with pytest.raises(InputError) as exc2:
        import_file("communities", f2, profile=profile)
    assert {p.field for p in exc2.value.problems} == {"district", "households", "kind"}
    assert all(p.row is None for p in exc2.value.problems)


def test_unknown_typecode_is_skipped_and_counted_not_an_error(tmp_path, profile):
    f = write_csv(
        tmp_path / "poi.csv",
        AMAP_HEADER,
        [
            amap_row(1, "便利店A", "111.29,30.70"),
            amap_row(2, "某银行", "111.29,30.70", "金融保险服务;银行;银行", "160100"),
            amap_row(3, "某公园", "not a location", "风景名胜;公园广场;公园", "110101"),  # skipped before checks
        ],
    )
    df, rep = import_file("outlets", f, profile=profile)
    assert len(df) == 1 and rep.rows_read == 3 and rep.rows_skipped == 2
    assert [p.row for p in rep.unclassified] == [3, 4] and not rep.errors
    assert set(rep.to_frame()["reason"]) == {"unclassified"}


def test_one_poi_can_match_several_formats(profile):
    clf = Classifier(profile, ("银行",))
    both = clf.formats("美宜佳(胜利四路店)", STORE[0] + "|生活服务;物流速递;物流速递", "060200|070500")
    assert both == ["convenience_store", "post_express"]
    # type segment split on '/', name keywords, and the ignore list for names
    assert clf.formats("x", "购物服务;便民商店/便利店;便民商店/便利店", "") == ["convenience_store"]
    assert clf.formats("社区日间照料中心", "", "") == ["elderly_care"]
    assert clf.formats("中国邮政储蓄银行", "金融保险服务;银行;银行", "160139") == []
    assert clf.formats("中国邮政", "金融保险服务;银行;银行", "160139") == ["post_express"]


def test_bundled_amap_sample_is_classified(profile):
    df, rep = import_file("outlets", SAMPLE, profile=profile)
    assert rep.rows_read == 30 and len(df) == 27 and len(rep.unclassified) == 3
    assert df.loc[df["name"] == "美宜佳(胜利四路店)", "formats"].item() == "convenience_store;post_express"
    assert rep.format_counts["pharmacy"] == 4 and rep.format_counts["post_express"] == 4
    assert (df["source"] == "amap").all() and df["district"].isin(
        ["420502", "420503", "420504", "420505", "420506"]
    ).all()


def test_chain_brands_from_the_list_and_from_repeated_names(profile):
    df, rep = import_file("outlets", SAMPLE, profile=profile)
    by = df.set_index("name")
    assert by.loc["国大药房(城东大道店)", "brand"] == "国药" and by.loc["国大药房(城东大道店)", "is_chain"]
    assert by.loc["Today便利店(夷陵广场店)", "brand"] == "Today"
    assert by.loc["张记早餐(江南店)", "brand"] == "张记早餐" and by.loc["张记早餐(江南店)", "is_chain"]  # 3 outlets
    assert not by.loc["丝绒理发店", "is_chain"] and pd.isna(by.loc["丝绒理发店", "brand"])
    assert rep.chain_outlets == int(df["is_chain"].sum()) == 17
    chains = load_chains()
    assert chains.match("系统EMS快递点") == "中国邮政" and chains.match("SystemsEMSx") is None
    assert base_name("张记早餐（夷陵店）") == "张记早餐"


def test_gcj02_import_moves_points_by_hundreds_of_metres(tmp_path, profile):
    wlon, wlat = 111.2958, 30.7012
    glon, glat = (float(v) for v in wgs84_to_gcj02(wlon, wlat))
    rows = [amap_row(1, "便利店A", f"{glon:.7f},{glat:.7f}")]
    f = write_csv(tmp_path / "poi.csv", AMAP_HEADER, rows)
    gcj, _ = import_file("outlets", f, profile=profile)  # default gcj02 for an Amap export
    raw, _ = import_file("outlets", f, profile=profile, crs="wgs84")
    moved = GEOD.inv(raw.lon[0], raw.lat[0], gcj.lon[0], gcj.lat[0])[2]
    assert 200 < moved < 1000
    back = GEOD.inv(wlon, wlat, gcj.lon[0], gcj.lat[0])[2]
    assert back < 0.05  # metres: GCJ-02 undone to the original point
    ref = gcj02_to_wgs84(glon, glat)
    assert np.allclose([gcj.lon[0], gcj.lat[0]], [float(ref[0]), float(ref[1])], atol=1e-9)
    bd, _ = import_file("outlets", f, profile=profile, crs="bd09")
    assert GEOD.inv(bd.lon[0], bd.lat[0], gcj.lon[0], gcj.lat[0])[2] > 200


@settings(max_examples=40, deadline=None)
@given(st.floats(110.9, 111.6), st.floats(30.4, 30.9))
def test_location_text_roundtrips_to_wgs84(tmp_path_factory, lon, lat):
    glon, glat = (float(v) for v in wgs84_to_gcj02(lon, lat))
    d = tmp_path_factory.mktemp("h")
    f = write_csv(d / "p.csv", AMAP_HEADER, [amap_row(1, "便利店A", f"{glon:.9f}，{glat:.9f}")])
    df, _ = import_file("outlets", f, profile=load_profile())
    assert abs(df.lon[0] - lon) < 1e-7 and abs(df.lat[0] - lat) < 1e-7


# ------------------------------------------------------------------------------ all or nothing


def test_a_bad_row_stops_the_file_unless_bad_rows_are_skipped(tmp_path, profile):
    f = write_csv(
        tmp_path / "c.csv",
        ["id", "name", "district", "lon", "lat", "population", "households", "kind"],
        [
            ["c1", "小区1", "420502", 111.29, 30.70, 100, 40, "old"],
            ["c2", "小区2", "420502", 111.29, 30.70, -5, 40, "old"],  # negative population
            ["c3", "小区3", "420502", 30.70, 111.29, 100, 40, "castle"],  # swapped + bad kind
            ["c1", "小区4", "420502", 111.30, 30.71, 100, 40, "new"],  # repeated id
            ["c5", "小区5", "420503", 111.31, 30.72, 80, 30, "complete"],
        ],
    )
    with pytest.raises(InputError) as exc:
        import_file("communities", f, profile=profile)
    assert [(p.row, p.field) for p in exc.value.problems] == [(3, "population"), (4, "kind"), (4, "lon"), (5, "id")]
    df, rep = import_file("communities", f, profile=profile, skip_bad_rows=True)
    assert df["id"].tolist() == ["c1", "c5"]
    assert rep.rows_read == 5 and rep.rows_kept == 2 and sorted({p.row for p in rep.errors}) == [3, 4, 5]
    frame = rep.to_frame()
    assert list(frame.columns) == ["file", "row", "field", "reason", "message"] and (frame["file"] == "c.csv").all()


def test_outlets_in_our_schema_shape_with_chinese_format_names(tmp_path, profile):
    f = write_csv(
        tmp_path / "o.csv",
        ["id", "name", "业态", "lon", "lat", "品牌", "是否连锁"],
        [
            ["o1", "便利店", "便利店;药店", 111.29, 30.70, "罗森", "是"],
            ["o2", "未知", "karaoke", 111.29, 30.70, "", ""],
        ],
    )
    with pytest.raises(InputError) as exc:
        import_file("outlets", f, profile=profile)
    assert [(p.row, p.field) for p in exc.value.problems] == [(3, "formats")]
    df, rep = import_file("outlets", f, profile=profile, skip_bad_rows=True)
    assert df["formats"].tolist() == ["convenience_store;pharmacy"] and bool(df["is_chain"][0])
    assert rep.crs == "wgs84"


def test_surveys_cannot_have_more_satisfied_than_respondents(tmp_path, profile):
    f = write_csv(
        tmp_path / "s.csv",
        ["生活圈编号", "期次", "受访人数", "满意人数"],
        [["YC01", "2024H1", 100, 93], ["YC02", "2024H1", 50, 60]],
    )
    with pytest.raises(InputError) as exc:
        import_file("surveys", f, profile=profile)
    assert [(p.row, p.field) for p in exc.value.problems] == [(3, "satisfied")]


# ------------------------------------------------------------------------------ spatial files


def test_districts_from_geojson_and_projected_geopackage(tmp_path, profile):
    gdf = gpd.GeoDataFrame(
        {"adcode": [420502, 420503], "name": ["西陵区", "伍家岗区"]},
        geometry=[box(111.25, 30.68, 111.32, 30.74), box(111.30, 30.62, 111.40, 30.70)],
        crs=4326,
    )
    gj = tmp_path / "d.geojson"
    gdf.to_file(gj, driver="GeoJSON")
    df, _rep = import_file("districts", gj, profile=profile)
    assert df["code"].tolist() == ["420502", "420503"] and df["name_zh"].tolist() == ["西陵区", "伍家岗区"]
    assert df.crs.to_epsg() == 4326
    gp = tmp_path / "d.gpkg"
    gdf.to_crs(4547).to_file(gp, driver="GPKG")  # CGCS2000 / 3-degree Gauss-Kruger CM 114E, metres
    df2, _ = import_file("districts", gp, profile=profile)
    assert np.allclose(df2.geometry.iloc[0].bounds, (111.25, 30.68, 111.32, 30.74), atol=1e-6)
    # GCJ-02 boundaries (as some Chinese sources ship) are moved back to WGS-84
    df3, _ = import_file("districts", gj, profile=profile, crs="gcj02")
    assert df3.geometry.iloc[0].bounds[0] < 111.25 - 0.003


def test_district_problems_name_the_row(tmp_path, profile):
    bow = Polygon([(111.25, 30.68), (111.3, 30.74), (111.3, 30.68), (111.25, 30.74)])  # self-crossing
    gdf = gpd.GeoDataFrame(
        {"code": ["420502", "420503", ""], "name_zh": ["西陵区", "伍家岗区", "无名"]},
        geometry=[bow, box(500000, 3400000, 501000, 3401000), box(111.3, 30.6, 111.4, 30.7)],
        crs=4326,
    )
    f = tmp_path / "d.geojson"
    gdf.to_file(f, driver="GeoJSON")
    with pytest.raises(InputError) as exc:
        import_file("districts", f, profile=profile)
    assert [(p.row, p.field) for p in exc.value.problems] == [(3, "geometry"), (4, "code")]
    df, _ = import_file("districts", f, profile=profile, skip_bad_rows=True)
    assert df.geometry.iloc[0].is_valid  # the bow-tie was repaired


def test_circles_from_csv_with_chinese_values(tmp_path, profile):
    f = write_csv(
        tmp_path / "circles.csv",
        ["生活圈编号", "生活圈名称", "所属区", "批次", "状态"],
        [["YC01", "东山生活圈", "420502", "试点", "已验收"]],
    )
    df, _ = import_file("circles", f, profile=profile)
    assert df[["phase", "status"]].iloc[0].tolist() == ["pilot", "accepted"]


# ------------------------------------------------------------------------------ the command


@pytest.fixture
def cli():
    from typer.testing import CliRunner

    from lifecircle.cli import _register
    from lifecircle.cli.app import app

    _register()
    runner = CliRunner()
    yield lambda *args: runner.invoke(app, ["--lang", "en", "import", *map(str, args)])
    set_lang(None)  # --lang en is process-wide


def test_cli_stores_nothing_from_a_file_with_errors(tmp_path, store_db, cli):
    from lifecircle.city import store

    db = store_db  # an SQLite file, then a fresh PostgreSQL database (CI / LIFECIRCLE_TEST_PG=1)
    f = write_csv(
        tmp_path / "poi.csv",
        AMAP_HEADER,
        [amap_row(1, "便利店A", "111.29,30.70"), amap_row(2, "便利店B", "30.70,111.29"), amap_row(3, "便利店C", "x,y")],
    )
    rep = tmp_path / "bad.csv"
    res = cli("outlets", f, "--db", db, "--report", rep, "--city", "宜昌")
    assert res.exit_code == 2 and store.list_cities(db) == []
    assert "poi.csv, row 3, field 'location'" in res.output and "row 4" in res.output
    assert "Traceback" not in res.output
    assert pd.read_csv(rep, encoding="utf-8-sig")["row"].tolist() == [3, 4, 4]
    res = cli("outlets", f, "--db", db, "--skip-bad-rows", "--report", rep, "--city", "宜昌")
    assert res.exit_code == 0, res.output
    assert store.load_city(db, "宜昌").outlets["name"].tolist() == ["便利店A"]
    assert "convenience_store" in res.output
    assert set(pd.read_csv(rep, encoding="utf-8-sig")["reason"]) == {"error"}
    # a later file with errors leaves the stored city as it was
    res = cli("outlets", f, "--db", db, "--city", "宜昌")
    assert res.exit_code == 2 and len(store.load_city(db, "宜昌").outlets) == 1


def test_cli_adds_tables_to_one_city_and_maps_district_names(tmp_path, store_db, cli):
    from lifecircle.city import store

    db = store_db
    gdf = gpd.GeoDataFrame(
        {"adcode": ["420502"], "name": ["西陵区"]}, geometry=[box(111.25, 30.68, 111.32, 30.74)], crs=4326
    )
    gdf.to_file(tmp_path / "d.geojson", driver="GeoJSON")
    assert cli("districts", tmp_path / "d.geojson", "--db", db).exit_code == 0
    res = cli("outlets", SAMPLE, "--db", db)
    assert res.exit_code == 0, res.output
    assert "gcj02" in res.output and "skipped: no format" in res.output
    f = write_csv(
        tmp_path / "c.csv",
        ["小区名称", "所属区", "经度", "纬度", "人口", "户数", "小区类型"],
        [["桃花岭小区", "西陵区", 111.2915, 30.7067, 3200, 1100, "老旧"]],
    )
    res = cli("communities", f, "--db", db)
    assert res.exit_code == 0, res.output
    city = store.load_city(db, "yichang")
    assert len(city.outlets) == 27 and len(city.districts) == 1
    assert city.communities["district"].tolist() == ["420502"]  # 西陵区 → its code
    # a second city in a store that has one needs --create
    res = cli("districts", tmp_path / "d.geojson", "--db", db, "--city", "别城")
    assert res.exit_code == 2 and "yichang" in res.output and "--create" in res.output
    assert cli("districts", tmp_path / "d.geojson", "--db", db, "--city", "别城", "--create").exit_code == 0
    # importing a table again with --replace replaces it in that city only; the city's other tables stay
    one = write_csv(tmp_path / "one.csv", AMAP_HEADER, [amap_row(1, "便利店A", "111.29,30.70")])
    res = cli("outlets", one, "--db", db)  # by default: added to the 27
    assert res.exit_code == 0 and "added 1, updated 0, unchanged 0, deleted 0" in res.output, res.output
    res = cli("outlets", one, "--db", db, "--replace")
    assert res.exit_code == 0 and "added 0, updated 0, unchanged 1, deleted 27" in res.output, res.output
    city = store.load_city(db, "yichang")
    assert city.outlets["name"].tolist() == ["便利店A"] and len(city.districts) == 1 and len(city.communities) == 1
    assert {c.name: c.tables for c in store.list_cities(db)}["别城"] == {"districts": 1}
    res = cli("shops", SAMPLE, "--db", db)
    assert res.exit_code == 2 and "unknown kind 'shops'" in res.output
    res = cli("outlets", tmp_path / "missing.csv", "--db", db)
    assert res.exit_code == 2 and "file not found" in res.output
