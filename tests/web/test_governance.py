"""Co-governance and the environment (issue 11, M11): a circle's joint committee, its meetings and
environment issues — who sees and changes what (the community officer only its own circle), bad
input (422 naming the field), an issue's life (report with photo → assign → close with photo,
audited), the resident's entry routed by the circle boundaries, and two concurrent closes (one
wins, the other 409) — on SQLite and on a real PostgreSQL."""

from __future__ import annotations

import threading

import httpx
import pytest
from sqlalchemy import select

from lifecircle.platform.db import AuditLog, Circle, transaction
from lifecircle.platform.db_operations import Attachment, EnvIssue
from lifecircle.platform.service import governance as gov

from .test_pages import csrf_of, page_login
from .test_races import live, token  # noqa: F401  (the live server fixture)

XL, XL2, WJ = "420502-P1", "420502-P2", "420503-P1"  # community's circle, another 西陵 circle, a 伍家岗 one
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
JPG = b"\xff\xd8\xff\xe0" + b"\x00" * 64
ISSUE = {"category": "street_vending", "description": "占道经营", "lon": 111.3, "lat": 30.7}


def fields(r) -> list[str]:
    assert r.status_code == 422, (r.status_code, r.text)
    return [str(d["loc"][-1]) for d in r.json()["detail"]]


def square(lon: float, lat: float, d: float = 0.01) -> dict:
    ring = [[lon - d, lat - d], [lon + d, lat - d], [lon + d, lat + d], [lon - d, lat + d], [lon - d, lat - d]]
    return {"type": "Polygon", "coordinates": [ring]}


def set_boundaries(p) -> None:
    """XL2 gets a square around (111.30, 30.70), WJ a square around (111.40, 30.65)."""
    with transaction(p.factory()) as s:
        s.get(Circle, XL2).boundary = square(111.30, 30.70)
        s.get(Circle, WJ).boundary = square(111.40, 30.65)


def report(p, user: str, cid: str = XL, **kw) -> dict:
    r = p.client.post("/api/env-issues", json={**ISSUE, "circle_id": cid, **kw}, headers=p.h(user))
    assert r.status_code == 201, r.text
    return r.json()


def close(p, user: str, issue_id: int, note: str = "已清理", photo: bytes | None = PNG):
    files = {"photo": ("after.png", photo, "image/png")} if photo is not None else None
    data = {"note": note}
    return p.client.post(f"/api/env-issues/{issue_id}/close", data=data, files=files, headers=p.h(user))


def test_the_community_officer_governs_only_its_own_circle(platform):
    c, h = platform.client, platform.h("community")
    assert c.get("/api/me", headers=h).json()["circle_id"] == XL
    r = c.post(
        f"/api/circles/{XL}/committee", json={"role": "operator", "name": "张三", "organisation": "运营公司"}, headers=h
    )
    assert r.status_code == 201, r.text
    com = c.get(f"/api/circles/{XL}/committee", headers=h).json()
    assert [m["name"] for m in com["members"]] == ["张三"]
    assert "operator" not in com["missing_roles"] and len(com["missing_roles"]) == 5 and com["warning"]
    meeting = {
        "date": "2025-03-01",
        "title": "第一次联席会",
        "minutes": "讨论外摆",
        "decisions": ["规范外摆"],
        "attendees": ["张三"],
    }
    assert c.post(f"/api/circles/{XL}/meetings", json=meeting, headers=h).status_code == 201
    assert c.get(f"/api/circles/{XL}/meetings", headers=h).json()[0]["decisions"] == ["规范外摆"]
    issue = report(platform, "community")
    assert issue["source"] == "officer" and issue["district"] == "420502"
    # another circle of the same district: 403 on reading and on writing
    for path in (f"/api/circles/{XL2}/committee", f"/api/circles/{XL2}/meetings", f"/api/env-issues?circle={XL2}"):
        assert c.get(path, headers=h).status_code == 403, path
    assert c.post(f"/api/circles/{XL2}/committee", json={"role": "operator", "name": "x"}, headers=h).status_code == 403
    assert c.post(f"/api/circles/{XL2}/meetings", json=meeting, headers=h).status_code == 403
    assert c.post("/api/env-issues", json={**ISSUE, "circle_id": XL2}, headers=h).status_code == 403
    # issues of other circles are not in its list; it cannot assign or close them
    other = report(platform, "xiling", XL2)
    assert [i["id"] for i in c.get("/api/env-issues", headers=h).json()] == [issue["id"]]
    assert c.post(f"/api/env-issues/{other['id']}/assign", json={"assignee": "x"}, headers=h).status_code == 403
    assert close(platform, "community", other["id"]).status_code == 403
    assert c.get(f"/api/env-issues/{other['id']}/photos/1", headers=h).status_code == 403
    # the member of its own circle can be deactivated by it, once (409 the second time)
    mid = com["members"][0]["id"]
    assert c.post(f"/api/committee-members/{mid}/deactivate", headers=h).json()["active"] is False
    assert c.post(f"/api/committee-members/{mid}/deactivate", headers=h).status_code == 409
    assert "operator" in c.get(f"/api/circles/{XL}/committee", headers=h).json()["missing_roles"]


