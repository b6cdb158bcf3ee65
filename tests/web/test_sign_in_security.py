"""Signing in under attack — on SQLite and a real PostgreSQL: throttling per address and per
account without locking the real user out, the cap on concurrent password hashes,
``X-Forwarded-For`` only from configured proxies, failed logins kept apart from the audit of
changes, the password rules, self-service password change and the Secure session cookie."""

from __future__ import annotations

import secrets
import time
from collections.abc import Iterator

import pytest
from sqlalchemy import func, select

from lifecircle.errors import ConfigError
from lifecircle.platform import auth
from lifecircle.platform.db import AuditLog, LoginAttempt, UserSession, transaction
from lifecircle.platform.seed import seed_demo
from lifecircle.platform.settings import load_settings
from lifecircle.web.deps import forwarded_client

from .conftest import ACCOUNTS, PASSWORD, make_settings

PROXY = "10.9.8.7"


@pytest.fixture
def proxied(db_url, tmp_path) -> Iterator[tuple[object, object]]:
    """The app behind a trusted reverse proxy (the test client connects from ``PROXY``), with
    short delays (at most 1 s per account) so the tests can wait them out."""
    from fastapi.testclient import TestClient

    from lifecircle.web.app import create_app

    settings = make_settings(db_url, tmp_path / "data", trusted_proxies=(PROXY,), login_delay_max_seconds=1)
    app = create_app(settings)
    seed_demo(
        app.state.factory, settings, app.state.prog, use_demo_city=False, passwords=dict.fromkeys(ACCOUNTS, PASSWORD)
    )
    with TestClient(app, client=(PROXY, 40000)) as client:
        yield client, app
    app.state.engine.dispose()


def login(c, user: str, password: str, ip: str | None = None):
    headers = {"X-Forwarded-For": ip} if ip else {}
    return c.post("/api/login", json={"username": user, "password": password}, headers=headers)


def test_guessing_by_someone_else_does_not_lock_the_real_user_out(proxied):
    """Ten wrong passwords for ``admin`` from an attacker's address: the real admin, from an
    address that signed in before, gets in at once; from a new address within the bounded delay."""
    c, _app = proxied
    assert login(c, "admin", PASSWORD, "192.0.2.10").status_code == 200  # the admin's usual office
    wrong = 0
    t0 = time.perf_counter()
    while wrong < 10:
        r = login(c, "admin", f"guess-{wrong}-xyz", "198.51.100.66")
        if r.status_code == 429:
            assert 0 < int(r.headers["retry-after"]) <= 1
            time.sleep(int(r.headers["retry-after"]))
            continue
        assert r.status_code == 401
        wrong += 1
    assert time.perf_counter() - t0 < 30
    # the attacker's address is now blocked outright (10 failures in the window) ...
    r = login(c, "admin", PASSWORD, "198.51.100.66")
    assert r.status_code == 429 and int(r.headers["retry-after"]) > 60
    # ... the admin's known address is not slowed down at all ...
    assert login(c, "admin", PASSWORD, "192.0.2.10").status_code == 200
    # ... and a new address (a phone on the road) waits at most the maximum delay, then gets in
    t0 = time.perf_counter()
    r = login(c, "admin", PASSWORD, "203.0.113.99")
    while r.status_code == 429:
        time.sleep(int(r.headers["retry-after"]))
        r = login(c, "admin", PASSWORD, "203.0.113.99")
    assert r.status_code == 200 and time.perf_counter() - t0 < 3


def test_a_flood_of_random_user_names_is_refused_per_address_before_any_hash(proxied):
    c, app = proxied
    for _ in range(10):
        assert login(c, secrets.token_hex(6), "whatever-pass", "198.51.100.7").status_code == 401
    t0 = time.perf_counter()
    for _ in range(20):
        r = login(c, secrets.token_hex(6), "whatever-pass", "198.51.100.7")
        assert r.status_code == 429 and "Retry-After" in r.headers
    assert time.perf_counter() - t0 < 5  # refused from the database, no Argon2 for each
    with transaction(app.state.factory) as s:  # refused attempts are not recorded (they cannot extend the block)
        assert s.scalar(select(func.count(LoginAttempt.id)).where(LoginAttempt.ip == "198.51.100.7")) == 10
    # another address is not affected
    assert login(c, "leader", PASSWORD, "198.51.100.8").status_code == 200


