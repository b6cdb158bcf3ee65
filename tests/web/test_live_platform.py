"""The platform's live indicators (issue 11): ``GET /api/circles/{id}/indicators`` follows the outlet
registry — an outlet registered or closed changes exactly what a full ``evaluate_city`` of the city
with the registry's open outlets gives — on SQLite and PostgreSQL, and the circle page shows it."""

from __future__ import annotations

import math
import time

import pytest
from sqlalchemy import select

from lifecircle.platform.db import transaction, utcnow
from lifecircle.platform.db_operations import Outlet, OutletEvent
from lifecircle.platform.outlet_rows import city_outlets_table, with_outlets

from .conftest import SMALL_DEMO_SCALE, Platform, make_settings

SCALE = SMALL_DEMO_SCALE  # the demo city's scale (test_feedback builds the same city)


@pytest.fixture
def live_platform(small_demo_db_url, tmp_path):
    """The app on a database seeded from the small demo city (its outlets are the registry)."""
    from fastapi.testclient import TestClient

    from lifecircle.web.app import create_app

    settings = make_settings(small_demo_db_url, tmp_path / "data")
    app = create_app(settings)
    with TestClient(app) as client:
        yield Platform(client, app, settings, small_demo_db_url, {})
    app.state.engine.dispose()


def batch_coverage(p: Platform) -> dict[str, dict[str, float | None]]:
    """Each circle's per-format coverage from a full ``evaluate_city`` of the city with the registry's
    open outlets (the independent reference)."""
    from lifecircle.indicators.evaluate import evaluate_city

    engine = p.app.state.live.engine()
    with transaction(p.factory()) as s:
        outlets = list(s.scalars(select(Outlet).where(Outlet.status == "open").order_by(Outlet.id)))
        city = with_outlets(engine.city, city_outlets_table(outlets))
    ev = evaluate_city(city, engine.net, engine.profile, rules=engine.rules)
    fc = ev.format_coverage[ev.format_coverage["level"] == "circle"]
    out: dict[str, dict[str, float | None]] = {}
    for (cid, fmt), share in zip(zip(fc["unit_id"], fc["format"], strict=True), fc["share_within_layer"], strict=True):
        out.setdefault(str(cid), {})[str(fmt)] = None if share is None or math.isnan(share) else float(share)
    return out


def open_outlet(p: Platform, oid: str, lon: float, lat: float, formats: list[str]) -> None:
    with transaction(p.factory()) as s:
        now = utcnow()
        s.add(Outlet(id=oid, name=f"测试{oid}", formats=formats, lon=lon, lat=lat, status="open", opened_at=now))
        s.add(OutletEvent(outlet_id=oid, kind="open", at=now))


def close_outlet(p: Platform, oid: str) -> None:
    with transaction(p.factory()) as s:
        o = s.get(Outlet, oid)
        o.status, o.closed_at = "closed", utcnow()
        s.add(OutletEvent(outlet_id=oid, kind="close", at=utcnow()))


def live(p: Platform, cid: str) -> dict:
    for _ in range(30):  # the first read may find the build in progress (503, Retry-After)
        r = p.client.get(f"/api/circles/{cid}/indicators", headers=p.h("admin"))
        if r.status_code != 503:
            break
        time.sleep(1)
    assert r.status_code == 200, r.text
    return r.json()


def test_live_indicators_follow_registrations_and_closures_exactly(live_platform):
    p = live_platform
    with transaction(p.factory()) as s:
        cids = [cid for (cid,) in s.execute(select(Outlet.circle_id).where(Outlet.circle_id.is_not(None)).distinct())]
    cid = sorted(cids)[0]
    first = live(p, cid)
    assert set(first) >= {"as_of", "coverage", "grade", "gaps", "snapshot_grade"}
    ref = batch_coverage(p)
    assert first["coverage"] == pytest.approx(ref[cid], abs=0, rel=0, nan_ok=True)
    # an outlet of the circle's weakest format next to one of its communities: the figure moves
    engine = p.app.state.live.engine()
    comm = engine.city.communities
    rows = comm[comm["circle_id"] == cid].sort_values("population", ascending=False)
    fmt = min((v, f) for f, v in first["coverage"].items() if v is not None)[1]
    assert first["coverage"][fmt] < 1.0
    for i, row in enumerate(rows.head(5).itertuples()):
        oid = f"LIVE{i}"
        open_outlet(p, oid, float(row.lon) + 0.0002, float(row.lat), [fmt])
        t0 = time.perf_counter()
        after = live(p, cid)
        assert time.perf_counter() - t0 < 1.0  # the change shows within one second
        if after["coverage"][fmt] > first["coverage"][fmt]:
            break
        close_outlet(p, oid)
    ref = batch_coverage(p)
    assert after["coverage"] == ref[cid]
    assert after["coverage"][fmt] > first["coverage"][fmt]
    assert after["as_of"] > first["as_of"]
    # closed again: back to the start, exactly
    close_outlet(p, oid)
    assert live(p, cid)["coverage"] == first["coverage"]
    # closing one of the city's own outlets equals the batch too
    with transaction(p.factory()) as s:
        victim = s.scalars(select(Outlet).where(Outlet.circle_id == cid, Outlet.status == "open")).first()
        vid = victim.id
    close_outlet(p, vid)
    assert live(p, cid)["coverage"] == batch_coverage(p)[cid]


