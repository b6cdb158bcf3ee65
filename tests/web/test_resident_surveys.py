"""Residents' satisfaction surveys (issue 12, part 3; M16) on SQLite and PostgreSQL.

- The bureau's questionnaire: every problem at once, only the city admin edits it, a version with
  answers cannot change (409) and a new version can be published.
- One-time codes: who may issue them for which circle; stored only as keyed hashes.
- Answering without a session: once works, the same code again is 409, a wrong code is 404 saying
  nothing about other circles, bad answers are 422 naming the question — and a refused request
  stores nothing (rows counted before and after).
- Two requests with the same code at the same moment over real HTTP: exactly one 201, one 409.
- The answers flow into the circle's survey campaign, the satisfaction trend and the 90% target
  (from the key question), the per-question breakdown; hand-typed results and codes never mix.
"""

from __future__ import annotations

import hashlib
import hmac
from collections import Counter

import pytest
from sqlalchemy import func, select, text

from lifecircle.platform.db import AuditLog, Circle, SurveyCampaign, User, transaction
from lifecircle.platform.db_operations import SurveyAnswer, SurveyCode, SurveyQuestionnaire
from lifecircle.web.routes import resident_surveys as routes

from .test_races import live, together  # noqa: F401  (the live server fixture and the barrier helper)

XL = "420502-P1"
PERIOD = "2025H1"
QN = {
    "period": PERIOD,
    "title_zh": "2025 年上半年居民满意度调查",
    "title_en": "Residents' satisfaction, 2025 H1",
    "questions": [
        {
            "id": "overall",
            "text_zh": "您对本社区便民生活圈总体满意吗？",
            "text_en": "Overall satisfaction?",
            "kind": "scale",
        },
        {
            "id": "walk",
            "text_zh": "步行15分钟内能买到日常用品吗？",
            "text_en": "Daily goods within 15 min?",
            "kind": "yesno",
        },
        {
            "id": "missing",
            "text_zh": "最缺少的服务",
            "kind": "choice",
            "required": False,
            "choices": [
                {"value": "food", "zh": "生鲜"},
                {"value": "repair", "zh": "维修"},
                {"value": "care", "zh": "养老"},
            ],
        },
    ],
    "key": "overall",
    "satisfied": [4, 5],
}
GOOD = {"overall": 5, "walk": "yes", "missing": "care"}


def publish(p, data=None) -> dict:
    r = p.client.post("/api/questionnaires", json=data or QN, headers=p.h("admin"))
    assert r.status_code == 201, r.text
    return r.json()


def issue(p, n: int = 3, user: str = "admin", circle: str = XL, period: str = PERIOD) -> list[str]:
    r = p.client.post(f"/api/circles/{circle}/surveys/{period}/codes", json={"count": n}, headers=p.h(user))
    assert r.status_code == 201, r.text
    assert r.headers["cache-control"] == "no-store"
    return r.json()["codes"]


def answer(p, code: str, answers=None):
    return p.client.post("/api/public/survey/answers", json={"code": code, "answers": answers or GOOD})


def counts(p) -> dict[str, int]:
    with transaction(p.factory()) as s:
        return {
            "answers": s.scalar(select(func.count(SurveyAnswer.id))),
            "used": s.scalar(select(func.count(SurveyCode.id)).where(SurveyCode.used_at.is_not(None))),
            "campaigns": s.scalar(select(func.count(SurveyCampaign.id))),
            "respondents": s.scalar(select(func.sum(SurveyCampaign.respondents))) or 0,
            "audit": s.scalar(select(func.count(AuditLog.id))),
        }


def campaign(p, circle: str = XL, period: str = PERIOD) -> SurveyCampaign | None:
    with transaction(p.factory()) as s:
        return s.scalars(
            select(SurveyCampaign).where(SurveyCampaign.circle_id == circle, SurveyCampaign.period == period)
        ).first()


