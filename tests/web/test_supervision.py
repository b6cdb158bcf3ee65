"""Credit-based supervision (M10): the credit rules on hand-made records, inspection plans by class
(idempotent), inspections and photos by district, complaint routing and answers, integrity shops
and circles — the API's 403 and 422 answers, the pages; on SQLite and on PostgreSQL."""

from __future__ import annotations

import dataclasses
import datetime as dt
import re

import pytest
from sqlalchemy import select

from lifecircle.platform.credit import (
    CreditRulesError,
    InspectionRecord,
    classify,
    integrity_circle,
    integrity_shop,
    load_credit_rules,
    load_credit_rules_file,
    visits_for,
)
from lifecircle.platform.db import Circle, MapLayer, User, transaction, utcnow
from lifecircle.platform.db_operations import Complaint, Inspection, Outlet

from .test_api import PNG, fields
from .test_pages import csrf_of, page_login

XL, WJ = "420502", "420503"
RULES = load_credit_rules()
TODAY = dt.date(2026, 6, 30)


def rec(days_ago: int, food: str = "pass", price: str = "pass", licence: str = "pass") -> InspectionRecord:
    return InspectionRecord(TODAY - dt.timedelta(days=days_ago), food, price, licence)


# ------------------------------------------------------------------ the rules alone


def test_every_credit_class_is_reachable_with_reasons():
    cls, why = classify(RULES, [rec(30)], [], TODAY)
    assert cls == "A" and why[0]["code"] == "clean" and "1 次检查全部合格" in why[0]["zh"]
    assert classify(RULES, [], [], TODAY)[0] == "B"  # no inspection: not enough evidence for A
    cls, why = classify(RULES, [rec(30, price="minor")], [], TODAY)
    assert cls == "B" and [r["code"] for r in why] == ["minor_inspections"]
    cls, why = classify(RULES, [rec(30)], [TODAY - dt.timedelta(days=5)], TODAY)
    assert cls == "B" and why[0]["code"] == "substantiated_complaints"
    cls, why = classify(RULES, [rec(30, food="serious")], [], TODAY)
    assert cls == "C" and why[0]["code"] == "serious_inspections" and "严重问题" in why[0]["zh"]
    assert classify(RULES, [rec(30, licence="minor")], [], TODAY)[0] == "C"  # a licence problem
    cls, why = classify(RULES, [rec(30, licence="serious")], [], TODAY)
    assert cls == "D" and [r["code"] for r in why] == ["licence_serious"]
    three = [TODAY - dt.timedelta(days=d) for d in (1, 2, 3)]
    cls, why = classify(RULES, [rec(30)], three, TODAY)
    assert cls == "D" and why[0]["code"] == "substantiated_complaints" and "3" in why[0]["en"]
    # records older than the window do not count
    old = [TODAY - dt.timedelta(days=400)] * 3
    assert classify(RULES, [rec(400, food="serious"), rec(10)], old, TODAY)[0] == "A"


def test_visits_follow_the_class_and_the_period():
    assert [visits_for(RULES, c, "2026") for c in "ABCD"] == [1, 2, 4, 12]
    assert [visits_for(RULES, c, "2026Q1") for c in "ABCD"] == [1, 1, 1, 3]
    assert visits_for(RULES, "D", "2026H2") == 6 and visits_for(RULES, None, "2026") == 2  # unclassified as B


def test_integrity_rules_give_reasons_met_or_not():
    opened = TODAY - dt.timedelta(days=400)
    ok, why = integrity_shop(RULES, "A", [rec(20)], [], opened, TODAY)
    assert ok and all(r["met"] for r in why) and len(why) == 4
    ok, why = integrity_shop(RULES, "A", [rec(20)], [], TODAY - dt.timedelta(days=30), TODAY)
    assert not ok and [r["code"] for r in why if not r["met"]] == ["open_months"]
    ok, why = integrity_shop(RULES, "B", [], [TODAY], opened, TODAY)
    assert {r["code"] for r in why if not r["met"]} == {"class", "complaints", "inspections"}
    assert integrity_circle(RULES, 3, 2, 0)[0] is True
    ok, why = integrity_circle(RULES, 3, 2, 1)
    assert not ok and [r["code"] for r in why if not r["met"]] == ["overdue"]
    assert integrity_circle(RULES, 2, 2, 0)[0] is False  # too few outlets


