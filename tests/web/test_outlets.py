"""The outlet registry (issue 11, M9): register, list, read, edit, close and bulk import — who may
do what, validation naming every field, OutletEvents, stale edits (409), GCJ-02 input, and the
import's all-or-nothing rule — on SQLite and a real PostgreSQL."""

from __future__ import annotations

import io

import pytest
from sqlalchemy import func, select

from lifecircle.platform.db import Circle, User, transaction
from lifecircle.platform.db_operations import Outlet, OutletEvent
from lifecircle.sources.coords import wgs84_to_gcj02

from .test_pages import csrf_of, page_login

XL_LON, XL_LAT = 111.312098, 30.720856  # inside 西陵区 (420502)
WJ_LON, WJ_LAT = 111.368309, 30.648320  # inside 伍家岗区 (420503)


def body(**kw):
    return {"name": "便民超市", "formats": ["convenience_store", "breakfast"], "lon": XL_LON, "lat": XL_LAT} | kw


def fields(r) -> list[str]:
    assert r.status_code == 422, (r.status_code, r.text)
    return [str(d["loc"][-1]) for d in r.json()["detail"]]


def events(p, oid: str) -> list[str]:
    with transaction(p.factory()) as s:
        return list(s.scalars(select(OutletEvent.kind).where(OutletEvent.outlet_id == oid).order_by(OutletEvent.seq)))


def n_outlets(p) -> int:
    with transaction(p.factory()) as s:
        return s.scalar(select(func.count(Outlet.id)))


def give(p, oid: str, username: str) -> None:
    with transaction(p.factory()) as s:
        uid = s.scalar(select(User.id).where(User.username == username))
        s.get(Outlet, oid).owner_id = uid


def register(p, user="admin", **kw) -> dict:
    r = p.client.post("/api/outlets", json=body(**kw), headers=p.h(user))
    assert r.status_code == 201, r.text
    return r.json()


def test_registration_assigns_district_and_circle_and_writes_an_open_event(platform):
    p = platform
    with transaction(p.factory()) as s:  # give a circle a boundary around the point
        s.get(Circle, "420502-P1").boundary = {
            "type": "Polygon",
            "coordinates": [[[111.30, 30.71], [111.33, 30.71], [111.33, 30.73], [111.30, 30.73], [111.30, 30.71]]],
        }
    o = register(p, "xiling", online_pickup=True, floor_area_m2=80)
    assert (o["district"], o["circle_id"], o["status"], o["version"]) == ("420502", "420502-P1", "open", 1)
    assert o["online_pickup"] is True and o["formats"] == ["convenience_store", "breakfast"]
    assert events(p, o["id"]) == ["open"]
    o2 = register(p, "admin", name="伍家岗店", lon=WJ_LON, lat=WJ_LAT)
    assert (o2["district"], o2["circle_id"]) == ("420503", None)
    r = p.client.get(f"/api/outlets/{o['id']}", headers=p.h("xiling"))
    assert r.status_code == 200 and r.json()["name"] == "便民超市"


def test_gcj02_input_is_stored_as_wgs84(platform):
    gx, gy = wgs84_to_gcj02([XL_LON], [XL_LAT])
    o = register(platform, lon=float(gx[0]), lat=float(gy[0]), crs="gcj02")
    assert abs(o["lon"] - XL_LON) < 1e-5 and abs(o["lat"] - XL_LAT) < 1e-5
    assert abs(float(gx[0]) - XL_LON) > 1e-3  # the offset was real


@pytest.mark.parametrize("user", ["merchant", "inspector", "community", "leader", "evaluator"])
def test_only_the_bureau_and_district_officers_register(platform, user):
    r = platform.client.post("/api/outlets", json=body(), headers=platform.h(user))
    assert r.status_code == 403, r.text


def test_a_district_officer_registers_only_in_its_district(platform):
    r = platform.client.post("/api/outlets", json=body(lon=WJ_LON, lat=WJ_LAT), headers=platform.h("xiling"))
    assert r.status_code == 403