def circle_of(p, district: str, other_than: str | None = None) -> str:
    with transaction(p.factory()) as s:
        q = select(Circle.id).where(Circle.district == district).order_by(Circle.id)
        return next(c for c in s.scalars(q) if c != other_than)


def community_circle(p) -> str:
    with transaction(p.factory()) as s:
        return s.scalar(select(User.circle_id).where(User.username == "community"))


# ------------------------------------------------------------------ questionnaires


def test_questionnaire_validation_names_every_problem_at_once(platform):
    bad = {
        "period": "2025-1",
        "questions": [
            {"id": "Q 1", "text_zh": "", "kind": "stars"},
            {"id": "a", "text_zh": "ok", "kind": "scale", "min": 5, "max": 3},
            {"id": "a", "text_zh": "again", "kind": "choice", "choices": [{"value": "x", "zh": "X"}]},
        ],
        "key": "nope",
        "satisfied": [4],
    }
    r = platform.client.post("/api/questionnaires", json=bad, headers=platform.h("admin"))
    assert r.status_code == 422, r.text
    fields = {d["loc"][-1] for d in r.json()["detail"]}
    assert {
        "period",
        "questions[0].id",
        "questions[0].text_zh",
        "questions[0].kind",
        "questions[1].max",
        "questions[2].id",
        "questions[2].choices",
    } <= fields, fields
    # the key question and what counts as satisfied
    for key, sat, field in [
        ("nope", [4], "key"),
        ("overall", [6], "satisfied"),
        ("overall", [1, 2, 3, 4, 5], "satisfied"),
    ]:
        r = platform.client.post(
            "/api/questionnaires", json={**QN, "key": key, "satisfied": sat}, headers=platform.h("admin")
        )
        assert r.status_code == 422 and [d["loc"][-1] for d in r.json()["detail"]] == [field], r.text
    with transaction(platform.factory()) as s:
        assert s.scalar(select(func.count(SurveyQuestionnaire.id))) == 0


def test_only_the_bureau_edits_questionnaires_and_a_version_with_answers_never_changes(platform):
    for who in ("xiling", "community", "evaluator", "merchant"):
        r = platform.client.post("/api/questionnaires", json=QN, headers=platform.h(who))
        assert r.status_code == 403, (who, r.text)
    v1 = publish(platform)
    assert v1["version"] == 1
    changed = {**QN, "title_zh": "改过的标题"}
    r = platform.client.put(f"/api/questionnaires/{v1['id']}", json=changed, headers=platform.h("admin"))
    assert r.status_code == 200 and r.json()["title_zh"] == "改过的标题"
    assert (
        platform.client.put(f"/api/questionnaires/{v1['id']}", json=changed, headers=platform.h("xiling")).status_code
        == 403
    )
    (code,) = issue(platform, 1)
    assert answer(platform, code).status_code == 201
    r = platform.client.put(f"/api/questionnaires/{v1['id']}", json=QN, headers=platform.h("admin"))
    assert r.status_code == 409 and "新版本" in r.json()["detail"]
    v2 = publish(platform, {**QN, "satisfied": [5]})
    assert v2["version"] == 2
    listed = platform.client.get(f"/api/questionnaires?period={PERIOD}", headers=platform.h("xiling")).json()
    assert [(q["version"], q["answers"]) for q in listed] == [(1, 1), (2, 0)]
    (code2,) = issue(platform, 1)  # new answers use the newest version
    assert answer(platform, code2, {"overall": 4, "walk": "no"}).json()["questionnaire_version"] == 2
    c = campaign(platform)
    assert (c.respondents, c.satisfied) == (2, 1)  # 5 counts under v1, 4 does not under v2


# ------------------------------------------------------------------ codes


