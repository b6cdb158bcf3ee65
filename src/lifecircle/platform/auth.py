"""Accounts, passwords, sessions, CSRF tokens and login throttling.

- Passwords are hashed with Argon2id (argon2-cffi); a missing user is compared against a dummy
  hash so that the answer takes as long as for a real user.
- Sessions are server-side: the cookie carries a random token, the ``sessions`` table its SHA-256,
  an expiry time and the session's CSRF token (session-bound CSRF for every form and cookie-authenticated
  API write).
- The login form, which has no session yet, uses a signed double-submit token (HMAC with the secret key).
- Hashing is expensive on purpose (Argon2id, 64 MiB by default), so at most
  ``hash_concurrency`` hashes run at once in the process; a request that cannot get a slot within
  ``hash_wait_seconds`` gets :class:`BusyError` (HTTP 429 with Retry-After) instead of queueing.
- Throttling, checked before any hash is computed (see :func:`check_throttle`):
  per address, ``login_max_failures`` failures within ``login_window_minutes`` minutes block the
  address until the window has passed; per account, after ``login_free_failures`` failures
  (since its last successful sign-in) each further attempt waits a growing delay (1, 2, 4 … s, at
  most ``login_delay_max_seconds``) after the previous failure — so someone guessing cannot lock
  the real user out: the right password works again after a bounded delay, and at once from an
  address the account signed in from successfully during the last :data:`KNOWN_ADDRESS_DAYS` days.
- Failed logins are kept in ``login_attempts`` only, apart from the audit log of changes.
- Passwords: at least :data:`MIN_PASSWORD` characters, not one of the common passwords shipped
  in ``lifecircle/data/passwords/common.txt``, not the user name (:func:`password_problems`).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import math
import secrets
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session, sessionmaker

from lifecircle.errors import InputError, Problem
from lifecircle.i18n import t
from lifecircle.platform import audit
from lifecircle.platform.db import (
    CIRCLE_ROLES,
    DISTRICT_ROLES,
    ROLES,
    Circle,
    District,
    LoginAttempt,
    User,
    UserSession,
    transaction,
    utcnow,
)
from lifecircle.platform.errors import (
    AuthRequiredError,
    BusyError,
    PermissionDeniedError,
    ThrottledError,
)
from lifecircle.platform.settings import Settings


@lru_cache(maxsize=8)
def hasher(time_cost: int = 3, memory_kib: int = 65536) -> PasswordHasher:
    """An Argon2id hasher with the given cost (seconds grow with both)."""
    return PasswordHasher(time_cost=time_cost, memory_cost=memory_kib, parallelism=1)


@lru_cache(maxsize=8)
def _dummy_hash(time_cost: int, memory_kib: int) -> str:
    return hasher(time_cost, memory_kib).hash(secrets.token_hex(16))


@lru_cache(maxsize=8)
def _gate(slots: int) -> threading.BoundedSemaphore:
    """The process-wide semaphore of ``slots`` concurrent password hashes."""
    return threading.BoundedSemaphore(slots)


@contextmanager
def hash_slot(settings: Settings) -> Iterator[None]:
    """Hold one of the ``hash_concurrency`` hashing slots; :class:`BusyError` when none frees up
    within ``hash_wait_seconds`` (a flood of logins is refused quickly instead of piling up memory)."""
    gate = _gate(settings.hash_concurrency)
    if not gate.acquire(timeout=settings.hash_wait_seconds):
        raise BusyError(
            t("服务器繁忙（登录请求过多），请稍后再试", "the server is busy (too many sign-ins); try again shortly"), 1
        )
    try:
        yield
    finally:
        gate.release()


def hash_password(password: str, settings: Settings) -> str:
    """The Argon2id hash of ``password`` (in a hashing slot)."""
    with hash_slot(settings):
        return hasher(settings.argon2_time_cost, settings.argon2_memory_kib).hash(password)


def verify_password(stored: str | None, password: str, settings: Settings) -> bool:
    """True when ``password`` matches ``stored``; with ``stored=None`` a dummy hash is checked
    (same cost) and False returned, so timing does not reveal which user names exist."""
    ph = hasher(settings.argon2_time_cost, settings.argon2_memory_kib)
    ok: bool
    with hash_slot(settings):
        target = stored or _dummy_hash(settings.argon2_time_cost, settings.argon2_memory_kib)
        try:
            ok = ph.verify(target, password)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            ok = False
    return ok and stored is not None


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def session_key(token: str) -> str:
    """The key of a session token in the ``sessions`` table (its SHA-256)."""
    return _token_hash(token)


MIN_PASSWORD = 10
MAX_PASSWORD = 256


@lru_cache(maxsize=1)
def common_passwords() -> frozenset[str]:
    """The common passwords refused for accounts (lower case), from ``data/passwords/common.txt``."""
    res = resources.files("lifecircle.data") / "passwords" / "common.txt"
    lines = res.read_text(encoding="utf-8").splitlines()
    return frozenset(x.strip().lower() for x in lines if x.strip() and not x.startswith("#"))


def password_problems(password: str, username: str | None = None) -> list[Problem]:
    """The rules of a new password: :data:`MIN_PASSWORD` to :data:`MAX_PASSWORD` characters, not a
    common password, not the user name (nor the user name with a few characters around it)."""

    def bad(zh: str, en: str) -> list[Problem]:
        return [Problem(t(zh, en), field="password")]

    if len(password) < MIN_PASSWORD:
        return bad(f"密码至少 {MIN_PASSWORD} 个字符", f"password needs at least {MIN_PASSWORD} characters")
    if len(password) > MAX_PASSWORD:
        return bad(f"密码最长 {MAX_PASSWORD} 个字符", f"password has at most {MAX_PASSWORD} characters")
    low = password.lower()
    if low in common_passwords() or len(set(low)) <= 2:
        return bad("密码太常见，容易被猜中，请换一个", "this password is too common and easy to guess; choose another")
    name = (username or "").strip().lower()
    if name and (low == name or (len(name) >= 4 and name in low and len(low) - len(name) < 6)):
        return bad(
            "密码不能是用户名（或用户名加几个字符）",
            "the password must not be the user name (or the user name plus a few characters)",
        )
    return []


def role_problems(s: Session, role: str, district: str | None, circle_id: str | None = None) -> list[Problem]:
    """The rules of a role and its place: a known role; a district (valid code) for district officers and
    inspectors only; a circle (valid id) for community officers only, whose district is the circle's."""
    problems = []
    if role not in ROLES:
        problems.append(Problem(t(f"未知角色 '{role}'", f"unknown role '{role}'"), field="role"))
    if role in DISTRICT_ROLES:
        if not district or s.get(District, district) is None:
            problems.append(
                Problem(
                    t(
                        "区级负责人和检查员必须指定有效的区代码",
                        "a district officer or inspector needs a valid district code",
                    ),
                    field="district",
                )
            )
    elif district and role not in CIRCLE_ROLES:
        problems.append(
            Problem(
                t(
                    "只有区级负责人、检查员和社区工作人员有所属区",
                    "only district officers, inspectors and community officers have a district",
                ),
                field="district",
            )
        )
    if role in CIRCLE_ROLES:
        circle = s.get(Circle, circle_id) if circle_id else None
        if circle is None:
            problems.append(
                Problem(
                    t("街道/社区工作人员必须指定有效的生活圈编号", "a community officer needs a valid circle id"),
                    field="circle",
                )
            )
        elif district and district != circle.district:
            problems.append(
                Problem(
                    t(f"生活圈 {circle_id} 不在区 {district}", f"circle {circle_id} is not in district {district}"),
                    field="district",
                )
            )
    elif circle_id:
        problems.append(
            Problem(t("只有街道/社区工作人员有所属生活圈", "only community officers have a circle"), field="circle")
        )
    return problems


