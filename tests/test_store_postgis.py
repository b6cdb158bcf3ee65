"""The city store on PostgreSQL with PostGIS (issue 13 part 4): the same migrations give PostGIS
``geom`` columns with GiST indexes, which the planner uses; cities round-trip on SQLite and on
PostGIS (the demo city, and the mixed-CRS sample city imported from its files); several cities
saved at the same moment into one store all come back whole; a server without PostGIS is said
in one line and the store works on with WKT text.

PostgreSQL tests run in CI or with ``LIFECIRCLE_TEST_PG=1`` (:mod:`pg_server`); in CI a server
without PostGIS is a failure, not a skip."""

from __future__ import annotations

import dataclasses
import logging
import multiprocessing
import shutil
from concurrent.futures import Executor, ProcessPoolExecutor, ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import shapely
import sqlalchemy as sa

import lifecircle.city.store as store
from lifecircle.city.demo import build_demo_city
from lifecircle.city.model import City
from lifecircle.city.store_db import column_names
from lifecircle.city.store_spatial import GEOM, SPATIAL_COLUMNS, gist_index, postgis_ready
from pg_server import IN_CI, fresh_database, has_postgis

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "mini-city"


@pytest.fixture(scope="module")
def demo() -> City:
    return build_demo_city(seed=3, scale=0.05)


@pytest.fixture
def postgis_url(pg_url) -> str:
    """The URL of the test server, which must have PostGIS (a failure in CI, else a skip)."""
    if not has_postgis(pg_url):
        msg = "the test PostgreSQL server has no PostGIS (apt-get install postgresql-15-postgis-3)"
        if IN_CI:
            pytest.fail(msg)
        pytest.skip(msg)
    return pg_url


def _assert_same(a: City, b: City) -> None:
    assert (a.profile, a.synthetic, a.credits, a.title, a.provenance) == (
        b.profile,
        b.synthetic,
        b.credits,
        b.title,
        b.provenance,
    )
    assert set(a.tables) == set(b.tables)
    for name in a.tables:
        pd.testing.assert_frame_equal(pd.DataFrame(a.tables[name]), pd.DataFrame(b.tables[name]), obj=name)


def _check_geom_columns(db: str | Path, city: City) -> None:
    """On PostGIS: every spatial table has its ``geom`` column, SRID 4326, equal to the stored
    geometry (WKT or lon/lat) of every row, and its GiST index."""
    engine = sa.create_engine(store.store_url(db))
    try:
        with engine.connect() as c:
            assert postgis_ready(c)
            for table in SPATIAL_COLUMNS:
                assert GEOM in column_names(c, table), table
                idx = {
                    r[0]
                    for r in c.execute(sa.text("SELECT indexname FROM pg_indexes WHERE tablename = :t"), {"t": table})
                }
                assert gist_index(table) in idx, (table, idx)
                if table not in city.tables or city.tables[table].empty:
                    continue
                rows = c.execute(
                    sa.text(
                        f"SELECT ST_AsBinary({GEOM}), ST_SRID({GEOM}) FROM {table} WHERE city_name = :n ORDER BY row_no"
                    ),
                    {"n": city.name},
                ).all()
                df = city.tables[table]
                assert len(rows) == len(df), table
                if SPATIAL_COLUMNS[table][0].startswith("geometry(Geometry") and "geometry" not in df.columns:
                    assert {r[0] for r in rows} == {None}, table  # circles without boundaries
                    continue
                assert {r[1] for r in rows} == {4326}, table
                got = shapely.from_wkb([bytes(r[0]) for r in rows])
                want = (
                    np.asarray(df.geometry, dtype=object)
                    if "geometry" in df.columns
                    else shapely.points(df["lon"].to_numpy(float), df["lat"].to_numpy(float))
                )
                assert shapely.equals_exact(got, want, tolerance=0).all(), table
    finally:
        engine.dispose()


