"""Races and hostile input (issue 10, items 1 and 4) on SQLite and a real PostgreSQL.

- Two officials changing the same circle's status at the same moment, over real HTTP (uvicorn in a
  thread, one connection per official, released together by a barrier): exactly one wins, the
  other gets 409 naming the status the circle now has, and the history has one new row.
- Identical creations at the same moment (report versions, surveys, accounts): one 201, the other
  a 409 (or the 422 "already exists" when it came second), never a 500, and the server keeps the
  connection.
- Ids beyond the column's range, NUL and other control characters, an empty district and badly
  typed scorecards: 422 naming the field, never 500.
"""

from __future__ import annotations

import socket
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from urllib.parse import quote

import httpx
import pytest
from sqlalchemy import func, select

from lifecircle.platform.db import (
    Circle,
    DistrictReportVersion,
    StatusChange,
    SurveyCampaign,
    User,
    transaction,
)

from .conftest import PASSWORD

XL = "420502-P1"  # a 西陵 pilot circle of the quota seed (xiling's district)
PAIRS = 12  # contested pairs per kind and backend


def set_status(p, cid: str, status: str) -> None:
    with transaction(p.factory()) as s:
        s.get(Circle, cid).status = status


def n_history(p, cid: str) -> int:
    with transaction(p.factory()) as s:
        return s.scalar(select(func.count(StatusChange.id)).where(StatusChange.circle_id == cid))


def status_of(p, cid: str) -> str:
    with transaction(p.factory()) as s:
        return s.scalar(select(Circle.status).where(Circle.id == cid))


@pytest.fixture
def live(platform) -> Iterator[str]:
    """The platform's app served by uvicorn on 127.0.0.1 (a real server: its thread pool runs the
    two requests of a pair in parallel)."""
    import uvicorn

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    srv = uvicorn.Server(uvicorn.Config(platform.app, host="127.0.0.1", port=port, log_level="warning", lifespan="off"))
    th = threading.Thread(target=srv.run, daemon=True)
    th.start()
    base = f"http://127.0.0.1:{port}"
    for _ in range(200):
        try:
            httpx.get(f"{base}/healthz", timeout=1)
            break
        except httpx.HTTPError:
            time.sleep(0.05)
    yield base
    srv.should_exit = True
    th.join(10)


def token(base: str, user: str) -> dict[str, str]:
    r = httpx.post(f"{base}/api/login", json={"username": user, "password": PASSWORD})
    assert r.status_code == 200, r.text
    return {"Authorization": f"Bearer {r.json()['token']}"}


def together(base: str, calls: list[tuple[dict[str, str], str, dict]]) -> list[httpx.Response]:
    """Send the POSTs at the same moment, each on its own connection; the answers in order."""
    clients = [httpx.Client(base_url=base, timeout=60) for _ in calls]
    for cl in clients:  # open the connections first, so the barrier releases only the POSTs
        cl.get("/healthz")
    barrier = threading.Barrier(len(calls))
    out: list[httpx.Response | None] = [None] * len(calls)

    def run(i: int) -> None:
        h, path, body = calls[i]
        barrier.wait()
        out[i] = clients[i].post(path, json=body, headers=h)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(calls))]
    for th in threads:
        th.start()
    for th in threads:
        th.join(60)
    for cl in clients:
        cl.close()
    assert all(r is not None for r in out)
    return out  # type: ignore[return-value]


# ------------------------------------------------------------------ lost updates


def test_two_officials_changing_one_status_at_once_exactly_one_wins(platform, live):
    """self_assessed: the administrator (two sessions) says pre_accepted and returned at the same
    moment; planned: the administrator and the district officer both say building. Each pair has
    one 200 and one 409 naming the winner's status; the circle ends as the winner says."""
    admin1, admin2, officer = token(live, "admin"), token(live, "admin"), token(live, "xiling")
    path = f"/api/circles/{XL}/status"
    tally: Counter[str] = Counter()
    for i in range(PAIRS * 2):
        if i % 2 == 0:
            start, calls = (
                "self_assessed",
                [
                    (admin1, path, {"status": "pre_accepted", "from": "self_assessed"}),
                    (admin2, path, {"status": "returned", "from": "self_assessed"}),
                ],
            )
        else:
            start, calls = (
                "planned",
                [
                    (admin1, path, {"status": "building", "from": "planned"}),
                    (officer, path, {"status": "building", "from": "planned"}),
                ],
            )
        set_status(platform, XL, start)
        before = n_history(platform, XL)
        answers = together(live, calls)
        codes = sorted(r.status_code for r in answers)
        assert codes == [200, 409], [(r.status_code, r.text) for r in answers]
        won = next(r for r in answers if r.status_code == 200).json()["status"]
        lost = next(r for r in answers if r.status_code == 409).json()
        assert lost["current"] == won and won in lost["detail"], lost
        assert status_of(platform, XL) == won
        assert n_history(platform, XL) == before + 1
        tally["winners"] += 1
        tally["409"] += 1
    print(
        f"\ncontested status pairs on {platform.url.split(':')[0]}: {PAIRS * 2}, "
        f"winners {tally['winners']}, 409s {tally['409']}"
    )


