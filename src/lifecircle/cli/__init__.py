"""The ``lifecircle`` command: a thin shell over the library.

Each module in this package registers its commands on :data:`lifecircle.cli.app.app`; modules are
discovered automatically, so adding a command means adding a module here.
"""

from __future__ import annotations

import importlib
import pkgutil

from lifecircle.cli.app import app


def _register() -> None:
    for mod in pkgutil.iter_modules(__path__):
        if mod.name != "app" and not mod.name.startswith("_"):
            importlib.import_module(f"{__name__}.{mod.name}")


def main() -> None:
    """Entry point of the ``lifecircle`` console script."""
    try:
        _register()  # seconds of imports (pandas, geopandas ...): Ctrl-C here is no bug either
    except KeyboardInterrupt:
        from lifecircle.cli.app import console
        from lifecircle.i18n import t

        console.print(t("已中断", "interrupted"))
        raise SystemExit(130) from None
    app()


__all__ = ["app", "main"]
