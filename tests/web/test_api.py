"""The JSON API: every endpoint signed in with the right role, the wrong role (403), bad input
(422 naming the field) and no session (401) — on SQLite and on a real PostgreSQL."""

from __future__ import annotations

import datetime as dt
import time

import pytest
from sqlalchemy import func, select

from lifecircle.platform.db import AuditLog, Circle, StatusChange, UserSession, transaction

XL, WJ = "420502-P1", "420503-P1"  # a 西陵 and a 伍家岗 pilot circle from the quota seed
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
PDF = b"%PDF-1.4\n%test\n"


def set_status(p, cid: str, status: str) -> None:
    with transaction(p.factory()) as s:
        s.get(Circle, cid).status = status


def fields(r) -> list[str]:
    """The field names a 422 answer points at."""
    assert r.status_code == 422, (r.status_code, r.text)
    return [str(d["loc"][-1]) for d in r.json()["detail"]]


def audit_count(p) -> int:
    with transaction(p.factory()) as s:
        return s.scalar(select(func.count(AuditLog.id)))


ENDPOINTS = [
    ("GET", "/api/me", None),
    ("POST", "/api/logout", None),
    ("GET", "/api/users", None),
    ("POST", "/api/users", {"username": "x", "password": "y" * 12, "role": "leader"}),
    ("GET", "/api/programme", None),
    ("GET", "/api/dashboard", None),
    ("GET", "/api/circles", None),
    ("POST", "/api/circles", {"id": "n1", "name": "n", "district": "420502", "phase": "pilot"}),
    ("GET", f"/api/circles/{XL}", None),
    ("POST", f"/api/circles/{XL}/status", {"status": "building"}),
    ("GET", f"/api/circles/{XL}/funds", None),
    ("GET", f"/api/circles/{XL}/indicators", None),
    ("GET", f"/api/circles/{XL}/gapfill", None),
    ("GET", "/api/live", None),
    ("POST", f"/api/circles/{XL}/funds", {"kind": "fund", "amount_yuan": 1, "date": "2024-01-01"}),
    ("GET", f"/api/circles/{XL}/scorecards", None),
    ("POST", f"/api/circles/{XL}/scorecards", {"as_of": "2024-01-01", "indicators": {}}),
    ("POST", f"/api/circles/{XL}/scores", {"score": 80}),
    ("POST", f"/api/circles/{XL}/grades", {"grade_code": "basic", "decision": "recommend"}),
    ("GET", "/api/evidence/1", None),
    ("GET", f"/api/circles/{XL}/surveys", None),
    ("POST", f"/api/circles/{XL}/surveys", {"period": "2024H1"}),
    ("POST", "/api/surveys/1/results", {"respondents": 10, "satisfied": 9}),
    ("GET", "/api/satisfaction", None),
    ("GET", "/api/questionnaires", None),
    ("POST", "/api/questionnaires", {"period": "2025H1", "questions": [], "key": "q", "satisfied": []}),
    ("PUT", "/api/questionnaires/1", {"period": "2025H1", "questions": [], "key": "q", "satisfied": []}),
    ("POST", f"/api/circles/{XL}/surveys/2025H1/codes", {"count": 1}),
    ("GET", f"/api/circles/{XL}/surveys/2025H1/breakdown", None),
    ("GET", "/api/reports", None),
    ("POST", "/api/reports", {"district": "420502", "period": "2024H1"}),
    ("GET", "/api/reports/1", None),
    ("POST", "/api/reports/1/versions", {"body": "x"}),
    ("GET", "/api/map/streets", None),
    ("GET", "/api/surface?format=wet_market", None),
    ("GET", "/api/audit", None),
    ("GET", f"/api/circles/{XL}/committee", None),
    ("POST", f"/api/circles/{XL}/committee", {"role": "operator", "name": "x"}),
    ("POST", "/api/committee-members/1/deactivate", None),
    ("GET", f"/api/circles/{XL}/meetings", None),
    ("POST", f"/api/circles/{XL}/meetings", {"date": "2025-01-01", "title": "x"}),
    ("GET", "/api/env-issues", None),
    ("POST", "/api/env-issues", {"category": "other", "description": "x", "lon": 111.3, "lat": 30.7}),
    ("POST", "/api/env-issues/1/photos", None),
    ("GET", "/api/env-issues/1/photos/1", None),
    ("POST", "/api/env-issues/1/assign", {"assignee": "x"}),
    ("POST", "/api/env-issues/1/close", None),
    ("GET", "/api/outlets", None),
    ("POST", "/api/outlets", {"name": "n", "formats": ["pharmacy"], "lon": 111.3, "lat": 30.7}),
    ("POST", "/api/outlets/import", None),
    ("GET", "/api/outlets/o-1", None),
    ("PATCH", "/api/outlets/o-1", {"version": 1, "name": "n"}),
    ("POST", "/api/outlets/o-1/close", {"reason": "r"}),
    ("GET", "/api/filings", None),
    ("GET", "/api/filings/commitment", None),
    ("POST", "/api/filings", {"name": "n", "formats": ["pharmacy"], "lon": 111.3, "lat": 30.7}),
    ("GET", "/api/filings/1", None),
    ("POST", "/api/filings/1/documents", None),
    ("POST", "/api/filings/1/accept", None),
    ("POST", "/api/filings/1/return", {"reasons": "r"}),
    ("POST", "/api/filings/1/resubmit", {"commitment_accepted": True}),
    ("POST", "/api/credit/recompute", {}),
    ("GET", "/api/outlets/o1/credit", None),
    ("POST", "/api/inspection-plans", {"period": "2026Q1", "district": "420502"}),
    ("GET", "/api/inspection-plans", None),
    ("POST", "/api/inspections", {"outlet_id": "o1", "date": "2026-01-01", "items": {"food_safety": "pass"}}),
    ("GET", "/api/inspections", None),
    ("POST", "/api/complaints", {"text": "x", "outlet_id": "o1"}),
    ("GET", "/api/complaints", None),
    ("POST", "/api/complaints/1/answer", {"answer": "x", "substantiated": False}),
    ("POST", "/api/integrity/designate", None),
    ("GET", "/api/integrity", None),
]


