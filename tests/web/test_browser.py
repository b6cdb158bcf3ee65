"""Browser test: Playwright drives Debian's chromium against a real uvicorn server on 127.0.0.1 —
log in, open the dashboard, change a circle's status, see the map with our street layer drawn;
screenshots go to ``test-artifacts/``."""

from __future__ import annotations

import os

import pytest

from .browser import ARGS, ARTIFACTS, CHROMIUM, require_chromium, served
from .conftest import PASSWORD, make_settings


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """The app with the demo city (small scale) served by uvicorn in a thread."""
    require_chromium()
    from lifecircle.platform.seed import seed_demo
    from lifecircle.web.app import create_app

    tmp = tmp_path_factory.mktemp("browser")
    settings = make_settings(f"sqlite:///{tmp / 'p.db'}", tmp)
    app = create_app(settings)
    seed_demo(
        app.state.factory,
        settings,
        app.state.prog,
        scale=0.02,
        passwords=dict.fromkeys(["admin", "xiling", "wujiagang", "evaluator", "leader"], PASSWORD),
    )
    with served(app) as base:
        yield base, app
    app.state.engine.dispose()


def test_officer_logs_in_changes_status_and_sees_the_map(server):
    from playwright.sync_api import sync_playwright
    from sqlalchemy import select

    from lifecircle.platform.db import Circle, transaction

    base, app = server
    with transaction(app.state.factory) as s:
        circle = s.scalars(select(Circle).where(Circle.district == "420502").order_by(Circle.id)).first()
        circle.status = "planned"
        cid = circle.id
    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        page = browser.new_page(viewport={"width": 1366, "height": 900}, locale="zh-CN")
        page.goto(f"{base}/dashboard")
        assert "/login" in page.url
        page.fill("#username", "xiling")
        page.fill("#password", PASSWORD)
        page.click("button[type=submit]")
        page.wait_for_url(f"{base}/dashboard")
        assert page.locator("h1").first.inner_text().startswith("建设进度总览")
        page.screenshot(path=str(ARTIFACTS / "dashboard.png"), full_page=True)

        page.goto(f"{base}/circles/{cid}")
        assert page.locator("#circle-status").inner_text() == "规划中"
        page.select_option("#status-select", "building")
        page.fill("#status-form input[name=note]", "浏览器测试：开工")
        page.click("#status-form button[type=submit]")
        page.wait_for_load_state()
        assert page.locator("#circle-status").inner_text() == "建设中"
        page.screenshot(path=str(ARTIFACTS / "circle.png"), full_page=True)

        page.goto(f"{base}/map")
        page.wait_for_selector("#map[data-ready='1']", timeout=20_000)
        assert page.locator("#map.leaflet-container").count() == 1
        n_streets = int(page.get_attribute("#map", "data-streets"))
        assert n_streets > 50
        assert page.locator("path.lc-streets").count() > 50  # our street layer drawn as SVG paths
        page.screenshot(path=str(ARTIFACTS / "map.png"))
        browser.close()
    with transaction(app.state.factory) as s:
        assert s.get(Circle, cid).status == "building"
    assert os.path.getsize(ARTIFACTS / "map.png") > 10_000
