"""The residents' public API (issue 12, M12/M13, "open and fast") on SQLite and PostgreSQL: no sign-in;
answers equal the ``access`` table for the same points; GCJ-02/BD-09 input; a point off the streets
and bad parameters are 4xx with a message; non-public fields never leave; a shop registered this
morning appears (and goes when closed); the per-address rate limit answers 429 with Retry-After;
the search answers 304 to a repeat of the same registry version; nothing is stored by any of it;
the access log loses the resident's position; schemathesis finds no 5xx on the public endpoints."""

from __future__ import annotations

import logging
import time

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import func, select

from lifecircle.platform.db import AuditLog, transaction, utcnow
from lifecircle.platform.db_operations import Outlet, OutletEvent
from lifecircle.sources.coords import wgs84_to_gcj02

from .conftest import ACCOUNTS, PASSWORD, Platform, make_settings

PRIVATE = {
    "owner_id",
    "credit_class",
    "credit_reasons",
    "integrity_reasons",
    "synthetic",
    "source",
    "version",
    "circle_id",
}


@pytest.fixture
def public_platform(small_demo_db_url, tmp_path, request):
    """The app on a database seeded from the small demo city; ``public_burst`` from the test's mark."""
    from fastapi.testclient import TestClient

    from lifecircle.web.app import create_app

    mark = request.node.get_closest_marker("public_burst")
    kw = {"public_burst": mark.args[0], "public_rate_per_minute": 1} if mark else {"public_burst": 10_000}
    settings = make_settings(small_demo_db_url, tmp_path / "data", **kw)
    app = create_app(settings)
    with TestClient(app) as client:
        yield Platform(client, app, settings, small_demo_db_url, {})
    app.state.engine.dispose()


def get(p: Platform, url: str, **params):
    for _ in range(60):  # the first read may find the live city being built (503, Retry-After)
        r = p.client.get(url, params=params)
        if r.status_code != 503:
            return r
        time.sleep(1)
    raise AssertionError(r.text)


def stored(p: Platform) -> tuple[int, int, int]:
    with transaction(p.factory()) as s:
        return (
            s.scalar(select(func.count()).select_from(Outlet)),
            s.scalar(select(func.count()).select_from(OutletEvent)),
            s.scalar(select(func.count()).select_from(AuditLog)),
        )


def test_nearby_is_public_equals_access_and_shows_only_public_fields(public_platform):
    from lifecircle.network.table import access_table

    p = public_platform
    before = stored(p)
    r = get(p, "/api/public/search", q="小区")
    assert r.status_code == 200, r.text
    places = r.json()["places"]
    assert places and all(pl["kind"] == "community" for pl in places[:3])
    engine = p.app.state.live.engine()
    with transaction(p.factory()) as s:
        rows = [
            {"id": o.id, "name": o.name, "format": f, "lon": o.lon, "lat": o.lat}
            for o in s.scalars(select(Outlet).where(Outlet.status == "open"))
            for f in o.formats
        ]
    origins = pd.DataFrame([{"id": str(i), "lon": pl["lon"], "lat": pl["lat"]} for i, pl in enumerate(places[:4])])
    tab = access_table(engine.net, origins, pd.DataFrame(rows), engine.profile).table
    for o in origins.itertuples():
        r = get(p, "/api/public/nearby", lon=o.lon, lat=o.lat)
        assert r.status_code == 200, r.text
        assert r.headers["cache-control"] == "no-cache"
        ans = r.json()
        assert set(ans) >= {"formats", "isochrone", "speed_kmh", "as_of", "registry_seq"}
        assert ans["isochrone"]["type"] == "FeatureCollection" and len(ans["isochrone"]["features"]) == 3
        ref = tab[tab["origin_id"] == o.id].set_index("format")
        assert [f["code"] for f in ans["formats"]] == list(ref.index)
        for f in ans["formats"]:
            rr = ref.loc[f["code"]]
            if rr["nearest_m"] <= 1000 * (1 + 1e-9):
                assert f["nearest_m"] == pytest.approx(rr["nearest_m"], abs=0.051)
            else:
                assert f["nearest_m"] is None
            assert [f["n_5min"], f["n_10min"], f["n_15min"]] == [rr["n_5min"], rr["n_10min"], rr["n_15min"]]
            assert {"code", "name_zh", "name_en", "class", "walk_min", "outlets"} <= set(f)
            for out in f["outlets"]:
                assert not PRIVATE & set(out), set(out)
                assert {
                    "id",
                    "name",
                    "walk_m",
                    "walk_min",
                    "lon",
                    "lat",
                    "open_now",
                    "opening_hours",
                    "integrity",
                } <= set(out)
                assert {"accepts_cash", "accepts_card", "barrier_free", "elderly_counter", "online_pickup"} <= set(out)
                assert {"delivery", "home_service"} <= set(out)
                assert out["open_now"] in (True, False, None)
        # the older residents' speed: the same nearest metres, more minutes, never more outlets
        slow = get(p, "/api/public/nearby", lon=o.lon, lat=o.lat, speed="elderly").json()
        assert slow["speed_kmh"] == 3.0 and slow["speed"] == "elderly"
        for f, g in zip(ans["formats"], slow["formats"], strict=True):
            assert g["n_15min"] <= f["n_15min"]
    assert stored(p) == before  # reading stores nothing


