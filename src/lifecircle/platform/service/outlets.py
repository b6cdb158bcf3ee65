"""The outlet registry (M9): register, list, read, edit and close outlets.

Every change that matters to the live indicators (an outlet opens, closes, moves or changes its
formats) writes an :class:`~lifecircle.platform.db_operations.OutletEvent` in the same transaction.
Coordinates come in as WGS-84, GCJ-02 (Amap) or BD-09 (Baidu) and are stored as WGS-84; the circle
is the one whose boundary holds the point, the district that circle's or else the district polygon's
(the ``districts`` map layer). Format codes are checked against the profile's catalogue.
"""

from __future__ import annotations

import math
import re
from functools import lru_cache
from typing import Any

from sqlalchemy import String, cast, func, select, update
from sqlalchemy.orm import Session

from lifecircle.i18n import t
from lifecircle.platform import audit
from lifecircle.platform.db import Circle, MapLayer, User, utcnow
from lifecircle.platform.db_operations import Outlet, OutletEvent
from lifecircle.platform.errors import ConflictError, NotFoundError
from lifecircle.platform.permissions import (
    require_edit_outlet,
    require_register_outlet,
    require_see_outlet,
)
from lifecircle.platform.service._common import _problems
from lifecircle.profile import DEFAULT_PROFILE, Profile, load_profile

BOOL_FIELDS = (
    "is_chain",
    "accepts_cash",
    "accepts_card",
    "mobile_payment",
    "barrier_free",
    "elderly_counter",
    "online_pickup",
    "delivery",
    "home_service",
)
TEXT_FIELDS = {"brand": 64, "opening_hours": 128, "address": 255}
OUTLET_FIELDS = ("name", "formats", "lon", "lat", "floor_area_m2", *TEXT_FIELDS, *BOOL_FIELDS)
CRS = ("wgs84", "gcj02", "bd09")
CHINA_LON = (72.004, 137.8347)  # the bounding box of China used by the importer (sources/amap.py)
CHINA_LAT = (0.8293, 55.8271)
MAX_PAGE = 1000
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")  # as the web layer: NUL etc. (tab, newlines allowed)

Fix = tuple[str, str, str]  # (field, zh, en)


@lru_cache(maxsize=4)
def catalogue(name: str = DEFAULT_PROFILE) -> Profile:
    """The profile whose format codes the registry accepts (cached)."""
    return load_profile(name)


# ------------------------------------------------------------------ validation


def _number(v: Any) -> float | None:
    if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v):
        return None
    return float(v)


def _check_formats(v: Any, out: list[Fix]) -> None:
    codes = catalogue().codes
    if not isinstance(v, list) or not v or not all(isinstance(c, str) for c in v):
        out.append(("formats", "业态至少选一项（业态代码列表）", "formats: give at least one format code"))
        return
    bad = [c for c in v if c not in codes]
    if bad:
        out.append(
            (
                "formats",
                f"未知业态代码：{', '.join(bad)}；可用：{', '.join(codes)}",
                f"unknown format code(s): {', '.join(bad)}; known: {', '.join(codes)}",
            )
        )
    elif len(set(v)) != len(v):
        out.append(("formats", "业态代码重复", "a format code is repeated"))


def _check_point(lon: Any, lat: Any, crs: str, out: list[Fix]) -> tuple[float, float] | None:
    """WGS-84 lon/lat of the input, or ``None`` with the problems added."""
    x, y = _number(lon), _number(lat)
    if x is None or not -180 <= x <= 180:
        out.append(("lon", "经度应为 -180 到 180 之间的数", "lon must be a number from -180 to 180"))
    if y is None or not -90 <= y <= 90:
        out.append(("lat", "纬度应为 -90 到 90 之间的数", "lat must be a number from -90 to 90"))
    if crs not in CRS:
        out.append(("crs", f"坐标系应为 {' / '.join(CRS)}", f"crs must be one of {', '.join(CRS)}"))
    if x is None or y is None or not -180 <= x <= 180 or not -90 <= y <= 90 or crs not in CRS:
        return None
    if not (CHINA_LON[0] <= x <= CHINA_LON[1] and CHINA_LAT[0] <= y <= CHINA_LAT[1]):
        out.append(("lon", "坐标不在中国境内（请检查经纬度是否填反）", "the point is outside China (lon/lat swapped?)"))
        return None
    from lifecircle.sources.coords import to_wgs84

    wx, wy = to_wgs84([x], [y], crs)
    return float(wx[0]), float(wy[0])