def test_who_may_issue_codes_for_which_circle(platform):
    publish(platform)
    mine = community_circle(platform)
    other_xl = circle_of(platform, "420502", other_than=mine)
    wjg = circle_of(platform, "420503")
    assert len(issue(platform, 2, "community", mine)) == 2
    assert len(issue(platform, 2, "xiling", other_xl)) == 2
    assert len(issue(platform, 2, "admin", wjg)) == 2
    refused = [
        ("community", other_xl),
        ("xiling", wjg),
        ("wujiagang", XL),
        ("merchant", XL),
        ("inspector", XL),
        ("evaluator", XL),
        ("leader", XL),
    ]
    for who, _ in refused:
        platform.h(who)  # signed in before counting (a sign-in is audited)
    before = counts(platform)
    for who, circle in refused:
        r = platform.client.post(
            f"/api/circles/{circle}/surveys/{PERIOD}/codes", json={"count": 1}, headers=platform.h(who)
        )
        assert r.status_code == 403, (who, circle, r.text)
    assert counts(platform) == before


def test_codes_are_stored_only_as_keyed_hashes_and_carry_only_circle_and_period(platform):
    publish(platform)
    codes = issue(platform, 20)
    assert len(set(codes)) == 20 and all(len(k) == 10 and k.isalnum() and k.isupper() for k in codes)
    assert not set("01IO") & set("".join(codes))
    with transaction(platform.factory()) as s:
        rows = list(s.scalars(select(SurveyCode)))
        dump = " ".join(str(v) for r in s.execute(text("SELECT * FROM survey_codes")) for v in r)
    assert len(rows) == 20 and all(k not in dump for k in codes)
    key = platform.settings.secret_key.encode()
    assert {r.code_hash for r in rows} == {
        hmac.new(key, b"survey-code:" + k.encode(), hashlib.sha256).hexdigest() for k in codes
    }
    assert {(r.circle_id, r.period) for r in rows} == {(XL, PERIOD)}
    csv = platform.client.post(
        f"/api/circles/{XL}/surveys/{PERIOD}/codes?format=csv", json={"count": 2}, headers=platform.h("admin")
    )
    assert csv.status_code == 201 and csv.headers["content-type"].startswith("text/csv")
    assert (
        csv.text.lstrip("\ufeff").splitlines()[0] == "code,circle_id,circle_name,period"
        and len(csv.text.splitlines()) == 3
    )


def test_codes_need_a_questionnaire_and_a_sane_count(platform):
    r = platform.client.post(
        f"/api/circles/{XL}/surveys/{PERIOD}/codes", json={"count": 5}, headers=platform.h("admin")
    )
    assert r.status_code == 422 and [d["loc"][-1] for d in r.json()["detail"]] == ["period"]
    publish(platform)
    for body in ({"count": 0}, {"count": 100_000}, {}):
        r = platform.client.post(f"/api/circles/{XL}/surveys/{PERIOD}/codes", json=body, headers=platform.h("admin"))
        assert r.status_code == 422, body
    r = platform.client.post(f"/api/circles/{XL}/surveys/2025-H1/codes", json={"count": 1}, headers=platform.h("admin"))
    assert r.status_code == 422
    r = platform.client.post("/api/circles/nope/surveys/2025H1/codes", json={"count": 1}, headers=platform.h("admin"))
    assert r.status_code == 404


# ------------------------------------------------------------------ answering


