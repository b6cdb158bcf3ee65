"""Fixtures of the web tests: a platform on SQLite and — with ``LIFECIRCLE_TEST_PG=1`` or in CI —
on a real PostgreSQL server (the session's ``pg_url`` fixture of tests/conftest.py, started by
tests/pg_server.py: initdb into a temporary folder as the ``postgres`` user, on a free localhost
port, stopped at the end).

Every test gets a clean, migrated database seeded with the programme, the 30 synthetic circles
from the quotas and one account per role (password ``PASSWORD``).
"""

from __future__ import annotations

import shutil
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
from pg_server import IN_CI  # noqa: F401  (re-exported: test_browser imports it from here)

PASSWORD = "correct-horse-battery"
ACCOUNTS = ["admin", "xiling", "wujiagang", "evaluator", "leader", "merchant", "inspector", "community"]


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
    return load_settings(
        {"LIFECIRCLE_ENV": "test", "DATABASE_URL": url, "LIFECIRCLE_DATA_DIR": str(data_dir)},
        argon2_time_cost=1,
        argon2_memory_kib=1024,
        **kw,
    )


@pytest.fixture
def platform(db_url, tmp_path) -> Iterator[Platform]:
    """The app on a clean database with the quotas' synthetic circles and one account per role."""
    from fastapi.testclient import TestClient

    from lifecircle.web.app import create_app

    settings = make_settings(db_url, tmp_path / "data", upload_max_bytes=50_000)
    app = create_app(settings)
    seed_demo(
        app.state.factory, settings, app.state.prog, use_demo_city=False, passwords=dict.fromkeys(ACCOUNTS, PASSWORD)
    )
    with TestClient(app) as client:
        yield Platform(client, app, settings, db_url, {})
    app.state.engine.dispose()


@pytest.fixture
def timer():
    t0 = time.perf_counter()
    yield lambda: time.perf_counter() - t0
