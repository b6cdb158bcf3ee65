"""Merging an import into a stored table (``lifecircle import`` adds and updates by key, and
replaces only when asked): validation for a merge, the stored rows, the diff (added, updated,
unchanged, deleted — numbers and geometries compared within conversion noise) and applying it.
The transaction and the locks are :func:`lifecircle.city.store.merge_table`'s."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import shapely
import sqlalchemy as sa

from lifecircle.city.ids import geometry_id
from lifecircle.city.schema import TABLES, validate_table
from lifecircle.city.store_db import (
    _PG_LOCK_KEY,
    META,
    SQL_TABLES,
    _missing_city,
    _value,
    table_key,
)
from lifecircle.errors import InputError, Problem
from lifecircle.i18n import t


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


def _blank(v: Any) -> bool:
    """None, NaN, pd.NA or blank text."""
    return v is None or (not isinstance(v, str) and bool(pd.isna(v))) or str(v).strip() == ""


def _clean_for_merge(table_name: str, df: pd.DataFrame, *, file: str) -> pd.DataFrame:
    """Validate ``df``; streets without an id get one from their geometry; keys must be unique."""
    if table_name == "streets" and "geometry" in df.columns:
        ids = df["id"].tolist() if "id" in df.columns else [None] * len(df)
        df = df.copy()
        df["id"] = [
            geometry_id(g) if _blank(v) and hasattr(g, "wkb") else v
            for v, g in zip(ids, df["geometry"].tolist(), strict=True)
        ]
    clean = validate_table(table_name, df, file=file)
    key = table_key(table_name)
    if key != ("id",):  # validate_table already refuses repeated ids
        seen: dict[tuple[Any, ...], int] = {}
        problems = []
        for i, k in enumerate(zip(*[clean[c].tolist() for c in key], strict=True)):
            if k in seen:
                problems.append(
                    Problem(
                        t(
                            f"{'+'.join(key)} '{'/'.join(map(str, k))}' 与第{seen[k]}行重复",
                            f"{'+'.join(key)} '{'/'.join(map(str, k))}' repeats row {seen[k]}",
                        ),
                        file=file,
                        row=i + 2,
                        field=key[0],
                    )
                )
            else:
                seen[k] = i + 2
        if problems:
            raise InputError(problems)
    return clean


def _city_columns(
    conn: sa.Connection, city_name: str, where: str | Path, *, create: bool | None, lock: bool
) -> tuple[dict[str, list[str]], bool]:
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
        return MergeResult(
            table,
            added=len(self.added),
            updated=len(self.updated),
            unchanged=self.unchanged,
            deleted=self.deleted,
            created_city=created,
            dry_run=dry_run,
        )


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


def _diff(
    table_name: str,
    stored: list[dict[str, Any]],
    new_rows: list[dict[str, Any]],
    new_cols: list[str],
    *,
    replace: bool,
    saved: dict[str, list[str]],
) -> _Plan:
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
    return _Plan(
        added,
        updated,
        row_nos,
        unchanged,
        deleted=sum(1 for k in by_key if k not in seen) if replace else 0,
        next_row_no=max((r["row_no"] for r in stored), default=-1) + 1,
        columns=columns,
    )


def _apply(
    conn: sa.Connection, table_name: str, city_name: str, pl: _Plan, new_rows: list[dict[str, Any]], *, replace: bool
) -> None:
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
            conn.execute(
                stmt,
                [
                    {"b_city": city_name, "b_row": rn, **{f"b_{c}": new_rows[i][c] for c in cols}}
                    for i, rn in zip(pl.updated, pl.update_row_no, strict=True)
                ],
            )
        if pl.added:
            conn.execute(tbl.insert(), [{**new_rows[i], "row_no": pl.next_row_no + j} for j, i in enumerate(pl.added)])
    conn.execute(
        META.update().where(META.c.city_name == city_name).values(columns=json.dumps(pl.columns, ensure_ascii=False))
    )
