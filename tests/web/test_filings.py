"""Opening a shop by filing and commitment (issue 11, M9): a merchant files, the district returns
or accepts, the merchant resubmits; documents; who may see and decide; days waited and overdue;
two officers deciding at the same moment (one wins, the other 409) — on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import func, select

from lifecircle.platform.db import AuditLog, transaction
from lifecircle.platform.db_operations import Filing, Outlet
from lifecircle.platform.service.filings import add_working_days, commitment

from .test_outlets import WJ_LAT, WJ_LON, XL_LAT, XL_LON, events
from .test_pages import csrf_of, page_login
from .test_races import live, together, token  # noqa: F401  (the live server fixture)

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


def filing_body(**kw):
    return {
        "name": "新开便利店",
        "formats": ["convenience_store"],
        "lon": XL_LON,
        "lat": XL_LAT,
        "commitment_accepted": True,
        "commitment_version": commitment().version,
    } | kw


def submit(p, **kw) -> dict:
    r = p.client.post("/api/filings", json=filing_body(**kw), headers=p.h("merchant"))
    assert r.status_code == 201, r.text
    return r.json()


def test_submit_return_resubmit_accept_opens_the_outlet(platform):
    p = platform
    f = submit(p, online_pickup=True)
    assert (f["status"], f["district"], f["round"], f["outlet"]["status"]) == ("submitted", "420502", 1, "pending")
    assert f["due"] == add_working_days(dt.date.fromisoformat(f["submitted_at"][:10]), 5).isoformat()
    oid = f["outlet"]["id"]
    assert events(p, oid) == []  # a pending outlet is not in the indicators
    r = p.client.post(
        f"/api/filings/{f['id']}/documents", files={"file": ("licence.png", PNG)}, headers=p.h("merchant")
    )
    assert r.status_code == 201, r.text
    assert "reasons" in [
        d["loc"][-1]
        for d in p.client.post(f"/api/filings/{f['id']}/return", json={"reasons": ""}, headers=p.h("xiling")).json()[
            "detail"
        ]
    ]
    r = p.client.post(f"/api/filings/{f['id']}/return", json={"reasons": "缺营业执照照片"}, headers=p.h("xiling"))
    assert r.status_code == 200 and r.json()["status"] == "returned"
    assert p.client.post(f"/api/filings/{f['id']}/accept", headers=p.h("xiling")).status_code == 409
    r = p.client.post(f"/api/filings/{f['id']}/resubmit", json={"commitment_accepted": False}, headers=p.h("merchant"))
    assert r.status_code == 422
    r = p.client.post(
        f"/api/filings/{f['id']}/resubmit",
        json={"commitment_accepted": True, "name": "新开便利店（更正）"},
        headers=p.h("merchant"),
    )
    assert r.status_code == 200 and (r.json()["status"], r.json()["round"]) == ("submitted", 2)
    r = p.client.post(f"/api/filings/{f['id']}/accept", headers=p.h("xiling"))
    assert r.status_code == 200 and r.json()["status"] == "accepted"
    o = p.client.get(f"/api/outlets/{oid}", headers=p.h("merchant")).json()
    assert (o["status"], o["name"]) == ("open", "新开便利店（更正）") and o["opened_at"]
    assert events(p, oid) == ["open"]
    assert len(r.json()["documents"]) == 1
    with transaction(p.factory()) as s:
        actions = list(s.scalars(select(AuditLog.action).where(AuditLog.entity == "filing").order_by(AuditLog.id)))
    assert actions == ["submit", "attach", "return", "resubmit", "accept"]


def test_filing_needs_the_commitment_and_valid_fields(platform):
    p = platform
    r = p.client.post(
        "/api/filings",
        json=filing_body(commitment_accepted=False, formats=["casino"], name=" "),
        headers=p.h("merchant"),
    )
    assert {"commitment_accepted", "formats", "name"} <= {d["loc"][-1] for d in r.json()["detail"]}
    r = p.client.post("/api/filings", json=filing_body(commitment_version="1999-1"), headers=p.h("merchant"))
    assert r.status_code == 422 and r.json()["detail"][0]["loc"][-1] == "commitment_version"
    with transaction(p.factory()) as s:
        assert s.scalar(select(func.count(Filing.id))) == 0 and s.scalar(select(func.count(Outlet.id))) == 0


def test_who_may_file_see_and_decide(platform):
    p = platform
    for user in ("xiling", "inspector", "community", "leader", "admin"):
        assert p.client.post("/api/filings", json=filing_body(), headers=p.h(user)).status_code == 403, user
    f = submit(p)
    wj = submit(p, name="伍家岗新店", lon=WJ_LON, lat=WJ_LAT)
    assert p.client.post(f"/api/filings/{f['id']}/accept", headers=p.h("wujiagang")).status_code == 403
    assert p.client.post(f"/api/filings/{f['id']}/accept", headers=p.h("merchant")).status_code == 403
    assert p.client.get(f"/api/filings/{f['id']}", headers=p.h("wujiagang")).status_code == 403
    assert [x["id"] for x in p.client.get("/api/filings", headers=p.h("xiling")).json()] == [f["id"]]
    assert len(p.client.get("/api/filings", headers=p.h("admin")).json()) == 2
    assert p.client.post(f"/api/filings/{wj['id']}/accept", headers=p.h("admin")).status_code == 200
    r = p.client.post(f"/api/filings/{f['id']}/documents", files={"file": ("a.png", PNG)}, headers=p.h("xiling"))
    assert r.status_code == 403
    r = p.client.post(f"/api/filings/{f['id']}/documents", files={"file": ("a.exe", b"MZ")}, headers=p.h("merchant"))
    assert r.status_code == 422
    assert p.client.get("/api/filings/999", headers=p.h("admin")).status_code == 404


def test_a_merchant_sees_only_its_own_filings(platform):
    p = platform
    f = submit(p)
    with transaction(p.factory()) as s:  # another merchant's filing
        from lifecircle.platform.auth import create_user

        other = create_user(s, None, p.settings, username="m2", password="another-merchant-pw", role="merchant")
        s.flush()
        s.get(Filing, f["id"]).merchant_id = other.id
        s.get(Outlet, f["outlet"]["id"]).owner_id = other.id
    assert p.client.get("/api/filings", headers=p.h("merchant")).json() == []
    assert p.client.get(f"/api/filings/{f['id']}", headers=p.h("merchant")).status_code == 403
    assert p.client.get(f"/api/outlets/{f['outlet']['id']}", headers=p.h("merchant")).status_code == 403
    r = p.client.post(f"/api/filings/{f['id']}/resubmit", json={"commitment_accepted": True}, headers=p.h("merchant"))
    assert r.status_code == 403


def test_days_waited_and_overdue_are_shown(platform):
    p = platform
    f = submit(p)
    with transaction(p.factory()) as s:
        row = s.get(Filing, f["id"])
        row.submitted_at = row.submitted_at - dt.timedelta(days=12)
        row.due = row.submitted_at.date() + dt.timedelta(days=7)
    got = p.client.get("/api/filings", headers=p.h("xiling")).json()[0]
    assert (got["waited_days"], got["overdue"]) == (12, True)
    page_login(p.client, "xiling")
    html = p.client.get("/filings").text
    assert "12 天" in html and "已超期" in html and "通过备案" in html


def test_filing_page_for_the_merchant_submits_with_a_document(platform):
    p = platform
    page_login(p.client, "merchant")
    page = p.client.get("/filings")
    assert page.status_code == 200 and commitment().text_zh[:10] in page.text
    form = {
        "csrf_token": csrf_of(page.text),
        "commitment_version": commitment().version,
        "name": "表单店",
        "formats": ["breakfast"],
        "lon": str(XL_LON),
        "lat": str(XL_LAT),
        "crs": "wgs84",
    }
    r = p.client.post("/filings", data=form, files={"document": ("a.png", PNG, "image/png")}, follow_redirects=False)
    assert r.status_code == 422  # the commitment is not ticked
    form["commitment_accepted"] = "1"
    r = p.client.post("/filings", data=form, files={"document": ("a.png", PNG, "image/png")}, follow_redirects=False)
    assert r.status_code == 303, r.text
    with transaction(p.factory()) as s:
        assert s.scalar(select(Filing.status)) == "submitted"


def test_two_officers_deciding_at_once_one_wins_the_other_409(platform, live):  # noqa: F811
    p = platform
    ids = [submit(p, name=f"店{i}", lon=XL_LON + i * 0.0005)["id"] for i in range(4)]
    admin, xiling = token(live, "admin"), token(live, "xiling")
    for fid in ids:
        a, b = together(
            live,
            [
                (admin, f"/api/filings/{fid}/accept", {}),
                (xiling, f"/api/filings/{fid}/return", {"reasons": "材料不全"}),
            ],
        )
        assert sorted([a.status_code, b.status_code]) == [200, 409], (a.text, b.text)
    with transaction(p.factory()) as s:
        decided = s.scalar(select(func.count(AuditLog.id)).where(AuditLog.action.in_(["accept", "return"])))
    assert decided == len(ids)
