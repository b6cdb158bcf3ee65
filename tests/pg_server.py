"""A throw-away PostgreSQL server for the tests, shared by every test module that needs one.

:func:`running_server` finds ``initdb`` (installing the ``postgresql`` and PostGIS Debian packages
when run as root and they are missing), initialises a cluster in a temporary folder (as the ``postgres`` user when
run as root: PostgreSQL refuses to run as root), starts it on a free localhost port with durability
switched off (tests only), yields the SQLAlchemy URL of its ``postgres`` database, then stops it and
removes the folder. :func:`fresh_database` creates a database of its own on that server (with
``CREATE EXTENSION postgis`` when the server has PostGIS, so the store gets its spatial columns) and
drops it afterwards, so tests never see each other's tables. :func:`has_postgis` says whether the
server's binaries come with PostGIS (Debian package ``postgresql-<major>-postgis-3``).

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


def _postgis_control(bindir: Path) -> Path:
    """Where the server whose binaries are in ``bindir`` looks for PostGIS (Debian layout)."""
    return Path("/usr/share/postgresql") / bindir.parent.name / "extension" / "postgis.control"


def has_postgis(server_url: str | None = None) -> bool:
    """Whether PostGIS can be created: asked of the server at ``server_url``, else of the files."""
    if server_url is not None:
        engine = sa.create_engine(server_url)
        try:
            with engine.connect() as c:
                q = "SELECT 1 FROM pg_available_extensions WHERE name = 'postgis'"
                return c.exec_driver_sql(q).first() is not None
        finally:
            engine.dispose()
    bindir = _pg_bin()
    return bindir is not None and _postgis_control(bindir).exists()


def _install(*packages: str) -> None:
    if os.geteuid() != 0:
        return
    subprocess.run(["apt-get", "update", "-qq"], check=False, capture_output=True)
    subprocess.run(
        ["apt-get", "install", "-y", "-qq", "--no-install-recommends", *packages],
        check=False,
        capture_output=True,
        env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"},
    )


def _install_pg() -> None:
    _install("postgresql")


def _install_postgis(bindir: Path) -> None:
    """PostGIS for the server major version of ``bindir`` (``/usr/lib/postgresql/15/bin``)."""
    if not _postgis_control(bindir).exists():
        _install(f"postgresql-{bindir.parent.name}-postgis-3")


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
    _install_postgis(bindir)
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
        for attempt in range(3):  # the port may be taken meanwhile (a parallel pytest worker): another one
            opts = (
                f"-p {port} -k {root} -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off"
                " -c full_page_writes=off"
            )
            start = [*prefix, str(bindir / "pg_ctl"), "-D", str(data), "-l", str(log), "-o", opts, "-w", "-t", "60"]
            try:
                subprocess.run([*start, "start"], check=True, capture_output=True)
                break
            except subprocess.CalledProcessError:
                if attempt == 2:
                    raise
                port = _free_port()
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
_TEMPLATES: dict[str, str | None] = {}


def _postgis_template(server_url: str) -> str | None:
    """A database with the ``postgis`` extension to copy new databases from (made once per
    server: creating the extension takes a second, copying a template does not); None without
    PostGIS."""
    if server_url not in _TEMPLATES:
        name = None
        if has_postgis(server_url):
            name = f"lc_postgis_template_{os.getpid()}"
            admin = sa.create_engine(server_url, isolation_level="AUTOCOMMIT")
            db = sa.create_engine(sa.make_url(server_url).set(database=name))
            try:
                with admin.connect() as c:
                    c.exec_driver_sql(f'CREATE DATABASE "{name}"')
                with db.begin() as c:
                    c.exec_driver_sql("CREATE EXTENSION postgis")
            finally:
                db.dispose()
                admin.dispose()
        _TEMPLATES[server_url] = name
    return _TEMPLATES[server_url]


@contextmanager
def fresh_database(
    server_url: str, prefix: str = "lc_test", *, postgis: bool = True, template: str | None = None
) -> Iterator[str]:
    """Create an empty database on the server at ``server_url`` (with the ``postgis`` extension
    when ``postgis`` and the server has it) — or a copy of the database ``template`` (which nobody
    may be connected to) —; yield its URL; drop it afterwards (``WITH (FORCE)``: connections a
    failing test left open do not keep it alive)."""
    name = f"{prefix}_{os.getpid()}_{next(_COUNTER)}"
    url = sa.make_url(server_url).set(database=name)
    admin = sa.create_engine(server_url, isolation_level="AUTOCOMMIT")
    try:
        if template is None and postgis:
            template = _postgis_template(server_url)
        with admin.connect() as c:
            c.exec_driver_sql(f'CREATE DATABASE "{name}"' + (f' TEMPLATE "{template}"' if template else ""))
        try:
            yield url.render_as_string(hide_password=False)
        finally:
            with admin.connect() as c:
                c.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        admin.dispose()
