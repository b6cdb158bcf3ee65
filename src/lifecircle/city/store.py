"""The embedded store: cities saved in an SQL database through SQLAlchemy Core.

One SQL table per schema table (:data:`lifecircle.city.schema.TABLES`) holding the rows of every
city (column ``city_name``, row order in ``row_no``), plus a ``meta`` table (one row per city: name,
profile, synthetic flag, credits, provenance, created time, and which columns each table has).
Geometry is stored as WKT text at full precision, so PostgreSQL works without PostGIS.

A bare path means SQLite (``sqlite:///<path>``); any SQLAlchemy URL works
(``postgresql://user@host/db``). A save is one transaction: it lands whole or not at all. A new
SQLite store is built in a hidden file next to its final name and linked into place only once its
transaction committed, so an interrupted first save (Ctrl-C) leaves no file behind.

Schema versions
---------------
The store's schema version is kept in the one-row table ``store_schema``. A store without that
table but with ``meta`` is version 1 (as written before versions were recorded). Opening a store
for writing applies the missing steps of :data:`MIGRATIONS` in order, in the same transaction as
the write; reading only checks the version, so an older store still reads (its missing columns are
simply absent) and a store newer than this code is refused. Writers take a lock first (SQLite:
``BEGIN IMMEDIATE``; PostgreSQL: an advisory lock while migrating, then the city's meta row
``FOR UPDATE``), so two imports at the same moment queue up instead of losing one's rows.

The steps are a short explicit list rather than Alembic (which the platform database uses): the
city store's tables are generated from :data:`~lifecircle.city.schema.TABLES`, each step is an
``ALTER TABLE … ADD COLUMN``, and the list reads in a minute; a step must only ever add.
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import pandas as pd
import shapely
import sqlalchemy as sa
from sqlalchemy import event

from lifecircle.city.ids import geometry_id
from lifecircle.city.model import City
from lifecircle.city.schema import TABLES, validate_table
from lifecircle.errors import InputError, InputFileError, Problem
from lifecircle.i18n import t

STORE_VERSION = 2  # the schema version this code writes (see MIGRATIONS)
_SQL_TYPES = {"str": sa.Text, "int": sa.BigInteger, "float": sa.Double, "bool": sa.Boolean, "geometry": sa.Text}
_SQLITE_TIMEOUT_S = 120.0  # how long a writer waits for another writer's transaction, seconds
_PG_LOCK_KEY = 0x6C69_6663  # advisory lock taken while a PostgreSQL store is created or migrated

METADATA = sa.MetaData()
META = sa.Table(
    "meta",
    METADATA,
    sa.Column("city_name", sa.String(200), primary_key=True),
    sa.Column("profile", sa.Text, nullable=False),
    sa.Column("synthetic", sa.Boolean, nullable=False),
    sa.Column("credits", sa.Text, nullable=False),  # JSON list of strings
    sa.Column("columns", sa.Text, nullable=False),  # JSON {table: [column, ...]} of the saved tables
    sa.Column("created", sa.Text, nullable=False),  # ISO 8601, UTC
    sa.Column("store_version", sa.Integer, nullable=False),  # schema version of the code that saved the city
    sa.Column("title", sa.Text, nullable=True),  # display name (City.title)
    sa.Column("provenance", sa.Text, nullable=True),  # JSON object (City.provenance); since version 2
)
STORE_SCHEMA = sa.Table("store_schema", METADATA, sa.Column("version", sa.Integer, nullable=False))
SQL_TABLES: dict[str, sa.Table] = {
    name: sa.Table(
        name,
        METADATA,
        sa.Column("city_name", sa.String(200), nullable=False, index=True),
        sa.Column("row_no", sa.Integer, nullable=False),
        *[sa.Column(c.name, _SQL_TYPES[c.kind], nullable=True) for c in cols],
    )
    for name, cols in TABLES.items()
}
# The natural key of each table, for merging an import into what is stored (default: id).
TABLE_KEYS: dict[str, tuple[str, ...]] = {"districts": ("code",), "surveys": ("circle_id", "period")}

T = TypeVar("T")


@dataclass(frozen=True)
class CityInfo:
    """A city in a store: its name, profile, synthetic flag, credits and creation time (UTC)."""

    name: str
    profile: str
    synthetic: bool
    credits: list[str]
    created: str
    tables: dict[str, int]  # rows per saved table


@dataclass(frozen=True)
class MergeResult:
    """What :func:`merge_table` did (or, with ``dry_run``, would do) to one table of one city:
    rows added, updated (same key, other values), unchanged and deleted (only with ``replace``)."""

    table: str
    added: int
    updated: int
    unchanged: int
    deleted: int
    created_city: bool = False
    dry_run: bool = False

    def summary(self) -> str:
        """'新增 N，更新 M，未变 K，删除 D' (English: 'added N, updated M, unchanged K, deleted D')."""
        a, u, k, d = self.added, self.updated, self.unchanged, self.deleted
        return t(f"新增 {a}，更新 {u}，未变 {k}，删除 {d}", f"added {a}, updated {u}, unchanged {k}, deleted {d}")


# ------------------------------------------------------------------------------ migrations


def _add_column(conn: sa.Connection, table: str, name: str, kind: str) -> None:
    """``ALTER TABLE table ADD COLUMN name`` (nullable, of the schema ``kind``) unless it exists."""
    if name in {c["name"] for c in sa.inspect(conn).get_columns(table)}:
        return
    q = conn.dialect.identifier_preparer.quote
    sql_type = _SQL_TYPES[kind]().compile(dialect=conn.dialect)
    conn.exec_driver_sql(f"ALTER TABLE {q(table)} ADD COLUMN {q(name)} {sql_type}")


def _v2_street_attributes_and_provenance(conn: sa.Connection) -> None:
    """Version 2: streets get id, bridge, tunnel, layer (for noding); meta gets provenance."""
    for name, kind in (("id", "str"), ("bridge", "bool"), ("tunnel", "bool"), ("layer", "int")):
        _add_column(conn, "streets", name, kind)
    _add_column(conn, "meta", "title", "str")  # stores from before titles were saved
    _add_column(conn, "meta", "provenance", "str")


# (version reached, what it does, step). Append only; never edit a step that has shipped.
MIGRATIONS: list[tuple[int, str, Callable[[sa.Connection], None]]] = [
    (2, "streets: id, bridge, tunnel, layer; meta: provenance", _v2_street_attributes_and_provenance),
]
assert MIGRATIONS[-1][0] == STORE_VERSION


def schema_version(conn: sa.Connection) -> int | None:
    """The store's schema version: None for an empty database, 1 for a store from before
    versions were recorded (``meta`` without ``store_schema``)."""
    insp = sa.inspect(conn)
    if insp.has_table("store_schema"):
        v = conn.execute(sa.select(sa.func.max(STORE_SCHEMA.c.version))).scalar_one_or_none()
        return int(v) if v is not None else 1
    return 1 if insp.has_table("meta") else None


def _check_version(conn: sa.Connection, where: str | Path) -> int | None:
    """The store's version; a store written by a newer lifecircle is refused (one line)."""
    v = schema_version(conn)
    if v is not None and v > STORE_VERSION:
        raise InputError(t(f"{where}: 数据库结构版本 {v} 比本程序支持的 {STORE_VERSION} 新；请升级 lifecircle",
                           f"{where}: the store has schema version {v}, newer than the {STORE_VERSION} this "
                           "lifecircle knows; upgrade lifecircle"))
    return v