def test_every_endpoint_refuses_unauthenticated_calls_with_401(platform):
    """Every endpoint of :data:`ENDPOINTS` on one platform (one database per backend), each named on failure."""
    wrong = []
    for method, path, body in ENDPOINTS:
        r = platform.client.request(method, path, json=body)
        if r.status_code != 401 or r.headers.get("www-authenticate") != "Bearer":
            wrong.append((method, path, r.status_code, r.text[:200]))
    assert not wrong, wrong


def test_evidence_upload_without_session_is_401(platform):
    r = platform.client.post(f"/api/circles/{XL}/evidence", files={"file": ("a.png", PNG, "image/png")})
    assert r.status_code == 401


def test_inspection_photo_upload_without_session_is_401(platform):
    r = platform.client.post("/api/inspections/1/photos", files={"file": ("a.png", PNG, "image/png")})
    assert r.status_code == 401


def test_expired_or_forged_session_is_401(platform):
    h = platform.h("admin")
    with transaction(platform.factory()) as s:
        for row in s.scalars(select(UserSession)):
            row.expires_at = dt.datetime(2000, 1, 1)
    assert platform.client.get("/api/me", headers=h).status_code == 401
    assert platform.client.get("/api/me", headers={"Authorization": "Bearer forged"}).status_code == 401


def test_login_wrong_passwords_slow_the_account_down_with_429_but_never_lock_it(platform):
    """After three wrong passwords the next attempt waits (429 with Retry-After); once the wait is
    over the right password works (no lock-out of the real user); others are not slowed down."""
    c = platform.client
    for _ in range(3):
        assert c.post("/api/login", json={"username": "admin", "password": "nope"}).status_code == 401
    r = c.post("/api/login", json={"username": "admin", "password": "correct-horse-battery"})
    assert r.status_code == 429 and 0 < int(r.headers["retry-after"]) <= 2
    # another user from the same address is not slowed down
    assert c.post("/api/login", json={"username": "leader", "password": "correct-horse-battery"}).status_code == 200
    time.sleep(int(r.headers["retry-after"]))
    assert c.post("/api/login", json={"username": "admin", "password": "correct-horse-battery"}).status_code == 200


