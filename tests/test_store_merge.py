"""Imports add, not replace: :func:`store.merge_table` and ``lifecircle import`` add new rows,
update rows with a known key, leave equal rows alone, replace only when asked, and with
``--dry-run`` store nothing — on SQLite and PostgreSQL (``store_db``), also when two imports run at
the same moment."""

from __future__ import annotations

import csv
import threading
from pathlib import Path

import pandas as pd
import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import lifecircle.city.store as store
from lifecircle.errors import InputError
from lifecircle.i18n import set_lang
from lifecircle.sources.importer import import_file

AMAP_HEADER = ["id", "name", "type", "typecode", "address", "location"]
STORE_TYPE = ("购物服务;便民商店/便利店;便民商店/便利店", "060200")


def write_csv(path: Path, header: list[str], rows: list[list[object]]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(header)
        w.writerows(rows)
    return path


def amap(path: Path, rows: list[tuple[str, str, float, float]]) -> Path:
    """An Amap-style export: (id, name, lon, lat) per POI, all convenience stores."""
    return write_csv(path, AMAP_HEADER, [[i, n, *STORE_TYPE, "夷陵大道1号", f"{x:.6f},{y:.6f}"] for i, n, x, y in rows])


def outlets(n: int, start: int = 0) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "id": [f"o{i}" for i in range(start, start + n)],
            "name": [f"店{i}" for i in range(start, start + n)],
            "formats": ["convenience_store"] * n,
            "lon": [111.29 + i * 1e-4 for i in range(start, start + n)],
            "lat": [30.70] * n,
        }
    )


def counts(res: store.MergeResult) -> tuple[int, int, int, int]:
    return res.added, res.updated, res.unchanged, res.deleted


@pytest.fixture
def cli():
    from typer.testing import CliRunner

    from lifecircle.cli import _register
    from lifecircle.cli.app import app

    _register()
    runner = CliRunner()
    yield lambda *args: runner.invoke(app, ["import", *map(str, args)])
    set_lang(None)


# ------------------------------------------------------------------------------ merge_table


def test_merge_adds_updates_and_leaves_equal_rows(store_db):
    db = store_db
    assert counts(store.merge_table(db, "宜昌", "outlets", outlets(5))) == (5, 0, 0, 0)  # first city: created
    assert counts(store.merge_table(db, "宜昌", "outlets", outlets(5))) == (0, 0, 5, 0)
    more = outlets(4, start=3)  # o3, o4 known; o5, o6 new
    more.loc[more["id"] == "o4", "name"] = "改名店"
    assert counts(store.merge_table(db, "宜昌", "outlets", more)) == (2, 1, 1, 0)
    back = store.load_city(db, "宜昌").outlets
    assert back["id"].tolist() == [f"o{i}" for i in range(7)]  # kept in order, new rows appended
    assert back.set_index("id").loc["o4", "name"] == "改名店"
    # a file without an optional column updates what it has and keeps the stored values of the rest
    branded = outlets(2).assign(brand=["罗森", "美宜佳"])
    assert counts(store.merge_table(db, "宜昌", "outlets", branded)) == (0, 2, 0, 0)
    assert counts(store.merge_table(db, "宜昌", "outlets", outlets(2))) == (0, 0, 2, 0)
    brands = store.load_city(db, "宜昌").outlets["brand"]
    assert brands.tolist()[:2] == ["罗森", "美宜佳"] and brands.iloc[2:].isna().all()
    # replace: exactly the new rows; the ones not in it count as deleted
    assert counts(store.merge_table(db, "宜昌", "outlets", outlets(3), replace=True)) == (0, 0, 3, 4)
    assert store.load_city(db, "宜昌").outlets["id"].tolist() == ["o0", "o1", "o2"]