def test_demo_city_round_trips_and_gets_postgis_columns(store_db, demo):
    store.save_city(demo, store_db)
    _assert_same(demo, store.load_city(store_db, demo.name))
    if isinstance(store_db, str) and store_db.startswith("postgresql"):
        _check_geom_columns(store_db, demo)
    else:  # SQLite: the same tables, geometry as WKT text, no extra column
        engine = sa.create_engine(store.store_url(store_db))
        with engine.connect() as c:
            assert GEOM not in column_names(c, "outlets") and store.schema_version(c) == store.STORE_VERSION
        engine.dispose()


def test_mixed_crs_city_imported_from_files_round_trips(store_db, cli, tmp_path):
    """The sample city (streets and districts in UTM 49N metres, Amap outlets in GCJ-02) imported
    file by file into the store, loaded, saved again under another name: the same tables."""
    files = tmp_path / "files"
    shutil.copytree(EXAMPLE, files)
    imports = [
        ("streets", "streets.geojson"),
        ("districts", "districts.geojson"),
        ("communities", "communities.xlsx"),
        ("circles", "circles.csv"),
        ("outlets", "amap_export_1.csv"),
        ("outlets", "amap_export_2.csv"),
    ]
    for kind, name in imports:
        code, out, err = cli("import", kind, files / name, "--db", store_db, "--city", "mini")
        assert code == 0, (kind, out, err)
    city = store.load_city(store_db, "mini")
    assert len(city.streets) > 0 and len(city.outlets) == 4 and len(city.districts) > 0
    assert 110 < float(city.outlets["lon"].min()) < 112  # reprojected to WGS-84
    copy = dataclasses.replace(city, name="mini-copy")
    store.save_city(copy, store_db)
    _assert_same(city, store.load_city(store_db, "mini-copy"))
    if isinstance(store_db, str) and store_db.startswith("postgresql"):
        _check_geom_columns(store_db, copy)


def _many_outlets(n: int, seed: int = 1) -> City:
    rng = np.random.default_rng(seed)
    lon, lat = rng.uniform(111.2, 111.5, n), rng.uniform(30.6, 30.9, n)
    outlets = pd.DataFrame(
        {
            "id": [f"S{i:06d}" for i in range(n)],
            "name": [f"店{i}" for i in range(n)],
            "formats": "convenience_store",
            "lon": lon,
            "lat": lat,
        }
    )
    return City(name="grid", profile="yichang-2022", tables={"outlets": outlets})


def test_outlets_in_a_polygon_use_the_spatial_index(postgis_url):
    """20,000 outlets, a polygon holding about 0.4% of them: the planner picks the GiST index
    (a bitmap scan on it, chosen freely), and the query finds exactly the outlets inside."""
    city = _many_outlets(20_000)
    with fresh_database(postgis_url, prefix="lc_gist") as url:
        store.save_city(city, url)
        engine = sa.create_engine(url)
        try:
            with engine.connect() as c:
                c.exec_driver_sql("ANALYZE outlets")
                poly = "POLYGON((111.30 30.70, 111.32 30.70, 111.32 30.72, 111.30 30.72, 111.30 30.70))"
                q = f"SELECT id FROM outlets WHERE city_name = 'grid' AND ST_Within({GEOM}, ST_GeomFromText(:p, 4326))"
                plan = "\n".join(r[0] for r in c.execute(sa.text("EXPLAIN " + q), {"p": poly}))
                assert f"Index Scan using {gist_index('outlets')}" in plan or (
                    f"Bitmap Index Scan on {gist_index('outlets')}" in plan
                ), plan
                # and as a plain index scan when bitmap scans are off
                c.exec_driver_sql("SET enable_bitmapscan = off")
                plain = "\n".join(r[0] for r in c.execute(sa.text("EXPLAIN " + q), {"p": poly}))
                assert f"Index Scan using {gist_index('outlets')} on outlets" in plain, plain
                c.exec_driver_sql("RESET enable_bitmapscan")
                got = sorted(r[0] for r in c.execute(sa.text(q), {"p": poly}))
        finally:
            engine.dispose()
    o = city.outlets
    inside = (o["lon"] > 111.30) & (o["lon"] < 111.32) & (o["lat"] > 30.70) & (o["lat"] < 30.72)
    assert got == sorted(o.loc[inside, "id"]) and len(got) > 50


