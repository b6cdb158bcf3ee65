"""Browser test (issue 11): a merchant files a shop on the filings page, the district officer accepts
it, and the circle page's live card moves on screen without a reload — at desktop size and on a
390 × 844 phone. Playwright drives Debian's chromium against a real uvicorn server; screenshots go
to ``test-artifacts/``."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from lifecircle.platform.db import transaction
from lifecircle.platform.db_operations import Filing, Outlet

from .browser import ARGS, ARTIFACTS, CHROMIUM, require_chromium, served
from .conftest import ACCOUNTS, PASSWORD

CIRCLE = "XL-01"


@pytest.fixture(scope="module")
def live_server(tmp_path_factory):
    """The app on the small demo city (its outlets are the registry), served by uvicorn in a thread."""
    require_chromium()
    from lifecircle.platform.seed import seed_demo
    from lifecircle.web.app import create_app

    from .conftest import make_settings

    tmp = tmp_path_factory.mktemp("browser-filing")
    settings = make_settings(f"sqlite:///{tmp / 'p.db'}", tmp)
    app = create_app(settings)
    seed_demo(app.state.factory, settings, app.state.prog, scale=0.05, passwords=dict.fromkeys(ACCOUNTS, PASSWORD))
    app.state.live.start()
    with served(app) as base:
        app.state.live.engine(wait_s=60)  # built before the browser asks
        yield base, app
    app.state.engine.dispose()


def sign_in(page, base: str, user: str) -> None:
    page.context.clear_cookies()
    page.goto(f"{base}/login")
    page.fill("#username", user)
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_load_state()


def uncovered_spot(app) -> tuple[str, float, float]:
    """A format nobody in the circle reaches yet, and the circle's most populous community."""
    engine = app.state.live.engine()
    cov = engine.circle(CIRCLE)["coverage"]
    basic = {f.code for f in engine.profile.formats if f.cls == "basic"}
    fmt = sorted(f for f, v in cov.items() if v == 0.0 and f in basic)[0]
    comm = engine.city.communities
    top = comm[comm["circle_id"] == CIRCLE].sort_values("population", ascending=False).iloc[0]
    return fmt, float(top["lon"]) + 0.0001, float(top["lat"])


@pytest.mark.parametrize("size", ["desktop", "phone"])
def test_merchant_files_district_accepts_and_the_live_card_moves(live_server, size):
    from playwright.sync_api import sync_playwright

    base, app = live_server
    fmt, lon, lat = uncovered_spot(app)
    name = f"浏览器测试网点-{size}"
    viewport = {"width": 1366, "height": 900} if size == "desktop" else {"width": 390, "height": 844}
    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        context = browser.new_context(viewport=viewport, locale="zh-CN", is_mobile=size == "phone")
        officer = context.new_page()
        # the district officer watches the circle's live card
        sign_in(officer, base, "xiling")
        officer.goto(f"{base}/circles/{CIRCLE}")
        officer.click("#live-card summary")
        cell = officer.locator(f'#live-coverage tr[data-format="{fmt}"] .live-share')
        assert cell.inner_text() == "0.0%"
        before_time = officer.locator("#live-as-of").inner_text()

        # the merchant files the shop (its own browser)
        merchant_ctx = browser.new_context(viewport=viewport, locale="zh-CN", is_mobile=size == "phone")
        merchant = merchant_ctx.new_page()
        sign_in(merchant, base, "merchant")
        merchant.goto(f"{base}/filings")
        form = merchant.locator("form[action='/filings'][enctype='multipart/form-data']")
        form.locator("input[name=name]").fill(name)
        form.locator(f"input[name=formats][value={fmt}]").check()
        form.locator("input[name=lon]").fill(str(lon))
        form.locator("input[name=lat]").fill(str(lat))
        form.locator("select[name=crs]").select_option("wgs84")
        form.locator("input[name=commitment_accepted]").check()
        form.locator("button[type=submit]").click()
        merchant.wait_for_load_state()
        merchant.screenshot(path=str(ARTIFACTS / f"filing-merchant-{size}.png"), full_page=True)
        with transaction(app.state.factory) as s:
            outlet = s.scalar(select(Outlet).where(Outlet.name == name))
            assert outlet is not None and outlet.status == "pending"
            filing = s.scalar(select(Filing).where(Filing.outlet_id == outlet.id))
            fid = filing.id
        assert cell.inner_text() == "0.0%"  # a pending filing opens nothing

        # the district officer accepts it on the filings page
        review_ctx = browser.new_context(viewport=viewport, locale="zh-CN", is_mobile=size == "phone")
        review = review_ctx.new_page()
        sign_in(review, base, "xiling")
        review.goto(f"{base}/filings")
        review.locator(f"form[action='/filings/{fid}/accept'] button[type=submit]").click()
        review.wait_for_load_state()
        review.screenshot(path=str(ARTIFACTS / f"filing-accepted-{size}.png"), full_page=True)

        # the circle page (not reloaded) shows the new coverage within its 5-second poll
        officer.wait_for_function(
            f"""() => {{
                const c = document.querySelector('#live-coverage tr[data-format="{fmt}"] .live-share');
                return c && c.textContent.trim() !== '0.0%';
            }}""",
            timeout=15_000,
        )
        assert re.fullmatch(r"\d+\.\d%", cell.inner_text()) and cell.inner_text() != "0.0%"
        assert officer.locator("#live-as-of").inner_text() != before_time
        officer.screenshot(path=str(ARTIFACTS / f"filing-live-card-{size}.png"), full_page=True)
        wide = officer.evaluate("document.documentElement.scrollWidth > window.innerWidth + 1")
        assert not wide, "the circle page scrolls sideways"
        browser.close()
    with transaction(app.state.factory) as s:  # leave the circle as it was for the next size
        o = s.scalar(select(Outlet).where(Outlet.name == name))
        assert o.status == "open"
    from lifecircle.platform.db import utcnow
    from lifecircle.platform.db_operations import OutletEvent

    with transaction(app.state.factory) as s:
        o = s.scalar(select(Outlet).where(Outlet.name == name))
        o.status = "closed"
        s.add(OutletEvent(outlet_id=o.id, kind="close", at=utcnow()))