def test_natural_keys_of_districts_and_surveys(store_db):
    from shapely.geometry import box

    db = store_db
    d = pd.DataFrame(
        {
            "code": ["420502", "420503"],
            "name_zh": ["西陵区", "伍家岗区"],
            "geometry": [box(111.25, 30.68, 111.32, 30.74), box(111.30, 30.62, 111.40, 30.70)],
        }
    )
    assert counts(store.merge_table(db, "c", "districts", d)) == (2, 0, 0, 0)
    d2 = d.copy()
    d2.loc[1, "name_zh"] = "伍家岗"
    assert counts(store.merge_table(db, "c", "districts", d2)) == (0, 1, 1, 0)
    s = pd.DataFrame(
        {
            "circle_id": ["A", "A", "B"],
            "period": ["2024H1", "2024H2", "2024H1"],
            "respondents": [10, 12, 9],
            "satisfied": [9, 11, 8],
        }
    )
    assert counts(store.merge_table(db, "c", "surveys", s)) == (3, 0, 0, 0)
    s2 = pd.DataFrame(
        {"circle_id": ["A", "B"], "period": ["2024H2", "2025H1"], "respondents": [12, 9], "satisfied": [10, 8]}
    )
    assert counts(store.merge_table(db, "c", "surveys", s2)) == (1, 1, 0, 0)
    dup = pd.concat([s2, s2.iloc[:1]])
    with pytest.raises(InputError, match="circle_id"):
        store.merge_table(db, "c", "surveys", dup)
    assert store.table_key("surveys") == ("circle_id", "period") and store.table_key("outlets") == ("id",)


def test_unknown_city_is_refused_with_the_list_unless_created(store_db):
    db = store_db
    store.merge_table(db, "宜昌", "outlets", outlets(1))
    with pytest.raises(InputError, match="宜昌") as exc:
        store.merge_table(db, "武汉", "outlets", outlets(1))
    assert "--create" in str(exc.value)
    with pytest.raises(InputError, match="宜昌"):
        store.merge_table(db, "武汉", "outlets", outlets(1), dry_run=True)
    res = store.merge_table(db, "武汉", "outlets", outlets(2), create=True, profile="yichang-2022")
    assert res.created_city and counts(res) == (2, 0, 0, 0)
    assert [c.name for c in store.list_cities(db)] == ["宜昌", "武汉"]


def _snapshot(db: str | Path) -> object:
    """The bytes of an SQLite store, or every row of every table of a PostgreSQL one."""
    if isinstance(db, Path):
        return db.read_bytes()
    engine = sa.create_engine(store.store_url(db))
    try:
        with engine.connect() as c:
            return {
                t: sorted(map(tuple, c.execute(sa.text(f'select * from "{t}"')).all()), key=repr)
                for t in sa.inspect(c).get_table_names()
            }
    finally:
        engine.dispose()


def test_dry_run_stores_nothing(store_db):
    db = store_db
    res = store.merge_table(db, "宜昌", "outlets", outlets(3), dry_run=True)
    assert res.dry_run and res.created_city and counts(res) == (3, 0, 0, 0)
    assert store.list_cities(db) == [] and not (isinstance(db, Path) and db.exists())
    store.merge_table(db, "宜昌", "outlets", outlets(3))
    before = _snapshot(db)
    more = outlets(5)
    more.loc[0, "name"] = "改"
    assert counts(store.merge_table(db, "宜昌", "outlets", more, dry_run=True)) == (2, 1, 2, 0)
    assert counts(store.merge_table(db, "宜昌", "outlets", more.iloc[:1], replace=True, dry_run=True)) == (0, 1, 0, 2)
    assert _snapshot(db) == before


def test_two_merges_at_the_same_moment_both_land(store_db):
    db = store_db
    store.merge_table(db, "宜昌", "outlets", outlets(1))
    barrier = threading.Barrier(4)
    errors: list[BaseException] = []

    def run(k: int) -> None:
        try:
            barrier.wait()
            store.merge_table(db, "宜昌", "outlets", outlets(50, start=1 + 50 * k))
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(k,)) for k in range(4)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert errors == []
    ids = store.load_city(db, "宜昌").outlets["id"].tolist()
    assert len(ids) == len(set(ids)) == 201


def test_two_first_imports_into_a_new_store_both_land(tmp_path):
    db = tmp_path / "new.db"
    barrier = threading.Barrier(3)
    errors: list[BaseException] = []

    def run(k: int) -> None:
        try:
            barrier.wait()
            store.merge_table(db, "宜昌", "outlets", outlets(20, start=20 * k))
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(k,)) for k in range(3)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert errors == []
    assert len(store.load_city(db, "宜昌").outlets) == 60
    assert sorted(p.name for p in tmp_path.iterdir()) == ["new.db"]


# ------------------------------------------------------------------------------ the command


