"""Fixtures of the web tests: a platform on SQLite and — with ``LIFECIRCLE_TEST_PG=1`` or in CI —
on a real PostgreSQL server (the session's ``pg_url`` fixture of tests/conftest.py, started by
tests/pg_server.py: initdb into a temporary folder as the ``postgres`` user, on a free localhost
port, stopped at the end).

Every test gets a database of its own: ``db_url`` a clean, migrated one; ``platform`` one seeded
with the programme, the 30 synthetic circles from the quotas and one account per role (password
``PASSWORD``). Migrating and seeding happen once per session (per pytest-xdist worker) into a
template that each test copies (:class:`Templates`).
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Callable, Iterator
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import create_engine, make_url

from lifecircle.platform.db import make_engine, session_factory
from lifecircle.platform.programme import load_programme
from lifecircle.platform.seed import init_platform, seed_demo
from lifecircle.platform.settings import load_settings
from pg_server import (
    IN_CI,  # noqa: F401  (re-exported: test_browser imports it from here)
    fresh_database,
)

PASSWORD = "correct-horse-battery"
ACCOUNTS = ["admin", "xiling", "wujiagang", "evaluator", "leader", "merchant", "inspector", "community"]


class Templates:
    """Databases built once per session (per pytest-xdist worker) and copied for each test: an
    SQLite file copied with :func:`shutil.copy`, a PostgreSQL database copied with ``CREATE DATABASE
    ... TEMPLATE`` (a file copy on the server). Every test still gets a database of its own;
    building (migrating, seeding) costs once instead of once per test.

    ``build(url, data_dir)`` makes the template's content; its engines must be disposed on return
    (PostgreSQL refuses to copy a database somebody is connected to)."""

    def __init__(self, tmp_path_factory: pytest.TempPathFactory) -> None:
        self._tmp = tmp_path_factory
        self._sqlite: dict[str, Path] = {}
        self._pg: dict[tuple[str, str], str] = {}

    def sqlite(self, key: str, build: Callable[[str, Path], None]) -> Path:
        if key not in self._sqlite:
            d = self._tmp.mktemp(f"tpl-{key}")
            p = d / "template.db"
            build(f"sqlite:///{p}", d / "data")
            engine = make_engine(f"sqlite:///{p}")
            with engine.begin() as c:  # one self-contained file to copy
                c.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
                c.exec_driver_sql("PRAGMA journal_mode=DELETE")
            engine.dispose()
            self._sqlite[key] = p
        return self._sqlite[key]

    def postgresql(self, server_url: str, key: str, build: Callable[[str, Path], None]) -> str:
        if (server_url, key) not in self._pg:
            name = f"lc_tpl_{key}_{os.getpid()}"
            admin = create_engine(server_url, isolation_level="AUTOCOMMIT")
            try:
                with admin.connect() as c:
                    c.exec_driver_sql(f'CREATE DATABASE "{name}"')
            finally:
                admin.dispose()
            build(make_url(server_url).set(database=name).render_as_string(hide_password=False), self._tmp.mktemp("d"))
            self._pg[(server_url, key)] = name
        return self._pg[(server_url, key)]

    def copy(self, request: pytest.FixtureRequest, tmp_path: Path, key: str, build: Callable[[str, Path], None]):
        """A copy of the template ``key`` for this test on its backend (``request.param``); yields
        the URL (a context manager: the PostgreSQL copy is dropped afterwards)."""
        if request.param == "sqlite":
            p = tmp_path / "platform.db"
            shutil.copy(self.sqlite(key, build), p)
            return nullcontext(f"sqlite:///{p}")
        server = request.getfixturevalue("pg_url")
        return fresh_database(server, prefix=f"lc_{key}", template=self.postgresql(server, key, build))


@pytest.fixture(scope="session")
def templates(tmp_path_factory) -> Templates:
    return Templates(tmp_path_factory)


def _migrated(url: str, data_dir: Path) -> None:
    engine = make_engine(url)
    init_platform(engine, session_factory(engine), load_programme())
    engine.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request, tmp_path, templates) -> Iterator[str]:
    """A clean, migrated database of this test alone, once per backend."""
    with templates.copy(request, tmp_path, "migrated", _migrated) as url:
        yield url


def seeded(url: str, data_dir: Path, **kw) -> None:
    """Seed the platform at ``url`` as the ``platform`` fixture does (``kw`` to :func:`seed_demo`):
    the programme, the accounts of ``ACCOUNTS`` (password ``PASSWORD``) and the circles."""
    from lifecircle.web.app import create_app

    settings = make_settings(url, data_dir)
    app = create_app(settings)
    seed_demo(app.state.factory, settings, app.state.prog, passwords=dict.fromkeys(ACCOUNTS, PASSWORD), **kw)
    app.state.engine.dispose()


def _quotas(url: str, data_dir: Path) -> None:
    seeded(url, data_dir, use_demo_city=False)


@pytest.fixture(params=["sqlite", "postgresql"])
def quotas_db_url(request, tmp_path, templates) -> Iterator[str]:
    """A database of this test alone seeded with the quotas' 30 synthetic circles and one account
    per role, once per backend (a copy of a template seeded once per session)."""
    with templates.copy(request, tmp_path, "quotas", _quotas) as url:
        yield url


SMALL_DEMO_SCALE = 0.05


def _small_demo(url: str, data_dir: Path) -> None:
    seeded(url, data_dir, scale=SMALL_DEMO_SCALE)


@pytest.fixture(params=["sqlite", "postgresql"])
def small_demo_db_url(request, tmp_path, templates) -> Iterator[str]:
    """A database of this test alone seeded from the small demo city (``SMALL_DEMO_SCALE``; its
    outlets are the registry) and one account per role, once per backend (a copy of a template
    seeded once per session)."""
    with templates.copy(request, tmp_path, "small_demo", _small_demo) as url:
        yield url


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
def platform(quotas_db_url, tmp_path) -> Iterator[Platform]:
    """The app on a database of its own with the quotas' synthetic circles and one account per role."""
    from fastapi.testclient import TestClient

    from lifecircle.web.app import create_app

    settings = make_settings(quotas_db_url, tmp_path / "data", upload_max_bytes=50_000)
    app = create_app(settings)
    with TestClient(app) as client:
        yield Platform(client, app, settings, quotas_db_url, {})
    app.state.engine.dispose()


@pytest.fixture
def timer():
    t0 = time.perf_counter()
    yield lambda: time.perf_counter() - t0