def test_x_forwarded_for_is_ignored_from_a_peer_that_is_not_a_trusted_proxy(platform):
    """The default: no trusted proxies. A rotating X-Forwarded-For neither escapes the per-address
    limit nor reaches the login records."""
    c = platform.client
    codes = [
        c.post(
            "/api/login",
            json={"username": secrets.token_hex(5), "password": "x" * 12},
            headers={"X-Forwarded-For": f"203.0.113.{i}"},
        ).status_code
        for i in range(12)
    ]
    assert codes[:10] == [401] * 10 and codes[10:] == [429, 429]
    with transaction(platform.factory()) as s:
        ips = set(s.scalars(select(LoginAttempt.ip)))
    assert ips == {"testclient"}


def test_forwarded_client_takes_the_right_most_untrusted_hop():
    s = load_settings({}, trusted_proxies=("10.0.0.0/8", "127.0.0.1"))
    assert forwarded_client("127.0.0.1", "198.51.100.1", s) == "198.51.100.1"
    # a client writing its own X-Forwarded-For cannot choose its address: the proxy appends the real one
    assert forwarded_client("127.0.0.1", "1.2.3.4, 198.51.100.1", s) == "198.51.100.1"
    assert forwarded_client("10.1.1.1", "198.51.100.1, 10.2.2.2", s) == "198.51.100.1"  # two proxies
    assert forwarded_client("192.0.2.50", "198.51.100.1", s) == "192.0.2.50"  # not from a proxy: ignored
    assert forwarded_client("127.0.0.1", "not-an-address", s) == "127.0.0.1"
    assert forwarded_client("127.0.0.1", "198.51.100.1", load_settings({})) == "127.0.0.1"  # none configured
    with pytest.raises(ConfigError, match="LIFECIRCLE_TRUSTED_PROXIES"):
        load_settings({"LIFECIRCLE_TRUSTED_PROXIES": "10.0.0.1, proxy.example"})


def test_sign_in_is_refused_quickly_when_every_hashing_slot_is_busy(platform):
    """At most ``hash_concurrency`` hashes at once; a sign-in finding no free slot gets 429 within
    ``hash_wait_seconds`` instead of queueing (and holding memory)."""
    from dataclasses import replace

    settings = replace(platform.settings, hash_concurrency=1, hash_wait_seconds=0.2)
    platform.app.state.settings = settings
    c = platform.client
    with auth.hash_slot(settings):  # another request is hashing
        t0 = time.perf_counter()
        r = c.post("/api/login", json={"username": "leader", "password": PASSWORD})
        took = time.perf_counter() - t0
        assert r.status_code == 429 and r.headers["retry-after"] == "1" and "繁忙" in r.json()["detail"]
        assert 0.2 <= took < 2
    assert c.post("/api/login", json={"username": "leader", "password": PASSWORD}).status_code == 200
    with transaction(platform.factory()) as s:  # the refused attempt was not counted as a failure
        assert s.scalar(select(func.count(LoginAttempt.id)).where(LoginAttempt.success.is_(False))) == 0


def test_failed_logins_stay_out_of_the_audit_of_changes_which_is_filterable_and_paged(platform):
    c = platform.client
    a = platform.h("admin")
    assert c.post("/api/circles/420502-P1/status", json={"status": "building"}, headers=a).status_code in (200, 422)
    for i in range(9):
        c.post("/api/login", json={"username": f"ghost{i}", "password": "nope-nope-nope"})
    with transaction(platform.factory()) as s:
        assert s.scalar(select(func.count(AuditLog.id)).where(AuditLog.action == "login_failed")) == 0
    changes = c.get("/api/audit", params={"kind": "changes", "limit": 1000}, headers=a).json()
    assert changes and not any(r["action"] in ("login", "logout", "login_failed") for r in changes)
    sign_in = c.get("/api/audit", params={"kind": "sign_in"}, headers=a).json()
    assert sign_in and {r["action"] for r in sign_in} <= {"login", "logout"}
    failed = c.get("/api/audit", params={"kind": "failed_logins", "limit": 5}, headers=a).json()
    assert [r["username"] for r in failed] == [f"ghost{i}" for i in (8, 7, 6, 5, 4)]
    assert failed[0]["action"] == "login_failed" and failed[0]["after"] == {"ip": "testclient"}
    page2 = c.get("/api/audit", params={"kind": "failed_logins", "limit": 5, "offset": 5}, headers=a).json()
    assert [r["username"] for r in page2] == [f"ghost{i}" for i in (3, 2, 1, 0)]
    bad = c.get("/api/audit", params={"kind": "everything"}, headers=a)
    assert bad.status_code == 422 and "kind" in bad.text
    assert c.get("/audit", params={"kind": "failed_logins", "page": 1}).status_code in (200, 303)