def test_a_wrong_rules_file_names_the_key(tmp_path):
    from importlib import resources

    text = (resources.files("lifecircle.data") / "credit" / "credit-yichang.toml").read_text(encoding="utf-8")
    bad = tmp_path / "bad.toml"
    bad.write_text(text.replace("D = 12", "D = 0"), encoding="utf-8")
    with pytest.raises(CreditRulesError, match=r"inspection.visits_per_year.D"):
        load_credit_rules_file(bad)
    bad.write_text(text.replace("serious_inspections = 2", "serious_inspection = 2"), encoding="utf-8")
    with pytest.raises(CreditRulesError, match=r"credit.D.serious_inspection: unknown condition"):
        load_credit_rules_file(bad)
    bad.write_text("version = [", encoding="utf-8")
    with pytest.raises(CreditRulesError, match="not valid TOML"):
        load_credit_rules_file(bad)
    assert dataclasses.is_dataclass(RULES) and RULES.version


# ------------------------------------------------------------------ fixtures


def circle_of(p, district: str) -> str:
    with transaction(p.factory()) as s:
        return s.scalars(select(Circle.id).where(Circle.district == district).order_by(Circle.id)).first()


def add_outlets(p, district: str, classes: list[str | None], *, status: str = "open", prefix: str = "") -> list[str]:
    """Open outlets of ``district`` (in its first circle) with the given credit classes."""
    cid = circle_of(p, district)
    ids = []
    with transaction(p.factory()) as s:
        owner = s.scalars(select(User).where(User.username == "merchant")).one().id
        for n, cls in enumerate(classes):
            oid = f"T{prefix}{district[-1]}{n:02d}"
            s.add(
                Outlet(
                    id=oid,
                    name=f"测试网点{prefix}{district[-1]}{n}",
                    formats=["convenience"],
                    lon=111.3,
                    lat=30.7,
                    district=district,
                    circle_id=cid,
                    status=status,
                    credit_class=cls,
                    owner_id=owner if n == 0 else None,
                    opened_at=utcnow() - dt.timedelta(days=400),
                )
            )
            ids.append(oid)
    return ids


def inspect(p, user: str, outlet_id: str, **kw) -> object:
    body = {
        "outlet_id": outlet_id,
        "date": kw.pop("date", dt.date.today().isoformat()),
        "items": kw.pop("items", {"food_safety": "pass", "price_publicity": "pass", "licence": "pass"}),
        "findings": kw.pop("findings", ""),
    }
    return p.client.post("/api/inspections", json=body, headers=p.h(user))


# ------------------------------------------------------------------ credit and plans


def test_plan_gives_visits_by_class_round_robin_and_is_idempotent(platform):
    p = platform
    ids = add_outlets(p, XL, ["A", "B", "C", "D", None])
    add_outlets(p, XL, ["A"], status="closed", prefix="x")
    add_outlets(p, WJ, ["A"])
    with transaction(p.factory()) as s:
        s.add(User(username="inspector2", display_name="二号", role="inspector", district=XL, password_hash="x"))
    r = p.client.post("/api/inspection-plans", json={"period": "2026Q1", "district": XL}, headers=p.h("inspector"))
    assert r.status_code == 201, r.text
    assert r.json()["created"] == 5
    again = p.client.post("/api/inspection-plans", json={"period": "2026Q1", "district": XL}, headers=p.h("inspector"))
    assert again.json() == {"period": "2026Q1", "district": XL, "created": 0, "existing": 5}
    plan = p.client.get("/api/inspection-plans?period=2026Q1", headers=p.h("inspector")).json()
    got = {i["outlet_id"]: (i["credit_class"], i["visits"], i["due"]) for i in plan["items"]}
    assert got == {
        ids[0]: ("A", 1, "2026-03-31"),
        ids[1]: ("B", 1, "2026-03-31"),
        ids[2]: ("C", 1, "2026-03-31"),
        ids[3]: ("D", 3, "2026-03-31"),
        ids[4]: ("B", 1, "2026-03-31"),  # unclassified: planned as B
    }
    assert {i["inspector"] for i in plan["items"]} == {"inspector", "inspector2"}  # round robin
    assert plan["visits"] == 7 and plan["remaining"] == 7
    year = p.client.post("/api/inspection-plans", json={"period": "2026", "district": XL}, headers=p.h("admin"))
    assert year.json()["created"] == 5
    visits = [
        i["visits"] for i in p.client.get("/api/inspection-plans?period=2026", headers=p.h("admin")).json()["items"]
    ]
    assert sorted(visits) == [1, 2, 2, 4, 12]
    # the inspector plans and reads only its district; 422s name the field
    h = p.h("inspector")
    assert (
        p.client.post("/api/inspection-plans", json={"period": "2026Q1", "district": WJ}, headers=h).status_code == 403
    )
    assert p.client.get(f"/api/inspection-plans?period=2026Q1&district={WJ}", headers=h).status_code == 403
    assert (
        p.client.post(
            "/api/inspection-plans", json={"period": "2026Q1", "district": XL}, headers=p.h("xiling")
        ).status_code
        == 403
    )
    assert fields(p.client.post("/api/inspection-plans", json={"period": "26Q1", "district": XL}, headers=h)) == [
        "period"
    ]
    assert fields(
        p.client.post("/api/inspection-plans", json={"period": "2026Q1", "district": "999"}, headers=p.h("admin"))
    ) == ["district"]
    assert fields(p.client.get("/api/inspection-plans?period=bad", headers=h)) == ["period"]
    assert p.client.get("/api/inspection-plans", headers=p.h("merchant")).status_code == 403
    assert p.client.get("/api/inspection-plans", headers=p.h("community")).status_code == 403


