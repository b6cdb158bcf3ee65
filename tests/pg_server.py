"""A throw-away PostgreSQL server for the tests, shared by every test module that needs one.

:func:`running_server` finds ``initdb`` (installing the ``postgresql`` Debian package when run as
root and it is missing), initialises a cluster in a temporary folder (as the ``postgres`` user when
run as root: PostgreSQL refuses to run as root), starts it on a free localhost port with durability
switched off (tests only), yields the SQLAlchemy URL of its ``postgres`` database, then stops it and
removes the folder. :func:`fresh_database` creates a database of its own on that server and drops
it afterwards, so tests never see each other's tables.

PostgreSQL tests run when :data:`WANT_PG` is true: in CI (``CI=true``) or with
``LIFECIRCLE_TEST_PG=1``. In CI a server that cannot be started is a failure, not a skip.
"""

from __future__ import annotations

import glob
import itertools
import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import sqlalchemy as sa

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
WANT_PG = IN_CI or os.environ.get("LIFECIRCLE_TEST_PG") == "1"
SKIP_REASON = "PostgreSQL tests run in CI or with LIFECIRCLE_TEST_PG=1"


class PgUnavailableError(RuntimeError):
    """PostgreSQL (initdb) is not installed and could not be installed."""


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
    subprocess.run(
        ["apt-get", "install", "-y", "-qq", "postgresql"],
        check=False,
        capture_output=True,
        env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"},
    )


@contextmanager
def running_server() -> Iterator[str]:
    """Start a PostgreSQL server; yield the SQLAlchemy URL of its ``postgres`` database; stop it.

    Raises :class:`PgUnavailableError` when PostgreSQL is not installed and cannot be installed.
    """
    bindir = _pg_bin()
    if bindir is None:
        _install_pg()
        bindir = _pg_bin()
    if bindir is None:
        raise PgUnavailableError("PostgreSQL (initdb) not found and could not be installed")
    root = Path(tempfile.mkdtemp(prefix="lc-pg-"))
    data, log = root / "data", root / "pg.log"
    prefix: list[str] = []
    if os.geteuid() == 0:  # postgres refuses to run as root
        shutil.chown(root, "postgres", "postgres")
        root.chmod(0o700)
        prefix = ["runuser", "-u", "postgres", "--"]
    port = _free_port()
    try:
        subprocess.run(
            [
                *prefix,
                str(bindir / "initdb"),
                "-D",
                str(data),
                "-A",
                "trust",
                "-U",
                "postgres",
                "-E",
                "UTF8",
                "--locale=C",
                "--no-sync",
            ],
            check=True,
            capture_output=True,
        )
        opts = (
            f"-p {port} -k {root} -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off"
            " -c full_page_writes=off"
        )
        subprocess.run(
            [*prefix, str(bindir / "pg_ctl"), "-D", str(data), "-l", str(log), "-o", opts, "-w", "-t", "60", "start"],
            check=True,
            capture_output=True,
        )
    except BaseException:
        shutil.rmtree(root, ignore_errors=True)
        raise
    try:
        yield f"postgresql+psycopg://postgres@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run(
            [*prefix, str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop"],
            check=False,
            capture_output=True,
        )
        shutil.rmtree(root, ignore_errors=True)


_COUNTER = itertools.count(1)


@contextmanager
def fresh_database(server_url: str, prefix: str = "lc_test") -> Iterator[str]:
    """Create an empty database on the server at ``server_url``; yield its URL; drop it afterwards
    (``WITH (FORCE)``: connections a failing test left open do not keep it alive)."""
    name = f"{prefix}_{os.getpid()}_{next(_COUNTER)}"
    url = sa.make_url(server_url).set(database=name)
    admin = sa.create_engine(server_url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as c:
            c.exec_driver_sql(f'CREATE DATABASE "{name}"')
        try:
            yield url.render_as_string(hide_password=False)
        finally:
            with admin.connect() as c:
                c.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        admin.dispose()
