"""The city store: a city saved and loaded comes back equal; a save is all or nothing — on SQLite
and on a real PostgreSQL (``store_db`` runs each test once per backend; PostgreSQL in CI or with
``LIFECIRCLE_TEST_PG=1``, in a fresh database per test)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
import sqlalchemy as sa

import lifecircle.city.store as store
from lifecircle.city.demo import build_demo_city
from lifecircle.city.model import City
from lifecircle.city.store import delete_city, list_cities, load_city, save_city
from lifecircle.errors import InputError, InputFileError


@pytest.fixture(scope="module")
def city() -> City:
    return build_demo_city(seed=3, scale=0.05)


def _count(db: str | Path, sql: str) -> int:
    """One number from the store ``db`` (either backend)."""
    engine = sa.create_engine(store.store_url(db))
    try:
        with engine.connect() as c:
            return int(c.exec_driver_sql(sql).scalar_one())
    finally:
        engine.dispose()


def _assert_same(a: City, b: City) -> None:
    assert (a.name, a.profile, a.synthetic, a.credits) == (b.name, b.profile, b.synthetic, b.credits)
    assert set(a.tables) == set(b.tables)
    for name in a.tables:
        pd.testing.assert_frame_equal(pd.DataFrame(a.tables[name]), pd.DataFrame(b.tables[name]), obj=name)


def test_round_trip_is_equal(store_db, city):
    db = store_db
    save_city(city, db)
    back = load_city(db, city.name)
    _assert_same(city, back)
    assert back.streets.crs.to_epsg() == 4326


def test_sqlite_url_and_path_are_the_same_store(tmp_path, city):
    db = tmp_path / "s.db"
    save_city(city, f"sqlite:///{db}")
    assert [c.name for c in list_cities(db)] == [city.name]


def test_list_cities_reports_metadata_and_row_counts(store_db, city):
    db = store_db
    assert list_cities(db) == []  # no store yet: nothing, and no file created
    assert not (isinstance(db, Path) and db.exists())
    save_city(city, db)
    other = City(
        name="小城",
        profile=city.profile,
        synthetic=True,
        tables={"districts": city.districts.iloc[:2]},
        credits=["test"],
    )
    save_city(other, db)
    infos = {c.name: c for c in list_cities(db)}
    assert set(infos) == {city.name, "小城"}
    assert infos[city.name].synthetic is True
    assert infos[city.name].tables["outlets"] == len(city.outlets)
    assert infos["小城"].tables == {"districts": 2}
    # a city saved without some tables loads without them
    assert set(load_city(db, "小城").tables) == {"districts"}


def test_saving_twice_needs_replace(store_db, city):
    db = store_db
    save_city(city, db)
    with pytest.raises(InputError, match=city.name):
        save_city(city, db)
    smaller = City(
        name=city.name,
        profile=city.profile,
        synthetic=True,
        tables={k: v.iloc[:3] for k, v in city.tables.items()},
        credits=city.credits,
    )
    save_city(smaller, db, replace=True)
    _assert_same(smaller, load_city(db, city.name))


def test_failing_save_leaves_the_store_unchanged(store_db, city, monkeypatch):
    db = store_db
    save_city(city, db)
    before = _count(db, "select count(*) from outlets")
    assert before == len(city.outlets) > 0
    real = store._records

    def boom(name, city_name, df):
        if name == "streets":  # after meta, districts, communities, outlets ... were written
            raise RuntimeError("disk full")
        return real(name, city_name, df)

    monkeypatch.setattr(store, "_records", boom)
    changed = City(
        name=city.name,
        profile="other",
        synthetic=True,
        tables={k: v.iloc[:5] for k, v in city.tables.items()},
        credits=[],
    )
    with pytest.raises(RuntimeError):
        save_city(changed, db, replace=True)
    newcomer = City(name="新城", profile=city.profile, synthetic=True, tables=dict(city.tables), credits=[])
    with pytest.raises(RuntimeError):
        save_city(newcomer, db)
    monkeypatch.setattr(store, "_records", real)
    assert [c.name for c in list_cities(db)] == [city.name]
    _assert_same(city, load_city(db, city.name))
    assert _count(db, "select count(*) from outlets") == before
    assert _count(db, "select count(*) from streets where city_name = '新城'") == 0


def test_invalid_table_is_rejected_before_touching_the_store(store_db, city):
    db = store_db
    bad = city.communities.copy()
    bad.loc[0, "population"] = -5
    with pytest.raises(InputError, match="population"):
        save_city(City(name="bad", tables={"communities": bad}), db)
    assert list_cities(db) == []


def test_missing_city_in_an_empty_or_filled_store_is_a_user_error(store_db, city):
    if isinstance(store_db, Path):
        store_db.touch()  # an empty SQLite file: a database without tables, like a fresh PostgreSQL one
    with pytest.raises(InputError, match="没有任何城市"):  # no tables at all yet
        load_city(store_db, "x")
    with pytest.raises(InputError, match="没有任何城市"):
        delete_city(store_db, "x")
    save_city(city, store_db)
    with pytest.raises(InputError, match=city.name):  # the message lists the cities there are
        load_city(store_db, "没有这个城市")
    with pytest.raises(InputError, match=city.name):
        delete_city(store_db, "没有这个城市")
    assert [c.name for c in list_cities(store_db)] == [city.name]


def test_missing_city_and_missing_store_are_user_errors(tmp_path, city):
    db = tmp_path / "s.db"
    with pytest.raises(InputFileError):
        load_city(db, "x")
    save_city(city, db)
    with pytest.raises(InputError, match=city.name):  # the message lists the cities there are
        load_city(db, "没有这个城市")
    with pytest.raises(InputFileError):
        save_city(city, tmp_path / "no" / "such" / "dir.db")


def test_delete_city(store_db, city):
    db = store_db
    save_city(city, db)
    delete_city(db, city.name)
    assert list_cities(db) == []
    assert _count(db, "select count(*) from communities") == 0
    with pytest.raises(InputError):
        delete_city(db, city.name)


def test_title_round_trips(store_db):
    """The display name survives the store (the key stays ``name``)."""
    city = build_demo_city(scale=0.02)
    assert city.title == "宜昌市（演示）" and city.display_name == "宜昌市（演示）"
    save_city(city, store_db)
    back = load_city(store_db, city.name)
    assert back.title == city.title and back.name == "yichang-demo"


# ------------------------------------------------------------------------------ replace_table


def _two_cities(db, city: City) -> City:
    """``city`` and a small second city in the store; returns the second."""
    save_city(city, db)
    other = City(
        name="小城",
        profile=city.profile,
        synthetic=True,
        tables={"districts": city.districts.iloc[:2], "outlets": city.outlets.iloc[:4]},
        credits=["test"],
    )
    save_city(other, db)
    return other


def test_replace_table_changes_one_table_of_one_city(store_db, city):
    other = _two_cities(store_db, city)
    fewer = city.outlets.iloc[2:7]  # not starting at row 0: saved in order, reindexed
    store.replace_table(store_db, city.name, "outlets", fewer)
    back = load_city(store_db, city.name)
    pd.testing.assert_frame_equal(pd.DataFrame(back.outlets), pd.DataFrame(fewer.reset_index(drop=True)))
    for name in city.tables:
        if name != "outlets":  # every other table of the city as it was
            pd.testing.assert_frame_equal(pd.DataFrame(back.tables[name]), pd.DataFrame(city.tables[name]), obj=name)
    _assert_same(other, load_city(store_db, "小城"))  # the other city untouched, its outlets too
    assert _count(store_db, "select count(*) from outlets") == 5 + 4
    assert {c.name: c.tables["outlets"] for c in list_cities(store_db)} == {city.name: 5, "小城": 4}


def test_replace_table_adds_a_table_and_records_its_columns(store_db, city):
    other = _two_cities(store_db, city)
    assert "communities" not in load_city(store_db, "小城").tables
    few = city.communities.iloc[:3]
    store.replace_table(store_db, "小城", "communities", few)
    back = load_city(store_db, "小城")
    assert set(back.tables) == {"districts", "outlets", "communities"}
    pd.testing.assert_frame_equal(pd.DataFrame(back.communities), pd.DataFrame(city.communities.iloc[:3]))
    assert back.credits == other.credits and back.synthetic is True
    # a table without its optional columns comes back without them, and to none at all
    store.replace_table(store_db, "小城", "communities", few.drop(columns=["build_year"]))
    assert "build_year" not in load_city(store_db, "小城").communities.columns
    store.replace_table(store_db, "小城", "communities", few.iloc[:0])
    assert len(load_city(store_db, "小城").communities) == 0
    _assert_same(city, load_city(store_db, city.name))


def test_failing_replace_leaves_the_store_unchanged(store_db, city, monkeypatch):
    _two_cities(store_db, city)
    total = _count(store_db, "select count(*) from outlets")
    real = store._records

    def boom(name, city_name, df):  # fails after the old rows were deleted
        raise RuntimeError("disk full")

    monkeypatch.setattr(store, "_records", boom)
    with pytest.raises(RuntimeError):
        store.replace_table(store_db, city.name, "outlets", city.outlets.iloc[:1])
    monkeypatch.setattr(store, "_records", real)
    bad = city.outlets.iloc[:3].copy()
    bad.loc[bad.index[1], "lon"] = 500.0
    with pytest.raises(InputError, match="lon"):  # invalid rows: rejected before the store is touched
        store.replace_table(store_db, city.name, "outlets", bad)
    with pytest.raises(InputError, match="小城"):  # no such city: the message lists the ones there are
        store.replace_table(store_db, "无此城", "outlets", city.outlets.iloc[:1])
    with pytest.raises(InputError, match="shops"):
        store.replace_table(store_db, city.name, "shops", city.outlets.iloc[:1])
    assert _count(store_db, "select count(*) from outlets") == total
    _assert_same(city, load_city(store_db, city.name))
    assert [c.name for c in list_cities(store_db)] == sorted([city.name, "小城"])


def test_replace_table_needs_an_existing_store(tmp_path, city):
    with pytest.raises(InputFileError):
        store.replace_table(tmp_path / "none.db", city.name, "outlets", city.outlets)
    assert not (tmp_path / "none.db").exists()


def test_unreachable_server_is_a_one_line_error():
    """A PostgreSQL URL pointing at no server is the user's to fix, not a traceback."""
    from lifecircle.city.store import list_cities
    from lifecircle.errors import InputError

    with pytest.raises(InputError) as e:
        list_cities("postgresql+psycopg://someone:secret@127.0.0.1:9/nowhere")
    msg = str(e.value)
    assert "127.0.0.1" in msg and "secret" not in msg


def test_a_file_that_is_not_a_store_is_named_by_its_path(tmp_path):
    """A city store given as a file that is not a database (a CSV saved as .db), in a folder with
    Chinese characters and spaces: the message shows the path as the user wrote it, not a
    percent-encoded URL, and says in Chinese what is wrong (English when asked)."""
    from lifecircle.i18n import use_lang

    folder = tmp_path / "数据 目录"
    folder.mkdir()
    fake = folder / "宜昌 城市库.db"
    fake.write_text("label,kind\n宜昌,store\n", encoding="utf-8")
    with pytest.raises(InputError) as e:
        load_city(fake, "宜昌")
    msg = str(e.value)
    assert str(fake) in msg and "%E6" not in msg and "不是数据库文件" in msg, msg
    with use_lang("en"), pytest.raises(InputError) as e:
        list_cities(fake)
    assert str(fake) in str(e.value) and "not a database" in str(e.value)