def test_login_unknown_user_gets_the_same_answer_as_a_wrong_password(platform):
    a = platform.client.post("/api/login", json={"username": "ghost", "password": "nope"})
    b = platform.client.post("/api/login", json={"username": "admin", "password": "nope"})
    assert a.status_code == b.status_code == 401 and a.json() == b.json()


def test_login_missing_field_is_422_naming_it(platform):
    assert fields(platform.client.post("/api/login", json={"username": "admin"})) == ["password"]


def test_422_explains_in_chinese_first_and_english_on_request(platform):
    r = platform.client.post("/api/login", json={"username": "admin"})
    assert r.json()["detail"][0]["message"] == "必填"
    r = platform.client.post("/api/login?lang=en", json={"username": "admin"})
    assert r.json()["detail"][0]["message"] == "required"


def test_login_sets_httponly_samesite_cookie_and_logout_ends_the_session(platform):
    r = platform.client.post("/api/login", json={"username": "admin", "password": "correct-horse-battery"})
    cookie = r.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=lax" in cookie
    h = {"Authorization": f"Bearer {r.json()['token']}"}
    assert platform.client.post("/api/logout", headers=h).status_code == 200
    assert platform.client.get("/api/me", headers=h).status_code == 401


def test_cookie_authenticated_api_write_needs_the_csrf_header(platform):
    c = platform.client
    r = c.post("/api/login", json={"username": "admin", "password": "correct-horse-battery"})
    set_status(platform, XL, "planned")
    assert c.post(f"/api/circles/{XL}/status", json={"status": "building"}).status_code == 403
    ok = c.post(
        f"/api/circles/{XL}/status", json={"status": "building"}, headers={"X-CSRF-Token": r.json()["csrf_token"]}
    )
    assert ok.status_code == 200 and ok.json()["status"] == "building"


def test_dashboard_tracks_the_30_circle_target_quotas_and_phase_dates(platform):
    d = platform.client.get("/api/dashboard", params={"today": "2024-01-15"}, headers=platform.h("leader")).json()
    assert d["target"] == 30 and d["n_circles"] == 30
    quotas = {r["code"]: (r["quota_pilot"], r["quota_rollout"]) for r in d["districts"]}
    assert quotas == {
        "420502": (3, 6),
        "420503": (3, 6),
        "420506": (1, 2),
        "420504": (1, 2),
        "420505": (1, 2),
        "gaoxin": (1, 2),
    }
    phases = {p["code"]: p for p in d["phases"]}
    assert phases["pilot"]["due"] == 10 and phases["rollout"]["due"] == 30
    assert phases["pilot"]["state"] in ("running", "met") and phases["rollout"]["state"] == "upcoming"
    assert d["done"] == sum(r["done"] for r in d["districts"])


def test_programme_endpoint_gives_phases_and_transitions_as_data(platform):
    p = platform.client.get("/api/programme", headers=platform.h("evaluator")).json()
    assert [(x["code"], x["start"], x["end"]) for x in p["phases"]] == [
        ("prep", "2022-12-01", "2023-02-28"),
        ("pilot", "2023-02-01", "2024-08-31"),
        ("rollout", "2024-08-01", "2025-08-31"),
    ]
    assert {"from": "pre_accepted", "to": "accepted", "roles": ["city_admin"]} in p["transitions"]


