"""District reports rendered on their page and exported (PDF through headless Chromium, Word
through python-docx), computed as of the report's period."""

from __future__ import annotations

import datetime as dt
import io
import shutil

import pytest
from sqlalchemy import select

from lifecircle.platform.db import Circle, StatusChange, transaction
from lifecircle.web.report_doc import parse

from .conftest import IN_CI
from .test_pages import XL, csrf_of, page_login

PERIOD = str(dt.date.today().year)


def _make_report(c, period: str = PERIOD) -> str:
    page = c.get("/reports")
    r = c.post(
        "/reports",
        data={"district": "420502", "period": period, "csrf_token": csrf_of(page.text)},
        follow_redirects=False,
    )
    assert r.status_code == 303, r.text
    return r.headers["location"]


def test_report_page_renders_the_text(platform):
    c = platform.client
    page_login(c, "xiling")
    url = _make_report(c)
    html = c.get(url).text
    rendered = html.split('id="report-rendered"')[1].split("</div>\n")[0]
    assert (
        "<h1>西陵区一刻钟便民生活圈建设进展报告" in rendered and "<table>" in rendered and "<th>编号</th>" in rendered
    )
    assert "| 编号 |" not in rendered and "# " not in rendered
    assert 'href="' + url + '/export.pdf"' in html and 'href="' + url + '/export.docx"' in html
    # an edited text with markup is shown as text, never run
    edit = c.post(
        url,
        data={
            "body": "# 标题\n<script>alert(1)</script>\n| a | b |\n|---|---|\n| <b>x</b> | y |",
            "csrf_token": csrf_of(html),
        },
        follow_redirects=False,
    )
    assert edit.status_code == 303
    html = c.get(url).text
    assert "<script>alert(1)</script>" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "<td>&lt;b&gt;x&lt;/b&gt;</td>" in html


def test_word_export_opens_with_python_docx(platform):
    docx = pytest.importorskip("docx")
    c = platform.client
    page_login(c, "xiling")
    url = _make_report(c)
    r = c.get(f"{url}/export.docx")
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/vnd.openxmlformats")
    assert "attachment" in r.headers["content-disposition"] and ".docx" in r.headers["content-disposition"]
    doc = docx.Document(io.BytesIO(r.content))
    title = f"西陵区一刻钟便民生活圈建设进展报告（{PERIOD}）"
    assert doc.core_properties.title == title
    assert any(p.text == title and p.style.name.startswith("Heading") for p in doc.paragraphs)
    assert doc.tables and doc.tables[0].cell(0, 0).text == "编号"
    assert XL in [row.cells[0].text for row in doc.tables[0].rows]
    # another district's officer cannot export it
    c.cookies.clear()
    page_login(c, "wujiagang")
    assert c.get(f"{url}/export.docx").status_code == 403


def test_pdf_export(platform):
    if shutil.which("chromium") is None:
        if IN_CI:
            pytest.fail("chromium is missing")
        pytest.skip("chromium not installed")
    c2 = platform.client
    page_login(c2, "xiling")
    url = _make_report(c2)
    r = c2.get(f"{url}/export.pdf")
    assert r.status_code == 200 and r.headers["content-type"] == "application/pdf"
    assert r.content[:5] == b"%PDF-" and len(r.content) > 5000


def test_report_is_computed_as_of_its_period(platform):
    c = platform.client
    with transaction(platform.factory()) as s:
        for ch in s.scalars(select(StatusChange).join(Circle).where(Circle.district == "420502")):
            ch.at = dt.datetime(2024, 1, 10)  # registered early in 2024
            if ch.circle_id == XL:
                ch.to_status = "planned"
        s.get(Circle, XL).status = "planned"
    page_login(c, "xiling")
    page = c.get(f"/circles/{XL}")
    assert (
        c.post(
            f"/circles/{XL}/status",
            data={"status": "building", "csrf_token": csrf_of(page.text)},
            follow_redirects=False,
        ).status_code
        == 303
    )
    with transaction(platform.factory()) as s:  # the change happened in 2025
        ch = s.scalars(
            select(StatusChange).where(StatusChange.circle_id == XL).order_by(StatusChange.id.desc())
        ).first()
        ch.at = dt.datetime(2025, 2, 1)
    old = c.get(_make_report(c, "2024Q4")).text
    row_2024 = next(b for b in parse(old.split('name="body">')[1].split("</textarea>")[0]) if b.kind == "table")
    assert "截至 2024-12-31" in old
    assert [r[3] for r in row_2024.rows if r[0] == XL] == ["规划中"]
    new = c.get(_make_report(c, "2025Q1")).text
    row_2025 = next(b for b in parse(new.split('name="body">')[1].split("</textarea>")[0]) if b.kind == "table")
    assert "截至 2025-03-31" in new and [r[3] for r in row_2025.rows if r[0] == XL] == ["建设中"]
    # a period before anything was registered: nothing registered yet
    early = c.get(_make_report(c, "2023")).text
    assert "已录入 0 个" in early and "合成数据" in early  # still marked synthetic