def test_a_code_answers_once_without_a_session_and_a_refused_request_stores_nothing(platform):
    publish(platform)
    code, spare = issue(platform, 2)
    platform.client.cookies.clear()
    q = platform.client.post("/api/public/survey/questionnaire", json={"code": code.lower()[:5] + "-" + code[5:]})
    assert q.status_code == 200 and [x["id"] for x in q.json()["questions"]] == ["overall", "walk", "missing"]
    assert "key" not in q.json() and "satisfied" not in q.json()
    before = counts(platform)
    bad = answer(platform, code, {"overall": 9, "walk": "maybe", "extra": 1})
    assert bad.status_code == 422
    assert {d["loc"][-1] for d in bad.json()["detail"]} == {"answers.overall", "answers.walk", "answers.extra"}
    assert answer(platform, code, {"walk": "yes"}).status_code == 422  # the key question is required
    assert counts(platform) == before  # nothing stored, the code still unused
    r = answer(platform, code)
    assert r.status_code == 201, r.text
    assert r.json() == {"circle_id": XL, "period": PERIOD, "questionnaire_version": 1}
    after = counts(platform)
    assert (after["answers"], after["used"], after["respondents"]) == (1, 1, before["respondents"] + 1)
    again = answer(platform, code)
    assert again.status_code == 409 and "已使用" in again.json()["detail"]
    assert platform.client.post("/api/public/survey/questionnaire", json={"code": code}).status_code == 409
    assert counts(platform) == after
    with transaction(platform.factory()) as s:
        a = s.scalars(select(SurveyAnswer)).one()
        assert a.answers == GOOD and a.key_satisfied and a.circle_id == XL
        assert (
            s.scalars(select(SurveyCode).where(SurveyCode.used_at.is_not(None))).one().used_at.time().isoformat()
            == "00:00:00"
        )
    assert answer(platform, spare, {"overall": 2, "walk": "no"}).status_code == 201  # optional question left out


def test_a_wrong_code_is_404_saying_nothing_about_other_circles(platform):
    publish(platform)
    issue(platform, 1)
    before = counts(platform)
    answers = [answer(platform, k) for k in ("ABCDEFGHJK", "short", "0000000000", "ZZZZZ-ZZZZZ")]
    assert {r.status_code for r in answers} == {404}
    assert len({r.json()["detail"] for r in answers}) == 1 and XL not in answers[0].text
    assert counts(platform) == before
    platform.app.state.bad_codes = routes.BadCodeCounter(limit=3)
    for _ in range(3):
        assert answer(platform, "ABCDEFGHJK").status_code == 404
    r = answer(platform, "ABCDEFGHJK")
    assert r.status_code == 429 and int(r.headers["retry-after"]) > 0


def test_public_survey_bodies_are_small_and_validated(platform):
    r = platform.client.post(
        "/api/public/survey/answers", content=b"{" + b" " * 40_000 + b"}", headers={"content-type": "application/json"}
    )
    assert r.status_code == 413
    assert platform.client.post("/api/public/survey/answers", json={"code": "x"}).status_code == 422
    assert platform.client.post("/api/public/survey/answers", json={"answers": {}}).status_code == 422


def test_the_same_code_sent_twice_at_the_same_moment_is_accepted_exactly_once(platform, live):  # noqa: F811
    publish(platform)
    codes = issue(platform, 10)
    tally: Counter[int] = Counter()
    for code in codes:
        body = {"code": code, "answers": GOOD}
        rs = together(live, [({}, "/api/public/survey/answers", body), ({}, "/api/public/survey/answers", body)])
        got = sorted(r.status_code for r in rs)
        assert got == [201, 409], [(r.status_code, r.text) for r in rs]
        tally.update(got)
    c = counts(platform)
    assert (c["answers"], c["used"]) == (10, 10)
    assert (campaign(platform).respondents, campaign(platform).satisfied) == (10, 10)
    print(f"\nsame-code pairs on {platform.url.split(':')[0]}: {len(codes)}, 201s {tally[201]}, 409s {tally[409]}")


# ------------------------------------------------------------------ results


