"""`lifecircle import streets`: street lines from GeoPackage, Shapefile (.shp and zipped), GeoJSON,
GeoParquet and OSM PBF into the store, in WGS-84 whatever the file's CRS, with id, bridge, tunnel
and layer kept for noding."""

from __future__ import annotations

import zipfile
from pathlib import Path

import geopandas as gpd
import numpy as np
import pytest
from pyproj import Geod
from shapely.geometry import LineString, MultiLineString, Point

import lifecircle.city.store as store
from lifecircle.city.ids import geometry_id
from lifecircle.errors import InputError
from lifecircle.i18n import set_lang
from lifecircle.sources.coords import gcj02_to_wgs84
from lifecircle.sources.importer import import_file

LINES = [
    LineString([(111.28, 30.70), (111.29, 30.70)]),
    MultiLineString([[(111.28, 30.71), (111.29, 30.71)], [(111.29, 30.71), (111.30, 30.72)]]),
    LineString([(111.285, 30.69), (111.285, 30.72)]),
]


def streets_gdf() -> gpd.GeoDataFrame:
    """Three features (one a two-part MultiLineString), Geofabrik-style attribute names."""
    return gpd.GeoDataFrame(
        {
            "osm_id": [11, 12, 13],
            "name": ["夷陵大道", "东山大道", "桥"],
            "fclass": ["primary", "secondary", "footway"],
            "bridge": ["F", "F", "T"],
            "tunnel": ["F", "F", "F"],
            "layer": [0, 0, 1],
        },
        geometry=LINES,
        crs=4326,
    )


def write(gdf: gpd.GeoDataFrame, path: Path) -> Path:
    """``gdf`` as the file ``path`` (by extension; ``.zip`` is a zipped shapefile)."""
    if path.suffix == ".parquet":
        gdf.to_parquet(path)
    elif path.suffix == ".zip":
        shp = write(gdf, path.parent / "zipped" / "roads.shp")
        with zipfile.ZipFile(path, "w") as z:
            for f in shp.parent.iterdir():
                z.write(f, f.name)
    else:
        path.parent.mkdir(parents=True, exist_ok=True)
        gdf.to_file(path)
    return path


@pytest.mark.parametrize("name", ["s.gpkg", "s.shp", "s.zip", "s.geojson", "s.parquet"])
def test_streets_from_every_file_format(tmp_path, name):
    f = write(streets_gdf(), tmp_path / name)
    df, rep = import_file("streets", f)
    assert rep.rows_read == 3 and rep.rows_kept == 4  # the MultiLineString split in two parts
    assert df["id"].tolist() == ["11", "12-1", "12-2", "13"]
    assert df["highway"].tolist() == ["primary", "secondary", "secondary", "footway"]
    assert df["bridge"].tolist() == [False, False, False, True] and not df["tunnel"].any()
    assert df["layer"].tolist() == [0, 0, 0, 1]
    assert set(df.geom_type) == {"LineString"} and df.crs.to_epsg() == 4326
    assert df.geometry.iloc[0].equals_exact(LINES[0], 1e-9)
    geodesic_km = sum(Geod(ellps="WGS84").geometry_length(g) for g in LINES) / 1000.0
    assert rep.length_km == pytest.approx(geodesic_km, rel=1e-3)  # measured in UTM 49N


def test_chinese_headers_and_road_classes(tmp_path):
    gdf = gpd.GeoDataFrame(
        {
            "道路编号": ["R1", "R2", "R3"],
            "道路名称": ["夷陵大道", "东山大道", "人行天桥"],
            "道路等级": ["主干路", "次干路", "人行道"],
            "是否桥梁": ["否", "否", "是"],
            "隧道": ["否", "是", "否"],
            "图层高度": ["0", "-1", "1"],
        },
        geometry=LINES,
        crs=4326,
    )
    df, _ = import_file("streets", write(gdf, tmp_path / "路网.gpkg"))
    assert df["name"].tolist()[0] == "夷陵大道" and df["id"].tolist() == ["R1", "R2-1", "R2-2", "R3"]
    assert df["highway"].tolist() == ["primary", "secondary", "secondary", "footway"]
    assert df["bridge"].tolist() == [False, False, False, True]
    assert df["tunnel"].tolist() == [False, True, True, False] and df["layer"].tolist() == [0, -1, -1, 1]


@pytest.mark.parametrize("epsg", [4547, 32649])  # CGCS2000 / 3-degree GK CM 114E; WGS 84 / UTM 49N
def test_projected_file_comes_back_in_wgs84_at_the_right_place(tmp_path, epsg):
    f = write(streets_gdf().to_crs(epsg), tmp_path / "p.gpkg")
    df, rep = import_file("streets", f)
    assert np.allclose(df.geometry.iloc[0].coords, LINES[0].coords, atol=1e-7)
    assert any("WGS-84" in n for n in rep.notes)


