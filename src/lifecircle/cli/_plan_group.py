"""The ``lifecircle plan`` command group, shared by the planning commands (``plan circles``,
``plan sites``, ``plan report`` ...). Modules whose name starts with ``_`` are not auto-registered:
each planning module imports :data:`plan_app` from here and registers its command on it."""

from __future__ import annotations

import typer

from lifecircle.cli.app import app

plan_app = typer.Typer(
    help="规划：划定生活圈、推荐选址、一圈一策 / planning: delineate circles, recommend sites, one plan per circle",
    no_args_is_help=True,
)
app.add_typer(plan_app, name="plan")
