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


PHONE = {"viewport": {"width": 390, "height": 844}, "is_mobile": True, "has_touch": True}


def legend_pixels(png: bytes, legend: list[dict], opacity: float) -> tuple[int, int]:
    """Pixels of a screenshot of the map near a legend colour laid at ``opacity`` over the map's
    background, and how many legend colours are present (≥ 200 pixels each). The grey of the
    unreachable cells is left out: the streets are grey too."""
    import io

    import numpy as np
    from PIL import Image

    img = np.asarray(Image.open(io.BytesIO(png)).convert("RGB")).reshape(-1, 3).astype(np.int32)
    colours, counts = np.unique((img[:, 0] << 16) | (img[:, 1] << 8) | img[:, 2], return_counts=True)
    rgbs = np.stack([colours >> 16, (colours >> 8) & 255, colours & 255], axis=1)  # each colour once: fast
    bg = np.array([0xEE, 0xF1, 0xF4])
    near = np.zeros(len(rgbs), bool)
    present = 0
    for row in legend[:-1]:  # the last: unreachable (grey)
        rgb = np.array([int(row["colour"][i : i + 2], 16) for i in (1, 3, 5)])
        hit = np.abs(rgbs - (opacity * rgb + (1 - opacity) * bg)).sum(axis=1) < 30
        near |= hit
        present += int(counts[hit].sum() >= 200)
    return int(counts[near].sum()), present


def show_surface(page, fmt: str, speed: str = "default") -> bytes:
    """Choose ``fmt`` on /map, wait until its hexagons are drawn; a screenshot of the map area."""
    page.select_option("#surface-format", fmt)
    page.wait_for_selector(f"#map[data-surface='{fmt}:{speed}']", timeout=30_000)
    page.evaluate("() => new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)))")
    return page.locator("#map").screenshot()


def test_map_draws_the_walking_time_surface_with_legend_and_blind_spots(server):
    """/map on a desktop and on a 390 × 844 phone: choose a format, the hexagons appear in the
    legend's colours in the map area (counted in a screenshot, against the map without them); the
    older residents' speed redraws them; the blind spots by district are listed; no sideways scroll."""
    from playwright.sync_api import sync_playwright

    base, app = server
    app.state.live.engine(wait_s=180)  # the live city is built before the page asks for it
    fmt = "convenience_store"
    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        desk = browser.new_context(locale="zh-CN", viewport={"width": 1366, "height": 900})
        page = desk.new_page()
        page.goto(f"{base}/map")
        page.fill("#username", "admin")
        page.fill("#password", PASSWORD)
        page.click("button[type=submit]")
        page.wait_for_selector("#map[data-ready='1']", timeout=20_000)
        plain = page.locator("#map").screenshot()
        shot = show_surface(page, fmt)
        legend = page.request.get(f"{base}/api/surface?format={fmt}").json()["legend"]
        opacity = float(page.get_attribute("#map", "data-surface-opacity"))
        (with_layer, colours), (without, _) = (
            legend_pixels(shot, legend, opacity),
            legend_pixels(plain, legend, opacity),
        )
        assert with_layer > 2 * without + 3000 and colours >= 2, (with_layer, without, colours)
        assert legend[-1]["label"] == "不可达" and page.locator("#surface-legend span").count() == len(legend) + 1
        assert page.locator("#surface-blind-table tbody tr").count() >= 2  # districts and the total
        page.screenshot(path=str(ARTIFACTS / "map-surface-desktop.png"), full_page=True)
        page.check("input[name=speed][value=elderly]")
        page.wait_for_selector(f"#map[data-surface='{fmt}:elderly']", timeout=30_000)
        assert "老年人步速" in page.locator("#surface-blind-title").inner_text()

        phone = browser.new_context(locale="zh-CN", storage_state=desk.storage_state(), **PHONE).new_page()
        phone.goto(f"{base}/map")
        phone.wait_for_selector("#map[data-ready='1']", timeout=20_000)
        with_layer, colours = legend_pixels(show_surface(phone, fmt), legend, opacity)
        assert with_layer > 3000 and colours >= 2, (with_layer, colours)
        assert phone.locator("#surface-blind-table tbody tr").count() >= 2
        w, iw = phone.evaluate("() => [document.documentElement.scrollWidth, window.innerWidth]")
        assert w <= iw, (w, iw)  # no sideways scrolling on a phone
        phone.screenshot(path=str(ARTIFACTS / "map-surface-phone.png"), full_page=True)
        browser.close()