def _ensure_schema(conn: sa.Connection, where: str | Path) -> None:
    """Bring the store to :data:`STORE_VERSION` inside the caller's (write) transaction: create
    every table of an empty database, or apply the missing migration steps of an older store."""
    if _check_version(conn, where) == STORE_VERSION:
        return
    if conn.dialect.name == "postgresql":  # two first writers at once: the second waits, then sees v2
        conn.execute(sa.text("SELECT pg_advisory_xact_lock(:k)"), {"k": _PG_LOCK_KEY})
    v = _check_version(conn, where)
    if v == STORE_VERSION:
        return
    if v is not None:
        for target, _what, step in MIGRATIONS:
            if target > v:
                step(conn)
    METADATA.create_all(conn)  # new tables (all of them in an empty database), store_schema included
    conn.execute(STORE_SCHEMA.delete())
    conn.execute(STORE_SCHEMA.insert(), {"version": STORE_VERSION})


# ------------------------------------------------------------------------------ connections


def store_url(url_or_path: str | Path) -> str:
    """An SQLAlchemy URL: given as is if it has a scheme, else ``sqlite:///<absolute path>``."""
    s = str(url_or_path)
    if "://" in s:
        return s
    return f"sqlite:///{Path(s).expanduser().resolve()}"


def _is_sqlite_path(url_or_path: str | Path) -> Path | None:
    s = str(url_or_path)
    if "://" not in s:
        return Path(s).expanduser()
    if s.startswith("sqlite:///") and s != "sqlite:///:memory:":
        return Path(s[len("sqlite:///"):])
    return None


