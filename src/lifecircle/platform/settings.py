"""Settings of the officials' platform, read from the environment and checked at start-up.

| variable | default | meaning |
| --- | --- | --- |
| ``LIFECIRCLE_ENV`` | ``dev`` | ``dev`` or ``production``; production refuses the default secret key |
| ``DATABASE_URL`` | SQLite file ``<data dir>/lifecircle.db`` | SQLAlchemy URL; ``postgresql://...`` for PostgreSQL |
| ``LIFECIRCLE_DATA_DIR`` | ``./lifecircle-data`` | folder of the SQLite file and the evidence files |
| ``LIFECIRCLE_SECRET_KEY`` | a fixed dev key | signs the login-form CSRF token; at least 32 characters outside dev |
| ``LIFECIRCLE_SESSION_MINUTES`` | 480 | session lifetime, minutes |
| ``LIFECIRCLE_UPLOAD_MAX_MB`` | 10 | largest evidence file, MB (10⁶ bytes) |
| ``LIFECIRCLE_TILE_URL`` | empty | a web-map tile URL template for sites with internet (else our own streets only) |
| ``LIFECIRCLE_BODY_MAX_KB`` | 1024 | largest body of any other write (JSON, forms), KB (10³ bytes); larger → 413 |
| ``LIFECIRCLE_LOGIN_MAX_FAILURES`` | 10 | failed logins per address that block the address (see below) |
| ``LIFECIRCLE_LOGIN_WINDOW_MINUTES`` | 15 | the window of those failures and of the block, minutes |
| ``LIFECIRCLE_LOGIN_FREE_FAILURES`` | 3 | failures per account before each attempt waits (see below) |
| ``LIFECIRCLE_LOGIN_DELAY_MAX_SECONDS`` | 60 | the longest such wait, seconds |
| ``LIFECIRCLE_HASH_CONCURRENCY`` | 2 | password hashes (Argon2id, 64 MiB each) running at once (see below) |
| ``LIFECIRCLE_TRUSTED_PROXIES`` | empty | reverse proxies whose ``X-Forwarded-For`` is believed (see below) |
| ``LIFECIRCLE_COOKIE_SECURE`` | ``1`` outside ``dev``/``test`` | ``1``: HTTPS-only session cookie (see below) |
| ``LIFECIRCLE_TIMEZONE`` | ``Asia/Shanghai`` | the time zone the pages show times in (stored times are UTC) |
| ``LIFECIRCLE_PUBLIC_RATE_PER_MINUTE`` | 120 | requests a minute per address to the public (no sign-in) endpoints |
| ``LIFECIRCLE_PUBLIC_BURST`` | 40 | requests per address the public endpoints take at once before that rate applies |

Sign-in throttling: per address, ``LIFECIRCLE_LOGIN_MAX_FAILURES`` failed logins within the window
(``LIFECIRCLE_LOGIN_WINDOW_MINUTES``) block the address until the window has passed. Per account, after
``LIFECIRCLE_LOGIN_FREE_FAILURES`` failures each attempt waits 1, 2, 4 … s (at most
``LIFECIRCLE_LOGIN_DELAY_MAX_SECONDS``) after the last failure; never a lock-out. A sign-in that finds no
free password-hash slot (``LIFECIRCLE_HASH_CONCURRENCY``) within 1 s gets 429.

``LIFECIRCLE_TRUSTED_PROXIES`` is a comma-separated list of addresses/networks of reverse proxies whose
``X-Forwarded-For`` is believed (for throttling and the audit); from anyone else it is ignored.

With ``LIFECIRCLE_COOKIE_SECURE`` ``1`` the session cookie is sent over HTTPS only (``Secure``); ``0`` only
for plain-HTTP local development.
"""

from __future__ import annotations

import ipaddress
import os
from dataclasses import dataclass, field, replace
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from lifecircle.errors import ConfigError
from lifecircle.i18n import t

DEV_SECRET = "lifecircle-dev-secret-key-do-not-use-in-production"
ENVS = ("dev", "test", "production")


