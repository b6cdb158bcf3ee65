"""Browser test of the residents' survey (issue 12, part 3): Playwright drives Debian's chromium
against a real uvicorn server, at 390 × 844 (a phone) and at desktop size. A resident opens
``/survey`` without signing in, enters a one-time code, answers and sees the thanks; a second
answer with the same code is refused with a message. axe-core (vendored) finds no serious or
critical violation on the code page and on the questionnaire. Screenshots go to ``test-artifacts/``."""

from __future__ import annotations

import json

import pytest

from .browser import ARGS, ARTIFACTS, CHROMIUM, require_chromium, serious_violations, served
from .conftest import ACCOUNTS, PASSWORD, make_settings
from .test_resident_surveys import GOOD, QN, XL

SIZES = {"phone": {"width": 390, "height": 844}, "desktop": {"width": 1366, "height": 900}}


@pytest.fixture(scope="module")
def survey_server(tmp_path_factory):
    """The platform (quota circles, no city) served by uvicorn, a questionnaire and four codes."""
    require_chromium()
    from lifecircle.platform.db import User, transaction
    from lifecircle.platform.seed import seed_demo
    from lifecircle.platform.service import resident_surveys as rs
    from lifecircle.web.app import create_app

    tmp = tmp_path_factory.mktemp("browser-survey")
    settings = make_settings(f"sqlite:///{tmp / 'p.db'}", tmp)
    app = create_app(settings)
    seed_demo(
        app.state.factory, settings, app.state.prog, use_demo_city=False, passwords=dict.fromkeys(ACCOUNTS, PASSWORD)
    )
    with transaction(app.state.factory) as s:
        admin = s.query(User).filter_by(username="admin").one()
        rs.create_questionnaire(s, admin, QN["period"], QN)
        codes = rs.issue_codes(s, admin, settings.secret_key, XL, QN["period"], 4)
    with served(app) as base:
        yield base, codes
    app.state.engine.dispose()


@pytest.mark.parametrize("size", list(SIZES))
def test_a_resident_answers_once_with_a_code_and_the_second_answer_is_refused(survey_server, size):
    from playwright.sync_api import sync_playwright

    base, codes = survey_server
    code = codes[0] if size == "phone" else codes[1]
    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        # bypass_csp only so the test can inject axe-core; the pages themselves run no inline script
        ctx = browser.new_context(viewport=SIZES[size], locale="zh-CN", bypass_csp=True, is_mobile=size == "phone")
        page = ctx.new_page()
        page.goto(f"{base}/survey")
        assert "/login" not in page.url
        assert serious_violations(page) == [], json.dumps(serious_violations(page), ensure_ascii=False)
        if size == "phone":
            assert page.evaluate("document.documentElement.scrollWidth") <= SIZES["phone"]["width"]
        page.screenshot(path=str(ARTIFACTS / f"survey-code-{size}.png"), full_page=True)

        page.fill("#code", code[:5].lower() + "-" + code[5:])  # as a resident might type it from paper
        page.click("#code-form button[type=submit]")
        page.wait_for_selector("#answer-form")
        assert serious_violations(page) == []
        if size == "phone":
            assert page.evaluate("document.documentElement.scrollWidth") <= SIZES["phone"]["width"]
        page.check(f"input[name=q_overall][value='{GOOD['overall']}']")
        page.check("input[name=q_walk][value='yes']")
        page.screenshot(path=str(ARTIFACTS / f"survey-questions-{size}.png"), full_page=True)
        page.click("#answer-form button[type=submit]")
        page.wait_for_selector("#survey-thanks")
        assert "感谢" in page.inner_text("#survey-thanks")
        page.screenshot(path=str(ARTIFACTS / f"survey-thanks-{size}.png"), full_page=True)

        page.goto(f"{base}/survey")  # the same code again
        page.fill("#code", code)
        page.click("#code-form button[type=submit]")
        page.wait_for_selector("#survey-error")
        assert "已使用" in page.inner_text("#survey-error")
        assert page.locator("#answer-form").count() == 0
        page.screenshot(path=str(ARTIFACTS / f"survey-refused-{size}.png"), full_page=True)
        browser.close()