def test_validation_reports_every_problem_naming_the_field(platform):
    h = platform.h("admin")
    bad = {"name": " ", "formats": ["convenience_store", "casino"], "lon": 2.35, "lat": 48.85, "floor_area_m2": 10}
    f = fields(platform.client.post("/api/outlets", json=bad, headers=h))
    assert {"name", "formats", "lon"} <= set(f)
    assert "floor_area_m2" in fields(platform.client.post("/api/outlets", json=body(floor_area_m2=-1), headers=h))
    assert "lat" in fields(platform.client.post("/api/outlets", json=body(lat=95), headers=h))
    assert "crs" in fields(platform.client.post("/api/outlets", json=body(crs="utm"), headers=h))
    assert n_outlets(platform) == 0


def test_merchant_sees_and_edits_only_its_own(platform):
    p = platform
    mine, other = register(p)["id"], register(p, name="别家店", lon=XL_LON + 0.001)["id"]
    give(p, mine, "merchant")
    r = p.client.get("/api/outlets", headers=p.h("merchant"))
    assert r.status_code == 200 and [o["id"] for o in r.json()["items"]] == [mine]
    assert p.client.get(f"/api/outlets/{other}", headers=p.h("merchant")).status_code == 403
    r = p.client.patch(f"/api/outlets/{other}", json={"version": 1, "name": "x"}, headers=p.h("merchant"))
    assert r.status_code == 403
    r = p.client.patch(
        f"/api/outlets/{mine}", json={"version": 1, "opening_hours": "Mo-Su 07:00-22:00"}, headers=p.h("merchant")
    )
    assert r.status_code == 200 and r.json()["version"] == 2
    assert (
        p.client.post(f"/api/outlets/{other}/close", json={"reason": "x"}, headers=p.h("merchant")).status_code == 403
    )
    page = p.client.get("/outlets", headers=p.h("merchant"))
    assert page.status_code == 200 and "别家店" not in page.text and "便民超市" in page.text


def test_district_scoping_of_the_list_and_filters(platform):
    p = platform
    register(p)
    register(p, name="伍家岗店", formats=["pharmacy"], lon=WJ_LON, lat=WJ_LAT)
    assert [o["name"] for o in p.client.get("/api/outlets", headers=p.h("xiling")).json()["items"]] == ["便民超市"]
    assert p.client.get("/api/outlets", headers=p.h("admin")).json()["total"] == 2
    r = p.client.get("/api/outlets?format=pharmacy", headers=p.h("admin")).json()
    assert [o["name"] for o in r["items"]] == ["伍家岗店"]
    assert p.client.get("/api/outlets?status=closed", headers=p.h("admin")).json()["total"] == 0
    assert "format" in fields(p.client.get("/api/outlets?format=casino", headers=p.h("admin")))


def test_stale_patch_is_409_and_moves_and_format_changes_write_update_events(platform):
    p = platform
    o = register(p)
    h = p.h("xiling")
    r = p.client.patch(f"/api/outlets/{o['id']}", json={"version": 1, "formats": ["pharmacy"]}, headers=h)
    assert r.status_code == 200 and r.json()["version"] == 2
    r = p.client.patch(f"/api/outlets/{o['id']}", json={"version": 1, "name": "旧版本"}, headers=h)
    assert r.status_code == 409, r.text
    r = p.client.patch(f"/api/outlets/{o['id']}", json={"version": 2, "name": "新名字"}, headers=h)
    assert r.status_code == 200  # a name change: no event
    r = p.client.patch(f"/api/outlets/{o['id']}", json={"version": 3, "lon": WJ_LON, "lat": WJ_LAT}, headers=h)
    assert r.status_code == 403  # xiling cannot move it out of its district
    r = p.client.patch(f"/api/outlets/{o['id']}", json={"version": 3, "lon": XL_LON + 0.002, "lat": XL_LAT}, headers=h)
    assert r.status_code == 200
    assert "formats" in fields(
        p.client.patch(f"/api/outlets/{o['id']}", json={"version": 4, "formats": ["x"]}, headers=h)
    )
    assert events(p, o["id"]) == ["open", "update", "update"]