@dataclass(frozen=True)
class Settings:
    """Validated platform settings. Times in minutes, sizes in bytes."""

    env: str = "dev"
    data_dir: Path = Path("lifecircle-data")
    database_url: str = ""
    secret_key: str = DEV_SECRET
    session_minutes: int = 480
    upload_max_bytes: int = 10_000_000
    tile_url: str = ""
    tile_attribution: str = ""
    body_max_bytes: int = 1_000_000
    login_max_failures: int = 10
    login_window_minutes: int = 15
    login_free_failures: int = 3
    login_delay_max_seconds: int = 60
    hash_concurrency: int = 2
    hash_wait_seconds: float = 1.0
    trusted_proxies: tuple[str, ...] = ()
    argon2_time_cost: int = 3
    argon2_memory_kib: int = 65536
    cookie_secure: bool = False
    programme: str = "programme-yichang"
    timezone: str = "Asia/Shanghai"
    public_rate_per_minute: int = 120
    public_burst: int = 40
    extra: dict[str, str] = field(default_factory=dict)

    @property
    def db_url(self) -> str:
        """The SQLAlchemy URL (the SQLite file under ``data_dir`` unless ``database_url`` is set)."""
        if self.database_url:
            return normalise_db_url(self.database_url)
        return f"sqlite:///{(self.data_dir / 'lifecircle.db').resolve()}"

    @property
    def upload_body_max_bytes(self) -> int:
        """The largest multipart body of an evidence upload: the file limit plus room for the form."""
        return self.upload_max_bytes + 64_000

    def is_trusted_proxy(self, address: str) -> bool:
        """True when ``address`` is one of :attr:`trusted_proxies` (addresses or networks)."""
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            return False
        return any(ip in ipaddress.ip_network(n, strict=False) for n in self.trusted_proxies)

    @property
    def evidence_dir(self) -> Path:
        """Folder of uploaded evidence files."""
        return self.data_dir / "evidence"

    def validate(self) -> Settings:
        """Check every setting; raise :class:`ConfigError` listing all problems."""
        problems: list[str] = []
        if self.env not in ENVS:
            problems.append(
                t(
                    f"LIFECIRCLE_ENV='{self.env}' 应为 {'/'.join(ENVS)}",
                    f"LIFECIRCLE_ENV='{self.env}' must be one of {'/'.join(ENVS)}",
                )
            )
        if self.env == "production":
            if self.secret_key == DEV_SECRET:
                problems.append(
                    t(
                        "生产环境必须设置 LIFECIRCLE_SECRET_KEY（不能使用默认开发密钥）",
                        "LIFECIRCLE_SECRET_KEY must be set in production (the dev default is refused)",
                    )
                )
            elif len(self.secret_key) < 32:
                problems.append(
                    t("LIFECIRCLE_SECRET_KEY 至少 32 个字符", "LIFECIRCLE_SECRET_KEY needs at least 32 characters")
                )
        if self.session_minutes <= 0:
            problems.append(t("LIFECIRCLE_SESSION_MINUTES 必须为正数", "LIFECIRCLE_SESSION_MINUTES must be positive"))
        if self.upload_max_bytes <= 0:
            problems.append(t("LIFECIRCLE_UPLOAD_MAX_MB 必须为正数", "LIFECIRCLE_UPLOAD_MAX_MB must be positive"))
        if self.body_max_bytes <= 0:
            problems.append(t("LIFECIRCLE_BODY_MAX_KB 必须为正数", "LIFECIRCLE_BODY_MAX_KB must be positive"))
        if (
            self.login_max_failures <= 0
            or self.login_window_minutes <= 0
            or self.login_free_failures < 0
            or self.login_delay_max_seconds <= 0
        ):
            problems.append(t("登录限流参数必须为正数", "login throttling settings must be positive"))
        if self.public_rate_per_minute <= 0 or self.public_burst <= 0:
            problems.append(t("公共接口限流参数必须为正数", "the public endpoints' rate limits must be positive"))
        if self.hash_concurrency <= 0 or self.hash_wait_seconds < 0:
            problems.append(t("LIFECIRCLE_HASH_CONCURRENCY 必须为正数", "LIFECIRCLE_HASH_CONCURRENCY must be positive"))
        for n in self.trusted_proxies:
            try:
                ipaddress.ip_network(n, strict=False)
            except ValueError:
                problems.append(
                    t(
                        f"LIFECIRCLE_TRUSTED_PROXIES 中 '{n}' 不是地址或网段",
                        f"LIFECIRCLE_TRUSTED_PROXIES: '{n}' is not an address or network",
                    )
                )
        try:
            ZoneInfo(self.timezone)
        except (ZoneInfoNotFoundError, ValueError):
            problems.append(
                t(
                    f"LIFECIRCLE_TIMEZONE='{self.timezone}' 不是已知的时区（如 Asia/Shanghai）",
                    f"LIFECIRCLE_TIMEZONE='{self.timezone}' is not a known time zone (e.g. Asia/Shanghai)",
                )
            )
        url = self.db_url
        if not (url.startswith("sqlite") or url.startswith("postgresql")):
            problems.append(
                t(
                    f"DATABASE_URL 只支持 sqlite 或 postgresql：{url.split(':')[0]}",
                    f"DATABASE_URL must be sqlite or postgresql, not {url.split(':')[0]}",
                )
            )
        if self.tile_url and not ("{z}" in self.tile_url and "{x}" in self.tile_url and "{y}" in self.tile_url):
            problems.append(
                t("LIFECIRCLE_TILE_URL 须包含 {z}/{x}/{y}", "LIFECIRCLE_TILE_URL must contain {z}, {x} and {y}")
            )
        if problems:
            raise ConfigError("; ".join(problems))
        return self

    def with_(self, **kw: object) -> Settings:
        """A copy with some fields replaced (validated)."""
        return replace(self, **kw).validate()  # type: ignore[arg-type]


