"""The province batch's comparison page (``cities.html``) on a 390 × 844 phone in Debian's chromium:
no sideways page scroll (the table scrolls inside its box), the bar chart fits, a click on a column
head sorts the rows (F15 too, "—" after the numbers), and axe-core finds no serious or critical
violation. Screenshot in ``test-artifacts/comparison-phone.png``."""

from __future__ import annotations

import pandas as pd

from .browser import ARGS, ARTIFACTS, CHROMIUM, require_chromium, serious_violations


def test_the_comparison_page_fits_a_390px_phone(tmp_path):
    require_chromium()
    from playwright.sync_api import sync_playwright

    from lifecircle.reports.comparison import write_comparison_html

    n = 12
    rep = pd.DataFrame(
        {
            "label": [f"宜昌市第{i}号合成城市（合成）" for i in range(n)],
            "status": ["done"] * (n - 1) + ["failed"],
            "error": [""] * (n - 1) + ["InputError: " + "一条很长的错误信息，" * 8],
            "synthetic": [True] * n,
            "n_circles": [10 + i for i in range(n - 1)] + [None],
            "n_quality": [i % 3 for i in range(n - 1)] + [None],
            "basic_format_coverage": [0.3 + 0.05 * i for i in range(n - 1)] + [None],
            "basic_coverage": [0.2 + 0.05 * i for i in range(n - 1)] + [None],
            # F15: the second to last city's row is an earlier version's (no F15), the last failed
            "f15": [((7 * i) % 10) / 20 for i in range(n - 2)] + [None, None],
            "f15_elderly": [((7 * i) % 10) / 40 for i in range(n - 2)] + [None, None],
            "population": [100000 + 5000 * i for i in range(n - 1)] + [None],
            "n_nodes": [2000 + i for i in range(n - 1)] + [None],
            "tiles": [0] * (n - 1) + [None],
            "seconds": [1.5] * n,
        }
    )
    path = write_comparison_html(rep, tmp_path / "cities.html", lang="zh")
    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        ctx = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True)
        page = ctx.new_page()
        page.goto(path.as_uri())
        w, iw = page.evaluate("() => [document.documentElement.scrollWidth, window.innerWidth]")
        assert w <= iw, (w, iw)
        sw, cw = page.evaluate(
            "() => { const e = document.querySelector('.scroll'); return [e.scrollWidth, e.clientWidth]; }"
        )
        assert sw > cw  # the wide table scrolls inside its box
        # the long heads (F15's) get wider columns: the head row stays a few lines, not a column of words
        head_h = page.evaluate("() => document.querySelector('#city-table thead tr').getBoundingClientRect().height")
        assert head_h < 90, head_h
        chart = page.evaluate("() => document.querySelector('svg.bars').getBoundingClientRect().right")
        assert chart <= iw
        labels = "() => [...document.querySelectorAll('#city-table tbody tr')].map(r => r.dataset.label)"
        assert page.evaluate(labels) == rep["label"].tolist()
        page.locator("#city-table thead th").nth(4).click()  # the mean basic-format coverage, ascending
        assert page.evaluate(labels)[:3] == rep["label"].tolist()[:3]
        page.locator("#city-table thead th").nth(4).click()  # descending: the best city first (after "—")
        assert next(x for x in page.evaluate(labels) if x != rep["label"].iloc[-1]) == rep["label"].iloc[n - 2]
        f15_head = page.locator("#city-table thead th").nth(6)
        assert f15_head.inner_text().startswith("F15（15分钟全覆盖居民占比）")
        f15_head.click()  # ascending by F15, the two cities without it ("—") last
        want = [*rep.iloc[: n - 2].sort_values("f15", kind="stable")["label"], *rep["label"].iloc[n - 2 :]]
        got = page.evaluate(labels)
        assert got[: n - 2] == want[: n - 2] and set(got[n - 2 :]) == set(want[n - 2 :])
        page.screenshot(path=str(ARTIFACTS / "comparison-phone.png"), full_page=True)
        assert not serious_violations(page)
        ctx.close()
        browser.close()