def test_answers_flow_into_the_satisfaction_figures_and_the_target(platform):
    publish(platform)
    codes = issue(platform, 10)
    for i, code in enumerate(codes):  # nine satisfied (4 or 5), one not (3)
        assert (
            answer(
                platform, code, {"overall": 3 if i == 0 else 4 + i % 2, "walk": "yes" if i % 3 else "no"}
            ).status_code
            == 201
        )
    c = campaign(platform)
    assert (c.respondents, c.satisfied) == (10, 9)
    trend = platform.client.get(f"/api/satisfaction?circle_id={XL}", headers=platform.h("xiling")).json()
    row = next(x for x in trend if x["period"] == PERIOD)
    assert row["rate"] == pytest.approx(0.9) and row["meets_target"] and row["target"] == 0.9
    b = platform.client.get(f"/api/circles/{XL}/surveys/{PERIOD}/breakdown", headers=platform.h("xiling")).json()
    assert (b["respondents"], b["satisfied"], b["source"], b["codes_issued"]) == (10, 9, "codes", 10)
    assert b["meets_target"] and b["campaign"]["respondents"] == 10
    qs = {q["id"]: q for q in b["questionnaires"][0]["questions"]}
    assert [x["n"] for x in qs["overall"]["counts"]] == [0, 0, 1, 4, 5] and qs["overall"]["key"]
    assert qs["overall"]["satisfied_share"] == pytest.approx(0.9) and qs["overall"]["mean"] == pytest.approx(4.4)
    assert {x["value"]: x["n"] for x in qs["walk"]["counts"]} == {"yes": 6, "no": 4}
    assert qs["missing"]["answered"] == 0
    page = platform.client.get(f"/circles/{XL}/surveys/{PERIOD}", headers=platform.h("xiling"))
    assert page.status_code == 200 and "90.0%" in page.text and "计入目标" in page.text
    # one more unsatisfied household: below the target
    (extra,) = issue(platform, 1)
    assert answer(platform, extra, {"overall": 1, "walk": "no"}).status_code == 201
    b = platform.client.get(f"/api/circles/{XL}/surveys/{PERIOD}/breakdown", headers=platform.h("admin")).json()
    assert b["rate"] == pytest.approx(9 / 11) and not b["meets_target"]


def test_hand_typed_results_and_codes_never_mix(platform):
    publish(platform)
    publish(platform, {**QN, "period": "2024H2"})
    a = platform.h("admin")
    # typed by hand first: no codes for that circle and period
    r = platform.client.post(
        f"/api/circles/{XL}/surveys", json={"period": "2024H2", "respondents": 100, "satisfied": 95}, headers=a
    )
    assert r.status_code == 201
    r = platform.client.post(f"/api/circles/{XL}/surveys/2024H2/codes", json={"count": 5}, headers=a)
    assert r.status_code == 409 and "手工" in r.json()["detail"]
    assert campaign(platform, XL, "2024H2").respondents == 100
    # codes first: the campaign counts answers only, typing results is refused
    (code,) = issue(platform, 1)
    assert answer(platform, code).status_code == 201
    sid = campaign(platform).id
    r = platform.client.post(f"/api/surveys/{sid}/results", json={"respondents": 500, "satisfied": 499}, headers=a)
    assert r.status_code == 409
    assert (campaign(platform).respondents, campaign(platform).satisfied) == (1, 1)
    b = platform.client.get(f"/api/circles/{XL}/surveys/2024H2/breakdown", headers=a).json()
    assert b["source"] == "hand" and b["respondents"] == 0 and b["campaign"]["respondents"] == 100


# ------------------------------------------------------------------ endpoints: 401 / 403 / 422, pages