def test_a_status_change_from_a_status_no_longer_current_is_409(platform):
    """Sequentially too: a sender who saw an older status is told what it is now."""
    c, a = platform.client, platform.h("admin")
    set_status(platform, XL, "self_assessed")
    r = c.post(f"/api/circles/{XL}/status", json={"status": "pre_accepted", "from": "self_assessed"}, headers=a)
    assert r.status_code == 200
    late = c.post(f"/api/circles/{XL}/status", json={"status": "returned", "from": "self_assessed"}, headers=a)
    assert late.status_code == 409 and late.json()["current"] == "pre_accepted"
    assert "pre_accepted" in late.json()["detail"] and "已被他人改为" in late.json()["detail"]
    assert status_of(platform, XL) == "pre_accepted"
    en = c.post(f"/api/circles/{XL}/status?lang=en", json={"status": "returned", "from": "building"}, headers=a)
    assert en.status_code == 409 and "no longer building" in en.json()["detail"]


def test_the_status_form_carries_the_status_seen_and_answers_409_when_it_moved_on(platform):
    from .test_pages import csrf_of, page_login

    c = platform.client
    set_status(platform, XL, "planned")
    page_login(c, "xiling")
    page = c.get(f"/circles/{XL}")
    assert 'name="from" value="planned"' in page.text
    set_status(platform, XL, "building")  # someone else moved it meanwhile
    r = c.post(
        f"/circles/{XL}/status", data={"status": "building", "from": "planned", "csrf_token": csrf_of(page.text)}
    )
    assert r.status_code == 409 and "building" in r.text
    assert n_history(platform, XL) == 1  # only the seed's "created"


# ------------------------------------------------------------------ duplicate creations


def _duplicates(
    live: str, calls: list[tuple[dict[str, str], str, dict]], count: Callable[[], int], expect_rows: int
) -> Counter[int]:
    answers = together(live, calls)
    codes = Counter(r.status_code for r in answers)
    assert codes[201] == 1 and codes[409] + codes[422] == 1, [(r.status_code, r.text) for r in answers]
    loser = next(r for r in answers if r.status_code != 201)
    if loser.status_code == 409:  # in the sender's language (the second call asks for English)
        english = "lang=en" in str(loser.request.url)
        assert ("duplicate" if english else "重复") in loser.json()["detail"], loser.text
    assert count() == expect_rows
    return codes


def test_identical_creations_at_once_are_one_201_and_a_409_never_500(platform, live):
    admin = token(live, "admin")
    officer = token(live, "xiling")
    tally: Counter[int] = Counter()
    rep = httpx.post(f"{live}/api/reports", json={"district": "420502", "period": "2024H1"}, headers=officer)
    assert rep.status_code == 201
    rid = rep.json()["id"]

    def versions() -> int:
        with transaction(platform.factory()) as s:
            return s.scalar(select(func.count(DistrictReportVersion.id)).where(DistrictReportVersion.report_id == rid))

    for i in range(PAIRS):
        body = {"body": f"# 报告 {i}\n修改"}
        before = versions()
        answers = together(
            live, [(officer, f"/api/reports/{rid}/versions", body), (admin, f"/api/reports/{rid}/versions", body)]
        )
        codes = sorted(r.status_code for r in answers)
        assert codes in ([201, 201], [201, 409]), [(r.status_code, r.text) for r in answers]
        assert versions() == before + codes.count(201)
        tally.update(codes)
    for i in range(PAIRS):
        period = f"20{30 + i}H1"

        def surveys(period: str = period) -> int:
            with transaction(platform.factory()) as s:
                return s.scalar(select(func.count(SurveyCampaign.id)).where(SurveyCampaign.period == period))

        body = {"period": period, "respondents": 100, "satisfied": 95}
        tally.update(
            _duplicates(
                live,
                [(officer, f"/api/circles/{XL}/surveys", body), (admin, f"/api/circles/{XL}/surveys?lang=en", body)],
                surveys,
                1,
            )
        )
    for i in range(PAIRS):
        name = f"twin{i}"

        def users(name: str = name) -> int:
            with transaction(platform.factory()) as s:
                return s.scalar(select(func.count(User.id)).where(User.username == name))

        body = {"username": name, "password": "a-long-enough-password", "role": "leader"}
        tally.update(_duplicates(live, [(admin, "/api/users", body), (admin, "/api/users?lang=en", body)], users, 1))
    assert tally[500] == 0
    print(f"\nidentical creations on {platform.url.split(':')[0]}: {dict(tally)}")
    # the server still answers on a kept-alive connection after all that
    with httpx.Client(base_url=live) as cl:
        assert cl.get("/api/me", headers=admin).status_code == 200
        assert cl.get("/api/me", headers=admin).status_code == 200


