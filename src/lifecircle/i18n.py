"""Chinese-first messages with English available.

The language comes from ``LIFECIRCLE_LANG`` (``zh`` default, ``en``) or from :func:`set_lang`
(the CLI's ``--lang`` option). Every user-facing text is written as a pair: ``t("中文", "English")``.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from contextvars import ContextVar

_LANG: str | None = None
# A per-request (per-context) language that wins over the process setting; used by the web app.
_CTX_LANG: ContextVar[str | None] = ContextVar("lifecircle_lang", default=None)
SUPPORTED = ("zh", "en")


def get_lang() -> str:
    """Return the current message language, ``"zh"`` or ``"en"``."""
    lang = _CTX_LANG.get() or _LANG or os.environ.get("LIFECIRCLE_LANG", "zh")
    return lang if lang in SUPPORTED else "zh"


def set_lang(lang: str | None) -> None:
    """Set the message language for this process (``None`` goes back to the environment)."""
    global _LANG  # noqa: PLW0603 - the language is one setting of the process, as the CLI's --lang sets it
    if lang is not None and lang not in SUPPORTED:
        raise ValueError(f"unknown language {lang!r}; use one of {SUPPORTED}")
    _LANG = lang


def t(zh: str, en: str) -> str:
    """Pick the Chinese or English text of a message by the current language."""
    return en if get_lang() == "en" else zh


@contextlib.contextmanager
def use_lang(lang: str | None) -> Iterator[None]:
    """Use ``lang`` for messages in this context only (one web request), then restore."""
    token = _CTX_LANG.set(lang if lang in SUPPORTED else None)
    try:
        yield
    finally:
        _CTX_LANG.reset(token)