def _engine(url_or_path: str | Path, *, write: bool = False) -> sa.Engine:
    """An engine on the store; for SQLite every transaction is explicit, and a ``write`` engine
    starts them with ``BEGIN IMMEDIATE`` (one writer at a time, waiting up to two minutes)."""
    url = store_url(url_or_path)
    try:
        if url.startswith("sqlite"):
            engine = sa.create_engine(url, connect_args={"timeout": _SQLITE_TIMEOUT_S})
        else:
            engine = sa.create_engine(url)
    except (sa.exc.ArgumentError, ImportError) as exc:
        raise InputError(t(f"无法打开数据库 {url}：{exc}", f"cannot open database {url}: {exc}")) from None
    if engine.dialect.name == "sqlite":
        begin = "BEGIN IMMEDIATE" if write else "BEGIN"

        # make pysqlite fully transactional (DDL included): we issue BEGIN ourselves
        @event.listens_for(engine, "connect")
        def _connect(dbapi_conn: Any, _rec: Any) -> None:
            dbapi_conn.isolation_level = None

        @event.listens_for(engine, "begin")
        def _begin(conn: sa.Connection) -> None:
            conn.exec_driver_sql(begin)

    try:  # a wrong host, port, password or database name is the user's to fix: say so in one line
        with engine.connect() as conn:
            if engine.dialect.name == "sqlite":  # sqlite reads the file lazily: a non-database file fails here
                conn.exec_driver_sql("PRAGMA schema_version")
    except sa.exc.DatabaseError as exc:  # OperationalError, and sqlite's "file is not a database"
        engine.dispose()
        reason = str(exc.orig).strip().splitlines()[0] if exc.orig else str(exc)
        raise InputError(t(f"无法连接数据库 {engine.url.render_as_string(hide_password=True)}：{reason}",
                           f"cannot connect to the database {engine.url.render_as_string(hide_password=True)}: {reason}")) from None
    return engine


_EXISTS = object()  # a new store file appeared meanwhile: write into it instead


def _write(url_or_path: str | Path, work: Callable[[sa.Connection], T], *, may_create: bool) -> T:
    """Run ``work`` in one write transaction on a store brought to the current schema.

    A missing SQLite file is an error unless ``may_create``; then the store is built in a hidden
    temporary file in the same folder and hard-linked to its name only after the commit, so an
    interruption leaves no file, and two first writers never overwrite each other."""
    p = _is_sqlite_path(url_or_path)
    if p is not None and not p.exists():
        if not may_create:
            raise InputFileError(t(f"{p}: 数据库文件不存在", f"{p}: the store file does not exist"))
        if not p.parent.exists():
            raise InputFileError(t(f"{p}: 目录 {p.parent} 不存在", f"{p}: folder {p.parent} does not exist"))
        result = _write_new_sqlite(p, work)
        if result is not _EXISTS:
            return result  # type: ignore[return-value]
    engine = _engine(url_or_path, write=True)
    try:
        with engine.begin() as conn:
            _ensure_schema(conn, url_or_path)
            return work(conn)
    finally:
        engine.dispose()


def _write_new_sqlite(p: Path, work: Callable[[sa.Connection], T]) -> T | object:
    tmp = p.parent / f".{p.name}.{uuid.uuid4().hex[:12]}.tmp"
    try:
        engine = _engine(tmp, write=True)
        try:
            with engine.begin() as conn:
                _ensure_schema(conn, p)
                result = work(conn)
        finally:
            engine.dispose()
        try:
            os.link(tmp, p)  # atomic, and fails rather than replace a store made meanwhile
        except FileExistsError:
            return _EXISTS
        except OSError:  # a file system without hard links
            if p.exists():
                return _EXISTS
            os.replace(tmp, p)
        return result
    finally:
        for leftover in (tmp, tmp.with_name(tmp.name + "-journal")):
            leftover.unlink(missing_ok=True)


def _open_existing(url_or_path: str | Path) -> sa.Engine:
    p = _is_sqlite_path(url_or_path)
    if p is not None and not p.exists():
        raise InputFileError(t(f"{p}: 数据库文件不存在", f"{p}: the store file does not exist"))
    return _engine(url_or_path)