def test_district_officers_leaders_and_merchants(platform):
    c = platform.client
    mem = c.post(
        f"/api/circles/{XL}/committee", json={"role": "resident", "name": "李四"}, headers=platform.h("xiling")
    )
    assert mem.status_code == 201
    issue = report(platform, "xiling")
    # the other district's officer: refused reading and writing; its list holds none of 西陵's issues
    h = platform.h("wujiagang")
    assert c.get(f"/api/circles/{XL}/committee", headers=h).status_code == 403
    assert c.get(f"/api/circles/{XL}/meetings", headers=h).status_code == 403
    assert c.post(f"/api/circles/{XL}/committee", json={"role": "resident", "name": "x"}, headers=h).status_code == 403
    assert c.post(f"/api/committee-members/{mem.json()['id']}/deactivate", headers=h).status_code == 403
    assert c.post(f"/api/env-issues/{issue['id']}/assign", json={"assignee": "x"}, headers=h).status_code == 403
    assert c.get("/api/env-issues", headers=h).json() == []
    assert c.get("/api/env-issues?district=420502", headers=h).status_code == 403
    # leader and evaluator read, never write
    for user in ("leader", "evaluator"):
        h = platform.h(user)
        assert c.get(f"/api/circles/{XL}/committee", headers=h).status_code == 200
        assert [i["id"] for i in c.get("/api/env-issues", headers=h).json()] == [issue["id"]]
        assert (
            c.post(f"/api/circles/{XL}/committee", json={"role": "resident", "name": "x"}, headers=h).status_code == 403
        )
        assert (
            c.post(f"/api/circles/{XL}/meetings", json={"date": "2025-01-01", "title": "x"}, headers=h).status_code
            == 403
        )
        assert c.post("/api/env-issues", json={**ISSUE, "circle_id": XL}, headers=h).status_code == 403
        assert c.post(f"/api/env-issues/{issue['id']}/assign", json={"assignee": "x"}, headers=h).status_code == 403
        assert close(platform, user, issue["id"]).status_code == 403
    # a merchant sees none of it
    h = platform.h("merchant")
    assert c.get(f"/api/circles/{XL}/committee", headers=h).status_code == 403
    assert c.get("/api/env-issues", headers=h).status_code == 403


def test_bad_input_is_422_naming_the_field(platform):
    c, h = platform.client, platform.h("community")
    assert fields(c.post(f"/api/circles/{XL}/committee", json={"role": "mayor", "name": "x"}, headers=h)) == ["role"]
    assert "name" in fields(c.post(f"/api/circles/{XL}/committee", json={"role": "operator", "name": "  "}, headers=h))
    assert fields(c.post(f"/api/circles/{XL}/meetings", json={"date": "2025-01-01", "title": ""}, headers=h)) == [
        "title"
    ]
    assert fields(c.post(f"/api/circles/{XL}/meetings", json={"date": "2025-01-01", "title": " "}, headers=h)) == [
        "title"
    ]
    assert "date" in fields(c.post(f"/api/circles/{XL}/meetings", json={"date": "nope", "title": "x"}, headers=h))
    assert fields(c.post("/api/env-issues", json={**ISSUE, "circle_id": XL, "category": "noise"}, headers=h)) == [
        "category"
    ]
    assert set(
        fields(c.post("/api/env-issues", json={**ISSUE, "circle_id": XL, "lon": 200, "lat": -91}, headers=h))
    ) == {
        "lon",
        "lat",
    }
    assert "description" in fields(
        c.post("/api/env-issues", json={**ISSUE, "circle_id": XL, "description": ""}, headers=h)
    )
    # no circle given and the point lies in none
    assert set(fields(c.post("/api/env-issues", json={**ISSUE, "lon": 0.0, "lat": 0.0}, headers=h))) == {"lon", "lat"}
    issue = report(platform, "community")
    assert fields(c.post(f"/api/env-issues/{issue['id']}/assign", json={"assignee": ""}, headers=h)) == ["assignee"]
    assert fields(close(platform, "community", issue["id"], photo=None)) == ["photo"]
    assert fields(close(platform, "community", issue["id"], note="")) == ["note"]
    assert fields(close(platform, "community", issue["id"], photo=b"not an image")) == ["photo"]
    bad = c.post(f"/api/env-issues/{issue['id']}/photos", files={"file": ("x.exe", b"MZ", "x/y")}, headers=h)
    assert fields(bad) == ["photo"]
    assert fields(c.get("/api/env-issues?status=lost", headers=h)) == ["status"]
    assert c.get("/api/env-issues/999999/photos/1", headers=h).status_code == 404
    assert c.post("/api/committee-members/999999/deactivate", headers=h).status_code == 404


