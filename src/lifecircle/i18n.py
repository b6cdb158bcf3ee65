"""Chinese-first messages with English available.

The language comes from ``LIFECIRCLE_LANG`` (``zh`` default, ``en``) or from :func:`set_lang`
(the CLI's ``--lang`` option). Every user-facing text is written as a pair: ``t("中文", "English")``.
"""

from __future__ import annotations

import os

_LANG: str | None = None
SUPPORTED = ("zh", "en")


def get_lang() -> str:
    """Return the current message language, ``"zh"`` or ``"en"``."""
    lang = _LANG or os.environ.get("LIFECIRCLE_LANG", "zh")
    return lang if lang in SUPPORTED else "zh"


def set_lang(lang: str | None) -> None:
    """Set the message language for this process (``None`` goes back to the environment)."""
    global _LANG
    if lang is not None and lang not in SUPPORTED:
        raise ValueError(f"unknown language {lang!r}; use one of {SUPPORTED}")
    _LANG = lang


def t(zh: str, en: str) -> str:
    """Pick the Chinese or English text of a message by the current language."""
    return en if get_lang() == "en" else zh