def _save(city: City, url: str) -> None:
    store.save_city(city, url)


@pytest.mark.parametrize("workers", ["threads", "processes"])
def test_many_cities_saved_at_once_into_one_postgis_store(postgis_url, demo, cli, workers):
    """Six cities saved at the same moment by six threads (or processes) into one new, empty
    database: the first writers race to create the schema, every city lands whole, and
    ``city list`` shows them."""
    cities = [dataclasses.replace(demo, name=f"city-{i}", title=f"城市{i}") for i in range(6)]
    with fresh_database(postgis_url, prefix="lc_many") as url:
        if workers == "threads":
            pool: Executor = ThreadPoolExecutor(max_workers=6)
        else:
            pool = ProcessPoolExecutor(max_workers=6, mp_context=multiprocessing.get_context("fork"))
        with pool:
            list(pool.map(_save, cities, [url] * len(cities)))
        assert store.city_names(url) == [c.name for c in cities]
        for c in cities:
            back = store.load_city(url, c.name)
            assert back.title == c.title
            _assert_same(c, back)
        _check_geom_columns(url, cities[3])
        plain_url = url.replace("postgresql+psycopg://", "postgresql://")  # as a user types it
        code, out, err = cli("city", "list", "--db", plain_url)
        assert code == 0, out + err
        for c in cities:
            assert c.name in out, out


def test_a_server_without_postgis_is_one_line_and_the_store_works_on(pg_url, demo, caplog):
    """A database whose owner may not create PostGIS (not a superuser): the store says so in one
    line with how to install it, and saves with WKT text only; once an administrator creates the
    extension, the next save adds the spatial columns."""
    admin = sa.create_engine(pg_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as c:
        c.exec_driver_sql("DROP ROLE IF EXISTS lc_plain")
        c.exec_driver_sql("CREATE ROLE lc_plain LOGIN")
    try:
        with fresh_database(pg_url, prefix="lc_plain", postgis=False) as url:
            name = sa.make_url(url).database
            with admin.connect() as c:
                c.exec_driver_sql(f'ALTER DATABASE "{name}" OWNER TO lc_plain')
            plain = sa.make_url(url).set(username="lc_plain").render_as_string(hide_password=False)
            with caplog.at_level(logging.WARNING, logger="lifecircle.store"):
                store.save_city(demo, plain)
            lines = [r.getMessage() for r in caplog.records if r.name == "lifecircle.store"]
            assert len(lines) == 1 and "\n" not in lines[0], lines
            assert "PostGIS" in lines[0] and "CREATE EXTENSION postgis" in lines[0] and "apt-get install" in lines[0]
            _assert_same(demo, store.load_city(plain, demo.name))
            engine = sa.create_engine(plain)
            with engine.connect() as c:
                assert GEOM not in column_names(c, "outlets") and store.schema_version(c) == store.STORE_VERSION
            engine.dispose()
            if has_postgis(pg_url):  # the administrator enables PostGIS: the next save adds the columns
                db = sa.create_engine(url)
                with db.begin() as c:
                    c.exec_driver_sql("CREATE EXTENSION postgis")
                db.dispose()
                other = dataclasses.replace(demo, name="second")
                store.save_city(other, plain)
                _check_geom_columns(plain, demo)
    finally:
        with admin.connect() as c:
            c.exec_driver_sql("DROP ROLE IF EXISTS lc_plain")
        admin.dispose()