def _value(kind: str, v: Any) -> Any:
    if v is None or v is pd.NA or v is pd.NaT:
        return None
    if kind == "geometry":
        return None if v.is_empty else shapely.to_wkt(v, rounding_precision=-1)
    if isinstance(v, float | np.floating) and np.isnan(v):
        return None
    if kind == "int":
        return int(v)
    if kind == "float":
        return float(v)
    if kind == "bool":
        return bool(v)
    return str(v)


def _records(name: str, city_name: str, df: pd.DataFrame) -> list[dict[str, Any]]:
    """The rows of one table as dicts ready for an INSERT."""
    cols = [c for c in TABLES[name] if c.name in df.columns]
    data = {c.name: [_value(c.kind, v) for v in df[c.name].tolist()] for c in cols}
    n = len(df)
    return [{"city_name": city_name, "row_no": i, **{k: vals[i] for k, vals in data.items()}} for i in range(n)]


def save_city(city: City, url_or_path: str | Path, *, replace: bool = False) -> None:
    """Save ``city`` in the store, all in one transaction (nothing changes if anything fails).

    Every table is validated first. A city of the same name is an error unless ``replace``.
    """
    tables = {name: validate_table(name, df.reset_index(drop=True), file=f"{city.name}:{name}")
              for name, df in city.tables.items() if name in TABLES}
    unknown = sorted(set(city.tables) - set(TABLES))
    if unknown:
        raise InputError(t(f"未知的表：{', '.join(unknown)}", f"unknown tables: {', '.join(unknown)}"))

    def work(conn: sa.Connection) -> None:
        exists = conn.execute(sa.select(META.c.city_name).where(META.c.city_name == city.name)).first()
        if exists and not replace:
            raise InputError(t(f"数据库中已有城市 '{city.name}'；如需覆盖请指定 replace",
                               f"the store already has a city '{city.name}'; ask to replace it"))
        if exists:
            _delete(conn, city.name)
        columns = {name: [c for c in df.columns if c in {col.name for col in TABLES[name]}] for name, df in tables.items()}
        _insert_meta(conn, city, columns)
        for name, df in tables.items():
            rows = _records(name, city.name, df)
            if rows:
                conn.execute(SQL_TABLES[name].insert(), rows)

    _write(url_or_path, work, may_create=True)


def _insert_meta(conn: sa.Connection, city: City, columns: dict[str, list[str]]) -> None:
    conn.execute(META.insert(), {
        "city_name": city.name, "profile": city.profile, "synthetic": bool(city.synthetic),
        "credits": json.dumps(list(city.credits), ensure_ascii=False),
        "columns": json.dumps(columns, ensure_ascii=False),
        "created": datetime.now(UTC).isoformat(timespec="seconds"), "store_version": STORE_VERSION,
        "title": city.title or None,
        "provenance": json.dumps(dict(city.provenance), ensure_ascii=False, default=str),
    })


def replace_table(url_or_path: str | Path, city_name: str, table_name: str, df: pd.DataFrame) -> None:
    """Replace one table of the city ``city_name`` in the store with ``df``, in one transaction.

    ``df`` is validated first (nothing is touched if it has problems); then that table's rows of
    that city are deleted, the new rows inserted and the city's list of saved columns updated —
    all or nothing. Other tables and other cities are left as they are. The city must exist
    (create it with :func:`save_city`). Same as :func:`merge_table` with ``replace=True``.
    """
    _merge(url_or_path, city_name, table_name, df, replace=True, dry_run=False, create=None, profile=None)


def merge_table(url_or_path: str | Path, city_name: str, table_name: str, df: pd.DataFrame, *,
                replace: bool = False, dry_run: bool = False, create: bool = False,
                profile: str | None = None) -> MergeResult:
    """Add the rows of ``df`` to table ``table_name`` of city ``city_name``, in one transaction.

    Rows are matched on the table's key (:data:`TABLE_KEYS`: ``id``; districts ``code``; surveys
    ``(circle_id, period)``): a new key is added, a known key with other values is updated (the
    columns ``df`` has; the others keep their stored values), a row equal to the stored one is left
    alone, and stored rows missing from ``df`` stay. With ``replace`` the table becomes exactly
    ``df`` (stored rows missing from it are counted as deleted). ``dry_run`` computes the same
    counts and writes nothing (not even a migration or a new file).

    The city is created (with ``profile``) when the store holds no city yet, or when ``create``;
    naming a missing city of a store that has cities is an error listing them. The city's meta row
    is locked for the transaction, so merges into one city at the same moment queue up.
    """
    return _merge(url_or_path, city_name, table_name, df, replace=replace, dry_run=dry_run,
                  create=create, profile=profile)


