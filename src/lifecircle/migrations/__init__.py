"""Alembic migrations of the platform database, configured in code (no alembic.ini), so they ship
as package data and run from ``lifecircle serve`` / :func:`upgrade`.

To write a new migration after changing :mod:`lifecircle.platform.db`::

    python -c "from lifecircle.migrations import revision; revision('what changed')"
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy.engine import Engine

HERE = Path(__file__).resolve().parent


def alembic_config(url: str) -> Config:
    """An Alembic configuration for the database at ``url`` with our script location."""
    cfg = Config()
    cfg.set_main_option("script_location", str(HERE))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Bring the database of ``engine`` to ``revision`` (default: the newest)."""
    cfg = alembic_config(engine.url.render_as_string(hide_password=False))
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, revision)


def downgrade(engine: Engine, revision: str = "base") -> None:
    """Take the database of ``engine`` back to ``revision`` (default: empty)."""
    cfg = alembic_config(engine.url.render_as_string(hide_password=False))
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, revision)


def current(engine: Engine) -> str | None:
    """The revision the database is at (``None`` when never migrated)."""
    from alembic.runtime.migration import MigrationContext

    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def head() -> str:
    """The newest revision shipped."""
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head() or ""


def revision(message: str, url: str = "sqlite:///:memory:", rev_id: str | None = None) -> None:
    """Autogenerate a new revision from the models (developers only)."""
    cfg = alembic_config(url)
    command.revision(cfg, message=message, autogenerate=True, rev_id=rev_id)