def normalise_db_url(url: str) -> str:
    """Use the psycopg 3 driver for ``postgresql://`` / ``postgres://`` URLs."""
    if url.startswith("postgres://"):
        url = "postgresql://" + url[len("postgres://") :]
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://") :]
    return url


def _int(env: dict[str, str], name: str, default: int, problems: list[str]) -> int:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError:
        problems.append(t(f"{name}='{raw}' 不是整数", f"{name}='{raw}' is not a whole number"))
        return default


def load_settings(environ: dict[str, str] | None = None, **overrides: object) -> Settings:
    """Read settings from ``environ`` (default: the process environment), apply ``overrides``
    and validate. Raises :class:`ConfigError` naming every bad variable."""
    env = dict(os.environ if environ is None else environ)
    problems: list[str] = []
    max_mb = _int(env, "LIFECIRCLE_UPLOAD_MAX_MB", 10, problems)
    env_name = env.get("LIFECIRCLE_ENV", "dev")
    secure_raw = env.get("LIFECIRCLE_COOKIE_SECURE", "").strip().lower()
    if secure_raw in ("", "default"):
        secure = env_name not in ("dev", "test")
    elif secure_raw in ("1", "true", "yes", "on"):
        secure = True
    elif secure_raw in ("0", "false", "no", "off"):
        secure = False
    else:
        problems.append(
            t(
                f"LIFECIRCLE_COOKIE_SECURE='{secure_raw}' 应为 1 或 0",
                f"LIFECIRCLE_COOKIE_SECURE='{secure_raw}' must be 1 or 0",
            )
        )
        secure = True
    s = Settings(
        env=env_name,
        data_dir=Path(env.get("LIFECIRCLE_DATA_DIR", "lifecircle-data")),
        database_url=env.get("DATABASE_URL", ""),
        secret_key=env.get("LIFECIRCLE_SECRET_KEY") or DEV_SECRET,
        session_minutes=_int(env, "LIFECIRCLE_SESSION_MINUTES", 480, problems),
        upload_max_bytes=max_mb * 1_000_000,
        tile_url=env.get("LIFECIRCLE_TILE_URL", ""),
        tile_attribution=env.get("LIFECIRCLE_TILE_ATTRIBUTION", ""),
        body_max_bytes=_int(env, "LIFECIRCLE_BODY_MAX_KB", 1024, problems) * 1000,
        login_max_failures=_int(env, "LIFECIRCLE_LOGIN_MAX_FAILURES", 10, problems),
        login_window_minutes=_int(env, "LIFECIRCLE_LOGIN_WINDOW_MINUTES", 15, problems),
        login_free_failures=_int(env, "LIFECIRCLE_LOGIN_FREE_FAILURES", 3, problems),
        login_delay_max_seconds=_int(env, "LIFECIRCLE_LOGIN_DELAY_MAX_SECONDS", 60, problems),
        hash_concurrency=_int(env, "LIFECIRCLE_HASH_CONCURRENCY", 2, problems),
        trusted_proxies=tuple(p.strip() for p in env.get("LIFECIRCLE_TRUSTED_PROXIES", "").split(",") if p.strip()),
        cookie_secure=secure,
        timezone=env.get("LIFECIRCLE_TIMEZONE") or "Asia/Shanghai",
        public_rate_per_minute=_int(env, "LIFECIRCLE_PUBLIC_RATE_PER_MINUTE", 120, problems),
        public_burst=_int(env, "LIFECIRCLE_PUBLIC_BURST", 40, problems),
    )
    if problems:
        raise ConfigError("; ".join(problems))
    if overrides:
        s = replace(s, **overrides)  # type: ignore[arg-type]
    return s.validate()