# ------------------------------------------------------------------ hostile input


def test_ids_beyond_the_columns_range_are_422(platform):
    from .test_pages import page_login

    c = platform.client
    wrong = []
    for path in ["/api/reports/{n}", "/api/evidence/{n}", "/reports/{n}"]:
        for n in [2**31, 2**63, 2**64, 0, -1]:
            if path.startswith("/api"):
                r = c.get(path.format(n=n), headers=platform.h("admin"))
            else:
                page_login(c, "admin")
                r = c.get(path.format(n=n))
            if r.status_code != 422:
                wrong.append((path, n, r.status_code, r.text[:300]))
    assert not wrong, wrong


def test_ids_beyond_range_in_forms_and_writes_are_422(platform):
    from .test_pages import csrf_of, page_login

    c = platform.client
    a = platform.h("admin")
    assert (
        c.post(f"/api/surveys/{2**63}/results", json={"respondents": 10, "satisfied": 9}, headers=a).status_code == 422
    )
    assert c.post(f"/api/reports/{2**64}/versions", json={"body": "x"}, headers=a).status_code == 422
    page_login(c, "admin")
    token = csrf_of(c.get("/users").text)
    for form in ("active", "password", "role"):
        r = c.post(f"/users/{2**63}/{form}", data={"csrf_token": token, "active": "true", "role": "leader"})
        assert r.status_code == 422, (form, r.status_code)
    assert c.get("/api/reports/2147483647", headers=a).status_code == 404  # the largest id is a normal miss


@pytest.mark.parametrize("ch", ["\x00", "\x01", "\x1b", "\x7f"])
def test_control_characters_are_422_everywhere_text_comes_in(platform, ch):
    c, a = platform.client, platform.h("admin")
    set_status(platform, XL, "planned")
    q = quote(ch)  # in a URL the character travels percent-encoded
    r = c.post("/api/login", json={"username": f"admin{ch}", "password": PASSWORD})
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "username"]
    r = c.post(
        "/api/users",
        json={"username": "n", "password": "a-long-enough-password", "role": "leader", "display_name": f"x{ch}y"},
        headers=a,
    )
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "display_name"]
    r = c.post(f"/api/circles/{XL}/scorecards", json={"as_of": "2024-01-01", "indicators": {f"k{ch}": 1}}, headers=a)
    assert r.status_code == 422
    assert c.get(f"/api/circles?district=420502{q}", headers=a).status_code == 422
    r = c.get(f"/api/circles/{XL}{q}", headers=a)
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["path", "circle_id"]
    assert c.get(f"/api/audit?entity_id=x{q}", headers=a).status_code == 422
    assert c.get(f"/api/satisfaction?circle_id={XL}{q}", headers=a).status_code == 422
    assert (
        c.post(f"/api/circles/{XL}/status", json={"status": "building", "note": f"a{ch}"}, headers=a).status_code == 422
    )
    # a file name with the raw character (httpx would percent-encode it, a hostile client need not)
    raw = (
        b'--B\r\nContent-Disposition: form-data; name="file"; filename="a' + ch.encode() + b'.png"\r\n'
        b"Content-Type: image/png\r\n\r\n\x89PNG\r\n\x1a\n\x00\x00\r\n--B--\r\n"
    )
    r = c.post(
        f"/api/circles/{XL}/evidence", content=raw, headers=a | {"Content-Type": "multipart/form-data; boundary=B"}
    )
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "file", "filename"], r.text
    assert status_of(platform, XL) == "planned"
    # forms: the login page and a circle page's form
    from .test_pages import csrf_of, page_login

    login = c.get("/login")
    r = c.post("/login", data={"username": f"admin{ch}", "password": PASSWORD, "csrf_token": csrf_of(login.text)})
    assert r.status_code == 422
    page_login(c, "admin")
    r = c.post(
        f"/circles/{XL}/funds",
        data={
            "kind": "fund",
            "amount_yuan": "100",
            "date": "2024-01-01",
            "source": f"s{ch}",
            "csrf_token": csrf_of(c.get(f"/circles/{XL}").text),
        },
    )
    assert r.status_code == 422