def test_live_indicators_permissions_and_errors(live_platform):
    p = live_platform
    c = p.client
    assert c.get("/api/circles/XL-01/indicators").status_code == 401
    live(p, "XL-01")
    assert c.get("/api/circles/XL-01/indicators", headers=p.h("wujiagang")).status_code == 403  # another district
    assert c.get("/api/circles/XL-01/indicators", headers=p.h("merchant")).status_code == 403
    assert c.get("/api/circles/XL-01/indicators", headers=p.h("xiling")).status_code == 200
    assert c.get("/api/circles/nope/indicators", headers=p.h("admin")).status_code == 404
    assert c.get("/api/circles/XL-01/gapfill?target=" + "x" * 40, headers=p.h("admin")).status_code == 422
    page = c.get("/circles/XL-01", headers=p.h("admin"))
    assert page.status_code == 200 and 'id="live-card"' in page.text and 'id="live-grade"' in page.text
    board = c.get("/dashboard", headers=p.h("xiling")).text
    assert 'id="live-overview"' in board and 'href="/circles/XL-01"' in board
    assert 'href="/circles/WJG-01"' not in board  # another district's circle is not listed
    rows = c.get("/api/live", headers=p.h("xiling")).json()
    assert rows and all(r["district"] == "420502" for r in rows) and all(r["as_of"] for r in rows)


def test_gap_fill_of_a_circle_is_verified_by_the_engine(live_platform):
    p = live_platform
    live(p, "XL-01")
    r = p.client.get("/api/circles/XL-01/gapfill", headers=p.h("admin"))
    assert r.status_code == 200, r.text
    g = r.json()
    assert g["circle_id"] == "XL-01" and g["sentence"]
    if g["reached"]:
        assert g["grade_after"][0] == g["target"][0]
    else:
        assert any(not cond["met_after"] for cond in g["conditions"])  # it says what stays unmet
    page = p.client.get("/circles/XL-01/gapfill", headers=p.h("admin"))
    assert page.status_code == 200 and 'id="gapfill-sentence"' in page.text


def test_platform_without_a_city_says_so(platform):
    """The quotas-seeded platform has no city behind it: 404 with the reason, and the pages still work."""
    r = platform.client.get("/api/circles/420502-P1/indicators", headers=platform.h("admin"))
    assert r.status_code == 404 and "serve --demo" in r.json()["detail"]
    assert "serve --demo" in platform.client.get("/dashboard", headers=platform.h("admin")).text
    page = platform.client.get("/circles/420502-P1", headers=platform.h("admin"))
    assert page.status_code == 200 and 'id="live-error"' in page.text


def test_registry_api_and_filings_move_the_live_indicators(live_platform):
    """Through the API as users act: the bureau registers an outlet, a merchant files one that the
    district accepts, an outlet is closed — each time the circle's live coverage equals the batch."""
    p = live_platform
    c = p.client
    cid = "XL-01"
    start = live(p, cid)
    engine = p.app.state.live.engine()
    comm = engine.city.communities
    rows = comm[comm["circle_id"] == cid].sort_values("population", ascending=False)
    weak = sorted((v, f) for f, v in start["coverage"].items() if v is not None and v < 1.0)
    assert weak, "the test needs a format the circle does not fully cover"
    fmt = weak[0][1]
    spot = rows.iloc[0]
    # 1. the bureau registers an outlet: open at once
    r = c.post(
        "/api/outlets",
        headers=p.h("admin"),
        json={"name": "测试药店", "formats": [fmt], "lon": float(spot["lon"]) + 0.0001, "lat": float(spot["lat"])},
    )
    assert r.status_code == 201, r.text
    oid = r.json()["id"]
    now = live(p, cid)
    assert now["coverage"] == batch_coverage(p)[cid]
    # 2. a merchant files a shop; nothing moves until the district accepts it
    commitment = c.get("/api/filings/commitment", headers=p.h("merchant")).json()
    spot2 = rows.iloc[min(1, len(rows) - 1)]
    r = c.post(
        "/api/filings",
        headers=p.h("merchant"),
        json={
            "name": "测试早餐店",
            "formats": [weak[-1][1]],
            "lon": float(spot2["lon"]) - 0.0001,
            "lat": float(spot2["lat"]),
            "commitment_accepted": True,
            "commitment_version": commitment.get("version"),
        },
    )
    assert r.status_code == 201, r.text
    fid = r.json()["id"]
    assert live(p, cid)["coverage"] == now["coverage"]  # pending: not open yet
    assert c.post(f"/api/filings/{fid}/accept", headers=p.h("wujiagang")).status_code == 403
    assert c.post(f"/api/filings/{fid}/accept", headers=p.h("xiling")).status_code == 200
    accepted = live(p, cid)
    assert accepted["coverage"] == batch_coverage(p)[cid]
    # 3. the bureau's outlet closes: the figures equal the batch of what is still open
    r = c.post(f"/api/outlets/{oid}/close", headers=p.h("admin"), json={"reason": "停业"})
    assert r.status_code == 200, r.text
    assert live(p, cid)["coverage"] == batch_coverage(p)[cid]


def test_a_merchant_lands_on_its_outlets_and_residents_get_their_own_menu(platform):
    """A merchant sees nothing of the officials' programme: /dashboard sends it to its outlets, and
    its menu has no dashboard; a resident (no account) gets the residents' menu and title."""
    c = platform.client
    r = c.get("/dashboard", headers=platform.h("merchant"), follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/outlets"
    page = c.get("/outlets", headers=platform.h("merchant")).text
    assert 'href="/dashboard"' not in page and 'href="/filings"' in page
    c.cookies.clear()
    public = c.get("/feedback").text
    assert "居民服务" in public and 'href="/nearby"' in public and 'href="/survey"' in public