def test_an_issue_from_report_to_close_is_audited(platform):
    c, h = platform.client, platform.h("community")
    issue = report(platform, "community")
    iid = issue["id"]
    r = c.post(f"/api/env-issues/{iid}/photos", files={"file": ("site.jpg", JPG, "image/jpeg")}, headers=h)
    assert r.status_code == 201 and r.json()["purpose"] == "photo"
    got = c.post(f"/api/env-issues/{iid}/assign", json={"assignee": "城管中队", "due": "2099-01-01"}, headers=h)
    assert got.status_code == 200 and got.json()["status"] == "assigned" and got.json()["due"] == "2099-01-01"
    # reassigning an open issue is allowed
    assert (
        c.post(f"/api/env-issues/{iid}/assign", json={"assignee": "街道办"}, headers=h).json()["assignee"] == "街道办"
    )
    done = close(platform, "community", iid, note="已清理完毕")
    assert done.status_code == 200, done.text
    body = done.json()
    assert body["status"] == "closed" and body["close_note"] == "已清理完毕"
    assert [p["purpose"] for p in body["photos"]] == ["photo", "close_photo"]
    photo = c.get(body["photos"][1]["url"], headers=h)
    assert photo.status_code == 200 and photo.content == PNG
    # closed: no second close, no reassigning, no new photos (409)
    assert close(platform, "community", iid).status_code == 409
    assert c.post(f"/api/env-issues/{iid}/assign", json={"assignee": "x"}, headers=h).status_code == 409
    assert (
        c.post(f"/api/env-issues/{iid}/photos", files={"file": ("a.png", PNG, "image/png")}, headers=h).status_code
        == 409
    )
    rows = c.get("/api/env-issues?status=closed", headers=h).json()
    assert [i["id"] for i in rows] == [iid] and rows[0]["age_days"] == 0
    assert c.get("/api/env-issues?status=reported", headers=h).json() == []
    with transaction(platform.factory()) as s:
        actions = [
            a.action
            for a in s.scalars(select(AuditLog).where(AuditLog.entity == "env_issue", AuditLog.entity_id == str(iid)))
        ]
    assert actions == ["report", "attach", "assign", "assign", "attach", "close"]


def test_a_residents_report_is_routed_to_the_circle_containing_the_point(platform):
    set_boundaries(platform)
    st = platform.app.state
    with transaction(platform.factory()) as s:
        a = gov.report_env_issue(
            s,
            None,
            None,
            "discharge",
            "污水外排",
            111.305,
            30.702,
            gov.Upload("p.png", PNG),
            settings=st.settings,
            prog=st.prog,
        )
        b = gov.report_env_issue(
            s, None, None, "signboard", "招牌歪斜", 111.40, 30.65, settings=st.settings, prog=st.prog
        )
        ids = (a.id, b.id)
        assert (a.circle_id, a.district, a.source, a.reported_by) == (XL2, "420502", "resident", None)
        assert (b.circle_id, b.district) == (WJ, "420503")
        assert [x.purpose for x in s.scalars(select(Attachment).where(Attachment.entity_id == str(a.id)))] == ["photo"]
    with pytest.raises(Exception) as err, transaction(platform.factory()) as s:
        gov.report_env_issue(s, None, None, "other", "x", 100.0, 10.0, settings=st.settings, prog=st.prog)
    assert {p.field for p in err.value.problems} == {"lon", "lat"}
    # the district officers see their own district's resident reports
    c = platform.client
    assert [i["id"] for i in c.get("/api/env-issues", headers=platform.h("xiling")).json()] == [ids[0]]
    assert [i["id"] for i in c.get("/api/env-issues", headers=platform.h("wujiagang")).json()] == [ids[1]]
    # an official without circle_id: also routed by the point (and then checked)
    r = c.post("/api/env-issues", json={**ISSUE, "lon": 111.40, "lat": 30.65}, headers=platform.h("xiling"))
    assert r.status_code == 403