def generate_password() -> str:
    """A random initial password (16 URL-safe characters, ~96 bits), meeting :func:`password_problems`."""
    return secrets.token_urlsafe(12)


def validate_new_user(
    s: Session, username: str, password: str, role: str, district: str | None, circle_id: str | None = None
) -> None:
    """Check a new account; raise :class:`InputError` naming every bad field."""
    problems = []
    if not username or len(username) > 64 or not all(c.isalnum() or c in "._-" for c in username):
        problems.append(
            Problem(
                t("用户名只能含字母、数字和 . _ -，最长 64", "user name: letters, digits, . _ - only, at most 64"),
                field="username",
            )
        )
    elif s.scalar(select(User.id).where(User.username == username)) is not None:
        problems.append(Problem(t(f"用户名 '{username}' 已存在", f"user name '{username}' is taken"), field="username"))
    problems += password_problems(password, username)
    problems += role_problems(s, role, district, circle_id)
    if problems:
        raise InputError(problems)


def create_user(
    s: Session,
    actor: User | None,
    settings: Settings,
    *,
    username: str,
    password: str,
    role: str,
    display_name: str = "",
    district: str | None = None,
    circle_id: str | None = None,
) -> User:
    """Create an account (in the caller's transaction, audited). Only a city admin (or the system,
    ``actor=None``) may do it. A community officer's district is its circle's."""
    if actor is not None and actor.role != "city_admin":
        raise PermissionDeniedError(
            t("只有市商务局管理员可以创建账号", "only the city administrator can create accounts")
        )
    district = district or None  # an empty district field is "no district", not a code
    circle_id = circle_id or None
    validate_new_user(s, username, password, role, district, circle_id)
    if circle_id is not None:
        district = s.get(Circle, circle_id).district  # type: ignore[union-attr]  # checked just above
    u = User(
        username=username,
        display_name=display_name or username,
        role=role,
        district=district,
        circle_id=circle_id,
        password_hash=hash_password(password, settings),
        active=True,
        created_at=utcnow(),
    )
    s.add(u)
    s.flush()
    audit.record(s, actor, "create", "user", u.id, None, audit.snapshot(u))
    return u