def test_recompute_credit_stores_class_and_reasons_and_merchants_see_their_own(platform):
    p = platform
    ids = add_outlets(p, XL, [None, None, None])
    with transaction(p.factory()) as s:
        insp = s.scalars(select(User).where(User.username == "inspector")).one().id
        today = dt.date.today()
        s.add(
            Inspection(
                outlet_id=ids[0],
                inspector_id=insp,
                district=XL,
                date=today,
                result="pass",
                food_safety="pass",
                price_publicity="pass",
                licence="pass",
            )
        )
        s.add(
            Inspection(
                outlet_id=ids[1], inspector_id=insp, district=XL, date=today, result="serious", food_safety="serious"
            )
        )
    assert p.client.post("/api/credit/recompute", json={}, headers=p.h("inspector")).status_code == 403
    assert fields(p.client.post("/api/credit/recompute", json={"district": "999"}, headers=p.h("admin"))) == [
        "district"
    ]
    r = p.client.post("/api/credit/recompute", json={"district": XL}, headers=p.h("admin"))
    assert r.status_code == 200, r.text
    assert r.json()["classes"] == {"A": 1, "B": 1, "C": 1, "D": 0} and r.json()["changed"] == 3
    mine = p.client.get(f"/api/outlets/{ids[0]}/credit", headers=p.h("merchant"))
    assert mine.status_code == 200 and mine.json()["credit_class"] == "A" and mine.json()["credit_reasons"]
    assert p.client.get(f"/api/outlets/{ids[1]}/credit", headers=p.h("merchant")).status_code == 403
    c = p.client.get(f"/api/outlets/{ids[1]}/credit", headers=p.h("inspector")).json()
    assert c["credit_class"] == "C" and c["credit_reasons"][0]["code"] == "serious_inspections"
    assert p.client.get(f"/api/outlets/{ids[1]}/credit", headers=p.h("wujiagang")).status_code == 403
    assert p.client.get("/api/outlets/nope/credit", headers=p.h("admin")).status_code == 404


# ------------------------------------------------------------------ inspections


def test_inspector_records_and_sees_only_its_own_district(platform):
    p = platform
    xl = add_outlets(p, XL, ["A"])[0]
    wj = add_outlets(p, WJ, ["A"])[0]
    p.client.post("/api/inspection-plans", json={"period": "2026", "district": XL}, headers=p.h("inspector"))
    r = inspect(p, "inspector", xl, items={"food_safety": "minor", "price_publicity": "pass"}, findings="冷柜温度偏高")
    assert r.status_code == 201, r.text
    assert r.json()["result"] == "minor" and r.json()["licence"] == "na" and r.json()["district"] == XL
    assert inspect(p, "inspector", wj).status_code == 403  # another district's outlet
    for who in ("merchant", "community", "xiling", "evaluator", "leader"):
        assert inspect(p, who, xl).status_code == 403, who
    assert inspect(p, "admin", wj).status_code == 201
    mine = p.client.get("/api/inspections", headers=p.h("inspector")).json()
    assert [i["outlet_id"] for i in mine] == [xl] and mine[0]["outlet_name"].startswith("测试网点")
    assert p.client.get(f"/api/inspections?district={WJ}", headers=p.h("inspector")).status_code == 403
    assert p.client.get(f"/api/inspections?outlet={wj}", headers=p.h("inspector")).status_code == 403
    assert len(p.client.get("/api/inspections", headers=p.h("admin")).json()) == 2
    assert p.client.get(f"/api/inspections?outlet={wj}", headers=p.h("wujiagang")).status_code == 200
    for who in ("merchant", "community"):
        assert p.client.get("/api/inspections", headers=p.h(who)).status_code == 403, who
    plan = p.client.get(f"/api/inspection-plans?period={dt.date.today().year}", headers=p.h("inspector")).json()
    assert plan["items"][0]["done"] == 1 and plan["items"][0]["remaining"] == 0


