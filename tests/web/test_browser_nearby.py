"""Browser test of the residents' page ``/nearby`` (issue 12): Playwright drives Debian's chromium
against a real uvicorn server, at 390 × 844 (a phone) and at desktop size, without signing in — a
resident searches a community, sees the services with walking times, toggles the older residents'
speed (times grow, counts do not), uses the phone's location; axe-core finds no serious or critical
violation; with the text at 200 % the page still fits 390 px and the search still works; no CSP
violation in the console. Screenshots in ``test-artifacts/nearby-*.png``."""

from __future__ import annotations

from pathlib import Path

import pytest

from .test_browser import ARGS, ARTIFACTS, CHROMIUM, server  # noqa: F401  (the server fixture)

AXE = Path(__file__).parent / "vendor" / "axe-core" / "axe.min.js"
SIZES = {
    "phone": {"viewport": {"width": 390, "height": 844}, "is_mobile": True, "has_touch": True},
    "desktop": {"viewport": {"width": 1366, "height": 900}},
}


def _formats(page) -> dict[str, tuple[float | None, int]]:
    return page.evaluate(
        """() => Object.fromEntries([...document.querySelectorAll('#results article.fmt')].map(a => [
             a.dataset.code, [a.dataset.walkMin === '' ? null : Number(a.dataset.walkMin), Number(a.dataset.n15)]]))"""
    )


def _wait_results(page, n: int) -> None:
    page.wait_for_selector(f"#results[data-ready='{n}']", timeout=60_000)


def _axe(page) -> list[dict]:
    page.add_script_tag(path=str(AXE))
    return page.evaluate(
        """() => axe.run(document, {resultTypes: ['violations']}).then(r => r.violations.map(
             v => ({id: v.id, impact: v.impact, nodes: v.nodes.map(n => n.target.join(' ')).slice(0, 3)})))"""
    )


@pytest.mark.parametrize("size", ["phone", "desktop"])
def test_resident_finds_services_toggles_elderly_speed_accessibly(server, size):  # noqa: F811
    from playwright.sync_api import sync_playwright

    base = server[0]
    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        # bypass_csp only so that the test can inject axe-core; the page's own scripts are files
        ctx = browser.new_context(locale="zh-CN", bypass_csp=True, **SIZES[size])
        page = ctx.new_page()
        console: list[str] = []
        page.on("console", lambda m: console.append(m.text) if m.type == "error" else None)
        page.goto(f"{base}/nearby")
        assert "/login" not in page.url
        page.wait_for_selector("#map[data-ready='1']", timeout=30_000)
        page.fill("#q", "小区")
        page.click("#search-btn")
        page.wait_for_selector("#places button.place", timeout=60_000)
        page.locator("#places button.place").first.click()
        _wait_results(page, 1)
        fast = _formats(page)
        walk = {c: v for c, v in fast.items() if v[0] is not None}
        assert len(fast) == 27 and len(walk) >= 5, fast
        assert page.locator("#results h2").first.inner_text() == "基本保障类"
        assert page.locator("#results .fmt .walk").first.inner_text().startswith("最近")
        assert page.locator("#results .tag").count() > 0
        assert page.locator("path.leaflet-interactive, .leaflet-overlay-pane path").count() > 0  # isochrones drawn
        page.screenshot(path=str(ARTIFACTS / f"nearby-{size}.png"), full_page=True)

        page.check("#elderly")
        _wait_results(page, 2)
        assert page.get_attribute("#results", "data-speed") == "elderly"
        slow = _formats(page)
        for code, (m, n) in walk.items():
            sm, sn = slow[code]
            assert sn <= n, code
            if sm is not None:
                assert sm > m, (code, m, sm)
        assert slow != fast
        page.screenshot(path=str(ARTIFACTS / f"nearby-{size}-elderly.png"), full_page=True)

        bad = [v for v in _axe(page) if v["impact"] in ("serious", "critical")]
        assert not bad, bad

        # large system fonts: the text at 200 %, still no sideways scrolling at this width, search usable
        page.evaluate("() => { document.documentElement.style.fontSize = '200%'; }")
        w, iw = page.evaluate("() => [document.documentElement.scrollWidth, window.innerWidth]")
        assert w <= iw, (w, iw)
        page.fill("#q", "小区")
        page.click("#search-btn")
        page.wait_for_selector("#places button.place", timeout=30_000)
        assert page.locator("#places button.place").first.is_visible()
        page.screenshot(path=str(ARTIFACTS / f"nearby-{size}-large-text.png"), full_page=True)
        assert not [c for c in console if "Content Security Policy" in c], console
        ctx.close()
        browser.close()


def test_use_my_location(server):  # noqa: F811
    from playwright.sync_api import sync_playwright

    base, app = server
    comm = app.state.live.engine().city.communities.iloc[0]
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        ctx = browser.new_context(
            locale="en-GB",
            geolocation={"longitude": float(comm.lon), "latitude": float(comm.lat)},
            permissions=["geolocation"],
            **SIZES["phone"],
        )
        page = ctx.new_page()
        page.goto(f"{base}/nearby?lang=en")
        page.wait_for_selector("#map[data-ready='1']", timeout=30_000)
        page.click("#locate")
        _wait_results(page, 1)
        assert page.locator("#results h2").first.inner_text() == "Everyday essentials"
        assert "km/h" in page.locator("#status").inner_text()
        ctx.close()
        browser.close()