@dataclass(frozen=True)
class LoginResult:
    """A new session: the cookie token (secret, shown once), its CSRF token and expiry (UTC)."""

    token: str
    csrf_token: str
    expires_at: dt.datetime
    user: User


KNOWN_ADDRESS_DAYS = 30


def check_throttle(s: Session, settings: Settings, username: str, ip: str, now: dt.datetime) -> None:
    """Raise :class:`ThrottledError` when this attempt must wait (see the module's notes):
    the address has too many failures in the window, or the account's growing delay since its
    last failure has not passed (unless the address is one the account signed in from)."""
    window = dt.timedelta(minutes=settings.login_window_minutes)
    since = now - window
    n_ip, first_ip = s.execute(
        select(func.count(LoginAttempt.id), func.min(LoginAttempt.at)).where(
            LoginAttempt.ip == ip, LoginAttempt.success.is_(False), LoginAttempt.at >= since
        )
    ).one()
    if n_ip >= settings.login_max_failures:
        retry = int(((first_ip or now) + window - now).total_seconds()) + 1
        raise ThrottledError(
            t(
                f"此地址登录失败次数过多，请 {max(math.ceil(retry / 60), 1)} 分钟后再试",
                f"too many failed logins from this address; try again in {max(math.ceil(retry / 60), 1)} minutes",
            ),
            retry,
        )
    last_ok = s.scalar(
        select(func.max(LoginAttempt.at)).where(LoginAttempt.username == username, LoginAttempt.success.is_(True))
    )
    if (
        last_ok is not None
        and s.scalar(
            select(LoginAttempt.id)
            .where(
                LoginAttempt.username == username,
                LoginAttempt.ip == ip,
                LoginAttempt.success.is_(True),
                LoginAttempt.at >= now - dt.timedelta(days=KNOWN_ADDRESS_DAYS),
            )
            .limit(1)
        )
        is not None
    ):
        return  # an address this account signed in from: no per-account delay
    n_user, last_fail = s.execute(
        select(func.count(LoginAttempt.id), func.max(LoginAttempt.at)).where(
            LoginAttempt.username == username,
            LoginAttempt.success.is_(False),
            LoginAttempt.at >= max(since, last_ok or since),
        )
    ).one()
    extra = n_user - settings.login_free_failures
    if extra < 0 or last_fail is None:
        return
    delay = min(2.0**extra, float(settings.login_delay_max_seconds))
    wait = (last_fail + dt.timedelta(seconds=delay) - now).total_seconds()
    if wait > 0:
        secs = math.ceil(wait)
        raise ThrottledError(
            t(
                f"该账号最近登录失败较多，请 {secs} 秒后再试",
                f"recent failed logins for this account; try again in {secs} seconds",
            ),
            secs,
        )