def table_key(table_name: str) -> tuple[str, ...]:
    """The columns that identify a row of ``table_name`` when merging (see :data:`TABLE_KEYS`)."""
    return TABLE_KEYS.get(table_name, ("id",))


def _merge(url_or_path: str | Path, city_name: str, table_name: str, df: pd.DataFrame, *, replace: bool,
           dry_run: bool, create: bool | None, profile: str | None) -> MergeResult:
    """``create``: None = the city must exist; False = only the first city of a store is created."""
    if table_name not in TABLES:
        raise InputError(t(f"未知的表：{table_name}", f"unknown table: {table_name}"))
    clean = _clean_for_merge(table_name, df.reset_index(drop=True), file=f"{city_name}:{table_name}")
    new_rows = _records(table_name, city_name, clean)
    new_cols = [c.name for c in TABLES[table_name] if c.name in clean.columns]

    def plan(conn: sa.Connection, *, lock: bool) -> tuple[_Plan, bool]:
        saved, created = _city_columns(conn, city_name, url_or_path, create=create, lock=lock)
        stored = _stored_rows(conn, table_name, city_name, saved.get(table_name, []))
        return _diff(table_name, stored, new_rows, new_cols, replace=replace, saved=saved), created

    if dry_run:
        return _dry_run(url_or_path, city_name, table_name, new_rows, plan, create=create)

    def work(conn: sa.Connection) -> MergeResult:
        pl, created = plan(conn, lock=True)
        if created:
            _insert_meta(conn, City(name=city_name, profile=profile) if profile else City(name=city_name), {})
        _apply(conn, table_name, city_name, pl, new_rows, replace=replace)
        return pl.result(table_name, created=created, dry_run=False)

    return _write(url_or_path, work, may_create=create is not None)


def _dry_run(url_or_path: str | Path, city_name: str, table_name: str, new_rows: list[dict[str, Any]],
             plan: Callable[..., tuple[_Plan, bool]], *, create: bool | None) -> MergeResult:
    """The counts of a merge, read in a transaction that writes nothing."""
    p = _is_sqlite_path(url_or_path)
    if p is not None and not p.exists():
        if create is None:
            raise InputFileError(t(f"{p}: 数据库文件不存在", f"{p}: the store file does not exist"))
        return MergeResult(table_name, added=len(new_rows), updated=0, unchanged=0, deleted=0,
                           created_city=True, dry_run=True)
    engine = _engine(url_or_path)
    try:
        with engine.connect() as conn:
            if _check_version(conn, url_or_path) is None:  # an empty database: everything is new
                if create is None:
                    raise InputError(_missing_city_nometa(city_name, url_or_path))
                return MergeResult(table_name, added=len(new_rows), updated=0, unchanged=0, deleted=0,
                                   created_city=True, dry_run=True)
            pl, created = plan(conn, lock=False)
            conn.rollback()
            return pl.result(table_name, created=created, dry_run=True)
    finally:
        engine.dispose()


def _blank(v: Any) -> bool:
    """None, NaN, pd.NA or blank text."""
    return v is None or (not isinstance(v, str) and bool(pd.isna(v))) or str(v).strip() == ""


def _clean_for_merge(table_name: str, df: pd.DataFrame, *, file: str) -> pd.DataFrame:
    """Validate ``df``; streets without an id get one from their geometry; keys must be unique."""
    if table_name == "streets" and "geometry" in df.columns:
        ids = df["id"].tolist() if "id" in df.columns else [None] * len(df)
        df = df.copy()
        df["id"] = [geometry_id(g) if _blank(v) and hasattr(g, "wkb") else v
                    for v, g in zip(ids, df["geometry"].tolist(), strict=True)]
    clean = validate_table(table_name, df, file=file)
    key = table_key(table_name)
    if key != ("id",):  # validate_table already refuses repeated ids
        seen: dict[tuple[Any, ...], int] = {}
        problems = []
        for i, k in enumerate(zip(*[clean[c].tolist() for c in key], strict=True)):
            if k in seen:
                problems.append(Problem(t(f"{'+'.join(key)} '{'/'.join(map(str, k))}' 与第{seen[k]}行重复",
                                          f"{'+'.join(key)} '{'/'.join(map(str, k))}' repeats row {seen[k]}"),
                                        file=file, row=i + 2, field=key[0]))
            else:
                seen[k] = i + 2
        if problems:
            raise InputError(problems)
    return clean


