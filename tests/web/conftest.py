"""Fixtures of the web tests: a platform on SQLite and — with ``LIFECIRCLE_TEST_PG=1`` or in CI —
on a real PostgreSQL server that these fixtures start themselves (initdb into a temporary folder
as the ``postgres`` user, on a free localhost port), then stop.

Every test gets a clean, migrated database seeded with the programme, the 30 synthetic circles
from the quotas and one account per role (password ``PASSWORD``).
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import inspect, text

from lifecircle.platform.db import make_engine, session_factory
from lifecircle.platform.programme import load_programme
from lifecircle.platform.seed import init_platform, seed_demo
from lifecircle.platform.settings import load_settings

PASSWORD = "correct-horse-battery"
ACCOUNTS = ["admin", "xiling", "wujiagang", "evaluator", "leader"]
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
WANT_PG = IN_CI or os.environ.get("LIFECIRCLE_TEST_PG") == "1"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _pg_bin() -> Path | None:
    found = shutil.which("initdb")
    if found:
        return Path(found).resolve().parent
    cands = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    return Path(cands[-1]).parent if cands else None


def _install_pg() -> None:
    if os.geteuid() != 0:
        return
    subprocess.run(["apt-get", "update", "-qq"], check=False, capture_output=True)
    subprocess.run(["apt-get", "install", "-y", "-qq", "postgresql"], check=False, capture_output=True,
                   env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"})


@pytest.fixture(scope="session")
def pg_url() -> Iterator[str]:
    """Start a throw-away PostgreSQL server; yields its SQLAlchemy URL."""
    if not WANT_PG:
        pytest.skip("PostgreSQL tests run in CI or with LIFECIRCLE_TEST_PG=1")
    bindir = _pg_bin()
    if bindir is None:
        _install_pg()
        bindir = _pg_bin()
    if bindir is None:
        if IN_CI:
            pytest.fail("PostgreSQL (initdb) not found and could not be installed")
        pytest.skip("PostgreSQL (initdb) not found")
    root = Path(tempfile.mkdtemp(prefix="lc-pg-"))
    data, log = root / "data", root / "pg.log"
    as_root = os.geteuid() == 0
    prefix: list[str] = []
    if as_root:  # postgres refuses to run as root
        shutil.chown(root, "postgres", "postgres")
        root.chmod(0o700)
        prefix = ["runuser", "-u", "postgres", "--"]
    port = _free_port()
    subprocess.run([*prefix, str(bindir / "initdb"), "-D", str(data), "-A", "trust", "-U", "postgres", "-E", "UTF8",
                    "--locale=C", "--no-sync"], check=True, capture_output=True)
    opts = f"-p {port} -k {root} -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
    subprocess.run([*prefix, str(bindir / "pg_ctl"), "-D", str(data), "-l", str(log), "-o", opts, "-w", "-t", "60", "start"],
                   check=True, capture_output=True)
    try:
        yield f"postgresql+psycopg://postgres@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run([*prefix, str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop"],
                       check=False, capture_output=True)
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory) -> Path:
    """A migrated, empty SQLite database, copied for each test."""
    p = tmp_path_factory.mktemp("tpl") / "template.db"
    engine = make_engine(f"sqlite:///{p}")
    init_platform(engine, session_factory(engine), load_programme())
    with engine.begin() as c:
        c.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
        c.exec_driver_sql("PRAGMA journal_mode=DELETE")
    engine.dispose()
    return p


_PG_MIGRATED: dict[str, bool] = {}


def _clean_pg(url: str) -> None:
    engine = make_engine(url)
    if not _PG_MIGRATED.get(url):
        with engine.begin() as c:
            c.execute(text("DROP SCHEMA public CASCADE; CREATE SCHEMA public"))
        _PG_MIGRATED[url] = True
    else:
        names = [n for n in inspect(engine).get_table_names() if n != "alembic_version"]
        if names:
            with engine.begin() as c:
                c.execute(text(f"TRUNCATE {', '.join(names)} RESTART IDENTITY CASCADE"))
    engine.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request, tmp_path, sqlite_template) -> str:
    """A clean database URL, once per backend."""
    if request.param == "sqlite":
        p = tmp_path / "platform.db"
        shutil.copy(sqlite_template, p)
        return f"sqlite:///{p}"
    url = request.getfixturevalue("pg_url")
    _clean_pg(url)
    return url


@dataclass
class Platform:
    """A running app (TestClient) on a seeded database, with a login helper."""

    client: object
    app: object
    settings: object
    url: str
    _tokens: dict

    def h(self, user: str) -> dict[str, str]:
        """Bearer headers of ``user`` (signs in once per test)."""
        if user not in self._tokens:
            r = self.client.post("/api/login", json={"username": user, "password": PASSWORD})
            assert r.status_code == 200, r.text
            self._tokens[user] = r.json()["token"]
            self.client.cookies.clear()  # keep API tests on bearer tokens
        return {"Authorization": f"Bearer {self._tokens[user]}"}

    def factory(self):
        return self.app.state.factory


def make_settings(url: str, data_dir: Path, **kw):
    return load_settings({"LIFECIRCLE_ENV": "test", "DATABASE_URL": url, "LIFECIRCLE_DATA_DIR": str(data_dir)},
                         argon2_time_cost=1, argon2_memory_kib=1024, **kw)


@pytest.fixture
def platform(db_url, tmp_path) -> Iterator[Platform]:
    """The app on a clean database with the quotas' synthetic circles and one account per role."""
    from fastapi.testclient import TestClient

    from lifecircle.web.app import create_app

    settings = make_settings(db_url, tmp_path / "data", upload_max_bytes=50_000)
    app = create_app(settings)
    seed_demo(app.state.factory, settings, app.state.prog, use_demo_city=False,
              passwords=dict.fromkeys(ACCOUNTS, PASSWORD))
    with TestClient(app) as client:
        yield Platform(client, app, settings, db_url, {})
    app.state.engine.dispose()


@pytest.fixture
def timer():
    t0 = time.perf_counter()
    yield lambda: time.perf_counter() - t0