@pytest.mark.parametrize(
    "password, why",
    [
        ("short-pw", "至少"),
        ("1234567890", "常见"),
        ("qwertyuiop", "常见"),
        ("Password123", "常见"),
        ("aaaaaaaaaaaa", "常见"),
        ("newofficer", "用户名"),
        ("NewOfficer2024", "用户名"),
    ],
)
def test_weak_passwords_are_refused_on_create_reset_and_change(platform, password, why):
    c = platform.client
    a = platform.h("admin")
    r = c.post("/api/users", json={"username": "newofficer", "password": password, "role": "leader"}, headers=a)
    assert r.status_code == 422 and why in r.text, r.text
    mine = {"newofficer": "leader1234", "NewOfficer2024": "Leader2024"}.get(password, password)  # leader's own name
    r = c.post(
        "/api/me/password", json={"current_password": PASSWORD, "new_password": mine}, headers=platform.h("leader")
    )
    assert r.status_code == 422 and ("new_password" in r.text), r.text
    assert (
        c.post(
            "/api/users",
            json={"username": "newofficer", "password": "tram-lantern-47-quay", "role": "leader"},
            headers=a,
        ).status_code
        == 201
    )


def test_signed_in_user_changes_their_own_password(platform):
    c = platform.client
    other = c.post("/api/login", json={"username": "evaluator", "password": PASSWORD}).json()["token"]
    h = platform.h("evaluator")
    wrong = c.post(
        "/api/me/password", json={"current_password": "not-my-password", "new_password": "velvet-canyon-93"}, headers=h
    )
    assert wrong.status_code == 422 and "current_password" in wrong.text
    same = c.post("/api/me/password", json={"current_password": PASSWORD, "new_password": PASSWORD}, headers=h)
    assert same.status_code == 422
    ok = c.post("/api/me/password", json={"current_password": PASSWORD, "new_password": "velvet-canyon-93"}, headers=h)
    assert ok.status_code == 200, ok.text
    assert c.get("/api/me", headers=h).status_code == 200  # this session goes on
    assert c.get("/api/me", headers={"Authorization": f"Bearer {other}"}).status_code == 401  # the others end
    assert c.post("/api/login", json={"username": "evaluator", "password": PASSWORD}).status_code == 401
    assert c.post("/api/login", json={"username": "evaluator", "password": "velvet-canyon-93"}).status_code == 200
    c.cookies.clear()
    assert c.post("/api/me/password", json={"current_password": "x", "new_password": "y" * 12}).status_code == 401
    with transaction(platform.factory()) as s:
        assert s.scalar(select(func.count(AuditLog.id)).where(AuditLog.action == "change_password")) == 1
        assert s.scalar(select(func.count(UserSession.token_hash))) >= 2


def test_session_cookie_is_secure_by_default_outside_development(tmp_path):
    prod = {"LIFECIRCLE_ENV": "production", "LIFECIRCLE_SECRET_KEY": "k" * 40}
    assert load_settings(prod).cookie_secure is True
    assert load_settings(prod | {"LIFECIRCLE_COOKIE_SECURE": "0"}).cookie_secure is False
    assert load_settings({"LIFECIRCLE_ENV": "dev"}).cookie_secure is False
    assert load_settings({"LIFECIRCLE_ENV": "dev", "LIFECIRCLE_COOKIE_SECURE": "1"}).cookie_secure is True
    with pytest.raises(ConfigError, match="LIFECIRCLE_COOKIE_SECURE"):
        load_settings({"LIFECIRCLE_COOKIE_SECURE": "maybe"})


def test_the_login_cookie_carries_secure_when_configured(db_url, tmp_path):
    from fastapi.testclient import TestClient

    from lifecircle.web.app import create_app

    settings = make_settings(db_url, tmp_path / "data", cookie_secure=True)
    app = create_app(settings)
    seed_demo(app.state.factory, settings, app.state.prog, use_demo_city=False, passwords={"admin": PASSWORD})
    with TestClient(app, base_url="https://testserver") as c:
        r = c.post("/api/login", json={"username": "admin", "password": PASSWORD})
        cookie = r.headers["set-cookie"]
        assert r.status_code == 200 and "lc_session=" in cookie and "Secure" in cookie and "HttpOnly" in cookie
    app.state.engine.dispose()
