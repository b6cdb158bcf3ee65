"""The audit log page: Chinese action names and fields (no raw JSON or English codes), local time
(LIFECIRCLE_TIMEZONE, default Asia/Shanghai), filters by user, action, circle and date, paging."""

from __future__ import annotations

import datetime as dt
import re

from sqlalchemy import select

from lifecircle.platform.db import AuditLog, transaction

from .test_pages import XL, csrf_of, page_login


def _change_status(c, to: str) -> None:
    page = c.get(f"/circles/{XL}")
    r = c.post(f"/circles/{XL}/status", data={"status": to, "csrf_token": csrf_of(page.text)}, follow_redirects=False)
    assert r.status_code == 303


def _rows(html: str) -> list[str]:
    body = re.search(r'<table class="stack" id="audit-table">.*?<tbody>(.*?)</tbody>', html, re.S).group(1)
    return re.findall(r"<tr>(.*?)</tr>", body, re.S)


def test_audit_page_in_chinese_with_local_time(platform):
    c = platform.client
    with transaction(platform.factory()) as s:
        from lifecircle.platform.db import Circle

        s.get(Circle, XL).status = "planned"
    page_login(c, "xiling")
    _change_status(c, "building")
    with transaction(platform.factory()) as s:  # pin the time: 2025-03-01 20:30 UTC = 03-02 04:30 in Shanghai
        last = s.scalars(select(AuditLog).where(AuditLog.entity == "circle", AuditLog.action == "status")).one()
        last.at = dt.datetime(2025, 3, 1, 20, 30, 5)
    c.cookies.clear()
    page_login(c, "admin")
    html = c.get("/audit", params={"action": "circle.status"}).text
    rows = _rows(html)
    assert len(rows) == 1
    row = rows[0]
    assert "变更生活圈状态" in row and "状态：规划中 → 建设中" in row and "2025-03-02 04:30:05" in row
    assert ">status<" not in row and "{" not in row and "planned" not in row
    assert "北京时间" in html


def test_audit_filters_and_paging(platform):
    c = platform.client
    page_login(c, "xiling")
    for st in ("building", "self_assessed"):
        with transaction(platform.factory()) as s:
            from lifecircle.platform.db import Circle

            s.get(Circle, XL).status = "planned" if st == "building" else "building"
        _change_status(c, st)
    c.cookies.clear()
    page_login(c, "admin")
    # filter by user and action
    html = c.get("/audit", params={"user": "xiling", "action": "circle.status"}).text
    assert len(_rows(html)) == 2
    assert len(_rows(c.get("/audit", params={"user": "admin", "action": "circle.status"}).text)) == 0
    # by circle: its status rows (and no other circle's)
    html = c.get("/audit", params={"circle": XL, "action": "circle.status"}).text
    assert len(_rows(html)) == 2
    assert len(_rows(c.get("/audit", params={"circle": "420502-P2", "action": "circle.status"}).text)) == 0
    # by date (local days): move one row to 2024-06-01 10:00 UTC
    with transaction(platform.factory()) as s:
        first = s.scalars(select(AuditLog).where(AuditLog.action == "status").order_by(AuditLog.id)).first()
        first.at = dt.datetime(2024, 6, 1, 10, 0)
    html = c.get("/audit", params={"from": "2024-06-01", "to": "2024-06-01"}).text
    assert len(_rows(html)) == 1 and "2024-06-01 18:00:00" in html
    assert len(_rows(c.get("/audit", params={"from": "2024-06-02", "to": "2024-06-30"}).text)) == 0
    bad = c.get("/audit", params={"from": "yesterday"})
    assert bad.status_code == 422 and "YYYY-MM-DD" in bad.text
    # paging: 50 a page, newest first, filters kept in the links
    with transaction(platform.factory()) as s:
        total = s.query(AuditLog).count()
        for i in range(150 - total):
            s.add(
                AuditLog(
                    at=dt.datetime(2024, 1, 1), username="bulk", action="login", entity="session", entity_id=str(i)
                )
            )
    p1 = c.get("/audit").text
    assert "共 150 条" in p1 and len(_rows(p1)) == 50 and "第 1 / 3 页" in p1
    assert 'href="/audit?page=2"' in p1 and 'rel="prev"' not in p1
    p3 = c.get("/audit", params={"page": 3}).text
    assert len(_rows(p3)) == 50 and 'rel="next"' not in p3
    assert len(set(_rows(p1))) == 50 and not (set(_rows(p1)) & set(_rows(p3)))  # different rows
    assert any("bulk" in r for r in _rows(p1)) and not any("bulk" in r for r in _rows(p3))  # newest first
    pu = c.get("/audit", params={"user": "bulk"}).text
    assert "page=2" in pu and "user=bulk&amp;page=2" in pu


def test_audit_page_stays_for_admin_and_leader_only(platform):
    c = platform.client
    page_login(c, "xiling")
    assert c.get("/audit").status_code == 403
    c.cookies.clear()
    page_login(c, "leader")
    assert c.get("/audit").status_code == 200