def test_district_officer_sees_and_edits_only_their_district(platform):
    c, h = platform.client, platform.h("xiling")
    rows = c.get("/api/circles", headers=h).json()
    assert len(rows) == 9 and {r["district"] for r in rows} == {"420502"}
    assert c.get(f"/api/circles/{WJ}", headers=h).status_code == 403
    assert c.get("/api/circles", params={"district": "420503"}, headers=h).status_code == 403
    set_status(platform, WJ, "planned")
    assert c.post(f"/api/circles/{WJ}/status", json={"status": "building"}, headers=h).status_code == 403
    d = c.get("/api/dashboard", headers=h).json()
    assert [r["code"] for r in d["districts"]] == ["420502"] and d["target"] == 9


def test_circle_list_filters_and_rejects_unknown_filter_values(platform):
    c, h = platform.client, platform.h("admin")
    assert {r["district"] for r in c.get("/api/circles", params={"district": "gaoxin"}, headers=h).json()} == {"gaoxin"}
    assert fields(c.get("/api/circles", params={"district": "999999"}, headers=h)) == ["district"]
    assert fields(c.get("/api/circles", params={"status": "done"}, headers=h)) == ["status"]
    assert c.get("/api/circles/nope", headers=h).status_code == 404


def test_create_circle_roles_and_validation(platform):
    c = platform.client
    body = {"id": "XL-new", "name": "新圈", "district": "420502", "phase": "rollout", "lon": 111.3, "lat": 30.7}
    assert c.post("/api/circles", json=body, headers=platform.h("evaluator")).status_code == 403
    assert c.post("/api/circles", json={**body, "district": "420503"}, headers=platform.h("xiling")).status_code == 403
    r = c.post("/api/circles", json=body, headers=platform.h("xiling"))
    assert r.status_code == 201 and r.json()["status"] == "planned"
    assert fields(c.post("/api/circles", json=body, headers=platform.h("admin"))) == ["id"]
    assert fields(c.post("/api/circles", json={**body, "id": "x2", "phase": "later"}, headers=platform.h("admin"))) == [
        "phase"
    ]
    assert fields(c.post("/api/circles", json={**body, "id": "x3", "lat": 123}, headers=platform.h("admin"))) == ["lat"]
    assert fields(
        c.post("/api/circles", json={**body, "id": "x4", "district": "nowhere"}, headers=platform.h("admin"))
    ) == ["district"]


def test_status_workflow_follows_the_transitions_and_roles(platform):
    c = platform.client
    set_status(platform, XL, "planned")
    for role in ("admin", "xiling", "evaluator", "leader"):
        platform.h(role)  # sign in first: logins are audited too
    n0 = audit_count(platform)
    # a jump the workflow does not allow: 422 naming the field, nothing written
    assert fields(c.post(f"/api/circles/{XL}/status", json={"status": "accepted"}, headers=platform.h("admin"))) == [
        "status"
    ]
    assert fields(c.post(f"/api/circles/{XL}/status", json={"status": "finished"}, headers=platform.h("admin"))) == [
        "status"
    ]
    assert fields(c.post(f"/api/circles/{XL}/status", json={}, headers=platform.h("admin"))) == ["status"]
    assert audit_count(platform) == n0
    for role in ("evaluator", "leader"):
        assert (
            c.post(f"/api/circles/{XL}/status", json={"status": "building"}, headers=platform.h(role)).status_code
            == 403
        )
    h = platform.h("xiling")
    assert (
        c.post(f"/api/circles/{XL}/status", json={"status": "building", "note": "开工"}, headers=h).json()["status"]
        == "building"
    )
    assert c.post(f"/api/circles/{XL}/status", json={"status": "self_assessed"}, headers=h).status_code == 200
    # pre-acceptance is the bureau's: the district officer may not
    assert c.post(f"/api/circles/{XL}/status", json={"status": "pre_accepted"}, headers=h).status_code == 403
    a = platform.h("admin")
    assert c.post(f"/api/circles/{XL}/status", json={"status": "returned"}, headers=a).status_code == 200
    assert c.post(f"/api/circles/{XL}/status", json={"status": "building"}, headers=h).status_code == 200
    detail = c.get(f"/api/circles/{XL}", headers=a).json()
    assert [x["to_status"] for x in detail["history"]][-4:] == ["building", "self_assessed", "returned", "building"]
    log = c.get("/api/audit", params={"entity": "circle", "entity_id": XL}, headers=a).json()
    assert (
        log[0]["username"] == "xiling"
        and log[0]["before"]["status"] == "returned"
        and log[0]["after"]["status"] == "building"
    )
    assert audit_count(platform) == n0 + 4


