"""Contradicting records flagged on the circle page and the dashboard: accepted but graded below
基础型, and a scorecard older than the last status change."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import delete

from lifecircle.platform.db import Circle, Scorecard, transaction

from .test_pages import XL, page_login


def _set(platform, status: str, grade: str, as_of: dt.date, changed: dt.datetime) -> None:
    with transaction(platform.factory()) as s:
        s.execute(delete(Scorecard).where(Scorecard.circle_id == XL))
        c = s.get(Circle, XL)
        c.status, c.status_changed_at = status, changed
        s.add(Scorecard(circle_id=XL, as_of=as_of, indicators={}, grade_code=grade, synthetic=True))


def test_accepted_but_below_basic_is_flagged(platform):
    c = platform.client
    _set(platform, "accepted", "none", dt.date(2025, 6, 1), dt.datetime(2025, 5, 1))
    page_login(c)
    page = c.get(f"/circles/{XL}").text
    assert page.count('class="flag contradiction"') == 1 and "已验收，但最新评估表等级为未达标" in page
    dash = c.get("/dashboard").text
    assert 'id="contradictions"' in dash and f'href="/circles/{XL}"' in dash.split('id="contradictions"')[1]
    api = c.get("/api/dashboard").json()
    assert [x["circle_id"] for x in api["contradictions"]] == [XL]


def test_scorecard_older_than_the_status_change_is_flagged(platform):
    c = platform.client
    _set(platform, "building", "basic", dt.date(2025, 1, 1), dt.datetime(2025, 3, 2, 8))
    page_login(c)
    page = c.get(f"/circles/{XL}").text
    assert "评估表（2025-01-01）早于最近一次状态变更（2025-03-02）" in page
    assert "已验收，但" not in page


def test_consistent_records_are_not_flagged(platform):
    c = platform.client
    _set(platform, "accepted", "basic", dt.date(2025, 6, 1), dt.datetime(2025, 5, 1))
    page_login(c)
    assert 'class="flag contradiction"' not in c.get(f"/circles/{XL}").text
    assert XL not in [x["circle_id"] for x in c.get("/api/dashboard").json()["contradictions"]]