def test_gcj02_street_vertices_are_converted(tmp_path):
    f = write(streets_gdf(), tmp_path / "s.geojson")
    df, rep = import_file("streets", f, crs="gcj02")
    x, y = gcj02_to_wgs84([111.28, 111.29], [30.70, 30.70])
    assert np.allclose(np.asarray(df.geometry.iloc[0].coords), np.column_stack([x, y]), atol=1e-9)
    assert rep.crs == "gcj02"
    bd, _ = import_file("streets", f, crs="bd09")
    assert bd.geometry.iloc[0].coords[0][0] < df.geometry.iloc[0].coords[0][0]


def test_a_file_without_crs(tmp_path):
    f = write(streets_gdf().set_crs(None, allow_override=True), tmp_path / "nocrs.parquet")
    df, rep = import_file("streets", f)  # degrees in China: taken as WGS-84, and said so
    assert len(df) == 4 and any("WGS-84" in n for n in rep.notes)
    g = write(streets_gdf().to_crs(4547).set_crs(None, allow_override=True), tmp_path / "metres.parquet")
    with pytest.raises(InputError) as exc:
        import_file("streets", g)
    (p,) = exc.value.problems
    assert p.row is None and p.file == "metres.parquet" and "EPSG" in p.message


def test_other_geometry_types_are_problems_naming_the_row(tmp_path):
    gdf = streets_gdf()
    gdf.loc[1, "geometry"] = Point(111.28, 30.7)
    f = write(gdf, tmp_path / "mixed.geojson")
    with pytest.raises(InputError) as exc:
        import_file("streets", f)
    assert [(p.row, p.field) for p in exc.value.problems] == [(3, "geometry")]
    assert "Point" in exc.value.problems[0].message
    df, rep = import_file("streets", f, skip_bad_rows=True)
    assert df["id"].tolist() == ["11", "13"] and rep.rows_read == 3 and rep.rows_kept == 2


def test_ids_without_an_id_column_are_stable(tmp_path):
    gdf = streets_gdf().drop(columns=["osm_id"])
    a, _ = import_file("streets", write(gdf, tmp_path / "a.gpkg"))
    b, _ = import_file("streets", write(gdf, tmp_path / "b.geojson"))
    assert a["id"].tolist() == b["id"].tolist() == [geometry_id(g) for g in a.geometry]


def test_pbf_walking_ways_with_osm_ids_and_tags():
    import pyrosm

    df, rep = import_file("streets", pyrosm.get_data("test_pbf"))
    assert rep.rows_read == rep.rows_kept == len(df) == 237
    assert df["id"].str.fullmatch(r"\d+").all() and df["id"].is_unique
    assert (df["source"] == "osm").all() and df["highway"].notna().all()
    assert df["bridge"].fillna(False).sum() >= 1 and set(df["layer"].dropna()) == {1}
    assert 40 < rep.length_km < 50


@pytest.fixture
def cli():
    from typer.testing import CliRunner

    from lifecircle.cli import _register
    from lifecircle.cli.app import app

    _register()
    runner = CliRunner()
    yield lambda *args: runner.invoke(app, ["import", "streets", *map(str, args)])
    set_lang(None)


def test_cli_streets_into_the_store_twice(tmp_path, store_db, cli, helsinki_pbf):
    db = store_db
    res = cli(helsinki_pbf, "--db", db, "--city", "helsinki")
    assert res.exit_code == 0, res.output
    assert "新增 2321，更新 0，未变 0，删除 0" in res.output and "道路总长（公里）" in res.output
    res = cli(helsinki_pbf, "--db", db, "--city", "helsinki")
    assert "新增 0，更新 0，未变 2321，删除 0" in res.output
    streets = store.load_city(db, "helsinki").streets
    assert len(streets) == 2321 and {"id", "bridge", "tunnel", "layer"} <= set(streets.columns)
    assert streets["tunnel"].fillna(False).sum() > 0 and streets["layer"].min() < 0
    # a file of lines in another city of the store
    f = write(streets_gdf(), tmp_path / "s.gpkg")
    res = cli(f, "--db", db, "--city", "宜昌", "--create")
    assert res.exit_code == 0 and "新增 4" in res.output


def test_cli_streets_errors_exit_2_once(tmp_path, cli):
    gdf = streets_gdf()
    gdf.loc[0, "geometry"] = Point(111.28, 30.7)
    f = write(gdf, tmp_path / "bad.geojson")
    res = cli(f, "--db", tmp_path / "s.db")
    assert res.exit_code == 2 and res.output.count("第2行") == 1 and "--skip-bad-rows" in res.output
    assert not (tmp_path / "s.db").exists()
    txt = tmp_path / "streets.csv"
    txt.write_text("a,b\n1,2\n", encoding="utf-8")
    res = cli(txt, "--db", tmp_path / "s.db")
    assert res.exit_code == 2 and ".csv" in res.output and "Traceback" not in res.output