def test_two_amap_exports_add_up_and_the_same_file_changes_nothing(tmp_path, store_db, cli):
    db = store_db
    a = amap(
        tmp_path / "a.csv",
        [
            ("B1", "罗森(一店)", 111.29, 30.70),
            ("B2", "罗森(二店)", 111.30, 30.70),
            ("B3", "美宜佳(三店)", 111.31, 30.70),
        ],
    )
    b = amap(tmp_path / "b.csv", [("B4", "美宜佳(四店)", 111.32, 30.70), ("B5", "便利店五", 111.33, 30.70)])
    res = cli("outlets", a, "--db", db, "--city", "宜昌")
    assert res.exit_code == 0 and "新增 3，更新 0，未变 0，删除 0" in res.output, res.output
    res = cli("outlets", b, "--db", db, "--city", "宜昌")
    assert res.exit_code == 0 and "新增 2，更新 0，未变 0，删除 0" in res.output, res.output
    assert len(store.load_city(db, "宜昌").outlets) == 5
    res = cli("outlets", a, "--db", db, "--city", "宜昌")
    assert "新增 0，更新 0，未变 3，删除 0" in res.output
    edited = amap(tmp_path / "a2.csv", [("B1", "罗森(一店)", 111.29, 30.70), ("B2", "罗森(二店改)", 111.30, 30.70)])
    res = cli("outlets", edited, "--db", db, "--city", "宜昌")
    assert "新增 0，更新 1，未变 1，删除 0" in res.output
    assert len(store.load_city(db, "宜昌").outlets) == 5
    res = cli("outlets", edited, "--db", db, "--city", "宜昌", "--replace")
    assert "新增 0，更新 0，未变 2，删除 3" in res.output
    assert store.load_city(db, "宜昌").outlets["id"].tolist() == ["B1", "B2"]


def test_exports_without_ids_add_up_instead_of_overwriting(tmp_path, store_db, cli):
    """Ids made from row numbers collided between files; ids from name + place do not."""
    db = store_db
    header = ["name", "type", "typecode", "location"]
    a = write_csv(
        tmp_path / "a.csv",
        header,
        [["罗森(一店)", *STORE_TYPE, "111.29,30.70"], ["罗森(二店)", *STORE_TYPE, "111.30,30.70"]],
    )
    b = write_csv(
        tmp_path / "b.csv",
        header,
        [["美宜佳(三店)", *STORE_TYPE, "111.31,30.70"], ["美宜佳(四店)", *STORE_TYPE, "111.32,30.70"]],
    )
    assert "新增 2" in cli("outlets", a, "--db", db).output
    assert "新增 2，更新 0，未变 0" in cli("outlets", b, "--db", db).output
    assert "新增 0，更新 0，未变 2" in cli("outlets", a, "--db", db).output
    assert len(store.load_city(db, "yichang").outlets) == 4


def test_cli_dry_run_leaves_the_store_byte_identical(tmp_path, cli):
    db = tmp_path / "s.db"
    a = amap(tmp_path / "a.csv", [("B1", "罗森(一店)", 111.29, 30.70)])
    b = amap(tmp_path / "b.csv", [("B1", "罗森(一店改)", 111.29, 30.70), ("B2", "罗森(二店)", 111.30, 30.70)])
    res = cli("outlets", a, "--db", db, "--dry-run")
    assert res.exit_code == 0 and "试运行" in res.output and "新增 1" in res.output and not db.exists()
    cli("outlets", a, "--db", db)
    before = db.read_bytes()
    res = cli("outlets", b, "--db", db, "--dry-run")
    assert res.exit_code == 0 and "新增 1，更新 1，未变 0，删除 0" in res.output
    res = cli("outlets", b, "--db", db, "--dry-run", "--replace")
    assert "新增 1，更新 1，未变 0，删除 0" in res.output
    assert db.read_bytes() == before


def test_cli_unknown_city_lists_the_cities_and_create_starts_one(tmp_path, cli):
    db = tmp_path / "s.db"
    a = amap(tmp_path / "a.csv", [("B1", "罗森(一店)", 111.29, 30.70)])
    assert cli("outlets", a, "--db", db, "--city", "宜昌").exit_code == 0  # the first city: created
    res = cli("outlets", a, "--db", db, "--city", "武汉")
    assert res.exit_code == 2 and "宜昌" in res.output and "--create" in res.output and "Traceback" not in res.output
    res = cli("outlets", a, "--db", db, "--city", "武汉", "--create")
    assert res.exit_code == 0 and "新建城市 '武汉'" in res.output
    assert sorted(c.name for c in store.list_cities(db)) == ["宜昌", "武汉"]
    set_lang("en")
    res = cli("outlets", a, "--db", db, "--city", "宜昌")
    assert "added 0, updated 0, unchanged 1, deleted 0" in res.output


