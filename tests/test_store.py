"""The embedded store: a city saved and loaded comes back equal; a save is all or nothing."""

from __future__ import annotations

import sqlite3

import pandas as pd
import pytest

import lifecircle.city.store as store
from lifecircle.city.demo import build_demo_city
from lifecircle.city.model import City
from lifecircle.city.store import delete_city, list_cities, load_city, save_city
from lifecircle.errors import InputError, InputFileError


@pytest.fixture(scope="module")
def city() -> City:
    return build_demo_city(seed=3, scale=0.05)


def _assert_same(a: City, b: City) -> None:
    assert (a.name, a.profile, a.synthetic, a.credits) == (b.name, b.profile, b.synthetic, b.credits)
    assert set(a.tables) == set(b.tables)
    for name in a.tables:
        pd.testing.assert_frame_equal(pd.DataFrame(a.tables[name]), pd.DataFrame(b.tables[name]), obj=name)


def test_round_trip_is_equal(tmp_path, city):
    db = tmp_path / "store.db"
    save_city(city, db)
    back = load_city(db, city.name)
    _assert_same(city, back)
    assert back.streets.crs.to_epsg() == 4326


def test_sqlite_url_and_path_are_the_same_store(tmp_path, city):
    db = tmp_path / "s.db"
    save_city(city, f"sqlite:///{db}")
    assert [c.name for c in list_cities(db)] == [city.name]


def test_list_cities_reports_metadata_and_row_counts(tmp_path, city):
    db = tmp_path / "s.db"
    assert list_cities(db) == []  # no store yet: nothing, and no file created
    assert not db.exists()
    save_city(city, db)
    other = City(name="小城", profile=city.profile, synthetic=True, tables={"districts": city.districts.iloc[:2]},
                 credits=["test"])
    save_city(other, db)
    infos = {c.name: c for c in list_cities(db)}
    assert set(infos) == {city.name, "小城"}
    assert infos[city.name].synthetic is True
    assert infos[city.name].tables["outlets"] == len(city.outlets)
    assert infos["小城"].tables == {"districts": 2}
    # a city saved without some tables loads without them
    assert set(load_city(db, "小城").tables) == {"districts"}


def test_saving_twice_needs_replace(tmp_path, city):
    db = tmp_path / "s.db"
    save_city(city, db)
    with pytest.raises(InputError, match=city.name):
        save_city(city, db)
    smaller = City(name=city.name, profile=city.profile, synthetic=True,
                   tables={k: v.iloc[:3] for k, v in city.tables.items()}, credits=city.credits)
    save_city(smaller, db, replace=True)
    _assert_same(smaller, load_city(db, city.name))


def test_failing_save_leaves_the_store_unchanged(tmp_path, city, monkeypatch):
    db = tmp_path / "s.db"
    save_city(city, db)
    before = sqlite3.connect(db).execute("select count(*) from outlets").fetchone()[0]
    real = store._records

    def boom(name, city_name, df):
        if name == "streets":  # after meta, districts, communities, outlets ... were written
            raise RuntimeError("disk full")
        return real(name, city_name, df)

    monkeypatch.setattr(store, "_records", boom)
    changed = City(name=city.name, profile="other", synthetic=True,
                   tables={k: v.iloc[:5] for k, v in city.tables.items()}, credits=[])
    with pytest.raises(RuntimeError):
        save_city(changed, db, replace=True)
    newcomer = City(name="新城", profile=city.profile, synthetic=True, tables=dict(city.tables), credits=[])
    with pytest.raises(RuntimeError):
        save_city(newcomer, db)
    monkeypatch.setattr(store, "_records", real)
    assert [c.name for c in list_cities(db)] == [city.name]
    _assert_same(city, load_city(db, city.name))
    con = sqlite3.connect(db)
    assert con.execute("select count(*) from outlets").fetchone()[0] == before
    assert con.execute("select count(*) from streets where city_name = '新城'").fetchone()[0] == 0


def test_invalid_table_is_rejected_before_touching_the_store(tmp_path, city):
    db = tmp_path / "s.db"
    bad = city.communities.copy()
    bad.loc[0, "population"] = -5
    with pytest.raises(InputError, match="population"):
        save_city(City(name="bad", tables={"communities": bad}), db)
    assert list_cities(db) == []


def test_missing_city_and_missing_store_are_user_errors(tmp_path, city):
    db = tmp_path / "s.db"
    with pytest.raises(InputFileError):
        load_city(db, "x")
    save_city(city, db)
    with pytest.raises(InputError, match=city.name):  # the message lists the cities there are
        load_city(db, "没有这个城市")
    with pytest.raises(InputFileError):
        save_city(city, tmp_path / "no" / "such" / "dir.db")


def test_delete_city(tmp_path, city):
    db = tmp_path / "s.db"
    save_city(city, db)
    delete_city(db, city.name)
    assert list_cities(db) == []
    assert sqlite3.connect(db).execute("select count(*) from communities").fetchone()[0] == 0
    with pytest.raises(InputError):
        delete_city(db, city.name)


def test_title_round_trips(tmp_path):
    """The display name survives the store (the key stays ``name``)."""
    from lifecircle.city.demo import build_demo_city
    from lifecircle.city.store import load_city, save_city

    city = build_demo_city(scale=0.02)
    assert city.title == "宜昌市（演示）" and city.display_name == "宜昌市（演示）"
    save_city(city, tmp_path / "s.db")
    back = load_city(tmp_path / "s.db", city.name)
    assert back.title == city.title and back.name == "yichang-demo"
