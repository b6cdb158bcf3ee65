"""The embedded store: cities saved in an SQL database through SQLAlchemy Core.

One SQL table per schema table (:data:`lifecircle.city.schema.TABLES`) holding the rows of every
city (column ``city_name``, row order in ``row_no``), plus a ``meta`` table (one row per city: name,
profile, synthetic flag, credits, created time, and which columns each table has). Geometry is
stored as WKT text at full precision, so PostgreSQL works without PostGIS.

A bare path means SQLite (``sqlite:///<path>``); any SQLAlchemy URL works
(``postgresql://user@host/db``). A save is one transaction: it lands whole or not at all.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import shapely
import sqlalchemy as sa
from sqlalchemy import event

from lifecircle.city.model import City
from lifecircle.city.schema import TABLES, validate_table
from lifecircle.errors import InputError, InputFileError
from lifecircle.i18n import t

STORE_VERSION = 1
_SQL_TYPES = {"str": sa.Text, "int": sa.BigInteger, "float": sa.Double, "bool": sa.Boolean, "geometry": sa.Text}

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
    sa.Column("store_version", sa.Integer, nullable=False),
    sa.Column("title", sa.Text, nullable=True),  # display name (City.title)
)
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


@dataclass(frozen=True)
class CityInfo:
    """A city in a store: its name, profile, synthetic flag, credits and creation time (UTC)."""

    name: str
    profile: str
    synthetic: bool
    credits: list[str]
    created: str
    tables: dict[str, int]  # rows per saved table


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


def _engine(url_or_path: str | Path) -> sa.Engine:
    url = store_url(url_or_path)
    try:
        engine = sa.create_engine(url)
    except (sa.exc.ArgumentError, ImportError) as exc:
        raise InputError(t(f"无法打开数据库 {url}：{exc}", f"cannot open database {url}: {exc}")) from None
    if engine.dialect.name == "sqlite":
        # make pysqlite fully transactional (DDL included): we issue BEGIN ourselves
        @event.listens_for(engine, "connect")
        def _connect(dbapi_conn: Any, _rec: Any) -> None:
            dbapi_conn.isolation_level = None

        @event.listens_for(engine, "begin")
        def _begin(conn: sa.Connection) -> None:
            conn.exec_driver_sql("BEGIN")

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
    p = _is_sqlite_path(url_or_path)
    if p is not None and not p.parent.exists():
        raise InputFileError(t(f"{p}: 目录 {p.parent} 不存在", f"{p}: folder {p.parent} does not exist"))
    engine = _engine(url_or_path)
    try:
        with engine.begin() as conn:
            METADATA.create_all(conn)
            exists = conn.execute(sa.select(META.c.city_name).where(META.c.city_name == city.name)).first()
            if exists and not replace:
                raise InputError(t(f"数据库中已有城市 '{city.name}'；如需覆盖请指定 replace",
                                   f"the store already has a city '{city.name}'; ask to replace it"))
            if exists:
                _delete(conn, city.name)
            columns = {name: [c for c in df.columns if c in {col.name for col in TABLES[name]}] for name, df in tables.items()}
            conn.execute(META.insert(), {
                "city_name": city.name, "profile": city.profile, "synthetic": bool(city.synthetic),
                "credits": json.dumps(list(city.credits), ensure_ascii=False),
                "columns": json.dumps(columns, ensure_ascii=False),
                "created": datetime.now(UTC).isoformat(timespec="seconds"), "store_version": STORE_VERSION,
                "title": city.title or None,
            })
            for name, df in tables.items():
                rows = _records(name, city.name, df)
                if rows:
                    conn.execute(SQL_TABLES[name].insert(), rows)
    finally:
        engine.dispose()


def replace_table(url_or_path: str | Path, city_name: str, table_name: str, df: pd.DataFrame) -> None:
    """Replace one table of the city ``city_name`` in the store with ``df``, in one transaction.

    ``df`` is validated first (nothing is touched if it has problems); then that table's rows of
    that city are deleted, the new rows inserted and the city's list of saved columns updated —
    all or nothing. Other tables and other cities are left as they are. The city must exist
    (create it with :func:`save_city`).
    """
    if table_name not in TABLES:
        raise InputError(t(f"未知的表：{table_name}", f"unknown table: {table_name}"))
    clean = validate_table(table_name, df.reset_index(drop=True), file=f"{city_name}:{table_name}")
    known = {col.name for col in TABLES[table_name]}
    cols = [c for c in clean.columns if c in known]
    engine = _open_existing(url_or_path)
    try:
        with engine.begin() as conn:
            if not sa.inspect(conn).has_table("meta"):
                raise InputError(_missing_city_nometa(city_name, url_or_path))
            # lock the city's meta row (PostgreSQL) so concurrent replaces of its tables queue up
            q = sa.select(META.c.columns).where(META.c.city_name == city_name).with_for_update()
            saved = conn.execute(q).scalar_one_or_none()
            if saved is None:
                raise InputError(_missing_city(conn, city_name, url_or_path))
            columns: dict[str, list[str]] = json.loads(saved)
            columns[table_name] = cols
            tbl = SQL_TABLES[table_name]
            conn.execute(tbl.delete().where(tbl.c.city_name == city_name))
            rows = _records(table_name, city_name, clean)
            if rows:
                conn.execute(tbl.insert(), rows)
            conn.execute(META.update().where(META.c.city_name == city_name)
                         .values(columns=json.dumps(columns, ensure_ascii=False)))
    finally:
        engine.dispose()


def _delete(conn: sa.Connection, name: str) -> None:
    for tbl in SQL_TABLES.values():
        conn.execute(tbl.delete().where(tbl.c.city_name == name))
    conn.execute(META.delete().where(META.c.city_name == name))


def delete_city(url_or_path: str | Path, name: str) -> None:
    """Remove the city ``name`` from the store (one transaction)."""
    engine = _open_existing(url_or_path)
    try:
        with engine.begin() as conn:
            if not sa.inspect(conn).has_table("meta"):
                raise InputError(_missing_city_nometa(name, url_or_path))
            if not conn.execute(sa.select(META.c.city_name).where(META.c.city_name == name)).first():
                raise InputError(_missing_city(conn, name, url_or_path))
            _delete(conn, name)
    finally:
        engine.dispose()


def _open_existing(url_or_path: str | Path) -> sa.Engine:
    p = _is_sqlite_path(url_or_path)
    if p is not None and not p.exists():
        raise InputFileError(t(f"{p}: 数据库文件不存在", f"{p}: the store file does not exist"))
    return _engine(url_or_path)


def _missing_city(conn: sa.Connection, name: str, where: str | Path) -> str:
    have = [r[0] for r in conn.execute(sa.select(META.c.city_name).order_by(META.c.city_name))]
    listed = "、".join(have) if have else t("（无）", "(none)")
    return t(f"{where}: 没有城市 '{name}'；已有：{listed}", f"{where}: no city '{name}'; the store has: {listed}")


def load_city(url_or_path: str | Path, name: str) -> City:
    """Load the city ``name`` from the store; tables come back validated, rows in saved order."""
    engine = _open_existing(url_or_path)
    try:
        with engine.connect() as conn:
            if not sa.inspect(conn).has_table("meta"):
                raise InputError(_missing_city_nometa(name, url_or_path))
            meta = conn.execute(sa.select(META).where(META.c.city_name == name)).mappings().first()
            if meta is None:
                raise InputError(_missing_city(conn, name, url_or_path))
            columns: dict[str, list[str]] = json.loads(meta["columns"])
            tables: dict[str, pd.DataFrame] = {}
            for tname, cols in columns.items():
                tbl = SQL_TABLES[tname]
                q = sa.select(*[tbl.c[c] for c in cols]).where(tbl.c.city_name == name).order_by(tbl.c.row_no)
                rows = conn.execute(q).all()
                data: dict[str, list[Any]] = {c: [r[i] for r in rows] for i, c in enumerate(cols)}
                kinds = {c.name: c.kind for c in TABLES[tname]}
                for c in cols:
                    if kinds[c] == "geometry":
                        data[c] = [None if v is None else shapely.from_wkt(v) for v in data[c]]
                tables[tname] = validate_table(tname, pd.DataFrame(data, columns=cols), file=f"{name}:{tname}")
    finally:
        engine.dispose()
    return City(name=meta["city_name"], profile=meta["profile"], synthetic=bool(meta["synthetic"]), tables=tables,
                credits=list(json.loads(meta["credits"])), title=meta.get("title") or "")


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
            if not sa.inspect(conn).has_table("meta"):
                return []
            out = []
            for m in conn.execute(sa.select(META).order_by(META.c.city_name)).mappings():
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