def _check_other(data: dict[str, Any], out: list[Fix]) -> None:
    if "name" in data:
        name = data["name"]
        if not isinstance(name, str) or not name.strip() or len(name) > 128:
            out.append(("name", "名称不能为空，最长 128 字", "name must be 1–128 characters"))
        elif _CONTROL.search(name):
            out.append(("name", "名称含有不允许的控制字符", "name contains a control character"))
    if "floor_area_m2" in data and data["floor_area_m2"] is not None:
        a = _number(data["floor_area_m2"])
        if a is None or not 0 <= a < 1e7:
            out.append(("floor_area_m2", "营业面积应为不小于 0 的数（㎡）", "floor_area_m2 must be a number ≥ 0 (m²)"))
    for f, n in TEXT_FIELDS.items():
        if f in data and (not isinstance(data[f], str) or len(data[f]) > n):
            out.append((f, f"{f} 应为文本，最长 {n} 字", f"{f} must be text of at most {n} characters"))
        elif f in data and _CONTROL.search(data[f]):
            out.append((f, f"{f} 含有不允许的控制字符", f"{f} contains a control character"))
    for f in BOOL_FIELDS:
        if f in data and not isinstance(data[f], bool):
            out.append((f, f"{f} 应为是/否", f"{f} must be true or false"))


def check_outlet_fields(data: dict[str, Any], *, partial: bool, extra: list[Fix] | None = None) -> dict[str, Any]:
    """The outlet fields of ``data`` checked and cleaned (coordinates converted to WGS-84, ``crs``
    dropped); every problem at once as :class:`InputError` naming the field. ``partial``: only the
    fields given are checked (PATCH); otherwise name, formats, lon and lat are required."""
    out: list[Fix] = list(extra or [])
    unknown = sorted(set(data) - set(OUTLET_FIELDS) - {"crs"})
    for f in unknown:
        out.append((f, f"未知字段 '{f}'", f"unknown field '{f}'"))
    if not partial:
        for f in ("name", "formats", "lon", "lat"):
            if data.get(f) is None:
                out.append((f, f"缺少 {f}", f"{f} is required"))
    clean = {k: data[k] for k in OUTLET_FIELDS if k in data and (data[k] is not None or k == "floor_area_m2")}
    if "formats" in data and data["formats"] is not None:
        _check_formats(data["formats"], out)
    _check_other(clean, out)
    if ("lon" in data) != ("lat" in data):
        out.append(("lat" if "lon" in data else "lon", "经度和纬度须一起修改", "lon and lat change together"))
    elif data.get("lon") is not None or data.get("lat") is not None:
        point = _check_point(data.get("lon"), data.get("lat"), str(data.get("crs") or "wgs84").lower(), out)
        if point:
            clean["lon"], clean["lat"] = point
    if out:
        raise _problems(*out)
    if isinstance(clean.get("name"), str):
        clean["name"] = clean["name"].strip()
    if clean.get("floor_area_m2") is not None:
        clean["floor_area_m2"] = float(clean["floor_area_m2"])
    return clean


# ------------------------------------------------------------------ where an outlet is


Shapes = list[tuple[Any, str | None, str | None]]  # (geometry, circle id, district)


def area_shapes(s: Session) -> Shapes:
    """The circles' boundaries (first) and the district polygons, as shapely geometries."""
    from shapely.geometry import shape

    out: Shapes = []
    q = select(Circle.id, Circle.district, Circle.boundary).where(Circle.boundary.is_not(None)).order_by(Circle.id)
    for cid, district, boundary in s.execute(q):
        try:
            out.append((shape(boundary), cid, district))
        except (ValueError, TypeError, AttributeError, KeyError):
            continue
    layer = s.get(MapLayer, "districts")
    for feat in (layer.geojson or {}).get("features", []) if layer else []:
        try:
            out.append((shape(feat["geometry"]), None, str(feat["properties"]["code"])))
        except (ValueError, TypeError, KeyError, AttributeError):
            continue
    return out


def place(s: Session, lon: float, lat: float, shapes: Shapes | None = None) -> tuple[str | None, str | None]:
    """(circle id, district code) of the WGS-84 point: the circle whose boundary covers it, and
    that circle's district or else the district polygon's (``None`` where nothing covers it).
    ``shapes`` (from :func:`area_shapes`) saves reading them again for many points."""
    from shapely.geometry import Point

    pt = Point(lon, lat)
    for geom, cid, district in area_shapes(s) if shapes is None else shapes:
        if geom.covers(pt):
            return cid, district
    return None, None