def test_funds_and_awards(platform):
    c, url = platform.client, f"/api/circles/{XL}/funds"
    body = {"kind": "award", "amount_yuan": 500000, "date": "2024-06-30", "source": "省级奖补"}
    assert c.post(url, json=body, headers=platform.h("leader")).status_code == 403
    assert c.post(url, json=body, headers=platform.h("evaluator")).status_code == 403
    assert c.post(url, json=body, headers=platform.h("wujiagang")).status_code == 403
    assert c.post(url, json=body, headers=platform.h("xiling")).status_code == 201
    assert fields(c.post(url, json={**body, "amount_yuan": -5}, headers=platform.h("admin"))) == ["amount_yuan"]
    assert fields(c.post(url, json={**body, "kind": "loan"}, headers=platform.h("admin"))) == ["kind"]
    assert fields(c.post(url, json={**body, "date": "2024-13-01"}, headers=platform.h("admin"))) == ["date"]
    rows = c.get(url, headers=platform.h("leader")).json()
    assert [(r["kind"], r["amount_yuan"]) for r in rows] == [("award", 500000.0)]


def test_scorecards_stored_per_circle_and_date(platform):
    c, url = platform.client, f"/api/circles/{XL}/scorecards"
    card = {"as_of": "2024-06-30", "indicators": {"basic_coverage": 0.82, "chain_share": 0.35}, "grade_code": "basic"}
    assert c.post(url, json=card, headers=platform.h("evaluator")).status_code == 403
    assert c.post(url, json=card, headers=platform.h("admin")).status_code == 201
    assert (
        c.post(
            url, json={**card, "as_of": "2024-12-31", "grade_code": "upgraded"}, headers=platform.h("admin")
        ).status_code
        == 201
    )
    assert (
        c.post(url, json={**card, "indicators": {"basic_coverage": 0.9}}, headers=platform.h("admin")).status_code
        == 201
    )
    rows = c.get(url, headers=platform.h("leader")).json()
    assert [(r["as_of"], r["grade_code"]) for r in rows] == [("2024-12-31", "upgraded"), ("2024-06-30", "basic")]
    assert rows[1]["indicators"] == {"basic_coverage": 0.9}
    assert fields(c.post(url, json={**card, "grade_code": "gold"}, headers=platform.h("admin"))) == ["grade_code"]
    assert fields(c.post(url, json={"indicators": {}}, headers=platform.h("admin"))) == ["as_of"]


def test_scorecard_refuses_shares_above_100_percent_negative_counts_and_a_mismatched_grade(platform):
    c, url, a = platform.client, f"/api/circles/{XL}/scorecards", platform.h("admin")
    n0 = audit_count(platform)
    bad = {"as_of": "2024-06-30", "indicators": {"basic_coverage": 5, "chain_share": -0.1, "population": -3}}
    assert sorted(fields(c.post(url, json=bad, headers=a))) == [
        "indicators.basic_coverage",
        "indicators.chain_share",
        "indicators.population",
    ]
    mismatch = {"as_of": "2024-06-30", "indicators": {"grade_code": "none"}, "grade_code": "quality"}
    assert fields(c.post(url, json=mismatch, headers=a)) == ["grade_code"]
    assert audit_count(platform) == n0 and c.get(url, headers=a).json() == []
    ok = {
        "as_of": "2024-06-30",
        "indicators": {"basic_coverage": 1.0, "chain_share": 0, "population": 0, "grade_code": "basic"},
        "grade_code": "basic",
    }
    assert c.post(url, json=ok, headers=a).status_code == 201


