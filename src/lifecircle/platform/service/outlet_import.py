"""Bulk import of outlets into the registry (``POST /api/outlets/import``).

The file (CSV or Excel, the bureau's own headers or an Amap POI export) is read and validated by
the project's importer (:func:`lifecircle.sources.importer.import_file`: headers, format names,
coordinates to WGS-84, row-level problems). Its rows are then added or updated by id — never
deleted, and an empty cell never wipes a stored value. Any bad row: 422 with every problem (file,
row, field) and nothing written. One transaction; ``dry_run`` counts without writing.
"""

from __future__ import annotations

import math
import tempfile
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import pandas as pd
from sqlalchemy import select
from sqlalchemy.orm import Session

from lifecircle.errors import InputError, Problem
from lifecircle.i18n import t
from lifecircle.platform import audit
from lifecircle.platform.db import District, User
from lifecircle.platform.db_operations import Outlet
from lifecircle.platform.outlet_rows import split_formats
from lifecircle.platform.permissions import can_register_outlet, require_import_outlets
from lifecircle.platform.service._common import _problems
from lifecircle.platform.service.outlets import (
    apply_changes,
    area_shapes,
    catalogue,
    check_outlet_fields,
    open_new_outlet,
    place,
)

SUFFIXES = (".csv", ".txt", ".xlsx", ".xls")
_TEXT = ("name", "brand", "opening_hours", "address")
_BOOL = ("is_chain", "accepts_cash", "barrier_free", "elderly_counter")


@dataclass
class ImportResult:
    """新增 / 更新 / 未变 counts and the ids of each (``dry_run``: what would happen)."""

    file: str
    dry_run: bool
    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "file": self.file,
            "dry_run": self.dry_run,
            "added": len(self.added),
            "updated": len(self.updated),
            "unchanged": len(self.unchanged),
            "added_ids": self.added,
            "updated_ids": self.updated,
            "notes": self.notes,
        }


def _value(v: Any) -> Any:
    if v is None:
        return None
    try:
        if pd.isna(v):
            return None
    except (TypeError, ValueError):
        pass
    return v


def _fields(rec: dict[str, Any]) -> dict[str, Any]:
    """The registry fields a row gives (empty cells left out)."""
    out: dict[str, Any] = {
        "name": str(rec["name"]).strip(),
        "formats": split_formats(rec.get("formats")),
        "lon": float(rec["lon"]),
        "lat": float(rec["lat"]),
    }
    for col in _TEXT[1:]:
        v = _value(rec.get(col))
        if v is not None and str(v).strip():
            out[col] = str(v).strip()
    for col in _BOOL:
        v = _value(rec.get(col))
        if v is not None:
            out[col] = bool(v)
    area = _value(rec.get("floor_area_m2"))
    if area is not None and math.isfinite(float(area)):
        out["floor_area_m2"] = float(area)
    return out


def _read(s: Session, filename: str, data: bytes, crs: str | None) -> tuple[pd.DataFrame, str, list[str], list[int]]:
    from lifecircle.sources.importer import import_file

    name = Path((filename or "").replace("\\", "/")).name[:200] or "upload.csv"
    if Path(name).suffix.lower() not in SUFFIXES:
        raise _problems(("file", "请上传 CSV 或 Excel（.xlsx）文件", "upload a CSV or Excel (.xlsx) file"))
    if not data:
        raise _problems(("file", "文件为空", "the file is empty"))
    dists = list(s.scalars(select(District)))
    codes = {d.name_zh: d.code for d in dists} | {d.code: d.code for d in dists}
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / name
        path.write_bytes(data)
        try:
            df, report = import_file("outlets", path, crs=crs, profile=catalogue(), district_codes=codes)
        except InputError as exc:  # named by the upload's name, not the temporary path
            raise InputError(
                [
                    replace(p, file=name, field=p.field or "file", message=p.message.replace(str(path), name))
                    for p in exc.problems
                ]
            ) from None
    rows = report.file_rows if len(report.file_rows) == len(df) else [i + 2 for i in range(len(df))]
    return df, name, list(report.notes), rows


def import_outlets(
    s: Session, user: User, filename: str, data: bytes, *, dry_run: bool = False, crs: str | None = None
) -> ImportResult:
    """Add and update registry outlets from a CSV/Excel file (city admin, or a district's officer
    for rows in their district); every problem as :class:`InputError` naming file, row and field."""
    require_import_outlets(user)
    if crs is not None and crs not in ("wgs84", "gcj02", "bd09"):
        raise _problems(("crs", "坐标系应为 wgs84 / gcj02 / bd09", "crs must be wgs84, gcj02 or bd09"))
    df, name, notes, rows = _read(s, filename, data, crs)
    res = ImportResult(file=name, dry_run=dry_run, notes=notes)
    problems: list[Problem] = []
    shapes = area_shapes(s)
    plan: list[tuple[str, dict[str, Any], Outlet | None, tuple[str | None, str | None]]] = []
    for row, rec in zip(rows, df.to_dict(orient="records"), strict=True):
        oid = str(rec["id"])
        try:  # the registry's own rules (lengths, control characters …), as for one outlet
            fields = check_outlet_fields(_fields(rec), partial=False)
        except InputError as exc:
            problems += [replace(p, file=name, row=row) for p in exc.problems]
            continue
        circle_id, district = place(s, fields["lon"], fields["lat"], shapes)
        district = district or (str(rec["district"]) if _value(rec.get("district")) is not None else None)
        existing = s.get(Outlet, oid)
        where = existing.district if existing is not None else district
        if not (can_register_outlet(user, where) and can_register_outlet(user, district)):
            problems.append(
                Problem(
                    t("只能导入本区的网点", "you can only import your own district's outlets"),
                    file=name,
                    row=row,
                    field="district",
                )
            )
            continue
        if existing is not None and existing.status == "closed" and _differs(existing, fields):
            problems.append(  # as a PATCH: a closed outlet is not edited (an unchanged row is fine)
                Problem(
                    t(
                        f"网点 {oid} 已关闭，不能通过导入修改",
                        f"outlet {oid} is closed and cannot be changed by an import",
                    ),
                    file=name,
                    row=row,
                    field="id",
                )
            )
            continue
        plan.append((oid, fields, existing, (circle_id, district)))
    if problems:
        raise InputError(problems)
    for oid, fields, existing, (circle_id, district) in plan:
        if existing is None:
            res.added.append(oid)
            if not dry_run:
                open_new_outlet(s, user, oid, fields, circle_id, district, "import")
        elif _differs(existing, fields):
            res.updated.append(oid)
            if not dry_run:
                apply_changes(s, user, existing, fields, seen_version=existing.version)
        else:
            res.unchanged.append(oid)
    if not dry_run:
        audit.record(s, user, "import", "outlet", name, None, res.to_json())
    return res


def _differs(o: Outlet, fields: dict[str, Any]) -> bool:
    return any(getattr(o, k) != v for k, v in fields.items())