def test_inspection_input_errors_name_the_field(platform):
    p = platform
    xl = add_outlets(p, XL, ["A"])[0]
    closed = add_outlets(p, XL, ["A"], status="closed", prefix="c")[0]
    future = (dt.date.today() + dt.timedelta(days=3)).isoformat()
    assert fields(inspect(p, "inspector", xl, date=future)) == ["date"]
    assert fields(inspect(p, "inspector", xl, items={"food_safety": "bad"})) == ["food_safety"]
    assert fields(inspect(p, "inspector", xl, items={})) == ["items"]
    assert fields(inspect(p, "inspector", xl, items={"licence": "serious"})) == ["findings"]
    assert fields(inspect(p, "inspector", closed)) == ["outlet_id"]
    assert inspect(p, "inspector", "nope").status_code == 404


def test_inspection_photos_follow_the_upload_rule_and_the_district(platform):
    p = platform
    xl = add_outlets(p, XL, ["A"])[0]
    iid = inspect(p, "inspector", xl).json()["id"]
    r = p.client.post(
        f"/api/inspections/{iid}/photos", files={"file": ("a.png", PNG, "image/png")}, headers=p.h("inspector")
    )
    assert r.status_code == 201, r.text
    assert r.json()["purpose"] == "photo" and r.json()["entity"] == "inspection"
    bad = p.client.post(
        f"/api/inspections/{iid}/photos", files={"file": ("a.exe", b"MZ", "x")}, headers=p.h("inspector")
    )
    assert fields(bad) == ["file"]
    other = p.client.post(
        f"/api/inspections/{iid}/photos", files={"file": ("a.png", PNG, "image/png")}, headers=p.h("wujiagang")
    )
    assert other.status_code == 403
    none = p.client.post(
        "/api/inspections/999/photos", files={"file": ("a.png", PNG, "image/png")}, headers=p.h("admin")
    )
    assert none.status_code == 404


# ------------------------------------------------------------------ complaints