def test_evaluator_scores_and_comments(platform):
    c, url = platform.client, f"/api/circles/{XL}/scores"
    assert c.post(url, json={"score": 88, "comment": "业态较全"}, headers=platform.h("evaluator")).status_code == 201
    for role in ("xiling", "leader"):
        assert c.post(url, json={"score": 88}, headers=platform.h(role)).status_code == 403
    assert fields(c.post(url, json={"score": 101}, headers=platform.h("evaluator"))) == ["score"]
    assert fields(c.post(url, json={"score": "high"}, headers=platform.h("evaluator"))) == ["score"]
    d = c.get(f"/api/circles/{XL}", headers=platform.h("xiling")).json()
    assert d["scores"][0]["score"] == 88 and d["scores"][0]["evaluator"] == "第三方评估员"


def test_evidence_upload_checks_type_content_and_size_and_downloads(platform):
    c, url = platform.client, f"/api/circles/{XL}/evidence"
    r = c.post(url, files={"file": ("现场照片.png", PNG, "image/png")}, headers=platform.h("evaluator"))
    assert r.status_code == 201, r.text
    ev = r.json()
    assert ev["size_bytes"] == len(PNG) and ev["content_type"] == "image/png"
    stored = platform.settings.evidence_dir / XL / ev["stored_name"]
    assert stored.read_bytes() == PNG
    got = c.get(f"/api/evidence/{ev['id']}", headers=platform.h("leader"))
    assert got.status_code == 200 and got.content == PNG
    assert c.get(f"/api/evidence/{ev['id']}", headers=platform.h("wujiagang")).status_code == 403
    assert (
        c.post(url, files={"file": ("r.pdf", PDF, "application/pdf")}, headers=platform.h("xiling")).status_code == 201
    )
    assert fields(
        c.post(url, files={"file": ("x.exe", b"MZ..", "application/octet-stream")}, headers=platform.h("admin"))
    ) == ["file"]
    assert fields(
        c.post(url, files={"file": ("fake.pdf", b"<html>", "application/pdf")}, headers=platform.h("admin"))
    ) == ["file"]
    big = PNG + b"\x00" * 60_000  # the test limit is 50 kB
    assert fields(c.post(url, files={"file": ("big.png", big, "image/png")}, headers=platform.h("admin"))) == ["file"]
    assert fields(c.post(url, headers=platform.h("admin"))) == ["file"]
    assert c.post(url, files={"file": ("a.png", PNG, "image/png")}, headers=platform.h("leader")).status_code == 403
    assert c.post(url, files={"file": ("a.png", PNG, "image/png")}, headers=platform.h("wujiagang")).status_code == 403
    assert c.get("/api/evidence/999", headers=platform.h("admin")).status_code == 404


def test_grade_decisions_record_who_decided(platform):
    c, url = platform.client, f"/api/circles/{XL}/grades"
    assert (
        c.post(
            url,
            json={"grade_code": "basic", "decision": "recommend", "reason": "达到基础型"},
            headers=platform.h("evaluator"),
        ).status_code
        == 201
    )
    assert (
        c.post(url, json={"grade_code": "basic", "decision": "accept"}, headers=platform.h("evaluator")).status_code
        == 403
    )
    assert (
        c.post(url, json={"grade_code": "basic", "decision": "accept"}, headers=platform.h("xiling")).status_code == 403
    )
    assert (
        c.post(url, json={"grade_code": "basic", "decision": "accept"}, headers=platform.h("admin")).status_code == 201
    )
    assert fields(c.post(url, json={"grade_code": "basic", "decision": "maybe"}, headers=platform.h("admin"))) == [
        "decision"
    ]
    grades = c.get(f"/api/circles/{XL}", headers=platform.h("leader")).json()["grades"]
    assert [(g["decision"], g["by"]) for g in grades] == [("accept", "市商务局管理员"), ("recommend", "第三方评估员")]