def close_together(base: str, iid: int, heads: list[dict[str, str]]) -> list[httpx.Response]:
    """Close issue ``iid`` once per header set at the same moment, each on its own connection."""
    clients = [httpx.Client(base_url=base, timeout=60) for _ in heads]
    for cl in clients:  # open the connections first, so the barrier releases only the POSTs
        cl.get("/healthz")
    barrier = threading.Barrier(len(heads))
    out: list[httpx.Response | None] = [None] * len(heads)

    def run(i: int) -> None:
        barrier.wait()
        out[i] = clients[i].post(
            f"/api/env-issues/{iid}/close",
            data={"note": f"closed by {i}"},
            files={"photo": (f"{i}.png", PNG + bytes([i]), "image/png")},
            headers=heads[i],
        )

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(heads))]
    for th in threads:
        th.start()
    for th in threads:
        th.join(60)
    for cl in clients:
        cl.close()
    assert all(r is not None for r in out)
    return out  # type: ignore[return-value]


def test_two_officials_closing_one_issue_at_once_one_wins(platform, live):  # noqa: F811
    """Six contested pairs (the administrator and the district officer): each one 200 and one 409,
    the issue closed once with the winner's note and exactly one close photo."""
    heads = [token(live, "admin"), token(live, "xiling")]
    for _ in range(6):
        with transaction(platform.factory()) as s:
            issue = EnvIssue(circle_id=XL, district="420502", category="other", description="x", status="assigned")
            s.add(issue)
            s.flush()
            iid = issue.id
        out = close_together(live, iid, heads)
        assert sorted(r.status_code for r in out) == [200, 409], [r.text for r in out]
        winner = next(r for r in out if r.status_code == 200).json()
        with transaction(platform.factory()) as s:
            row = s.get(EnvIssue, iid)
            photos = list(s.scalars(select(Attachment).where(Attachment.entity_id == str(iid))))
            assert (row.status, row.close_note, [p.purpose for p in photos]) == (
                "closed",
                winner["close_note"],
                ["close_photo"],
            )


def test_the_pages_show_and_offer_what_the_user_may_do(platform):
    c = platform.client
    page_login(c, "community")
    html = c.get(f"/circles/{XL}").text
    assert f"/circles/{XL}/governance" in html
    page = c.get(f"/circles/{XL}/governance")
    assert page.status_code == 200 and 'id="missing-roles"' in page.text and 'id="member-form"' in page.text
    tok = csrf_of(page.text)
    r = c.post(f"/circles/{XL}/governance/members", data={"role": "merchant", "name": "王五", "csrf_token": tok})
    assert r.status_code == 200 and "王五" in r.text
    r = c.post(
        f"/circles/{XL}/governance/meetings",
        data={
            "date": "2025-05-01",
            "title": "月度例会",
            "minutes": "纪要",
            "decisions": "一\n二",
            "attendees": "王五，赵六",
            "csrf_token": tok,
        },
    )
    assert r.status_code == 200 and "月度例会" in r.text and "赵六" in r.text
    r = c.post(
        f"/circles/{XL}/governance/issues",
        data={"category": "waste_sorting", "description": "垃圾混投", "lon": "111.3", "lat": "30.7", "csrf_token": tok},
        files={"photo": ("a.png", PNG, "image/png")},
    )
    assert r.status_code == 200 and "垃圾混投" in r.text
    with transaction(platform.factory()) as s:
        iid = s.scalar(select(EnvIssue.id).where(EnvIssue.description == "垃圾混投"))
    r = c.post(f"/env-issues/{iid}/assign", data={"assignee": "保洁队", "due": "", "csrf_token": tok})
    assert r.status_code == 200 and "保洁队" in r.text
    r = c.post(f"/env-issues/{iid}/close", data={"note": "已分拣", "csrf_token": tok})
    assert r.status_code == 422
    r = c.post(
        f"/env-issues/{iid}/close",
        data={"note": "已分拣", "csrf_token": tok},
        files={"photo": ("b.png", PNG, "image/png")},
    )
    assert r.status_code == 200 and "已分拣" in r.text
    assert c.get(f"/circles/{XL2}/governance").status_code == 403
    listing = c.get("/env-issues")
    assert listing.status_code == 200 and "垃圾混投" in listing.text
    # the leader reads the page without forms
    c.cookies.clear()
    page_login(c, "leader")
    page = c.get(f"/circles/{XL}/governance")
    assert page.status_code == 200 and "王五" in page.text and 'id="member-form"' not in page.text
    assert "垃圾混投" in c.get("/env-issues?district=420502&status=closed").text
