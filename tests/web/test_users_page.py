"""The city administrator's user administration page (/users): access per role, create /
deactivate / reactivate / reset password / change role flows, CSRF on every form, field errors
instead of 500s, self-protection and the audit rows — on SQLite and PostgreSQL."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from lifecircle.platform.db import AuditLog, User, UserSession, transaction

from .conftest import PASSWORD
from .test_pages import csrf_of, page_login


def _uid(platform, username: str) -> int:
    with transaction(platform.factory()) as s:
        return s.scalar(select(User.id).where(User.username == username))


def _user(platform, username: str) -> User:
    with transaction(platform.factory()) as s:
        return s.scalar(select(User).where(User.username == username))


def _audit(platform, action: str, entity_id: int) -> list[AuditLog]:
    with transaction(platform.factory()) as s:
        return list(
            s.scalars(
                select(AuditLog).where(
                    AuditLog.action == action, AuditLog.entity == "user", AuditLog.entity_id == str(entity_id)
                )
            )
        )


def _admin(platform) -> str:
    """Sign in as the city admin; the page's CSRF token."""
    page_login(platform.client, "admin")
    page = platform.client.get("/users")
    assert page.status_code == 200
    return csrf_of(page.text)


def _row(html: str, uid: int) -> str:
    return re.search(rf'<tr id="user-{uid}">.*?</tr>', html, re.S).group(0)


def _fresh_client(platform):
    from fastapi.testclient import TestClient

    return TestClient(platform.app)


def test_users_page_signed_out_redirects_to_login(platform):
    r = platform.client.get("/users", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].startswith("/login")


@pytest.mark.parametrize("who", ["xiling", "evaluator", "leader"])
def test_users_page_and_forms_forbidden_for_other_roles(platform, who):
    c = platform.client
    page_login(c, who)
    assert c.get("/users").status_code == 403
    assert "/users" not in c.get("/dashboard").text  # no nav link
    token = csrf_of(c.get("/dashboard").text)
    uid = _uid(platform, "leader")
    assert (
        c.post(
            "/users", data={"username": "sneaky", "role": "city_admin", "csrf_token": token, "password": "x" * 12}
        ).status_code
        == 403
    )
    assert c.post(f"/users/{uid}/active", data={"active": "0", "csrf_token": token}).status_code == 403
    assert c.post(f"/users/{uid}/password", data={"password": "y" * 12, "csrf_token": token}).status_code == 403
    assert c.post(f"/users/{uid}/role", data={"role": "city_admin", "csrf_token": token}).status_code == 403
    assert _user(platform, "sneaky") is None and _user(platform, "leader").role == "leader"


def test_users_page_lists_accounts_with_last_login_in_both_languages(platform):
    _admin(platform)
    page_login(_fresh_client(platform), "leader")
    zh = platform.client.get("/users").text
    assert "用户管理" in zh and 'href="/users"' in zh
    for name in ("admin", "xiling", "wujiagang", "evaluator", "leader"):
        assert f"<b>{name}</b></td>" in zh
    row = _row(zh, _uid(platform, "leader"))
    assert "从未登录" not in row and re.search(r"\d{4}-\d\d-\d\d \d\d:\d\d", row)
    assert "从未登录" in _row(zh, _uid(platform, "evaluator"))
    en = platform.client.get("/users?lang=en").text
    assert "User administration" in en and "Last login" in en


def test_create_user_with_generated_password_shown_once(platform):
    c = platform.client
    token = _admin(platform)
    r = c.post(
        "/users",
        data={
            "username": "xl2",
            "display_name": "西陵二",
            "role": "district_officer",
            "district": "420502",
            "password": "",
            "csrf_token": token,
        },
    )
    assert r.status_code == 200 and r.headers["cache-control"] == "no-store"
    pw = re.search(r"xl2: <code>([^<]+)</code>", r.text).group(1)
    assert len(pw) >= 10
    assert pw not in c.get("/users").text  # shown once only
    u = _user(platform, "xl2")
    assert (u.role, u.district, u.display_name, u.active) == ("district_officer", "420502", "西陵二", True)
    assert page_login(_fresh_client(platform), "xl2", pw).status_code == 303
    rows = _audit(platform, "create", u.id)
    assert len(rows) == 1 and rows[0].username == "admin" and "password_hash" not in rows[0].after


