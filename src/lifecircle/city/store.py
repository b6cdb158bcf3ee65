"""The embedded store: cities saved in an SQL database through SQLAlchemy Core.

One SQL table per schema table (:data:`lifecircle.city.schema.TABLES`) holding the rows of every
city (column ``city_name``, row order in ``row_no``), plus a ``meta`` table (one row per city: name,
profile, synthetic flag, credits, provenance, created time, and which columns each table has).
Geometry is stored as WKT text at full precision on every backend; on PostgreSQL with PostGIS the
tables also get generated ``geom`` columns with GiST indexes (:mod:`lifecircle.city.store_spatial`).

A bare path means SQLite (``sqlite:///<path>``); any SQLAlchemy URL works
(``postgresql://user@host/db``). A save is one transaction: it lands whole or not at all. A new
SQLite store is built in a hidden file next to its final name and linked into place only once its
transaction committed, so an interrupted first save (Ctrl-C) leaves no file behind.

The database layer (tables, migrations, engines) is :mod:`lifecircle.city.store_db`; the merge
of an import into a stored table is :mod:`lifecircle.city.store_merge`.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd
import shapely
import sqlalchemy as sa

from lifecircle.city.model import City
from lifecircle.city.schema import TABLES, validate_table
from lifecircle.city.store_db import (  # noqa: F401 - re-exported: the store's public names
    META,
    MIGRATIONS,
    SQL_TABLES,
    STORE_VERSION,
    TABLE_KEYS,
    _check_version,
    _engine,
    _is_sqlite_path,
    _missing_city,
    _missing_city_nometa,
    _open_existing,
    _records,
    _write,
    schema_version,
    store_url,
    table_key,
)
from lifecircle.city.store_merge import (
    MergeResult,
    _apply,
    _city_columns,
    _clean_for_merge,
    _diff,
    _Plan,
    _stored_rows,
)
from lifecircle.errors import InputError, InputFileError
from lifecircle.i18n import t


@dataclass(frozen=True)
class CityInfo:
    """A city in a store: its name, profile, synthetic flag, credits and creation time (UTC)."""

    name: str
    profile: str
    synthetic: bool
    credits: list[str]
    created: str
    tables: dict[str, int]  # rows per saved table


def save_city(city: City, url_or_path: str | Path, *, replace: bool = False) -> None:
    """Save ``city`` in the store, all in one transaction (nothing changes if anything fails).

    Every table is validated first. A city of the same name is an error unless ``replace``.
    """
    tables = {
        name: validate_table(name, df.reset_index(drop=True), file=f"{city.name}:{name}")
        for name, df in city.tables.items()
        if name in TABLES
    }
    unknown = sorted(set(city.tables) - set(TABLES))
    if unknown:
        raise InputError(t(f"未知的表：{', '.join(unknown)}", f"unknown tables: {', '.join(unknown)}"))

    def work(conn: sa.Connection) -> None:
        exists = conn.execute(sa.select(META.c.city_name).where(META.c.city_name == city.name)).first()
        if exists and not replace:
            raise InputError(
                t(
                    f"数据库中已有城市 '{city.name}'；如需覆盖请指定 replace",
                    f"the store already has a city '{city.name}'; ask to replace it",
                )
            )
        if exists:
            _delete(conn, city.name)
        columns = {
            name: [c for c in df.columns if c in {col.name for col in TABLES[name]}] for name, df in tables.items()
        }
        _insert_meta(conn, city, columns)
        for name, df in tables.items():
            rows = _records(name, city.name, df)
            if rows:
                conn.execute(SQL_TABLES[name].insert(), rows)

    _write(url_or_path, work, may_create=True)


def _insert_meta(conn: sa.Connection, city: City, columns: dict[str, list[str]]) -> None:
    conn.execute(
        META.insert(),
        {
            "city_name": city.name,
            "profile": city.profile,
            "synthetic": bool(city.synthetic),
            "credits": json.dumps(list(city.credits), ensure_ascii=False),
            "columns": json.dumps(columns, ensure_ascii=False),
            "created": datetime.now(UTC).isoformat(timespec="seconds"),
            "store_version": STORE_VERSION,
            "title": city.title or None,
            "provenance": json.dumps(dict(city.provenance), ensure_ascii=False, default=str),
        },
    )


def replace_table(url_or_path: str | Path, city_name: str, table_name: str, df: pd.DataFrame) -> None:
    """Replace one table of the city ``city_name`` in the store with ``df``, in one transaction.

    ``df`` is validated first (nothing is touched if it has problems); then that table's rows of
    that city are deleted, the new rows inserted and the city's list of saved columns updated —
    all or nothing. Other tables and other cities are left as they are. The city must exist
    (create it with :func:`save_city`). Same as :func:`merge_table` with ``replace=True``.
    """
    _merge(url_or_path, city_name, table_name, df, replace=True, dry_run=False, create=None, profile=None)


def merge_table(
    url_or_path: str | Path,
    city_name: str,
    table_name: str,
    df: pd.DataFrame,
    *,
    replace: bool = False,
    dry_run: bool = False,
    create: bool = False,
    profile: str | None = None,
) -> MergeResult:
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
    return _merge(
        url_or_path, city_name, table_name, df, replace=replace, dry_run=dry_run, create=create, profile=profile
    )


def _merge(
    url_or_path: str | Path,
    city_name: str,
    table_name: str,
    df: pd.DataFrame,
    *,
    replace: bool,
    dry_run: bool,
    create: bool | None,
    profile: str | None,
) -> MergeResult:
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


def _dry_run(
    url_or_path: str | Path,
    city_name: str,
    table_name: str,
    new_rows: list[dict[str, Any]],
    plan: Callable[..., tuple[_Plan, bool]],
    *,
    create: bool | None,
) -> MergeResult:
    """The counts of a merge, read in a transaction that writes nothing."""
    p = _is_sqlite_path(url_or_path)
    if p is not None and not p.exists():
        if create is None:
            raise InputFileError(t(f"{p}: 数据库文件不存在", f"{p}: the store file does not exist"))
        return MergeResult(
            table_name, added=len(new_rows), updated=0, unchanged=0, deleted=0, created_city=True, dry_run=True
        )
    engine = _engine(url_or_path)
    try:
        with engine.connect() as conn:
            if _check_version(conn, url_or_path) is None:  # an empty database: everything is new
                if create is None:
                    raise InputError(_missing_city_nometa(city_name, url_or_path))
                return MergeResult(
                    table_name, added=len(new_rows), updated=0, unchanged=0, deleted=0, created_city=True, dry_run=True
                )
            pl, created = plan(conn, lock=False)
            conn.rollback()
            return pl.result(table_name, created=created, dry_run=True)
    finally:
        engine.dispose()


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
                res = conn.execute(
                    tbl.update().where(tbl.c.city_name == city_name, tbl.c.district == name).values(district=code)
                )
                n += res.rowcount or 0
            if n:
                changed[tname] = n
        return changed

    return _write(url_or_path, work, may_create=False)


def city_names(url_or_path: str | Path) -> list[str]:
    """The names of the cities in a store, sorted (empty for a store that does not exist yet)."""
    return [c.name for c in list_cities(url_or_path)]


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
    return City(
        name=meta["city_name"],
        profile=meta["profile"],
        synthetic=bool(meta["synthetic"]),
        tables=tables,
        credits=list(json.loads(meta["credits"])),
        title=meta.get("title") or "",
        provenance=dict(json.loads(meta.get("provenance") or "{}")),
    )


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
                    counts[tname] = int(
                        conn.execute(
                            sa.select(sa.func.count()).select_from(tbl).where(tbl.c.city_name == m["city_name"])
                        ).scalar_one()
                    )
                out.append(
                    CityInfo(
                        name=m["city_name"],
                        profile=m["profile"],
                        synthetic=bool(m["synthetic"]),
                        credits=list(json.loads(m["credits"])),
                        created=m["created"],
                        tables=counts,
                    )
                )
            return out
    finally:
        engine.dispose()