def test_map_coordinates_bad_input_and_far_points(public_platform):
    p = public_platform
    pl = get(p, "/api/public/search", q="小区").json()["places"][0]
    wgs = get(p, "/api/public/nearby", lon=pl["lon"], lat=pl["lat"]).json()
    glon, glat = wgs84_to_gcj02(np.array([pl["lon"]]), np.array([pl["lat"]]))
    gcj = get(p, "/api/public/nearby", lon=float(glon[0]), lat=float(glat[0]), crs="gcj02").json()
    assert gcj["point"] == pytest.approx(wgs["point"], abs=2e-6)
    assert [f["n_15min"] for f in gcj["formats"]] == [f["n_15min"] for f in wgs["formats"]]
    before = stored(p)
    far = get(p, "/api/public/nearby", lon=100.0, lat=10.0)
    assert far.status_code == 422 and "300" in far.text
    en = p.client.get("/api/public/nearby", params={"lon": 100.0, "lat": 10.0, "lang": "en"})
    assert en.status_code == 422 and "more than 300 m from any street" in en.text
    for bad in (
        {"lon": 111.3, "lat": 95},
        {"lon": "east", "lat": 30.7},
        {"lon": 111.3},
        {"lon": 111.3, "lat": 30.7, "speed": "run"},
        {"lon": 111.3, "lat": 30.7, "minutes": 0},
        {"lon": 111.3, "lat": 30.7, "minutes": 20},
        {"lon": 111.3, "lat": 30.7, "crs": "utm"},
        {"lon": "nan", "lat": 30.7},
    ):
        r = p.client.get("/api/public/nearby", params=bad)
        assert r.status_code == 422, (bad, r.text)
        assert r.json()["detail"], bad
    assert p.client.get("/api/public/search", params={"q": ""}).status_code == 422
    assert p.client.get("/api/public/search", params={"q": "x" * 65}).status_code == 422
    assert stored(p) == before


def test_a_shop_registered_this_morning_appears_and_goes_when_closed(public_platform):
    p = public_platform
    pl = get(p, "/api/public/search", q="小区").json()["places"][0]
    first = get(p, "/api/public/nearby", lon=pl["lon"], lat=pl["lat"]).json()
    pharm = next(f for f in first["formats"] if f["code"] == "pharmacy")
    with transaction(p.factory()) as s:
        now = utcnow()
        s.add(
            Outlet(
                id="NEW1",
                name="晨光药房",
                formats=["pharmacy"],
                lon=pl["lon"] + 0.0003,
                lat=pl["lat"],
                status="open",
                opened_at=now,
                opening_hours="24/7",
                integrity=True,
                credit_class="A",
                credit_reasons=["secret"],
                address="测试路1号",
            )
        )
        s.add(OutletEvent(outlet_id="NEW1", kind="open", at=now))
    after = get(p, "/api/public/nearby", lon=pl["lon"], lat=pl["lat"]).json()
    ph = next(f for f in after["formats"] if f["code"] == "pharmacy")
    assert ph["n_15min"] == pharm["n_15min"] + 1
    new = next(o for o in ph["outlets"] if o["id"] == "NEW1")
    assert new["open_now"] is True and new["integrity"] is True and new["name"] == "晨光药房"
    assert "secret" not in str(after) and "credit_class" not in str(after)
    assert after["registry_seq"] > first["registry_seq"]
    found = get(p, "/api/public/search", q="测试路1号").json()["places"]
    assert [x["kind"] for x in found] == ["address"]
    with transaction(p.factory()) as s:
        s.get(Outlet, "NEW1").status = "closed"
        s.add(OutletEvent(outlet_id="NEW1", kind="close", at=utcnow()))
    gone = get(p, "/api/public/nearby", lon=pl["lon"], lat=pl["lat"]).json()
    assert next(f for f in gone["formats"] if f["code"] == "pharmacy")["n_15min"] == pharm["n_15min"]


