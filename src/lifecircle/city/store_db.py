"""The city store's database layer: the SQL tables, the versioned schema and its migrations,
engines (SQLite made fully transactional, PostgreSQL), the one write path and the value
conversions. :mod:`lifecircle.city.store` is the public API over it.

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
``ALTER TABLE … ADD COLUMN``, and the list reads in a minute; a step must only ever add, and only
what is missing. A step may depend on the dialect: version 3 adds PostGIS columns and spatial
indexes on PostgreSQL and nothing on SQLite (:mod:`lifecircle.city.store_spatial`).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import pandas as pd
import shapely
import sqlalchemy as sa
from sqlalchemy import event

from lifecircle.city.schema import TABLES
from lifecircle.city.store_spatial import add_spatial_columns, spatial_pending
from lifecircle.errors import InputError, InputFileError
from lifecircle.i18n import t

STORE_VERSION = 3  # the schema version this code writes (see MIGRATIONS)
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

# ------------------------------------------------------------------------------ migrations


def column_names(conn: sa.Connection, table: str) -> set[str]:
    """The columns ``table`` has (on PostgreSQL without reflecting their types: PostGIS's
    ``geometry`` is not a type SQLAlchemy knows)."""
    if conn.dialect.name == "postgresql":
        q = sa.text(
            "SELECT column_name FROM information_schema.columns "
            "WHERE table_schema = current_schema() AND table_name = :t"
        )
        return {r[0] for r in conn.execute(q, {"t": table})}
    return {c["name"] for c in sa.inspect(conn).get_columns(table)}


def _add_column(conn: sa.Connection, table: str, name: str, kind: str) -> None:
    """``ALTER TABLE table ADD COLUMN name`` (nullable, of the schema ``kind``) unless it exists."""
    if name in column_names(conn, table):
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
    (3, "PostGIS: geom columns (from WKT or lon/lat) + GiST indexes; SQLite: nothing", add_spatial_columns),
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
        raise InputError(
            t(
                f"{where}: 数据库结构版本 {v} 比本程序支持的 {STORE_VERSION} 新；请升级 lifecircle",
                f"{where}: the store has schema version {v}, newer than the {STORE_VERSION} this "
                "lifecircle knows; upgrade lifecircle",
            )
        )
    return v


def _ensure_schema(conn: sa.Connection, where: str | Path) -> None:
    """Bring the store to :data:`STORE_VERSION` inside the caller's (write) transaction: create
    every table of an empty database, or apply the missing migration steps of an older store.

    An empty database gets the tables of today's code and then every step (each step only adds
    what is missing, so the one list serves new and old stores alike)."""
    v = _check_version(conn, where)
    if v == STORE_VERSION and not (conn.dialect.name == "postgresql" and spatial_pending(conn)):
        return
    if conn.dialect.name == "postgresql":  # two first writers at once: the second waits, then sees v3
        conn.execute(sa.text("SELECT pg_advisory_xact_lock(:k)"), {"k": _PG_LOCK_KEY})
    v = _check_version(conn, where)
    if v == STORE_VERSION:
        if spatial_pending(conn):  # PostGIS was enabled after the store was made
            add_spatial_columns(conn)
        return
    METADATA.create_all(conn)  # new tables (all of them in an empty database), store_schema included
    for target, _what, step in MIGRATIONS:
        if target > (v or 0):
            step(conn)
    conn.execute(STORE_SCHEMA.delete())
    conn.execute(STORE_SCHEMA.insert(), {"version": STORE_VERSION})


# ------------------------------------------------------------------------------ connections


def store_url(url_or_path: str | Path) -> str:
    """An SQLAlchemy URL: given as is if it has a scheme (``postgresql://`` and ``postgres://``
    with the psycopg 3 driver lifecircle installs), else ``sqlite:///<absolute path>``."""
    s = str(url_or_path)
    for plain in ("postgresql://", "postgres://"):
        if s.startswith(plain):
            return "postgresql+psycopg://" + s[len(plain) :]
    if "://" in s:
        return s
    return f"sqlite:///{Path(s).expanduser().resolve()}"


def _is_sqlite_path(url_or_path: str | Path) -> Path | None:
    s = str(url_or_path)
    if "://" not in s:
        return Path(s).expanduser()
    if s.startswith("sqlite:///") and s != "sqlite:///:memory:":
        return Path(s[len("sqlite:///") :])
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
        # a file by its path as given (the URL percent-encodes Chinese characters and spaces)
        path = _is_sqlite_path(url_or_path)
        where = str(path) if path is not None else engine.url.render_as_string(hide_password=True)
        if path is not None and reason == "file is not a database":
            raise InputError(
                t(
                    f"{where}: 不是数据库文件（城市库须为 lifecircle 写出的 SQLite 文件）",
                    f"{where}: not a database file (a city store is an SQLite file lifecircle wrote)",
                )
            ) from None
        raise InputError(
            t(f"无法连接数据库 {where}：{reason}", f"cannot connect to the database {where}: {reason}")
        ) from None
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


def table_key(table_name: str) -> tuple[str, ...]:
    """The columns that identify a row of ``table_name`` when merging (see :data:`TABLE_KEYS`)."""
    return TABLE_KEYS.get(table_name, ("id",))


def _missing_city(conn: sa.Connection, name: str, where: str | Path, *, hint: bool = False) -> str:
    have = [r[0] for r in conn.execute(sa.select(META.c.city_name).order_by(META.c.city_name))]
    listed = "、".join(have) if have else t("（无）", "(none)")
    more = t("；新建城市请加 --create", "; add --create to start a new city") if hint else ""
    return t(
        f"{where}: 没有城市 '{name}'；已有：{listed}{more}", f"{where}: no city '{name}'; the store has: {listed}{more}"
    )


def _missing_city_nometa(name: str, where: str | Path) -> str:
    return t(f"{where}: 数据库中没有任何城市（找不到 '{name}'）", f"{where}: the store holds no cities (no '{name}')")
