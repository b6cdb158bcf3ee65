"""Issue 10 items 5–6 (pages): protective headers on every response, CSP without inline script,
flash notices instead of ``?msg=``, Chinese HTML error pages (JSON stays under /api), the favicon,
Swagger UI served from our own files, and the return to the form's page after a session expires."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from sqlalchemy import update

from lifecircle.platform.db import UserSession, transaction
from lifecircle.web.flash import FLASH_COOKIE, decode, encode

from .test_pages import XL, csrf_of, page_login

HEADERS = {"x-frame-options": "DENY", "referrer-policy": "same-origin", "x-content-type-options": "nosniff"}


def _check_headers(r) -> None:
    for k, v in HEADERS.items():
        assert r.headers.get(k) == v, (r.url, k, r.headers.get(k))
    csp = r.headers.get("content-security-policy", "")
    assert "frame-ancestors 'none'" in csp and "script-src 'self'" in csp, (r.url, csp)
    script_src = re.search(r"script-src ([^;]*)", csp).group(1)
    assert "unsafe-inline" not in script_src and "unsafe-eval" not in script_src
    style_src = re.search(r"style-src ([^;]*)", csp).group(1)
    if not str(r.url).endswith("/api/docs"):  # the vendored Swagger UI styles inline; our pages do not
        assert "unsafe-inline" not in style_src, (r.url, csp)


def test_headers_on_every_kind_of_response(platform):
    c = platform.client
    anonymous = [
        c.get("/login"),
        c.get("/static/app.css"),
        c.get("/api/me"),
        c.get("/nope"),
        c.get("/favicon.ico"),
        c.get("/api/docs"),
        c.get("/api/openapi.json"),
        c.get("/healthz"),
        c.get("/dashboard", follow_redirects=False),
    ]
    page_login(c)
    signed_in = [
        c.get(p)
        for p in (
            "/dashboard",
            "/circles",
            f"/circles/{XL}",
            "/map",
            "/reports",
            "/audit",
            "/users",
            "/api/dashboard",
            "/no-such-page",
            "/api/no-such",
        )
    ]
    signed_in.append(c.get("/logout"))  # 405 page
    for r in anonymous + signed_in:
        _check_headers(r)


def test_pages_have_no_inline_script_or_style(platform):
    c = platform.client
    pages = [c.get("/login").text, c.get("/api/docs").text, c.get("/nope").text]
    page_login(c)
    pages += [
        c.get(p).text for p in ("/dashboard", "/circles", f"/circles/{XL}", "/map", "/reports", "/audit", "/users")
    ]
    for html in pages:
        for tag in re.findall(r"<script\b[^>]*>", html):
            assert "src=" in tag or 'type="application/json"' in tag, tag
        assert "javascript:" not in html and " onclick=" not in html
        assert " style=" not in html and "<style" not in html


def test_swagger_ui_is_served_from_our_own_files(platform):
    html = platform.client.get("/api/docs").text
    assert "cdn" not in html.lower() and "http" not in html.replace("http-equiv", "")
    for src in re.findall(r'(?:src|href)="(/static/[^"]+)"', html):
        r = platform.client.get(src)
        assert r.status_code == 200 and len(r.content) > 100, src
    assert "/static/vendor/swagger-ui/swagger-ui-bundle.js" in html


def test_favicon(platform):
    r = platform.client.get("/favicon.ico")
    assert r.status_code == 200 and r.headers["content-type"] == "image/x-icon" and r.content[:4] == b"\0\0\1\0"


def test_unknown_page_is_a_chinese_html_404_and_api_stays_json(platform):
    c = platform.client
    r = c.get("/no/such/page")
    assert r.status_code == 404 and r.headers["content-type"].startswith("text/html")
    assert "未找到" in r.text and "没有这个页面" in r.text and "Not Found" not in r.text
    page_login(c)
    r = c.get("/no/such/page")
    assert r.status_code == 404 and 'href="/circles"' in r.text  # the navigation, when signed in
    r = c.get("/no/such/page?lang=en")
    assert r.status_code == 404 and "There is no such page" in r.text
    c.get("/dashboard?lang=zh")
    api = c.get("/api/no-such")
    assert api.status_code == 404 and api.json() == {"detail": "Not Found"}
    r = c.get("/circles/NO-SUCH")
    assert r.status_code == 404 and "text/html" in r.headers["content-type"] and "未找到" in r.text
    r = c.get("/logout")
    assert r.status_code == 405 and "text/html" in r.headers["content-type"] and "访问方式不对" in r.text


def test_forbidden_page_is_chinese_html(platform):
    c = platform.client
    page_login(c, "xiling")
    r = c.get("/users")
    assert r.status_code == 403 and "text/html" in r.headers["content-type"] and "无权操作" in r.text


def test_server_error_is_a_chinese_page_without_the_traceback(platform):
    from fastapi.testclient import TestClient

    app = platform.app

    @app.get("/boom-test-page")
    def boom() -> None:
        raise RuntimeError("secret internals")

    @app.get("/api/boom-test")
    def api_boom() -> None:
        raise RuntimeError("secret internals")

    c = TestClient(app, raise_server_exceptions=False)
    r = c.get("/boom-test-page")
    assert r.status_code == 500 and "text/html" in r.headers["content-type"]
    assert "服务器出错" in r.text and "secret internals" not in r.text
    _check_headers(r)
    r = c.get("/api/boom-test")
    assert r.status_code == 500 and r.json() == {"detail": "服务器内部错误"}
    _check_headers(r)


def test_msg_in_the_address_is_not_shown(platform):
    c = platform.client
    page_login(c)
    for path in ("/dashboard", f"/circles/{XL}", "/users"):
        html = c.get(path, params={"msg": "请立即转账到 6222"}).text
        assert "6222" not in html and 'class="msg"' not in html


def test_flash_notice_is_shown_once(platform):
    c = platform.client
    page_login(c, "xiling")
    page = c.get(f"/circles/{XL}")
    r = c.post(
        f"/circles/{XL}/funds",
        data={"kind": "fund", "amount_yuan": "1000", "date": "2025-03-01", "csrf_token": csrf_of(page.text)},
        follow_redirects=False,
    )
    assert r.status_code == 303 and r.headers["location"] == f"/circles/{XL}" and "msg=" not in r.headers["location"]
    first = c.get(r.headers["location"])
    assert '<div class="msg">资金已登记</div>' in first.text
    second = c.get(r.headers["location"])
    assert "资金已登记" not in second.text


def test_a_forged_flash_cookie_is_ignored(platform):
    c = platform.client
    page_login(c)
    c.cookies.set(FLASH_COOKIE, encode("some-other-key-of-an-attacker-xxxxxxxx", "请立即转账"))
    assert "请立即转账" not in c.get("/dashboard").text
    key = platform.settings.secret_key
    assert decode(key, encode(key, "状态已更新")) == "状态已更新"
    assert decode(key, encode(key, "状态已更新")[:-1] + "0") in (None, "状态已更新")
    assert decode(key, "garbage") is None and decode(key, None) is None


@pytest.mark.parametrize(
    ("post", "form_page"),
    [
        (f"/circles/{XL}/status", f"/circles/{XL}"),
        (f"/circles/{XL}/funds", f"/circles/{XL}"),
        ("/users/2/active", "/users"),
        ("/reports/1", "/reports/1"),
    ],
)
def test_session_expired_mid_form_returns_to_the_form_page(platform, post, form_page):
    c = platform.client
    page_login(c)
    with transaction(platform.factory()) as s:  # the session expires while the form is open
        s.execute(update(UserSession).values(expires_at=dt.datetime(2000, 1, 1)))
    r = c.post(post, data={"csrf_token": "x", "status": "building"}, follow_redirects=False)
    assert r.status_code == 303
    loc = r.headers["location"]
    assert loc.startswith("/login?next=") and "expired=1" in loc
    login = c.get(loc)
    assert "登录已过期" in login.text
    nxt = re.search(r'name="next" value="([^"]+)"', login.text).group(1)
    assert nxt == form_page  # a GET page, not the POST-only address


def test_session_expired_return_prefers_the_referer(platform):
    c = platform.client
    page_login(c)
    with transaction(platform.factory()) as s:
        s.execute(update(UserSession).values(expires_at=dt.datetime(2000, 1, 1)))
    r = c.post(
        f"/circles/{XL}/status",
        data={"status": "building", "csrf_token": "x"},
        follow_redirects=False,
        headers={"referer": "http://testserver/circles?district=420502"},
    )
    assert r.status_code == 303
    login = c.get(r.headers["location"])
    assert re.search(r'name="next" value="([^"]+)"', login.text).group(1) == "/circles?district=420502"
    r = c.post(
        f"/circles/{XL}/status",
        data={"status": "building", "csrf_token": "x"},
        follow_redirects=False,
        headers={"referer": "https://evil.example/circles"},
    )
    login = c.get(r.headers["location"])
    assert re.search(r'name="next" value="([^"]+)"', login.text).group(1) == f"/circles/{XL}"


def test_deactivate_and_reset_sit_behind_a_confirm_step(platform):
    c = platform.client
    page_login(c)
    html = c.get("/users").text
    uid = re.search(r'id="user-(\d+)">\s*<td data-label="[^"]*"><b>xiling</b>', html).group(1)
    for kind, action in (("deactivate", "active"), ("reset", "password")):
        box = re.search(rf'<details class="confirm" id="{kind}-{uid}"[^>]*>(.*?)</details>', html, re.S)
        assert box, kind
        assert f'action="/users/{uid}/{action}"' in box.group(1) and "确认" in box.group(1)
        # no second form for the same action outside the confirm step
        assert html.count(f'action="/users/{uid}/{action}"') == 1