def test_search_etag_streets_cache_and_the_page(public_platform):
    p = public_platform
    r = get(p, "/api/public/search", q="小区")
    etag = r.headers["etag"]
    assert "no-cache" in r.headers["cache-control"]
    again = p.client.get("/api/public/search", params={"q": "小区"}, headers={"If-None-Match": etag})
    assert again.status_code == 304 and not again.content
    streets = p.client.get("/api/public/streets")
    assert streets.status_code == 200 and streets.json()["features"]
    assert streets.headers["cache-control"] == "public, max-age=86400"
    assert p.client.get("/api/public/streets", headers={"If-None-Match": streets.headers["etag"]}).status_code == 304
    page = p.client.get("/nearby")
    assert page.status_code == 200 and "我身边的一刻钟生活圈" in page.text
    assert "script-src 'self'" in page.headers["content-security-policy"]
    assert "Within 15 minutes of me" in p.client.get("/nearby?lang=en").text


@pytest.mark.public_burst(5)
def test_rate_limit_per_address(public_platform):
    p = public_platform
    codes = [p.client.get("/api/public/streets").status_code for _ in range(5)]
    assert codes == [200] * 5
    r = p.client.get("/api/public/streets")
    assert r.status_code == 429 and int(r.headers["retry-after"]) >= 1 and r.json()["detail"]
    assert p.client.get("/nearby").status_code == 429  # the page too: the same bucket
    assert p.client.get("/healthz").status_code == 200  # the rest of the platform is not limited here


def test_token_bucket_refills_and_forgets():
    from lifecircle.web.ratelimit import TokenBucket

    now = [0.0]
    b = TokenBucket(rate_per_s=1.0, burst=2, clock=lambda: now[0], max_keys=3)
    assert [b.take("a"), b.take("a")] == [0.0, 0.0]
    assert b.take("a") == pytest.approx(1.0)
    now[0] += 1.0
    assert b.take("a") == 0.0
    for k in "bcde":
        b.take(k)
    assert len(b._buckets) <= 3


def test_access_log_loses_the_position():
    from lifecircle.web.routes.public import RedactPublicAccessLog

    rec = logging.LogRecord(
        "uvicorn.access",
        logging.INFO,
        "",
        0,
        '%s - "%s %s HTTP/%s" %d',
        ("10.1.2.3:5555", "GET", "/api/public/nearby?lon=111.3&lat=30.7", "1.1", 200),
        None,
    )
    RedactPublicAccessLog().filter(rec)
    assert "111.3" not in rec.getMessage() and "10.1.2.3" not in rec.getMessage()
    other = logging.LogRecord(
        "uvicorn.access",
        logging.INFO,
        "",
        0,
        '%s - "%s %s HTTP/%s" %d',
        ("1.2.3.4:1", "GET", "/api/x?a=1", "1.1", 200),
        None,
    )
    RedactPublicAccessLog().filter(other)
    assert "a=1" in other.getMessage()


@pytest.mark.fuzz
def test_schemathesis_on_the_public_endpoints_anonymous(public_platform):
    from .test_fuzz import fuzz_api

    p = public_platform
    before = stored(p)
    get(p, "/api/public/search", q="小区")  # the live city built
    with fuzz_api.serve(p.app) as base:
        res = fuzz_api.fuzz(
            p.app,
            base,
            dict.fromkeys(ACCOUNTS, PASSWORD),
            examples=15,
            seed=2,
            roles=["anonymous"],
            paths=("/api/public/",),
        )
    tally = res["anonymous"]
    print("\n" + tally.line("anonymous"))
    assert tally.requests > 50 and not tally.failures, tally.failures[:5]
    assert tally.classes["2xx"] > 0 and tally.classes["4xx"] > 0
    outlets, events, _ = stored(p)
    assert (outlets, events) == before[:2]  # the fuzzing's refused requests stored nothing