def test_close_needs_a_reason_and_writes_a_close_event(platform):
    p = platform
    o = register(p)
    h = p.h("xiling")
    assert "reason" in fields(p.client.post(f"/api/outlets/{o['id']}/close", json={"reason": ""}, headers=h))
    r = p.client.post(f"/api/outlets/{o['id']}/close", json={"reason": "停业", "version": 1}, headers=h)
    assert r.status_code == 200 and r.json()["status"] == "closed"
    assert events(p, o["id"]) == ["open", "close"]
    assert "status" in fields(p.client.post(f"/api/outlets/{o['id']}/close", json={"reason": "again"}, headers=h))
    assert p.client.get("/api/outlets/nope", headers=h).status_code == 404


def test_outlet_page_edit_and_close_forms(platform):
    p = platform
    o = register(p)
    page_login(p.client, "xiling")
    page = p.client.get(f"/outlets/{o['id']}")
    assert page.status_code == 200 and "修改网点" in page.text
    csrf = csrf_of(page.text)
    form = {"csrf_token": csrf, "version": "1", "name": "改名店", "formats": ["pharmacy"], "flags": ["delivery"]}
    r = p.client.post(f"/outlets/{o['id']}", data=form, follow_redirects=False)
    assert r.status_code == 303, r.text
    got = p.client.get(f"/api/outlets/{o['id']}", headers={"X-CSRF-Token": csrf}).json()
    assert (got["name"], got["formats"], got["delivery"], got["version"]) == ("改名店", ["pharmacy"], True, 2)
    r = p.client.post(f"/outlets/{o['id']}", data=form, follow_redirects=False)
    assert r.status_code == 409  # the form's version is stale now
    r = p.client.post(
        f"/outlets/{o['id']}/close", data={"csrf_token": csrf, "version": "2", "reason": "搬迁"}, follow_redirects=False
    )
    assert r.status_code == 303 and events(p, o["id"]) == ["open", "update", "close"]


# ------------------------------------------------------------------ bulk import

CSV_OK = (
    "id,name,formats,lon,lat,address\n"
    f"imp-1,甲便利店,convenience_store,{XL_LON},{XL_LAT},夷陵路1号\n"
    f"imp-2,乙药店,pharmacy;convenience_store,{XL_LON + 0.001},{XL_LAT},夷陵路2号\n"
)


def upload(p, content: str | bytes, user="admin", name="outlets.csv", **form):
    data = content.encode() if isinstance(content, str) else content
    return p.client.post(
        "/api/outlets/import",
        files={"file": (name, io.BytesIO(data), "text/csv")},
        data={k: str(v).lower() if isinstance(v, bool) else v for k, v in form.items()},
        headers=p.h(user),
    )


def test_import_adds_then_reimport_is_all_unchanged_then_updates_by_id(platform):
    p = platform
    r = upload(p, CSV_OK, dry_run=True)
    assert r.status_code == 200 and (r.json()["added"], r.json()["dry_run"]) == (2, True)
    assert n_outlets(p) == 0
    r = upload(p, CSV_OK)
    assert r.status_code == 200, r.text
    assert (r.json()["added"], r.json()["updated"], r.json()["unchanged"]) == (2, 0, 0)
    assert events(p, "imp-1") == ["open"]
    r = upload(p, CSV_OK)
    assert (r.json()["added"], r.json()["updated"], r.json()["unchanged"]) == (0, 0, 2)
    changed = CSV_OK.replace("甲便利店", "甲便利店（新）").replace("pharmacy;convenience_store", "pharmacy")
    r = upload(p, changed)
    assert (r.json()["added"], r.json()["updated"], r.json()["unchanged"]) == (0, 2, 0)
    assert events(p, "imp-2") == ["open", "update"]  # formats changed
    assert events(p, "imp-1") == ["open"]  # only the name
    fewer = "\n".join(changed.splitlines()[:2]) + "\n"
    r = upload(p, fewer)
    assert (r.json()["unchanged"], n_outlets(p)) == (1, 2)  # never deletes


