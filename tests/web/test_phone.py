"""Issue 10 item 5 (phones): every page at 390 × 844 for every role — no sideways scroll
(``scrollWidth <= innerWidth``), the navigation reachable through the menu button, the name and
退出 reachable; no CSP violation in the console; screenshots in ``test-artifacts/phone-*.png``."""

from __future__ import annotations

from sqlalchemy import select

from .conftest import PASSWORD
from .test_browser import ARGS, ARTIFACTS, CHROMIUM, server  # noqa: F401  (the server fixture)

ROLES = {  # user → the pages beyond the common ones
    "admin": ["/audit", "/users", "/audit?action=circle.status", "/outlets", "/filings"],
    "leader": ["/audit"],
    "xiling": ["/env-issues", "/outlets", "/filings"],
    "evaluator": [],
}
COMMON = ["/dashboard", "/circles", "/map", "/reports", "/no-such-page"]


def _no_sideways_scroll(page) -> tuple[int, int]:
    return page.evaluate("() => [document.documentElement.scrollWidth, window.innerWidth]")


def test_every_page_fits_a_390px_phone_for_every_role(server):  # noqa: F811
    from playwright.sync_api import sync_playwright

    from lifecircle.platform.db import Circle, DistrictReport, User, transaction
    from lifecircle.platform.service import create_report

    base, app = server
    with transaction(app.state.factory) as s:
        cid = s.scalars(select(Circle).where(Circle.district == "420502").order_by(Circle.id)).first().id
        rep = s.scalars(select(DistrictReport).where(DistrictReport.district == "420502")).first()
        if rep is None:
            admin = s.scalars(select(User).where(User.username == "admin")).one()
            rep = create_report(s, admin, app.state.prog, "420502", "2025Q4")
        rid = rep.id
    ARTIFACTS.mkdir(exist_ok=True)
    problems: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        ctx = browser.new_context(
            viewport={"width": 390, "height": 844},
            locale="zh-CN",
            device_scale_factor=1,
            is_mobile=True,
            has_touch=True,
        )
        page = ctx.new_page()
        console: list[str] = []
        page.on("console", lambda m: console.append(m.text) if m.type == "error" else None)
        page.goto(f"{base}/login")
        w, iw = _no_sideways_scroll(page)
        assert w <= iw, ("/login", w, iw)
        page.screenshot(path=str(ARTIFACTS / "phone-login.png"), full_page=True)
        for user, extra in ROLES.items():
            ctx.clear_cookies()
            page.goto(f"{base}/login")
            page.fill("#username", user)
            page.fill("#password", PASSWORD)
            page.click("form button[type=submit]")
            page.wait_for_url(f"{base}/dashboard")
            pages = COMMON + [f"/circles/{cid}", f"/circles/{cid}/governance"] + [f"/reports/{rid}"] + extra
            for path in pages:
                page.goto(f"{base}{path}")
                if path == "/map":
                    page.wait_for_selector("#map[data-ready='1']", timeout=20_000)
                w, iw = _no_sideways_scroll(page)
                if w > iw:
                    problems.append(f"{user} {path}: scrollWidth {w} > innerWidth {iw}")
                # the menu is closed: the navigation is hidden until the menu button is pressed
                nav = page.locator("header nav a[href='/circles']")
                assert not nav.is_visible(), (user, path)
                page.click("#nav-button")
                assert nav.is_visible(), (user, path)
                assert page.locator("header .me button[type=submit]").is_visible(), (user, path)  # 退出
                box = page.locator("header .me button[type=submit]").bounding_box()
                assert box["x"] >= 0 and box["x"] + box["width"] <= iw, (user, path, box)
                w2, _ = _no_sideways_scroll(page)
                if w2 > iw:
                    problems.append(f"{user} {path} (menu open): scrollWidth {w2} > {iw}")
                name = path.strip("/").replace("/", "-").replace("?", "-").replace("=", "-") or "root"
                page.screenshot(path=str(ARTIFACTS / f"phone-{user}-{name}.png"), full_page=True)
                page.click("#nav-button")
            # a table wider than the phone scrolls inside its card, not the page
            page.goto(f"{base}/dashboard")
            tw = page.evaluate(
                "() => { const e = document.querySelector('.tw'); return [e.scrollWidth, e.clientWidth]; }"
            )
            assert tw[0] > tw[1], "the district table should be wider than the phone and scroll inside its card"
        browser.close()
    assert not problems, problems
    csp = [m for m in console if "Content Security Policy" in m]
    assert not csp, csp


def test_swagger_ui_works_offline_under_the_csp(server):  # noqa: F811
    from playwright.sync_api import sync_playwright

    base, _ = server
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        errors: list[str] = []
        outside: list[str] = []
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.on(
            "request",
            lambda r: outside.append(r.url) if not r.url.startswith(base) and not r.url.startswith("data:") else None,
        )
        page.goto(f"{base}/api/docs")
        page.wait_for_selector(".swagger-ui .info .title", timeout=20_000)
        assert "lifecircle" in page.locator(".swagger-ui .info .title").inner_text()
        assert page.locator(".opblock").count() > 10
        page.screenshot(path=str(ARTIFACTS / "api-docs.png"))
        browser.close()
    assert not outside, outside
    assert not [e for e in errors if "Content Security Policy" in e], errors