def test_create_user_with_admin_set_password(platform):
    c = platform.client
    token = _admin(platform)
    r = c.post(
        "/users",
        data={"username": "eva2", "role": "evaluator", "password": "long-enough-pw", "csrf_token": token},
        follow_redirects=False,
    )
    assert r.status_code == 303 and r.headers["location"] == "/users" and "lc_flash" in r.cookies
    assert page_login(_fresh_client(platform), "eva2", "long-enough-pw").status_code == 303


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"username": "bad name!", "role": "leader"}, "username"),
        ({"username": "admin", "role": "leader"}, "username"),
        ({"username": "p1", "role": "leader", "password": "short"}, "password"),
        ({"username": "p2", "role": "district_officer", "district": ""}, "district"),
        ({"username": "p3", "role": "leader", "district": "420502"}, "district"),
        ({"username": "p4", "role": "mayor"}, "role"),
    ],
)
def test_create_user_bad_input_shows_the_field_error(platform, data, field):
    c = platform.client
    token = _admin(platform)
    with transaction(platform.factory()) as s:
        before = len(s.scalars(select(User.id)).all())
    r = c.post("/users", data={**data, "csrf_token": token})
    assert r.status_code == 422
    assert re.search(rf'<div class="err" data-field="{field}">', r.text), r.text
    assert 'id="shown-password"' not in r.text
    with transaction(platform.factory()) as s:
        assert len(s.scalars(select(User.id)).all()) == before
        assert s.scalar(select(AuditLog).where(AuditLog.action == "create", AuditLog.username == "admin")) is None


def test_too_long_form_field_is_422_not_500(platform):
    token = _admin(platform)
    r = platform.client.post("/users", data={"username": "u" * 65, "role": "leader", "csrf_token": token})
    assert r.status_code == 422 and "username" in r.text


def test_every_users_form_needs_csrf(platform):
    c = platform.client
    _admin(platform)
    uid = _uid(platform, "leader")
    for url, data in [
        ("/users", {"username": "nocsrf", "role": "leader"}),
        (f"/users/{uid}/active", {"active": "0"}),
        (f"/users/{uid}/password", {"password": "z" * 12}),
        (f"/users/{uid}/role", {"role": "evaluator"}),
    ]:
        assert c.post(url, data={**data, "csrf_token": "forged"}).status_code == 403, url
        assert c.post(url, data=data).status_code in (403, 422), url
    u = _user(platform, "leader")
    assert _user(platform, "nocsrf") is None and u.active and u.role == "leader"
    assert page_login(_fresh_client(platform), "leader").status_code == 303  # password unchanged


def test_deactivate_ends_sessions_and_reactivate_restores_login(platform):
    c = platform.client
    token = _admin(platform)
    leader = _fresh_client(platform)
    page_login(leader, "leader")
    assert leader.get("/dashboard").status_code == 200
    uid = _uid(platform, "leader")
    r = c.post(f"/users/{uid}/active", data={"active": "0", "csrf_token": token}, follow_redirects=False)
    assert r.status_code == 303
    assert not _user(platform, "leader").active
    assert leader.get("/dashboard", follow_redirects=False).status_code == 303  # signed out
    assert page_login(_fresh_client(platform), "leader").status_code == 401
    with transaction(platform.factory()) as s:
        assert s.scalar(select(UserSession).where(UserSession.user_id == uid)) is None
    (row,) = _audit(platform, "deactivate", uid)
    assert row.before["active"] is True and row.after["active"] is False and row.username == "admin"
    assert (
        c.post(f"/users/{uid}/active", data={"active": "1", "csrf_token": token}, follow_redirects=False).status_code
        == 303
    )
    assert _user(platform, "leader").active and len(_audit(platform, "reactivate", uid)) == 1
    assert page_login(_fresh_client(platform), "leader").status_code == 303


