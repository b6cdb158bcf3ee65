"""Accounts, passwords, sessions, CSRF tokens and login throttling.

- Passwords are hashed with Argon2id (argon2-cffi); a missing user is compared against a dummy
  hash so that the answer takes as long as for a real user.
- Sessions are server-side: the cookie carries a random token, the ``sessions`` table its SHA-256,
  an expiry time and the session's CSRF token (session-bound CSRF for every form and cookie-authenticated
  API write).
- The login form, which has no session yet, uses a signed double-submit token (HMAC with the secret key).
- Throttling: ``login_max_failures`` failures for the same user name and address within
  ``login_window_minutes`` minutes → :class:`ThrottledError` (HTTP 429) until the window has passed.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import secrets
from dataclasses import dataclass
from functools import lru_cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session, sessionmaker

from lifecircle.errors import InputError, Problem
from lifecircle.i18n import t
from lifecircle.platform import audit
from lifecircle.platform.db import (
    ROLES,
    District,
    LoginAttempt,
    User,
    UserSession,
    transaction,
    utcnow,
)
from lifecircle.platform.errors import AuthRequiredError, PermissionDeniedError, ThrottledError
from lifecircle.platform.settings import Settings


@lru_cache(maxsize=8)
def hasher(time_cost: int = 3, memory_kib: int = 65536) -> PasswordHasher:
    """An Argon2id hasher with the given cost (seconds grow with both)."""
    return PasswordHasher(time_cost=time_cost, memory_cost=memory_kib, parallelism=1)


@lru_cache(maxsize=8)
def _dummy_hash(time_cost: int, memory_kib: int) -> str:
    return hasher(time_cost, memory_kib).hash(secrets.token_hex(16))


def hash_password(password: str, settings: Settings) -> str:
    """The Argon2id hash of ``password``."""
    return hasher(settings.argon2_time_cost, settings.argon2_memory_kib).hash(password)


def verify_password(stored: str | None, password: str, settings: Settings) -> bool:
    """True when ``password`` matches ``stored``; with ``stored=None`` a dummy hash is checked
    (same cost) and False returned, so timing does not reveal which user names exist."""
    ph = hasher(settings.argon2_time_cost, settings.argon2_memory_kib)
    target = stored or _dummy_hash(settings.argon2_time_cost, settings.argon2_memory_kib)
    ok: bool
    try:
        ok = ph.verify(target, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        ok = False
    return ok and stored is not None


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


MIN_PASSWORD = 10


def password_problems(password: str) -> list[Problem]:
    """The strength rules of a new password (at least :data:`MIN_PASSWORD` characters)."""
    if len(password) < MIN_PASSWORD:
        return [Problem(t(f"密码至少 {MIN_PASSWORD} 个字符", f"password needs at least {MIN_PASSWORD} characters"), field="password")]
    return []


def role_problems(s: Session, role: str, district: str | None) -> list[Problem]:
    """The rules of a role and district: a known role; a district (valid code) for district officers only."""
    problems = []
    if role not in ROLES:
        problems.append(Problem(t(f"未知角色 '{role}'", f"unknown role '{role}'"), field="role"))
    if role == "district_officer":
        if not district or s.get(District, district) is None:
            problems.append(Problem(t("区级负责人必须指定有效的区代码", "a district officer needs a valid district code"), field="district"))
    elif district:
        problems.append(Problem(t("只有区级负责人有所属区", "only district officers have a district"), field="district"))
    return problems


def generate_password() -> str:
    """A random initial password (16 URL-safe characters, ~96 bits), meeting :func:`password_problems`."""
    return secrets.token_urlsafe(12)


def validate_new_user(s: Session, username: str, password: str, role: str, district: str | None) -> None:
    """Check a new account; raise :class:`InputError` naming every bad field."""
    problems = []
    if not username or len(username) > 64 or not all(c.isalnum() or c in "._-" for c in username):
        problems.append(Problem(t("用户名只能含字母、数字和 . _ -，最长 64", "user name: letters, digits, . _ - only, at most 64"), field="username"))
    elif s.scalar(select(User.id).where(User.username == username)) is not None:
        problems.append(Problem(t(f"用户名 '{username}' 已存在", f"user name '{username}' is taken"), field="username"))
    problems += password_problems(password)
    problems += role_problems(s, role, district)
    if problems:
        raise InputError(problems)


def create_user(s: Session, actor: User | None, settings: Settings, *, username: str, password: str, role: str,
                display_name: str = "", district: str | None = None) -> User:
    """Create an account (in the caller's transaction, audited). Only a city admin (or the system,
    ``actor=None``) may do it."""
    if actor is not None and actor.role != "city_admin":
        raise PermissionDeniedError(t("只有市商务局管理员可以创建账号", "only the city administrator can create accounts"))
    district = district or None  # an empty district field is "no district", not a code
    validate_new_user(s, username, password, role, district)
    u = User(username=username, display_name=display_name or username, role=role, district=district,
             password_hash=hash_password(password, settings), active=True, created_at=utcnow())
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


def _failures(s: Session, username: str, ip: str, since: dt.datetime) -> tuple[int, dt.datetime | None]:
    row = s.execute(
        select(func.count(LoginAttempt.id), func.min(LoginAttempt.at)).where(
            LoginAttempt.username == username, LoginAttempt.ip == ip, LoginAttempt.success.is_(False),
            LoginAttempt.at >= since)
    ).one()
    return int(row[0]), row[1]


def login(factory: sessionmaker[Session], settings: Settings, username: str, password: str, ip: str) -> LoginResult:
    """Check credentials and open a session. Raises :class:`ThrottledError` after too many failures,
    :class:`AuthRequiredError` for a wrong name or password (one message for both)."""
    username = (username or "").strip()[:64]
    now = utcnow()
    window = dt.timedelta(minutes=settings.login_window_minutes)
    with transaction(factory) as s:
        n, first = _failures(s, username, ip, now - window)
        if n >= settings.login_max_failures:
            retry = int(((first or now) + window - now).total_seconds()) + 1
            raise ThrottledError(t(f"登录失败次数过多，请 {max(retry // 60, 1)} 分钟后再试",
                              f"too many failed logins; try again in {max(retry // 60, 1)} minutes"), retry)
        user = s.scalar(select(User).where(User.username == username))
        ok = verify_password(user.password_hash if user is not None else None, password, settings)
        ok = ok and user is not None and user.active
        s.add(LoginAttempt(username=username, ip=ip, at=now, success=ok))
        if not ok:
            audit.record(s, None, "login_failed", "user", username or "-", None, {"ip": ip})
    if not ok or user is None:
        raise AuthRequiredError(t("用户名或密码错误", "wrong user name or password"))
    token = secrets.token_urlsafe(32)
    csrf = secrets.token_urlsafe(32)
    expires = now + dt.timedelta(minutes=settings.session_minutes)
    with transaction(factory) as s:
        s.execute(delete(UserSession).where(UserSession.expires_at < now))
        s.add(UserSession(token_hash=_token_hash(token), user_id=user.id, csrf_token=csrf, created_at=now,
                          expires_at=expires, ip=ip))
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