def test_complaints_are_routed_by_outlet_and_by_point(platform):
    from shapely.geometry import shape

    from lifecircle.platform.service import file_complaint

    p = platform
    xl = add_outlets(p, XL, ["A"])[0]
    cid = circle_of(p, XL)
    r = p.client.post(
        "/api/complaints", json={"text": "价格未标", "category": "price", "outlet_id": xl}, headers=p.h("xiling")
    )
    assert r.status_code == 201, r.text
    assert (r.json()["district"], r.json()["circle_id"], r.json()["source"]) == (XL, cid, "officer")
    assert r.json()["due"] == (dt.date.today() + dt.timedelta(days=RULES.answer_days)).isoformat()
    with transaction(p.factory()) as s:
        s.get(Circle, cid).boundary = {
            "type": "Polygon",
            "coordinates": [[[111.0, 30.0], [111.01, 30.0], [111.01, 30.01], [111.0, 30.01], [111.0, 30.0]]],
        }
        wj_shape = next(f for f in s.get(MapLayer, "districts").geojson["features"] if f["properties"]["code"] == WJ)
        wj_pt = shape(wj_shape["geometry"]).representative_point()
    inside = p.client.post(
        "/api/complaints", json={"text": "占道", "lon": 111.005, "lat": 30.005}, headers=p.h("admin")
    )
    assert (inside.json()["district"], inside.json()["circle_id"]) == (XL, cid)
    by_district = p.client.post(
        "/api/complaints",
        json={"text": "噪音", "lon": wj_pt.x, "lat": wj_pt.y, "source": "hotline"},
        headers=p.h("wujiagang"),
    )
    assert by_district.status_code == 201, by_district.text
    assert (by_district.json()["district"], by_district.json()["circle_id"]) == (WJ, None)
    assert fields(p.client.post("/api/complaints", json={"text": "x", "lon": 0, "lat": 0}, headers=p.h("admin"))) == [
        "lon"
    ]
    assert fields(p.client.post("/api/complaints", json={"text": "x"}, headers=p.h("admin"))) == ["lon"]
    assert fields(p.client.post("/api/complaints", json={"text": "x", "outlet_id": "nope"}, headers=p.h("admin"))) == [
        "outlet_id"
    ]
    assert fields(p.client.post("/api/complaints", json={"text": " ", "outlet_id": xl}, headers=p.h("admin"))) == [
        "text"
    ]
    assert fields(
        p.client.post("/api/complaints", json={"text": "x", "category": "z", "outlet_id": xl}, headers=p.h("admin"))
    ) == ["category"]
    assert (
        p.client.post("/api/complaints", json={"text": "x", "outlet_id": xl}, headers=p.h("merchant")).status_code
        == 403
    )
    assert (
        p.client.post("/api/complaints", json={"text": "x", "outlet_id": xl}, headers=p.h("wujiagang")).status_code
        == 403
    )
    assert (
        p.client.post("/api/complaints", json={"text": "x", "outlet_id": xl}, headers=p.h("leader")).status_code == 403
    )
    with transaction(p.factory()) as s:  # the residents' public entry (no user)
        c = file_complaint(s, None, text="居民投诉", lon=111.005, lat=30.005)
        assert (c.source, c.district, c.created_by) == ("resident", XL, None)


def test_only_district_staff_answer_complaints_and_overdue_is_flagged(platform):
    p = platform
    xl = add_outlets(p, XL, ["A"])[0]
    ids = [
        p.client.post("/api/complaints", json={"text": f"投诉{n}", "outlet_id": xl}, headers=p.h("admin")).json()["id"]
        for n in range(2)
    ]
    with transaction(p.factory()) as s:
        s.get(Complaint, ids[1]).due = dt.date.today() - dt.timedelta(days=1)
    got = {c["id"]: c["overdue"] for c in p.client.get("/api/complaints", headers=p.h("xiling")).json()}
    assert got == {ids[0]: False, ids[1]: True}
    assert [c["id"] for c in p.client.get("/api/complaints?status=overdue", headers=p.h("inspector")).json()] == [
        ids[1]
    ]
    assert p.client.get("/api/complaints", headers=p.h("wujiagang")).json() == []
    assert p.client.get(f"/api/complaints?district={XL}", headers=p.h("wujiagang")).status_code == 403
    assert p.client.get("/api/complaints", headers=p.h("merchant")).status_code == 403
    assert fields(p.client.get("/api/complaints?status=closed", headers=p.h("admin"))) == ["status"]
    body = {"answer": "已责令整改", "substantiated": True}
    for who in ("wujiagang", "evaluator", "leader", "community", "merchant"):
        r = p.client.post(f"/api/complaints/{ids[1]}/answer", json=body, headers=p.h(who))
        assert r.status_code == 403, who
    assert fields(
        p.client.post(
            f"/api/complaints/{ids[1]}/answer", json={"answer": "  ", "substantiated": True}, headers=p.h("xiling")
        )
    ) == ["answer"]
    assert fields(p.client.post(f"/api/complaints/{ids[1]}/answer", json={"answer": "x"}, headers=p.h("xiling"))) == [
        "substantiated"
    ]
    r = p.client.post(f"/api/complaints/{ids[1]}/answer", json=body, headers=p.h("xiling"))
    assert r.status_code == 200 and r.json()["status"] == "answered" and r.json()["overdue"] is False
    assert p.client.post(f"/api/complaints/{ids[1]}/answer", json=body, headers=p.h("inspector")).status_code == 409
    assert (
        p.client.post(
            f"/api/complaints/{ids[0]}/answer",
            json={"answer": "不属实", "substantiated": False},
            headers=p.h("inspector"),
        ).status_code
        == 200
    )
    assert p.client.post("/api/complaints/999/answer", json=body, headers=p.h("admin")).status_code == 404
    # the substantiated complaint now counts against the outlet's credit
    p.client.post("/api/credit/recompute", json={}, headers=p.h("admin"))
    assert p.client.get(f"/api/outlets/{xl}/credit", headers=p.h("admin")).json()["credit_class"] == "B"