def _require_in_city(s: Session, district: str | None) -> None:
    """422 when a point lies in none of the city's districts — where the city has district polygons
    (without them every point is ``None`` and nothing can be said)."""
    layer = s.get(MapLayer, "districts")
    if district is None and layer is not None and (layer.geojson or {}).get("features"):
        raise _problems(("lon", "坐标不在本市任何区内", "the point is in none of the city's districts"))


# ------------------------------------------------------------------ reading


def get_outlet(s: Session, user: User, outlet_id: str) -> Outlet:
    """The outlet ``outlet_id`` if ``user`` may see it (404 / 403 otherwise)."""
    o = s.get(Outlet, outlet_id)
    if o is None:
        raise NotFoundError(t(f"没有编号为 '{outlet_id}' 的网点", f"no outlet with id '{outlet_id}'"))
    require_see_outlet(user, o.district, o.owner_id)
    return o


def list_outlets(
    s: Session,
    user: User,
    *,
    circle: str | None = None,
    format: str | None = None,
    status: str | None = None,
    district: str | None = None,
    limit: int = 200,
    offset: int = 0,
) -> tuple[list[Outlet], int]:
    """The outlets ``user`` may see (a merchant: its own; district-bound roles: their district),
    filtered; returns (one page, total matching)."""
    problems: list[Fix] = []
    if format is not None and format not in catalogue().codes:
        problems.append(("format", f"未知业态代码 '{format}'", f"unknown format code '{format}'"))
    if status is not None and status not in ("pending", "open", "closed"):
        problems.append(("status", "状态应为 pending / open / closed", "status must be pending, open or closed"))
    if not 1 <= limit <= MAX_PAGE:
        problems.append(("limit", f"limit 应为 1–{MAX_PAGE}", f"limit must be 1–{MAX_PAGE}"))
    if offset < 0:
        problems.append(("offset", "offset 不能为负", "offset must be ≥ 0"))
    if problems:
        raise _problems(*problems)
    q = select(Outlet)
    if user.role == "merchant":
        q = q.where(Outlet.owner_id == user.id)
    elif user.role in ("district_officer", "inspector", "community_officer"):
        q = q.where(Outlet.district == user.district)
    if circle is not None:
        q = q.where(Outlet.circle_id == circle)
    if district is not None:
        q = q.where(Outlet.district == district)
    if status is not None:
        q = q.where(Outlet.status == status)
    if format is not None:
        q = q.where(cast(Outlet.formats, String).contains(f'"{format}"', autoescape=True))
    total = s.scalar(select(func.count()).select_from(q.subquery())) or 0
    rows = list(s.scalars(q.order_by(Outlet.district, Outlet.id).limit(limit).offset(offset)))
    return rows, int(total)


# ------------------------------------------------------------------ changes


def new_outlet_id(s: Session, name: str, lon: float, lat: float) -> str:
    """An id from name and coordinates (as the importer makes them), ``~2`` … when taken."""
    from lifecircle.city.ids import point_ids

    base = point_ids("o", [name], [lon], [lat])[0]
    oid, n = base, 1
    while s.get(Outlet, oid) is not None:
        n += 1
        oid = f"{base}~{n}"
    return oid


def event(s: Session, outlet_id: str, kind: str) -> None:
    """Add the outlet's ``open`` / ``close`` / ``update`` event (same transaction as the change)."""
    s.add(OutletEvent(outlet_id=outlet_id, kind=kind, at=utcnow()))


def open_new_outlet(
    s: Session,
    user: User,
    oid: str,
    fields: dict[str, Any],
    circle_id: str | None,
    district: str | None,
    source: str,
) -> Outlet:
    """Add an outlet that is open from now (checked fields; the caller checked the permission), with
    its ``open`` event and audit row, in the caller's transaction."""
    now = utcnow()
    o = Outlet(
        id=oid,
        circle_id=circle_id,
        district=district,
        status="open",
        source=source,
        opened_at=now,
        created_at=now,
        updated_at=now,
        version=1,
        **fields,
    )
    s.add(o)
    s.flush()
    event(s, oid, "open")
    audit.record(s, user, "create", "outlet", oid, None, audit.snapshot(o))
    return o


def register_outlet(s: Session, user: User, data: dict[str, Any]) -> Outlet:
    """Register an outlet that opens at once (city admin, or the officer of its district)."""
    require_register_outlet(user, user.district)  # may register at all (before the fields are checked)
    clean = check_outlet_fields(data, partial=False)
    circle_id, district = place(s, clean["lon"], clean["lat"])
    _require_in_city(s, district)
    require_register_outlet(user, district)
    oid = new_outlet_id(s, clean["name"], clean["lon"], clean["lat"])
    return open_new_outlet(s, user, oid, clean, circle_id, district, "registry")