def test_surveys_results_and_satisfaction_trend_against_the_90_percent_target(platform):
    c, h = platform.client, platform.h("xiling")
    r1 = c.post(
        f"/api/circles/{XL}/surveys", json={"period": "2024H1", "respondents": 200, "satisfied": 170}, headers=h
    )
    assert r1.status_code == 201 and r1.json()["meets_target"] is False
    r2 = c.post(f"/api/circles/{XL}/surveys", json={"period": "2024H2"}, headers=h)
    assert r2.status_code == 201 and r2.json()["rate"] is None
    r3 = c.post(f"/api/surveys/{r2.json()['id']}/results", json={"respondents": 100, "satisfied": 95}, headers=h)
    assert r3.status_code == 200 and r3.json()["meets_target"] is True
    trend = c.get("/api/satisfaction", params={"district": "420502"}, headers=platform.h("leader")).json()
    assert [(x["period"], round(x["rate"], 3), x["meets_target"]) for x in trend] == [
        ("2024H1", 0.85, False),
        ("2024H2", 0.95, True),
    ]
    assert trend[0]["target"] == 0.9
    assert fields(c.post(f"/api/circles/{XL}/surveys", json={"period": "2024H1"}, headers=h)) == ["period"]  # exists
    assert fields(c.post(f"/api/circles/{XL}/surveys", json={"period": "spring"}, headers=h)) == ["period"]
    assert fields(
        c.post(f"/api/surveys/{r2.json()['id']}/results", json={"respondents": 10, "satisfied": 11}, headers=h)
    ) == ["satisfied"]
    assert fields(
        c.post(f"/api/surveys/{r2.json()['id']}/results", json={"respondents": 0, "satisfied": 0}, headers=h)
    ) == ["respondents"]
    assert (
        c.post(f"/api/circles/{XL}/surveys", json={"period": "2025H1"}, headers=platform.h("leader")).status_code == 403
    )
    assert (
        c.post(
            f"/api/surveys/{r2.json()['id']}/results",
            json={"respondents": 1, "satisfied": 1},
            headers=platform.h("wujiagang"),
        ).status_code
        == 403
    )
    assert c.get("/api/satisfaction", params={"district": "420503"}, headers=h).status_code == 403
    assert fields(c.get("/api/satisfaction", params={"district": "x"}, headers=h)) == ["district"]
    assert c.post("/api/surveys/999/results", json={"respondents": 1, "satisfied": 1}, headers=h).status_code == 404


def test_district_reports_are_generated_then_edited_as_versions(platform):
    c, h = platform.client, platform.h("xiling")
    period = str(dt.date.today().year)  # the seeded circles are registered today: a report as of this year
    r = c.post("/api/reports", json={"district": "420502", "period": period}, headers=h)
    assert r.status_code == 201
    rep = r.json()
    body = rep["versions"][0]["body"]
    assert rep["versions"][0]["generated"] and "西陵区" in body and "合成数据" in body and "420502-P1" in body
    e = c.post(f"/api/reports/{rep['id']}/versions", json={"body": body + "\n补充：已完成三个试点。"}, headers=h)
    assert e.status_code == 201 and e.json()["version"] == 2
    got = c.get(f"/api/reports/{rep['id']}", headers=platform.h("leader")).json()
    assert [v["version"] for v in got["versions"]] == [2, 1] and got["versions"][0]["body"].endswith("已完成三个试点。")
    assert (
        c.post(f"/api/reports/{rep['id']}/versions", json={"body": "x"}, headers=platform.h("leader")).status_code
        == 403
    )
    assert (
        c.post(f"/api/reports/{rep['id']}/versions", json={"body": "x"}, headers=platform.h("evaluator")).status_code
        == 403
    )
    assert c.get(f"/api/reports/{rep['id']}", headers=platform.h("wujiagang")).status_code == 403
    assert c.post("/api/reports", json={"district": "420503", "period": period}, headers=h).status_code == 403
    assert fields(c.post("/api/reports", json={"district": "420502", "period": period}, headers=h)) == ["period"]
    assert fields(c.post("/api/reports", json={"district": "420502", "period": "later"}, headers=h)) == ["period"]
    assert fields(c.post("/api/reports", json={"district": "nowhere", "period": "2025H1"}, headers=h)) == ["district"]
    assert fields(c.post(f"/api/reports/{rep['id']}/versions", json={"body": ""}, headers=h)) == ["body"]
    assert [x["id"] for x in c.get("/api/reports", headers=platform.h("wujiagang")).json()] == []
    assert c.get("/api/reports/999", headers=h).status_code == 404