def test_newlines_and_tabs_stay_allowed_in_text_bodies(platform):
    c = platform.client
    set_status(platform, XL, "planned")
    r = c.post(
        f"/api/circles/{XL}/status",
        json={"status": "building", "note": "第一行\n第二行\t完"},
        headers=platform.h("xiling"),
    )
    assert r.status_code == 200, r.text


def test_an_empty_district_is_no_district_not_a_500(platform):
    c, a = platform.client, platform.h("admin")
    r = c.post(
        "/api/users",
        json={"username": "lead2", "password": "a-long-enough-password", "role": "leader", "district": ""},
        headers=a,
    )
    assert r.status_code == 201 and r.json()["district"] is None
    r = c.post(
        "/api/users",
        json={"username": "off2", "password": "a-long-enough-password", "role": "district_officer", "district": ""},
        headers=a,
    )
    assert r.status_code == 422 and [d["loc"][-1] for d in r.json()["detail"]] == ["district"]
    both = c.get("/api/satisfaction?circle_id=&district=", headers=a)
    assert both.status_code == 200 and both.json() == c.get("/api/satisfaction", headers=a).json()


BAD_SCORECARD_VALUES = [
    ("basic_coverage", "abc"),
    ("basic_coverage", 1.5),
    ("chain_share", -0.1),
    ("satisfaction", [0.9]),
    ("basic_coverage", True),
    ("n_outlets", 2.5),
    ("n_outlets", -1),
    ("population", "many"),
    ("quality_formats_present", 6.5),
    ("service_area_per_100hh", -3),
    ("service_area_per_100hh", "x"),
    ("grade_code", "gold"),
    ("grade_reasons", {"a": 1}),
    ("gaps", 3),
]


def test_badly_typed_scorecards_are_422_naming_the_field_and_the_page_stays_up(platform):
    c, a = platform.client, platform.h("admin")
    for key, value in BAD_SCORECARD_VALUES:
        r = c.post(f"/api/circles/{XL}/scorecards", json={"as_of": "2024-01-01", "indicators": {key: value}}, headers=a)
        assert r.status_code == 422, (key, value, r.text)
        assert [d["loc"][-1] for d in r.json()["detail"]] == [f"indicators.{key}"], (key, value)
    assert c.get(f"/api/circles/{XL}/scorecards", headers=a).json() == []


def test_a_well_typed_scorecard_is_stored_and_shown(platform):
    from .test_pages import page_login

    c, a = platform.client, platform.h("admin")
    card = {
        "basic_coverage": 0.75,
        "basic_completeness": 1,
        "chain_share": None,
        "n_outlets": 12,
        "population": 5000,
        "quality_formats_present": 6,
        "service_area_per_100hh": 31.5,
        "grade_reasons": "全部满足",
        "gaps": "repair;breakfast",
        "n_communities_on_islands": 0,
        "extra": "kept",
    }
    r = c.post(f"/api/circles/{XL}/scorecards", json={"as_of": "2024-01-01", "indicators": card}, headers=a)
    assert r.status_code == 201, r.text
    page_login(c, "xiling")
    page = c.get(f"/circles/{XL}")
    assert page.status_code == 200 and "75.0%" in page.text


def test_a_scorecard_nested_too_deeply_is_422_not_a_recursion_error(platform):
    c, a = platform.client, platform.h("admin")
    for depth in (9, 900):
        body = '{"as_of": "2024-01-01", "indicators": {"x": ' + "[" * depth + "]" * depth + "}}"
        r = c.post(f"/api/circles/{XL}/scorecards", content=body, headers=a | {"Content-Type": "application/json"})
        assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "indicators.x"], (depth, r.text[:200])
    ok = c.post(
        f"/api/circles/{XL}/scorecards", json={"as_of": "2024-01-01", "indicators": {"x": [[1, 2], [3]]}}, headers=a
    )
    assert ok.status_code == 201
