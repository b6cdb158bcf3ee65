"""Browser test of supervision (M10), as test_browser.py (its server fixture, Debian's chromium):
the inspector signs in, opens /supervision, generates its plan, records an inspection with a
finding and sees it in the list — at desktop size and at 390 × 844 (no sideways scroll);
screenshots go to ``test-artifacts/``."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from .conftest import PASSWORD
from .test_browser import ARGS, ARTIFACTS, CHROMIUM, server  # noqa: F401  (the server fixture)


def _inspector_password(app) -> None:
    from lifecircle.platform.auth import hash_password
    from lifecircle.platform.db import User, transaction

    with transaction(app.state.factory) as s:
        u = s.scalars(select(User).where(User.username == "inspector")).one()
        u.password_hash = hash_password(PASSWORD, app.state.settings)


@pytest.mark.parametrize(
    ("label", "viewport"),
    [("desktop", {"width": 1366, "height": 900}), ("phone", {"width": 390, "height": 844})],
)
def test_inspector_records_an_inspection_with_a_finding(server, label, viewport):  # noqa: F811
    from playwright.sync_api import sync_playwright

    from lifecircle.platform.db import transaction
    from lifecircle.platform.db_operations import Inspection

    base, app = server
    _inspector_password(app)
    finding = f"浏览器测试：价签缺失（{label}）"
    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        phone = label == "phone"
        ctx = browser.new_context(
            viewport=viewport, locale="zh-CN", device_scale_factor=1, is_mobile=phone, has_touch=phone
        )
        page = ctx.new_page()
        errors: list[str] = []
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.goto(f"{base}/supervision")
        assert "/login" in page.url
        page.fill("#username", "inspector")
        page.fill("#password", PASSWORD)
        page.click("button[type=submit]")
        page.wait_for_url(lambda u: "/login" not in u)  # back to /supervision (or the dashboard)
        page.goto(f"{base}/supervision")
        assert page.locator("h1").first.inner_text().startswith("信用分级监管检查")
        if page.locator("#outlet_id option").count() == 0:
            page.click("#plan-form button[type=submit]")
            page.wait_for_load_state()
        assert page.locator("#outlet_id option").count() > 0
        outlet = page.locator("#outlet_id option").first.get_attribute("value")
        page.select_option("#outlet_id", outlet)
        page.select_option("#item-price_publicity", "minor")
        page.fill("#findings", finding)
        page.click("#inspection-form button[type=submit]")
        page.wait_for_load_state()
        assert "检查记录已保存" in page.locator(".msg").inner_text()
        assert page.locator("#inspections td.findings", has_text=finding).count() == 1
        w, iw = page.evaluate("() => [document.documentElement.scrollWidth, window.innerWidth]")
        assert w <= iw, (label, w, iw)
        page.screenshot(path=str(ARTIFACTS / f"supervision-{label}.png"), full_page=True)
        assert not [e for e in errors if "Content Security Policy" in e], errors
        browser.close()
    with transaction(app.state.factory) as s:
        row = s.scalars(select(Inspection).where(Inspection.findings == finding)).one()
        assert (row.outlet_id, row.price_publicity, row.result) == (outlet, "minor", "minor")