def test_accounts_are_created_by_the_city_admin_only(platform):
    c = platform.client
    body = {"username": "yiling", "password": "long-enough-pw", "role": "district_officer", "district": "420506"}
    assert c.post("/api/users", json=body, headers=platform.h("xiling")).status_code == 403
    assert c.get("/api/users", headers=platform.h("leader")).status_code == 403
    assert c.post("/api/users", json=body, headers=platform.h("admin")).status_code == 201
    assert fields(c.post("/api/users", json=body, headers=platform.h("admin"))) == ["username"]
    assert fields(
        c.post("/api/users", json={**body, "username": "a2", "password": "short"}, headers=platform.h("admin"))
    ) == ["password"]
    assert fields(
        c.post("/api/users", json={**body, "username": "a3", "district": None}, headers=platform.h("admin"))
    ) == ["district"]
    assert fields(
        c.post("/api/users", json={**body, "username": "a4", "role": "mayor"}, headers=platform.h("admin"))
    ) == ["role"]
    users = c.get("/api/users", headers=platform.h("admin")).json()
    assert "password_hash" not in users[0] and "yiling" in [u["username"] for u in users]
    r = c.post("/api/login", json={"username": "yiling", "password": "long-enough-pw"})
    assert r.status_code == 200 and r.json()["user"]["district"] == "420506"


def test_map_layers(platform):
    c, h = platform.client, platform.h("xiling")
    districts = c.get("/api/map/districts", headers=h).json()
    assert len(districts["features"]) == 6
    circles = c.get("/api/map/circles", headers=h).json()
    assert len(circles["features"]) == 9 and all(f["properties"]["synthetic"] for f in circles["features"])
    assert c.get("/api/map/streets", headers=h).json()["type"] == "FeatureCollection"
    assert fields(c.get("/api/map/rivers", headers=h)) == ["layer"]


def test_audit_log_is_for_the_bureau_and_leaders(platform):
    c = platform.client
    assert c.get("/api/audit", headers=platform.h("evaluator")).status_code == 403
    assert c.get("/api/audit", headers=platform.h("xiling")).status_code == 403
    rows = c.get("/api/audit", params={"limit": 5}, headers=platform.h("leader")).json()
    assert len(rows) == 5 and rows[0]["action"] == "login"
    assert fields(c.get("/api/audit", params={"limit": 0}, headers=platform.h("leader"))) == ["limit"]


def test_openapi_describes_the_api(platform):
    spec = platform.client.get("/api/openapi.json").json()
    assert "/api/circles/{circle_id}/status" in spec["paths"] and "/api/circles/{circle_id}/evidence" in spec["paths"]


def test_a_failed_write_leaves_neither_change_nor_audit_row(platform):
    """The change and its audit entry share one transaction."""
    from lifecircle.platform import service

    with transaction(platform.factory()) as s:
        n_audit = s.scalar(select(func.count(AuditLog.id)))
        n_changes = s.scalar(select(func.count(StatusChange.id)))
    admin = platform.client.get("/api/me", headers=platform.h("admin")).json()
    with pytest.raises(RuntimeError), transaction(platform.factory()) as s:
        from lifecircle.platform.db import User

        user = s.get(User, admin["id"])
        set_to = "building" if s.get(Circle, XL).status in ("planned", "returned") else None
        if set_to:
            service.change_status(s, user, platform.app.state.prog, XL, set_to)
        raise RuntimeError("disk full")
    with transaction(platform.factory()) as s:
        assert s.scalar(select(func.count(AuditLog.id))) == n_audit + 1  # only the login
        assert s.scalar(select(func.count(StatusChange.id))) == n_changes