def _city_columns(conn: sa.Connection, city_name: str, where: str | Path, *, create: bool | None,
                  lock: bool) -> tuple[dict[str, list[str]], bool]:
    """The city's saved columns per table (its meta row locked when ``lock``), and whether the
    city is still to be created."""
    q = sa.select(META.c.columns).where(META.c.city_name == city_name)
    saved = conn.execute(q.with_for_update() if lock else q).scalar_one_or_none()
    if saved is None and lock and conn.dialect.name == "postgresql":
        # no row to lock yet: two first imports of a new city queue on the store lock instead
        conn.execute(sa.text("SELECT pg_advisory_xact_lock(:k)"), {"k": _PG_LOCK_KEY})
        saved = conn.execute(q.with_for_update()).scalar_one_or_none()
    if saved is not None:
        return json.loads(saved), False
    if create is None:
        raise InputError(_missing_city(conn, city_name, where))
    if not create and conn.execute(sa.select(META.c.city_name).limit(1)).first() is not None:
        raise InputError(_missing_city(conn, city_name, where, hint=True))
    return {}, True


def _stored_rows(conn: sa.Connection, table_name: str, city_name: str, cols: list[str]) -> list[dict[str, Any]]:
    """The stored rows of one table of one city, values as :func:`_records` makes them, plus
    ``row_no``."""
    tbl = SQL_TABLES[table_name]
    kinds = {c.name: c.kind for c in TABLES[table_name]}
    q = sa.select(tbl.c.row_no, *[tbl.c[c] for c in cols]).where(tbl.c.city_name == city_name)
    out = []
    for r in conn.execute(q):
        rec = {"row_no": r[0]}
        for i, c in enumerate(cols, start=1):
            v = r[i]
            rec[c] = v if kinds[c] == "geometry" or v is None else _value(kinds[c], v)
        out.append(rec)
    return out


@dataclass
class _Plan:
    """The rows of a merge: ``added``/``updated`` index the new rows; ``update_row_no`` is the
    stored row number each updated row replaces."""

    added: list[int]
    updated: list[int]
    update_row_no: list[int]
    unchanged: int
    deleted: int
    next_row_no: int
    columns: dict[str, list[str]]

    def result(self, table: str, *, created: bool, dry_run: bool) -> MergeResult:
        return MergeResult(table, added=len(self.added), updated=len(self.updated), unchanged=self.unchanged,
                           deleted=self.deleted, created_city=created, dry_run=dry_run)


def _stored_key(table_name: str, rec: dict[str, Any], key: tuple[str, ...]) -> tuple[Any, ...]:
    if table_name == "streets" and rec.get("id") is None and rec.get("geometry"):
        return (geometry_id(shapely.from_wkt(rec["geometry"])),)  # rows stored before streets had ids
    return tuple(rec.get(c) for c in key)


_FLOAT_TOL = 1e-9  # relative: 1e-9 × 111° is 0.01 mm — above the noise of coordinate conversions only


def _same(kind: str, a: Any, b: Any) -> bool:
    """Stored value ``a`` equals new value ``b`` (both as :func:`_records` makes them). Numbers
    and geometries may differ in the last bits (GCJ-02 is undone by iteration over the batch)."""
    if a == b:
        return True
    if a is None or b is None:
        return False
    if kind == "float":
        return abs(a - b) <= _FLOAT_TOL * max(1.0, abs(a), abs(b))
    if kind == "geometry":
        ga, gb = shapely.from_wkt(a), shapely.from_wkt(b)
        return ga.geom_type == gb.geom_type and bool(shapely.equals_exact(ga, gb, tolerance=1e-8))
    return False


def _diff(table_name: str, stored: list[dict[str, Any]], new_rows: list[dict[str, Any]], new_cols: list[str], *,
          replace: bool, saved: dict[str, list[str]]) -> _Plan:
    key = table_key(table_name)
    kinds = {c.name: c.kind for c in TABLES[table_name]}
    by_key = {_stored_key(table_name, r, key): r for r in stored}
    added, updated, row_nos = [], [], []
    unchanged = 0
    seen = set()
    for i, rec in enumerate(new_rows):
        k = tuple(rec.get(c) for c in key)
        seen.add(k)
        old = by_key.get(k)
        if old is None:
            added.append(i)
        elif not all(_same(kinds[c], old.get(c), rec.get(c)) for c in new_cols):
            updated.append(i)
            row_nos.append(old["row_no"])
        else:
            unchanged += 1
    columns = dict(saved)
    if replace:
        columns[table_name] = list(new_cols)
    else:
        have = set(saved.get(table_name, [])) | set(new_cols)
        columns[table_name] = [c.name for c in TABLES[table_name] if c.name in have]
    return _Plan(added, updated, row_nos, unchanged,
                 deleted=sum(1 for k in by_key if k not in seen) if replace else 0,
                 next_row_no=max((r["row_no"] for r in stored), default=-1) + 1, columns=columns)