def test_admin_cannot_deactivate_or_demote_themself(platform):
    c = platform.client
    token = _admin(platform)
    me = _uid(platform, "admin")
    r = c.post(f"/users/{me}/active", data={"active": "0", "csrf_token": token})
    assert r.status_code == 422 and "不能停用自己的账号" in r.text
    r = c.post(f"/users/{me}/role", data={"role": "leader", "csrf_token": token})
    assert r.status_code == 422 and "不能降低自己的角色" in r.text
    en = c.post(f"/users/{me}/role?lang=en", data={"role": "leader", "csrf_token": token})
    assert "you cannot demote your own account" in en.text
    u = _user(platform, "admin")
    assert u.active and u.role == "city_admin"
    assert c.get("/users").status_code == 200  # still signed in
    assert not _audit(platform, "deactivate", me) and not _audit(platform, "change_role", me)


def test_reset_password_generated_and_set(platform):
    c = platform.client
    token = _admin(platform)
    uid = _uid(platform, "evaluator")
    ev = _fresh_client(platform)
    page_login(ev, "evaluator")
    r = c.post(f"/users/{uid}/password", data={"password": "", "csrf_token": token})
    assert r.status_code == 200 and r.headers["cache-control"] == "no-store"
    pw = re.search(r"evaluator: <code>([^<]+)</code>", r.text).group(1)
    assert ev.get("/dashboard", follow_redirects=False).status_code == 303  # old session ended
    assert page_login(_fresh_client(platform), "evaluator").status_code == 401  # old password gone
    assert page_login(_fresh_client(platform), "evaluator", pw).status_code == 303
    bad = c.post(f"/users/{uid}/password", data={"password": "short", "csrf_token": token})
    assert bad.status_code == 422 and 'data-field="password"' in bad.text
    ok = c.post(
        f"/users/{uid}/password", data={"password": "another-good-pw", "csrf_token": token}, follow_redirects=False
    )
    assert ok.status_code == 303
    assert page_login(_fresh_client(platform), "evaluator", "another-good-pw").status_code == 303
    rows = _audit(platform, "reset_password", uid)
    assert len(rows) == 2 and all("password_hash" not in (a.after or {}) for a in rows)
    assert c.post("/users/99999/password", data={"password": "z" * 12, "csrf_token": token}).status_code == 404


def test_change_role_and_district(platform):
    c = platform.client
    token = _admin(platform)
    uid = _uid(platform, "leader")
    r = c.post(
        f"/users/{uid}/role",
        data={"role": "district_officer", "district": "420503", "csrf_token": token},
        follow_redirects=False,
    )
    assert r.status_code == 303
    u = _user(platform, "leader")
    assert (u.role, u.district) == ("district_officer", "420503")
    (row,) = _audit(platform, "change_role", uid)
    assert row.before["role"] == "leader" and row.after["district"] == "420503"
    bad = c.post(f"/users/{uid}/role", data={"role": "district_officer", "district": "nope", "csrf_token": token})
    assert bad.status_code == 422 and 'data-field="district"' in bad.text
    assert _user(platform, "leader").district == "420503"
    assert len(_audit(platform, "change_role", uid)) == 1


def test_api_user_list_uses_the_service(platform):
    r = platform.client.get("/api/users", headers=platform.h("admin"))
    assert r.status_code == 200
    rows = {u["username"]: u for u in r.json()}
    assert rows["admin"]["active"] is True and rows["admin"]["last_login"] is not None
    assert platform.client.get("/api/users", headers=platform.h("leader")).status_code == 403
    assert PASSWORD not in r.text