# ------------------------------------------------------------------ integrity


def test_integrity_designation_follows_the_rules_with_reasons(platform):
    p = platform
    good = add_outlets(p, XL, [None, None, None])
    other = add_outlets(p, WJ, [None, None, None])
    for oid in good[:2] + other[:1]:
        assert inspect(p, "admin", oid).status_code == 201
    assert p.client.post("/api/credit/recompute", json={}, headers=p.h("admin")).status_code == 200
    assert p.client.post("/api/integrity/designate", headers=p.h("xiling")).status_code == 403
    r = p.client.post("/api/integrity/designate", headers=p.h("admin"))
    assert r.status_code == 200, r.text
    shops = {s["outlet_id"] for s in r.json()["shops"]}
    assert shops == {good[0], good[1], other[0]}
    circles = {c["circle_id"]: c for c in r.json()["circles"]}
    assert circles[circle_of(p, XL)]["integrity"] is True  # 2 of 3 ≥ 60 %
    wj = circles[circle_of(p, WJ)]
    assert wj["integrity"] is False and [x["code"] for x in wj["reasons"] if not x["met"]] == ["share"]
    no_shop = p.client.get(f"/api/outlets/{good[2]}/credit", headers=p.h("admin")).json()
    assert no_shop["integrity"] is False and {x["code"] for x in no_shop["integrity_reasons"] if not x["met"]} == {
        "class",
        "inspections",
    }
    listing = p.client.get("/api/integrity", headers=p.h("xiling")).json()
    assert {s["outlet_id"] for s in listing["shops"]} == {good[0], good[1]}
    assert [c["circle_id"] for c in listing["circles"]] == [circle_of(p, XL)]
    assert [s["outlet_id"] for s in p.client.get("/api/integrity", headers=p.h("merchant")).json()["shops"]] == [
        good[0],
        other[0],
    ]  # its own


# ------------------------------------------------------------------ pages


def test_supervision_pages_record_and_answer(platform):
    c = platform.client
    xl = add_outlets(platform, XL, ["B"])[0]
    page_login(c, "inspector")
    page = c.get("/supervision")
    assert page.status_code == 200 and "信用分级监管检查" in page.text
    r = c.post(
        "/supervision/plan",
        data={"period": _period(), "district": XL, "csrf_token": csrf_of(page.text)},
        follow_redirects=False,
    )
    assert r.status_code == 303
    page = c.get("/supervision")
    assert xl in page.text
    r = c.post(
        "/supervision/inspections",
        data={
            "outlet_id": xl,
            "date": dt.date.today().isoformat(),
            "food_safety": "minor",
            "findings": "过期食品",
            "csrf_token": csrf_of(page.text),
        },
        files={"photo": ("p.png", PNG, "image/png")},
        follow_redirects=False,
    )
    assert r.status_code == 303, r.text
    page = c.get("/supervision")
    assert "过期食品" in page.text
    with transaction(platform.factory()) as s:
        assert s.scalar(select(Inspection.findings)) == "过期食品"
    c.post("/api/complaints", json={"text": "态度差", "outlet_id": xl}, headers=platform.h("admin"))
    page_login(c, "inspector")
    page = c.get("/complaints")
    assert "态度差" in page.text and "/answer" in page.text
    cid = int(re.search(r'id="complaint-(\d+)"', page.text).group(1))
    r = c.post(
        f"/complaints/{cid}/answer",
        data={"answer": "已核实", "substantiated": "yes", "csrf_token": csrf_of(page.text)},
        follow_redirects=False,
    )
    assert r.status_code == 303
    assert c.get("/integrity").status_code == 200
    c.cookies.clear()
    page_login(c, "merchant")
    assert c.get("/supervision").status_code == 403
    assert c.get("/complaints").status_code == 403
    assert c.get("/integrity").status_code == 200
    c.cookies.clear()
    page_login(c, "admin")
    page = c.get("/integrity")
    r = c.post("/integrity", data={"action": "designate", "csrf_token": csrf_of(page.text)}, follow_redirects=False)
    assert r.status_code == 303


def _period() -> str:
    d = dt.date.today()
    return f"{d.year}Q{(d.month - 1) // 3 + 1}"
