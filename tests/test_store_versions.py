"""The city store's schema versions, provenance and atomic creation: a version-1 store (exactly as
the code before versions wrote it) still opens, is migrated when written, and keeps its data; a
store newer than the code is refused; an interrupted first save leaves no file behind."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
import sqlalchemy as sa
from shapely.geometry import LineString

import lifecircle.city.store as store
from lifecircle.city.model import City
from lifecircle.city.store_db import column_names
from lifecircle.errors import InputError

# The schema version 1 as `METADATA.create_all` wrote it (SQLite DDL; DOUBLE is DOUBLE PRECISION
# on PostgreSQL). Frozen here on purpose: it must never follow the code.
V1_DDL = (
    "\n"
    "CREATE TABLE candidate_sites ( city_name VARCHAR(200) NOT NULL,  row_no INTEGER NOT NULL,  id TEXT,  "
    "name TEXT,  kind TEXT,  lon DOUBLE,  lat DOUBLE,  district TEXT,  floor_area_m2 DOUBLE,  source TEXT );\n"
    "CREATE INDEX ix_candidate_sites_city_name ON candidate_sites (city_name);\n"
    "CREATE TABLE centre_candidates ( city_name VARCHAR(200) NOT NULL,  row_no INTEGER NOT NULL,  id TEXT,  "
    "name TEXT,  kind TEXT,  lon DOUBLE,  lat DOUBLE,  district TEXT,  source TEXT );\n"
    "CREATE INDEX ix_centre_candidates_city_name ON centre_candidates (city_name);\n"
    "CREATE TABLE circles ( city_name VARCHAR(200) NOT NULL,  row_no INTEGER NOT NULL,  id TEXT,  name TEXT,  "
    "district TEXT,  phase TEXT,  centre_id TEXT,  status TEXT,  geometry TEXT,  source TEXT );\n"
    "CREATE INDEX ix_circles_city_name ON circles (city_name);\n"
    "CREATE TABLE communities ( city_name VARCHAR(200) NOT NULL,  row_no INTEGER NOT NULL,  id TEXT,  name TEXT,  "
    "district TEXT,  lon DOUBLE,  lat DOUBLE,  population BIGINT,  households BIGINT,  build_year BIGINT,  "
    "floor_area_m2 DOUBLE,  commercial_floor_area_m2 DOUBLE,  service_floor_area_m2 DOUBLE,  "
    "elderly_share DOUBLE,  kind TEXT,  circle_id TEXT,  source TEXT );\n"
    "CREATE INDEX ix_communities_city_name ON communities (city_name);\n"
    "CREATE TABLE districts ( city_name VARCHAR(200) NOT NULL,  row_no INTEGER NOT NULL,  code TEXT,  "
    "name_zh TEXT,  name_en TEXT,  geometry TEXT,  source TEXT );\n"
    "CREATE INDEX ix_districts_city_name ON districts (city_name);\n"
    "CREATE TABLE meta ( city_name VARCHAR(200) NOT NULL,  profile TEXT NOT NULL,  synthetic BOOLEAN NOT NULL,  "
    "credits TEXT NOT NULL,  columns TEXT NOT NULL,  created TEXT NOT NULL,  store_version INTEGER NOT NULL,  "
    "title TEXT,  PRIMARY KEY (city_name) );\n"
    "CREATE TABLE outlets ( city_name VARCHAR(200) NOT NULL,  row_no INTEGER NOT NULL,  id TEXT,  name TEXT,  "
    "formats TEXT,  lon DOUBLE,  lat DOUBLE,  district TEXT,  brand TEXT,  is_chain BOOLEAN,  "
    "floor_area_m2 DOUBLE,  opening_hours TEXT,  accepts_cash BOOLEAN,  barrier_free BOOLEAN,  "
    "elderly_counter BOOLEAN,  address TEXT,  source TEXT );\n"
    "CREATE INDEX ix_outlets_city_name ON outlets (city_name);\n"
    "CREATE TABLE streets ( city_name VARCHAR(200) NOT NULL,  row_no INTEGER NOT NULL,  geometry TEXT,  "
    "highway TEXT,  name TEXT,  source TEXT );\n"
    "CREATE INDEX ix_streets_city_name ON streets (city_name);\n"
    "CREATE TABLE surveys ( city_name VARCHAR(200) NOT NULL,  row_no INTEGER NOT NULL,  circle_id TEXT,  "
    "period TEXT,  respondents BIGINT,  satisfied BIGINT,  source TEXT );\n"
    "CREATE INDEX ix_surveys_city_name ON surveys (city_name);\n"
)
V1_ROWS = [
    "INSERT INTO meta VALUES ('宜昌', 'yichang-2022', false, '[\"OSM\"]', "
    '\'{"streets": ["geometry", "highway", "name", "source"], '
    '"outlets": ["id", "name", "formats", "lon", "lat", "source"]}\', '
    "'2026-01-01T00:00:00+00:00', 1, '宜昌市')",
    "INSERT INTO streets VALUES ('宜昌', 0, 'LINESTRING (111.28 30.7, 111.29 30.7)', 'primary', '夷陵大道', 'import')",
    "INSERT INTO streets VALUES ('宜昌', 1, 'LINESTRING (111.29 30.7, 111.29 30.71)', 'footway', NULL, 'import')",
    "INSERT INTO outlets (city_name, row_no, id, name, formats, lon, lat, source) "
    "VALUES ('宜昌', 0, 'B01', '便利店', 'convenience_store', 111.29, 30.7, 'amap')",
]


def _exec(db: str | Path, statements: list[str]) -> None:
    engine = sa.create_engine(store.store_url(db))
    try:
        with engine.begin() as c:
            for stmt in statements:
                c.exec_driver_sql(
                    stmt.replace("DOUBLE", "DOUBLE PRECISION") if c.dialect.name == "postgresql" else stmt
                )
    finally:
        engine.dispose()


def _columns(db: str | Path, table: str) -> list[str]:
    engine = sa.create_engine(store.store_url(db))
    try:
        with engine.connect() as c:
            return sorted(column_names(c, table))
    finally:
        engine.dispose()


def _version(db: str | Path) -> int | None:
    engine = sa.create_engine(store.store_url(db))
    try:
        with engine.connect() as c:
            return store.schema_version(c)
    finally:
        engine.dispose()


def make_v1_store(db: str | Path) -> None:
    """A version-1 store with one city (two streets, one outlet), written with raw SQL."""
    _exec(db, [s for s in V1_DDL.strip().splitlines() if s.strip()] + V1_ROWS)


def test_a_version_1_store_reads_then_migrates_when_written(store_db):
    db = store_db
    make_v1_store(db)
    assert _version(db) == 1
    # reading does not migrate: the city loads as it was, with no provenance
    city = store.load_city(db, "宜昌")
    assert city.title == "宜昌市" and city.provenance == {} and city.credits == ["OSM"]
    assert city.streets["name"].tolist()[0] == "夷陵大道" and len(city.streets) == 2
    assert [c.name for c in store.list_cities(db)] == ["宜昌"]
    assert "id" not in _columns(db, "streets") and _version(db) == 1
    # a dry run does not migrate either
    new = pd.DataFrame(
        {
            "geometry": [LineString([(111.3, 30.7), (111.31, 30.7)])],
            "highway": ["residential"],
            "bridge": [True],
            "layer": [1],
        }
    )
    assert store.merge_table(db, "宜昌", "streets", new, dry_run=True).added == 1
    assert _version(db) == 1
    # the first write migrates in the same transaction: new columns, data intact
    res = store.merge_table(db, "宜昌", "streets", new)
    assert (res.added, res.updated, res.unchanged, res.deleted) == (1, 0, 0, 0)  # the stored rows stay
    assert _version(db) == store.STORE_VERSION == 3
    assert {"id", "bridge", "tunnel", "layer"} <= set(_columns(db, "streets"))
    assert "provenance" in _columns(db, "meta")
    # version 3 on PostgreSQL with PostGIS: generated geom columns (none on SQLite)
    assert ("geom" in _columns(db, "streets")) == (isinstance(db, str) and db.startswith("postgresql"))
    back = store.load_city(db, "宜昌")
    assert (
        back.streets["name"].iloc[0] == "夷陵大道" and pd.isna(back.streets["name"].iloc[1]) and len(back.streets) == 3
    )
    assert back.streets["layer"].tolist()[2] == 1 and bool(back.streets["bridge"].tolist()[2])
    assert back.outlets["id"].tolist() == ["B01"] and back.title == "宜昌市" and back.provenance == {}
    # the same streets again: nothing changes; a stored id-less street is matched by its geometry
    res = store.merge_table(db, "宜昌", "streets", new)
    assert (res.added, res.updated, res.unchanged) == (0, 0, 1)
    old = pd.DataFrame(
        {
            "geometry": [LineString([(111.28, 30.7), (111.29, 30.7)])],
            "highway": ["primary"],
            "name": ["夷陵大道"],
            "source": ["import"],
        }
    )
    res = store.merge_table(db, "宜昌", "streets", old)
    assert (res.added, res.updated, res.unchanged) == (0, 1, 0)  # now with its id (the geometry hash)
    assert len(store.load_city(db, "宜昌").streets) == 3


def test_a_store_newer_than_the_code_is_refused(store_db):
    db = store_db
    store.save_city(City(name="x"), db)
    _exec(db, [f"UPDATE store_schema SET version = {store.STORE_VERSION + 1}"])
    for call in (
        lambda: store.load_city(db, "x"),
        lambda: store.list_cities(db),
        lambda: store.save_city(City(name="y"), db),
    ):
        with pytest.raises(InputError, match="newer|新"):
            call()


def test_provenance_round_trips(store_db):
    city = City(name="演示", title="宜昌市（演示）", provenance={"name": "yichang-demo", "scale": 0.1, "seed": 7})
    store.save_city(city, store_db)
    back = store.load_city(store_db, "演示")
    assert back.provenance == {"name": "yichang-demo", "scale": 0.1, "seed": 7}
    assert list(City.__dataclass_fields__).index("provenance") == list(City.__dataclass_fields__).index("title") + 1


def test_interrupted_first_save_leaves_no_file(tmp_path, monkeypatch):
    """Ctrl-C during the save of a new store: no file (not a 0-byte or half-made one) remains."""
    db = tmp_path / "new.db"
    real = store._records

    def interrupted(name, city_name, df):
        if name == "streets":
            raise KeyboardInterrupt
        return real(name, city_name, df)

    monkeypatch.setattr(store, "_records", interrupted)
    city = City(
        name="c",
        tables={
            "streets": pd.DataFrame({"geometry": [LineString([(111.3, 30.7), (111.31, 30.7)])]}),
            "surveys": pd.DataFrame({"circle_id": ["A"], "period": ["2024H1"], "respondents": [10], "satisfied": [9]}),
        },
    )
    with pytest.raises(KeyboardInterrupt):
        store.save_city(city, db)
    assert list(tmp_path.iterdir()) == []  # neither the store nor a temporary file
    assert store.list_cities(db) == []
    monkeypatch.setattr(store, "_records", real)
    store.save_city(city, db)
    # interrupted while writing into the existing store: the store is intact
    monkeypatch.setattr(store, "_records", interrupted)
    with pytest.raises(KeyboardInterrupt):
        store.save_city(City(name="d", tables=dict(city.tables)), db)
    assert [c.name for c in store.list_cities(db)] == ["c"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["new.db"]


def test_interrupted_merge_into_a_new_store_leaves_no_file(tmp_path, monkeypatch):
    db = tmp_path / "m.db"

    def interrupted(*_a, **_k):
        raise KeyboardInterrupt

    monkeypatch.setattr(store, "_apply", interrupted)
    with pytest.raises(KeyboardInterrupt):
        store.merge_table(
            db,
            "c",
            "surveys",
            pd.DataFrame({"circle_id": ["A"], "period": ["2024H1"], "respondents": [10], "satisfied": [9]}),
        )
    assert list(tmp_path.iterdir()) == []


def test_meta_records_the_store_version(tmp_path):
    db = tmp_path / "s.db"
    store.save_city(City(name="a"), db)
    engine = sa.create_engine(store.store_url(db))
    with engine.connect() as c:
        row = c.exec_driver_sql("select store_version, provenance from meta").one()
    engine.dispose()
    assert row[0] == store.STORE_VERSION and json.loads(row[1]) == {}