def test_problems_are_printed_once_and_the_hint_only_when_skipping_helps(tmp_path, cli):
    db = tmp_path / "s.db"
    bad_rows = amap(tmp_path / "rows.csv", [("B1", "罗森(一店)", 111.29, 30.70)])
    bad_rows.write_text(
        bad_rows.read_text(encoding="utf-8") + "B2,便利店,购物服务;便民商店/便利店;便民商店/便利店,060200,x,abc\n",
        encoding="utf-8",
    )
    res = cli("outlets", bad_rows, "--db", db)
    assert res.exit_code == 2 and res.output.count("第3行") == 1 and "--skip-bad-rows" in res.output
    no_column = write_csv(tmp_path / "col.csv", ["name", "address", "location"], [["便利店A", "x", "111.29,30.70"]])
    res = cli("outlets", no_column, "--db", db)
    assert (
        res.exit_code == 2 and res.output.count("col.csv，字段 'typecode'") == 1 and "--skip-bad-rows" not in res.output
    )
    assert "Traceback" not in res.output and not db.exists()


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    st.lists(
        st.tuples(
            st.sampled_from(["罗森", "美宜佳", "Today", "便利店"]),
            st.integers(0, 50),
            st.integers(0, 50),
            st.booleans(),
        ),
        min_size=1,
        max_size=12,
    )
)
def test_importing_the_same_file_twice_changes_nothing(tmp_path_factory, rows):
    d = tmp_path_factory.mktemp("twice")
    header = ["id", "name", "type", "typecode", "location"]
    f = write_csv(
        d / "p.csv",
        header,
        [
            [
                "" if not with_id else f"B{k}",
                f"{n}({k}店)",
                *STORE_TYPE,
                f"{111.2 + x * 1e-3:.6f},{30.6 + y * 1e-3:.6f}",
            ]
            for k, (n, x, y, with_id) in enumerate(rows)
        ],
    )
    db = d / "s.db"
    df, _ = import_file("outlets", f)
    first = store.merge_table(db, "c", "outlets", df)
    again, _ = import_file("outlets", f)
    second = store.merge_table(db, "c", "outlets", again)
    assert counts(first) == (len(df), 0, 0, 0)
    assert counts(second) == (0, 0, len(df), 0)


def test_streets_without_ids_are_keyed_by_their_geometry(store_db):
    from shapely.geometry import LineString

    lines = [LineString([(111.30, 30.70), (111.31, 30.70)]), LineString([(111.30, 30.71), (111.31, 30.71)])]
    df = pd.DataFrame({"id": pd.array(["a", pd.NA], dtype="string"), "geometry": lines, "highway": ["primary", None]})
    assert counts(store.merge_table(store_db, "c", "streets", df)) == (2, 0, 0, 0)
    assert counts(store.merge_table(store_db, "c", "streets", df.drop(columns=["id"]).iloc[1:])) == (0, 0, 1, 0)
    ids = store.load_city(store_db, "c").streets["id"].tolist()
    assert ids[0] == "a" and ids[1].startswith("g-")


def test_two_import_processes_at_the_same_moment_both_land(tmp_path):
    """Two `lifecircle import` processes into one SQLite store at once: both files land."""
    import os
    import subprocess
    import sys

    db = tmp_path / "s.db"
    files = [
        amap(
            tmp_path / f"{k}.csv",
            [(f"B{k}{i:03d}", f"店{k}-{i}", 111.2 + i * 1e-3, 30.6 + k * 1e-2) for i in range(300)],
        )
        for k in range(2)
    ]
    store.merge_table(db, "宜昌", "outlets", outlets(1))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
    procs = [
        subprocess.Popen(
            [
                sys.executable,
                "-c",
                "from lifecircle.cli import main; main()",
                "import",
                "outlets",
                str(f),
                "--db",
                str(db),
                "--city",
                "宜昌",
            ],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for f in files
    ]
    outs = [p.communicate(timeout=300) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outs
    assert all("新增 300，更新 0，未变 0，删除 0" in o for o, _ in outs)
    assert len(store.load_city(db, "宜昌").outlets) == 601