def login(factory: sessionmaker[Session], settings: Settings, username: str, password: str, ip: str) -> LoginResult:
    """Check credentials and open a session. Raises :class:`ThrottledError` when the attempt must
    wait (:func:`check_throttle`, checked before hashing), :class:`BusyError` when no hashing slot
    is free, :class:`AuthRequiredError` for a wrong name or password (one message for both)."""
    username = (username or "").strip()[:64]
    ip = (ip or "-")[:64]
    password = password[: MAX_PASSWORD * 4]
    now = utcnow()
    with transaction(factory) as s:
        check_throttle(s, settings, username, ip, now)
        user = s.scalar(select(User).where(User.username == username))
        stored = user.password_hash if user is not None else None
    # the hash runs outside any transaction: a slow or refused hash holds no database connection
    ok = verify_password(stored, password, settings) and user is not None and user.active
    with transaction(factory) as s:
        s.add(LoginAttempt(username=username, ip=ip, at=utcnow(), success=ok))
    if not ok or user is None:
        raise AuthRequiredError(t("用户名或密码错误", "wrong user name or password"))
    token = secrets.token_urlsafe(32)
    csrf = secrets.token_urlsafe(32)
    expires = now + dt.timedelta(minutes=settings.session_minutes)
    with transaction(factory) as s:
        s.execute(delete(UserSession).where(UserSession.expires_at < now))
        s.add(
            UserSession(
                token_hash=_token_hash(token),
                user_id=user.id,
                csrf_token=csrf,
                created_at=now,
                expires_at=expires,
                ip=ip,
            )
        )
        audit.record(s, user, "login", "session", user.id, None, {"ip": ip})
    return LoginResult(token, csrf, expires, user)


def session_user(s: Session, token: str | None) -> tuple[User, UserSession]:
    """The user and session of a cookie/bearer token; :class:`AuthRequiredError` if missing or expired."""
    if not token:
        raise AuthRequiredError(t("请先登录", "please sign in"))
    row = s.get(UserSession, _token_hash(token))
    if row is None or row.expires_at <= utcnow():
        raise AuthRequiredError(t("登录已过期，请重新登录", "your session has expired; please sign in again"))
    user = s.get(User, row.user_id)
    if user is None or not user.active:
        raise AuthRequiredError(t("账号已停用", "the account is disabled"))
    return user, row


def logout(factory: sessionmaker[Session], token: str | None) -> None:
    """End the session of ``token`` (no error if there is none)."""
    if not token:
        return
    with transaction(factory) as s:
        row = s.get(UserSession, _token_hash(token))
        if row is not None:
            user = s.get(User, row.user_id)
            s.delete(row)
            audit.record(s, user, "logout", "session", row.user_id)


def check_csrf(expected: str | None, given: str | None) -> bool:
    """Constant-time comparison of a CSRF token."""
    return bool(expected) and bool(given) and hmac.compare_digest(str(expected), str(given))


def login_form_token(settings: Settings, nonce: str) -> str:
    """The signed login-form CSRF token for the double-submit cookie ``nonce``."""
    return hmac.new(settings.secret_key.encode(), b"login:" + nonce.encode(), hashlib.sha256).hexdigest()


def check_login_form_token(settings: Settings, nonce: str | None, given: str | None) -> bool:
    """True when ``given`` is the signed token of the cookie ``nonce``."""
    if not nonce or not given:
        return False
    return hmac.compare_digest(login_form_token(settings, nonce), given)