def apply_changes(s: Session, user: User | None, o: Outlet, clean: dict[str, Any], *, seen_version: int) -> bool:
    """Write ``clean`` (checked fields) to ``o`` with one conditional UPDATE on its version
    (:class:`ConflictError` when it moved on); re-place it when it moved, and write an ``update``
    event when an open outlet moved or changed formats. Returns whether anything changed."""
    changed = {k: v for k, v in clean.items() if getattr(o, k) != v}
    if not changed:
        return False
    if "lon" in changed or "lat" in changed:
        circle_id, district = place(s, clean.get("lon", o.lon), clean.get("lat", o.lat))
        if user is not None and user.role == "district_officer" and district != user.district:
            require_register_outlet(user, district)
        changed |= {"circle_id": circle_id, "district": district}
    before = audit.snapshot(o)
    res = s.execute(
        update(Outlet)
        .where(Outlet.id == o.id, Outlet.version == seen_version)
        .values(**changed, updated_at=utcnow(), version=seen_version + 1)
        .execution_options(synchronize_session=False)
    )
    if res.rowcount != 1:  # type: ignore[attr-defined]
        raise _version_conflict(s, o)
    s.refresh(o)
    if o.status == "open" and {"lon", "lat", "formats"} & set(changed):
        event(s, o.id, "update")
    audit.record(s, user, "update", "outlet", o.id, before, audit.snapshot(o))
    return True


def _version_conflict(s: Session, o: Outlet) -> ConflictError:
    s.expire(o)
    now = s.scalar(select(Outlet.version).where(Outlet.id == o.id))
    return ConflictError(
        t(
            f"网点已被他人修改（当前版本 {now}），请刷新后重试",
            f"the outlet was changed by someone else (now version {now}); reload and retry",
        ),
        current=str(now),
    )


def update_outlet(s: Session, user: User, outlet_id: str, data: dict[str, Any], version: int) -> Outlet:
    """Change some fields of an outlet (PATCH); ``version`` is the version the sender saw (409 if stale)."""
    o = get_outlet(s, user, outlet_id)
    require_edit_outlet(user, o.district, o.owner_id)
    extra: list[Fix] = []
    if o.status == "closed":
        extra.append(("status", "网点已关闭，不能修改", "the outlet is closed and cannot be edited"))
    clean = check_outlet_fields(data, partial=True, extra=extra)
    if version != o.version:
        raise _version_conflict(s, o)
    if "lon" in clean and (clean["lon"], clean["lat"]) != (o.lon, o.lat):
        _require_in_city(s, place(s, clean["lon"], clean["lat"])[1])
    apply_changes(s, user, o, clean, seen_version=version)
    return o


def close_outlet(s: Session, user: User, outlet_id: str, reason: str, version: int | None = None) -> Outlet:
    """Close an open (or pending) outlet with a reason; an open one writes a ``close`` event."""
    o = get_outlet(s, user, outlet_id)
    require_edit_outlet(user, o.district, o.owner_id)
    problems: list[Fix] = []
    if not reason or not reason.strip() or len(reason) > 2000:
        problems.append(("reason", "请填写关闭原因（最长 2000 字）", "give the reason for closing (≤ 2000 characters)"))
    if o.status == "closed":
        problems.append(("status", "网点已经关闭", "the outlet is already closed"))
    if problems:
        raise _problems(*problems)
    seen = o.version if version is None else version
    if seen != o.version:
        raise _version_conflict(s, o)
    before, was_open, now = audit.snapshot(o), o.status == "open", utcnow()
    res = s.execute(
        update(Outlet)
        .where(Outlet.id == o.id, Outlet.version == seen, Outlet.status != "closed")
        .values(status="closed", closed_at=now, updated_at=now, version=seen + 1)
        .execution_options(synchronize_session=False)
    )
    if res.rowcount != 1:  # type: ignore[attr-defined]
        raise _version_conflict(s, o)
    s.refresh(o)
    if was_open:
        event(s, o.id, "close")
    after = audit.snapshot(o) or {}
    audit.record(s, user, "close", "outlet", o.id, before, after | {"reason": reason.strip()})
    return o


def outlet_json(o: Outlet) -> dict[str, Any]:
    """The API's view of an outlet."""
    return {
        k: v.isoformat() if hasattr(v, "isoformat") else v
        for k, v in (audit.snapshot(o) or {}).items()
        if k not in ("credit_reasons", "integrity_reasons")
    }
