"""The walking-time surface on the platform (issue 14): ``GET /api/surface`` equals
:func:`lifecircle.indicators.surface.build_surface` computed directly on the same city (the
platform's synthetic demo city with the registry's open outlets), follows an outlet registered
through the API (nowhere worse, better somewhere), and keeps the map's district rule — on SQLite
and PostgreSQL."""

from __future__ import annotations

import math
import time

import h3
import numpy as np
import pytest
from sqlalchemy import select

from lifecircle.indicators.surface import blind_spots, build_surface
from lifecircle.platform.db import transaction
from lifecircle.platform.db_operations import Outlet
from lifecircle.platform.outlet_rows import city_outlets_table, with_outlets

from .test_live_platform import live_platform  # noqa: F401 - the fixture: the small demo city

FMT = "wet_market"


def get_surface(p, user: str, **query) -> dict:
    """The surface as ``user`` (waits while the live city is built: 503 + Retry-After)."""
    for _ in range(60):
        r = p.client.get("/api/surface", params={"format": FMT, **query}, headers=p.h(user))
        if r.status_code != 503:
            break
        time.sleep(1)
    assert r.status_code == 200, r.text
    return r.json()


def direct(p):
    """The surface computed directly on the platform's city with the registry's open outlets."""
    engine = p.app.state.live.engine()
    with transaction(p.factory()) as s:
        city = with_outlets(engine.city, city_outlets_table(s.scalars(select(Outlet).where(Outlet.status == "open"))))
    return build_surface(city, engine.net, engine.profile), engine.profile


def assert_equal_to_direct(got: dict, ref, profile, elderly: bool) -> None:
    f = ref.column(FMT)
    minutes, blind = ref.minutes(elderly)[:, f], ref.blind(elderly)[:, f]
    row = {h: i for i, h in enumerate(ref.cells["h3"])}
    assert len(got["features"]) == len(ref.cells)  # the bureau sees every cell
    for feat in got["features"]:
        q = feat["properties"]
        i = row[q["h3"]]
        want = float(minutes[i])
        assert (q["minutes"] is None) == (not math.isfinite(want))
        assert q["minutes"] is None or q["minutes"] == want
        assert q["blind"] == bool(blind[i]) and q["residents"] == ref.cells["population"].iat[i]
        assert q["district"] == ref.cells["district"].iat[i]
    ring = got["features"][0]["geometry"]["coordinates"][0]
    boundary = h3.cell_to_boundary(got["features"][0]["properties"]["h3"])
    assert ring[0] == ring[-1] and len(ring) == len(boundary) + 1
    assert ring[0] == pytest.approx([boundary[0][1], boundary[0][0]], abs=1e-6)  # lon, lat (WGS-84)
    if not elderly:  # the blind spots by district are those of indicators.surface.blind_spots
        want_rows = blind_spots(ref, profile, [FMT])
        want_rows = want_rows[want_rows["blind_cells"] > 0]
        have = {r["district"] or "?": (r["blind_cells"], r["blind_residents"]) for r in got["blind_spots"]}
        for r in want_rows.itertuples():
            assert have[r.district] == (r.blind_cells, pytest.approx(r.blind_residents))


def test_surface_equals_the_engine_follows_the_registry_and_keeps_districts(live_platform):  # noqa: F811
    p = live_platform
    c = p.client
    assert c.get("/api/surface", params={"format": FMT}).status_code == 401
    first = get_surface(p, "admin")
    ref, profile = direct(p)
    assert_equal_to_direct(first, ref, profile, elderly=False)
    slow = get_surface(p, "admin", speed="elderly")
    assert_equal_to_direct(slow, ref, profile, elderly=True)
    assert first["synthetic"] and first["legend"][0]["label"].endswith("分钟")
    assert first["totals"]["blind_residents"] > 0, "the test needs blind spots of this format"

    # bad input: 422 naming the field, the valid formats listed in Chinese
    r = c.get("/api/surface", params={"format": "nope"}, headers=p.h("admin"))
    assert r.status_code == 422 and r.json()["detail"][0]["loc"][-1] == "format"
    assert "菜市场" in r.json()["detail"][0]["msg"] and "wet_market" in r.json()["detail"][0]["msg"]
    r = c.get("/api/surface", params={"format": FMT, "speed": "fast", "resolution": 3}, headers=p.h("admin"))
    assert r.status_code == 422 and {d["loc"][-1] for d in r.json()["detail"]} == {"speed", "resolution"}

    # who sees what: a district officer its own district (as the map's circles), a merchant nothing
    xl = get_surface(p, "xiling")
    assert xl["features"] and {f["properties"]["district"] for f in xl["features"]} == {"420502"}
    assert [r["district"] for r in xl["blind_spots"]] == ["420502"]
    assert c.get("/api/surface", params={"format": FMT}, headers=p.h("merchant")).status_code == 403

    # the bureau registers a wet market in the blind cell with most residents: nowhere worse, that cell better
    cells = ref.cells
    blind = ref.blind()[:, ref.column(FMT)]
    target = int(np.argmax(np.where(blind, cells["population"].to_numpy(float), -1.0)))
    lon, lat = float(cells["lon"].iat[target]), float(cells["lat"].iat[target])
    r = c.post(
        "/api/outlets", headers=p.h("admin"), json={"name": "测试菜市场", "formats": [FMT], "lon": lon, "lat": lat}
    )
    assert r.status_code == 201, r.text
    after = get_surface(p, "admin")
    assert after["version"] > first["version"]
    inf = float("inf")
    before_m = {f["properties"]["h3"]: f["properties"]["minutes"] for f in first["features"]}
    after_m = {f["properties"]["h3"]: f["properties"]["minutes"] for f in after["features"]}
    worse = [h for h, m in after_m.items() if (inf if m is None else m) > (inf if before_m[h] is None else before_m[h])]
    assert not worse, worse[:5]
    better = [
        h for h, m in after_m.items() if (inf if m is None else m) < (inf if before_m[h] is None else before_m[h])
    ]
    assert cells["h3"].iat[target] in better
    assert after["totals"]["blind_residents"] < first["totals"]["blind_residents"]
    ref_after, _ = direct(p)
    assert_equal_to_direct(after, ref_after, profile, elderly=False)