def test_new_endpoints_refuse_without_session_forbidden_roles_and_bad_input(platform):
    c = platform.client
    publish(platform)
    for method, path, body in [
        ("GET", "/api/questionnaires", None),
        ("POST", "/api/questionnaires", QN),
        ("PUT", "/api/questionnaires/1", QN),
        ("POST", f"/api/circles/{XL}/surveys/{PERIOD}/codes", {"count": 1}),
        ("GET", f"/api/circles/{XL}/surveys/{PERIOD}/breakdown", None),
    ]:
        assert c.request(method, path, json=body).status_code == 401, path
    m = platform.h("merchant")
    assert c.get("/api/questionnaires", headers=m).status_code == 403
    assert c.get(f"/api/circles/{XL}/surveys/{PERIOD}/breakdown", headers=m).status_code == 403
    assert c.get(f"/api/circles/{XL}/surveys/{PERIOD}/breakdown", headers=platform.h("wujiagang")).status_code == 403
    assert c.put("/api/questionnaires/1", json=QN, headers=platform.h("leader")).status_code == 403
    assert c.get(f"/api/circles/{XL}/surveys/2025-13/breakdown", headers=platform.h("admin")).status_code == 422
    assert c.put("/api/questionnaires/0", json=QN, headers=platform.h("admin")).status_code == 422
    assert c.put("/api/questionnaires/999", json=QN, headers=platform.h("admin")).status_code == 404
    assert c.post("/api/questionnaires", json={"period": PERIOD}, headers=platform.h("admin")).status_code == 422
    # the public ones answer without a session (and do not ask for one)
    assert c.post("/api/public/survey/questionnaire", json={"code": "ABCDEFGHJK"}).status_code == 404
    assert c.get("/survey").status_code == 200


def test_the_survey_pages_work_without_a_session(platform):
    from .test_pages import csrf_of, page_login

    publish(platform)
    c = platform.client
    page_login(c, "community")
    mine = community_circle(platform)
    circle_page = c.get(f"/circles/{mine}")
    assert 'id="codes-form"' in circle_page.text
    sheet = c.post(
        f"/circles/{mine}/survey-codes",
        data={"period": PERIOD, "count": "3", "format": "sheet", "csrf_token": csrf_of(circle_page.text)},
    )
    assert sheet.status_code == 200 and sheet.headers["cache-control"] == "no-store"
    codes = [x.split("<")[0] for x in sheet.text.split('<div class="code">')[1:]]
    assert len(codes) == 3
    c.cookies.clear()
    assert 'id="code-form"' in c.get("/survey").text
    start = c.post("/survey", data={"code": codes[0]})
    assert start.status_code == 200 and 'name="q_overall"' in start.text
    missing = c.post("/survey/answer", data={"code": codes[0], "q_walk": "yes"})
    assert missing.status_code == 422 and "请回答此问题" in missing.text
    done = c.post("/survey/answer", data={"code": codes[0], "q_overall": "5", "q_walk": "yes"})
    assert done.status_code == 201 and 'id="survey-thanks"' in done.text
    again = c.post("/survey/answer", data={"code": codes[0], "q_overall": "5", "q_walk": "yes"})
    assert again.status_code == 409 and "已使用" in again.text
    assert c.post("/survey", data={"code": codes[0]}).status_code == 409
    assert c.post("/survey", data={"code": "nonsense"}).status_code == 404
    assert counts(platform)["answers"] == 1


def test_the_bureau_publishes_a_questionnaire_from_its_page(platform):
    import json

    from .test_pages import csrf_of, page_login

    c = platform.client
    page_login(c, "xiling")
    assert 'id="questionnaire-form"' not in c.get("/questionnaires").text  # read-only for the district
    c.cookies.clear()
    page_login(c, "admin")
    page = c.get("/questionnaires")
    assert page.status_code == 200 and 'id="questionnaire-form"' in page.text
    body = json.dumps({k: QN[k] for k in ("title_zh", "questions", "key", "satisfied")}, ensure_ascii=False)
    r = c.post(
        "/questionnaires",
        data={"period": PERIOD, "body": body, "csrf_token": csrf_of(page.text)},
        follow_redirects=False,
    )
    assert r.status_code == 303
    assert "2025H1" in c.get("/questionnaires").text
    bad = c.post("/questionnaires", data={"period": PERIOD, "body": "[1]", "csrf_token": csrf_of(page.text)})
    assert bad.status_code == 422
    with transaction(platform.factory()) as s:
        assert s.scalar(select(func.count(SurveyQuestionnaire.id))) == 1