def _apply(conn: sa.Connection, table_name: str, city_name: str, pl: _Plan, new_rows: list[dict[str, Any]], *,
           replace: bool) -> None:
    """Write a planned merge: replace the table, or update changed rows and append new ones."""
    tbl = SQL_TABLES[table_name]
    if replace:
        conn.execute(tbl.delete().where(tbl.c.city_name == city_name))
        if new_rows:
            conn.execute(tbl.insert(), new_rows)
    else:
        if pl.updated:
            cols = [c for c in new_rows[0] if c not in ("city_name", "row_no")]
            stmt = tbl.update().where(tbl.c.city_name == sa.bindparam("b_city"), tbl.c.row_no == sa.bindparam("b_row"))
            stmt = stmt.values({c: sa.bindparam(f"b_{c}") for c in cols})
            conn.execute(stmt, [{"b_city": city_name, "b_row": rn, **{f"b_{c}": new_rows[i][c] for c in cols}}
                                for i, rn in zip(pl.updated, pl.update_row_no, strict=True)])
        if pl.added:
            conn.execute(tbl.insert(), [{**new_rows[i], "row_no": pl.next_row_no + j} for j, i in enumerate(pl.added)])
    conn.execute(META.update().where(META.c.city_name == city_name)
                 .values(columns=json.dumps(pl.columns, ensure_ascii=False)))


def _delete(conn: sa.Connection, name: str) -> None:
    for tbl in SQL_TABLES.values():
        conn.execute(tbl.delete().where(tbl.c.city_name == name))
    conn.execute(META.delete().where(META.c.city_name == name))


def delete_city(url_or_path: str | Path, name: str) -> None:
    """Remove the city ``name`` from the store (one transaction)."""
    engine = _open_existing(url_or_path)  # a clear error for a missing file, before any lock
    engine.dispose()

    def work(conn: sa.Connection) -> None:
        if not conn.execute(sa.select(META.c.city_name).where(META.c.city_name == name)).first():
            if conn.execute(sa.select(META.c.city_name).limit(1)).first() is None:
                raise InputError(_missing_city_nometa(name, url_or_path))
            raise InputError(_missing_city(conn, name, url_or_path))
        _delete(conn, name)

    _write(url_or_path, work, may_create=False)


def recode_districts(url_or_path: str | Path, city_name: str, codes: dict[str, str]) -> dict[str, int]:
    """Replace district *names* stored in the ``district`` column of the city's tables by their
    codes (``codes``: name → code, e.g. 西陵区 → 420502), in one transaction. A table imported
    before the districts keeps the names as given; this makes it match the districts imported
    later. Returns rows changed per table (tables with no change are left out)."""
    pairs: dict[str, str] = {}
    for name, code in codes.items():
        n, c = str(name).strip(), str(code).strip()
        if n and c and n != c:
            pairs[n] = c
            if n.endswith("区"):
                pairs.setdefault(n.removesuffix("区"), c)
    if not pairs:
        return {}

    def work(conn: sa.Connection) -> dict[str, int]:
        if not conn.execute(sa.select(META.c.city_name).where(META.c.city_name == city_name)).first():
            return {}
        changed: dict[str, int] = {}
        for tname, tbl in SQL_TABLES.items():
            if tname == "districts" or "district" not in tbl.c:
                continue
            n = 0
            for name, code in pairs.items():
                res = conn.execute(tbl.update().where(tbl.c.city_name == city_name, tbl.c.district == name)
                                   .values(district=code))
                n += res.rowcount or 0
            if n:
                changed[tname] = n
        return changed

    return _write(url_or_path, work, may_create=False)


def city_names(url_or_path: str | Path) -> list[str]:
    """The names of the cities in a store, sorted (empty for a store that does not exist yet)."""
    return [c.name for c in list_cities(url_or_path)]