def test_import_with_a_bad_row_is_422_naming_row_and_field_and_writes_nothing(platform):
    p = platform
    bad = CSV_OK + f"imp-3,丙店,casino,{XL_LON},{XL_LAT},x\nimp-4,丁店,pharmacy,abc,{XL_LAT},y\n"
    r = upload(p, bad)
    assert r.status_code == 422, r.text
    detail = r.json()["detail"]
    where = {(d["row"], d["loc"][-1]) for d in detail}
    assert (4, "formats") in where and any(row == 5 for row, _ in where), detail
    assert all(d["file"] == "outlets.csv" for d in detail)
    assert n_outlets(p) == 0


def test_import_permissions_and_file_type(platform):
    p = platform
    assert upload(p, CSV_OK, user="merchant").status_code == 403
    assert upload(p, CSV_OK, user="inspector").status_code == 403
    r = upload(p, CSV_OK, user="wujiagang")  # rows in 西陵区
    assert r.status_code == 422 and {d["loc"][-1] for d in r.json()["detail"]} == {"district"}
    assert "file" in fields(upload(p, b"%PDF-1.4", name="x.pdf"))
    assert n_outlets(p) == 0


def test_import_gcj02_file_is_converted(platform):
    gx, gy = wgs84_to_gcj02([XL_LON], [XL_LAT])
    csv = f"id,name,formats,lon,lat\ng-1,高德店,convenience_store,{gx[0]:.7f},{gy[0]:.7f}\n"
    r = upload(platform, csv, crs="gcj02")
    assert r.status_code == 200, r.text
    o = platform.client.get("/api/outlets/g-1", headers=platform.h("admin")).json()
    assert abs(o["lon"] - XL_LON) < 1e-5 and o["district"] == "420502"


def test_photos_documents_and_imports_may_be_larger_than_a_json_body(platform):
    """Uploads (a 3 MB photo, document or import) get the upload limit, not the 1 MB body limit;
    a JSON body of 3 MB is still refused with 413 before it is read."""
    from lifecircle.web.guard import UPLOAD_ROUTES, body_limit

    s = platform.settings
    for path in (
        "/api/env-issues/7/photos",
        "/api/env-issues/7/close",
        "/env-issues/7/close",
        "/api/inspections/3/photos",
        "/supervision/inspections",
        "/api/filings/2/documents",
        "/filings",
        "/api/outlets/import",
        "/outlets/import",
        "/circles/XL-01/governance/issues",
        "/api/circles/XL-01/evidence",
    ):
        assert UPLOAD_ROUTES.match(path) and body_limit(s, path) == s.upload_body_max_bytes, path
    for path in ("/api/outlets", "/api/filings/2/accept", "/api/complaints", "/api/login"):
        assert body_limit(s, path) == s.body_max_bytes, path
    import dataclasses

    platform.app.state.settings = dataclasses.replace(s, upload_max_bytes=10_000_000, body_max_bytes=1_000_000)
    big = b"\xff\xd8\xff" + b"0" * 3_000_000
    r = platform.client.post(
        "/api/outlets/import",
        headers=platform.h("admin"),
        files={"file": ("big.csv", big, "text/csv")},
    )
    assert r.status_code != 413, r.text  # read, then judged by the importer
    r = platform.client.post(
        "/api/outlets",
        headers=platform.h("admin") | {"Content-Type": "application/json"},
        content=b'{"name": "' + b"x" * 3_000_000 + b'"}',
    )
    assert r.status_code == 413
