"""Versioned configuration files: every rule file (profiles, grading, plans, policy, programme,
chain brands) is TOML, shipped in ``lifecircle/profiles/`` or given as a path by the user.

:func:`read_config` is the one reader: it finds the file, parses it, and turns every failure into
a :class:`ConfigError` that says which file and how to fix it.
"""

from __future__ import annotations

import difflib
import tomllib
from collections.abc import Iterable
from importlib import resources
from pathlib import Path
from typing import Any

from lifecircle.errors import ConfigError
from lifecircle.i18n import t


def builtin_configs(prefix: str = "") -> list[str]:
    """Names (without ``.toml``) of the shipped configuration files starting with ``prefix``."""
    folder = resources.files("lifecircle") / "profiles"
    return sorted(p.name[:-5] for p in folder.iterdir() if p.name.endswith(".toml") and p.name.startswith(prefix))


def unknown_keys(found: Iterable[str], allowed: Iterable[str], *, table: str = "") -> list[tuple[str, str]]:
    """``(key, message)`` for every key of ``found`` not in ``allowed``, naming the nearest allowed
    key (a typo such as ``speed_km`` or ``[walkin]`` must not be silently ignored). ``table`` is
    the TOML table the keys are in (``walking``, ``format #3`` ...), empty at the top level.
    The one rule for unknown keys of every configuration file."""
    allowed = sorted(set(allowed))
    where = f"[{table}] " if table else ""
    out = []
    for key in sorted(set(found) - set(allowed)):
        near = difflib.get_close_matches(key, allowed, n=1, cutoff=0.6)
        hint_zh = f"（是否应为 '{near[0]}'？）" if near else f"（可用：{', '.join(allowed)}）"
        hint_en = f" (did you mean '{near[0]}'?)" if near else f" (known: {', '.join(allowed)})"
        out.append((key, t(f"{where}未知设置 '{key}'{hint_zh}", f"{where}unknown setting '{key}'{hint_en}")))
    return out


def read_config(
    name_or_path: str | Path, *, what_zh: str, what_en: str, prefix: str = "", known: list[str] | None = None
) -> tuple[dict[str, Any], str]:
    """Read a configuration by shipped name or by ``.toml`` path; returns ``(mapping, source)``.

    ``what_zh``/``what_en`` name the kind of file in messages (e.g. 评定规则 / grading rules);
    ``prefix`` selects the shipped files listed when a name is unknown (or give them as ``known``).
    """
    path = Path(name_or_path)
    if path.suffix == ".toml" or path.exists():
        if not path.is_file():
            raise ConfigError(t(f"找不到{what_zh}文件 {path}", f"{what_en} file {path} not found"))
        src, text = str(path), path.read_text(encoding="utf-8")
    else:
        res = resources.files("lifecircle") / "profiles" / f"{name_or_path}.toml"
        if not res.is_file():
            names = ", ".join(builtin_configs(prefix) if known is None else known) or t("（无）", "(none)")
            raise ConfigError(
                t(
                    f"未知{what_zh} '{name_or_path}'；内置：{names}，或给出 .toml 文件路径",
                    f"unknown {what_en} '{name_or_path}'; built-in: {names}, or give a .toml path",
                )
            )
        src, text = f"{name_or_path}.toml", res.read_text(encoding="utf-8")
    try:
        return tomllib.loads(text), src
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(t(f"{src}: TOML 语法错误：{exc}", f"{src}: invalid TOML: {exc}")) from None