def _missing_city(conn: sa.Connection, name: str, where: str | Path, *, hint: bool = False) -> str:
    have = [r[0] for r in conn.execute(sa.select(META.c.city_name).order_by(META.c.city_name))]
    listed = "、".join(have) if have else t("（无）", "(none)")
    more = t("；新建城市请加 --create", "; add --create to start a new city") if hint else ""
    return t(f"{where}: 没有城市 '{name}'；已有：{listed}{more}", f"{where}: no city '{name}'; the store has: {listed}{more}")


def _meta_select(conn: sa.Connection) -> sa.Select:
    """SELECT of the meta columns this store has (an older store lacks the newer ones)."""
    present = {c["name"] for c in sa.inspect(conn).get_columns("meta")}
    return sa.select(*[c for c in META.c if c.name in present])


def load_city(url_or_path: str | Path, name: str) -> City:
    """Load the city ``name`` from the store; tables come back validated, rows in saved order."""
    engine = _open_existing(url_or_path)
    try:
        with engine.connect() as conn:
            if _check_version(conn, url_or_path) is None:
                raise InputError(_missing_city_nometa(name, url_or_path))
            meta = conn.execute(_meta_select(conn).where(META.c.city_name == name)).mappings().first()
            if meta is None:
                raise InputError(_missing_city(conn, name, url_or_path))
            columns: dict[str, list[str]] = json.loads(meta["columns"])
            tables = {tname: _load_table(conn, name, tname, cols) for tname, cols in columns.items()}
    finally:
        engine.dispose()
    return City(name=meta["city_name"], profile=meta["profile"], synthetic=bool(meta["synthetic"]), tables=tables,
                credits=list(json.loads(meta["credits"])), title=meta.get("title") or "",
                provenance=dict(json.loads(meta.get("provenance") or "{}")))


def _load_table(conn: sa.Connection, city_name: str, tname: str, cols: list[str]) -> pd.DataFrame:
    tbl = SQL_TABLES[tname]
    q = sa.select(*[tbl.c[c] for c in cols]).where(tbl.c.city_name == city_name).order_by(tbl.c.row_no)
    rows = conn.execute(q).all()
    data: dict[str, list[Any]] = {c: [r[i] for r in rows] for i, c in enumerate(cols)}
    kinds = {c.name: c.kind for c in TABLES[tname]}
    for c in cols:
        if kinds[c] == "geometry":
            data[c] = [None if v is None else shapely.from_wkt(v) for v in data[c]]
    return validate_table(tname, pd.DataFrame(data, columns=cols), file=f"{city_name}:{tname}")


def load_table(url_or_path: str | Path, city_name: str, table_name: str) -> pd.DataFrame | None:
    """One table of one city (validated, saved order), or None when the store, the city or the
    table is not there. Cheaper than :func:`load_city` when only one table is needed."""
    p = _is_sqlite_path(url_or_path)
    if p is not None and not p.exists():
        return None
    engine = _engine(url_or_path)
    try:
        with engine.connect() as conn:
            if _check_version(conn, url_or_path) is None:
                return None
            saved = conn.execute(sa.select(META.c.columns).where(META.c.city_name == city_name)).scalar_one_or_none()
            cols = json.loads(saved).get(table_name) if saved is not None else None
            return None if cols is None else _load_table(conn, city_name, table_name, cols)
    finally:
        engine.dispose()


def _missing_city_nometa(name: str, where: str | Path) -> str:
    return t(f"{where}: 数据库中没有任何城市（找不到 '{name}'）", f"{where}: the store holds no cities (no '{name}')")


def list_cities(url_or_path: str | Path) -> list[CityInfo]:
    """The cities in a store, by name (an empty list for a store that does not exist yet)."""
    p = _is_sqlite_path(url_or_path)
    if p is not None and not p.exists():
        return []
    engine = _engine(url_or_path)
    try:
        with engine.connect() as conn:
            if _check_version(conn, url_or_path) is None:
                return []
            out = []
            for m in conn.execute(_meta_select(conn).order_by(META.c.city_name)).mappings():
                counts = {}
                for tname in json.loads(m["columns"]):
                    tbl = SQL_TABLES[tname]
                    counts[tname] = int(conn.execute(
                        sa.select(sa.func.count()).select_from(tbl).where(tbl.c.city_name == m["city_name"])).scalar_one())
                out.append(CityInfo(name=m["city_name"], profile=m["profile"], synthetic=bool(m["synthetic"]),
                                    credits=list(json.loads(m["credits"])), created=m["created"], tables=counts))
            return out
    finally:
        engine.dispose()
