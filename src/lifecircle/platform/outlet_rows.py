"""Between the city's ``outlets`` table (:mod:`lifecircle.city.schema`: ``formats`` as codes joined
by ';', WGS-84 lon/lat) and the platform's outlet registry (:class:`~lifecircle.platform.db_operations.Outlet`).

One rule for each direction: :func:`outlet_rows_from_city` turns a city's outlets into registry rows
(the seed and the bulk import use it), :func:`city_outlets_table` turns the registry's open outlets
back into the city's table (what the evaluation engine and the live indicators read).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

import pandas as pd

from lifecircle.platform.db import utcnow
from lifecircle.platform.db_operations import Outlet

FORMAT_SEP = ";"
_BOOL_COLUMNS = ("is_chain", "accepts_cash", "barrier_free", "elderly_counter")
_TEXT_COLUMNS = ("district", "brand", "opening_hours", "address")


def split_formats(value: Any) -> list[str]:
    """Format codes of a cell: ``"convenience_store;breakfast"`` → ``["convenience_store", "breakfast"]``."""
    if isinstance(value, list | tuple):
        return [str(v).strip() for v in value if str(v).strip()]
    if not isinstance(value, str):
        return []
    return [p.strip() for p in value.split(FORMAT_SEP) if p.strip()]


def _clean(value: Any) -> Any:
    """``None`` for pandas' missing values (NaN, NA, NaT), the value otherwise."""
    if value is None:
        return None
    try:
        if pd.isna(value):
            return None
    except (TypeError, ValueError):
        return value
    return value


def outlet_row(rec: dict[str, Any], *, circle_id: str | None, synthetic: bool, status: str = "open") -> dict[str, Any]:
    """One registry row (a dict of :class:`Outlet` columns) from one record of a city's outlets table."""
    now = utcnow()
    row: dict[str, Any] = {
        "id": str(rec["id"]),
        "name": str(rec["name"]),
        "formats": split_formats(rec.get("formats")),
        "lon": float(rec["lon"]),
        "lat": float(rec["lat"]),
        "circle_id": circle_id,
        "status": status,
        "source": str(_clean(rec.get("source")) or "city"),
        "synthetic": synthetic,
        "opened_at": now if status == "open" else None,
        "created_at": now,
        "updated_at": now,
        "version": 1,
    }
    for col in _TEXT_COLUMNS:
        v = _clean(rec.get(col))
        row[col] = None if v is None and col == "district" else ("" if v is None else str(v))
    for col in _BOOL_COLUMNS:
        v = _clean(rec.get(col))
        if v is not None:
            row[col] = bool(v)
    area = _clean(rec.get("floor_area_m2"))
    row["floor_area_m2"] = float(area) if area is not None and math.isfinite(float(area)) else None
    return row


def outlet_rows_from_city(city: Any, outlet_circles: dict[str, str] | None = None) -> list[dict[str, Any]]:
    """Registry rows of every outlet of ``city`` (open; ``outlet_circles`` maps outlet id → circle id)."""
    outlets = getattr(city, "outlets", None)
    if outlets is None or len(outlets) == 0:
        return []
    circles = outlet_circles or {}
    synthetic = bool(getattr(city, "synthetic", False))
    return [
        outlet_row(rec, circle_id=circles.get(str(rec["id"])), synthetic=synthetic)
        for rec in outlets.to_dict(orient="records")
    ]


CITY_COLUMNS = (
    "id",
    "name",
    "formats",
    "lon",
    "lat",
    "district",
    "brand",
    "is_chain",
    "floor_area_m2",
    "opening_hours",
    "accepts_cash",
    "barrier_free",
    "elderly_counter",
    "address",
    "source",
)


def city_outlets_table(outlets: Iterable[Outlet]) -> pd.DataFrame:
    """The city's ``outlets`` table (schema columns) from registry outlets (callers pass the open ones)."""
    recs = [
        {
            "id": o.id,
            "name": o.name,
            "formats": FORMAT_SEP.join(o.formats or []),
            "lon": o.lon,
            "lat": o.lat,
            "district": o.district,
            "brand": o.brand,
            "is_chain": o.is_chain,
            "floor_area_m2": o.floor_area_m2,
            "opening_hours": o.opening_hours,
            "accepts_cash": o.accepts_cash,
            "barrier_free": o.barrier_free,
            "elderly_counter": o.elderly_counter,
            "address": o.address,
            "source": o.source,
        }
        for o in outlets
    ]
    return pd.DataFrame.from_records(recs, columns=list(CITY_COLUMNS))


def with_outlets(city: Any, outlets: pd.DataFrame) -> Any:
    """A copy of ``city`` whose ``outlets`` table is ``outlets`` (the other tables shared, not copied)."""
    import dataclasses

    return dataclasses.replace(city, tables={**city.tables, "outlets": outlets})
