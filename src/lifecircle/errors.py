"""Errors a user can cause, each with a message that names the file, row and field and says how
to fix it. The CLI prints them on one line and exits with status 2; anything else is a bug.

The classes subclass the matching builtin so library users can catch them naturally.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path


class LifecircleError(Exception):
    """Base class of every error that is the user's input, not a bug."""


@dataclass
class Problem:
    """One problem found in an input: where it is and what is wrong."""

    message: str
    file: str | None = None
    row: int | None = None  # 1-based data row as a spreadsheet shows it (header is row 1)
    field: str | None = None

    def __str__(self) -> str:
        where = []
        if self.file:
            where.append(str(self.file))
        if self.row is not None:
            where.append(f"row {self.row}" if _en() else f"第{self.row}行")
        if self.field:
            where.append(f"field '{self.field}'" if _en() else f"字段 '{self.field}'")
        prefix = ", ".join(where) if _en() else "，".join(where)
        return f"{prefix}: {self.message}" if prefix else self.message


def _en() -> bool:
    from lifecircle.i18n import get_lang

    return get_lang() == "en"


class InputError(LifecircleError, ValueError):
    """An input file or value is wrong. Holds every problem found, not only the first."""

    def __init__(self, problems: list[Problem] | Problem | str, *, file: str | Path | None = None):
        if isinstance(problems, str):
            problems = [Problem(problems, file=str(file) if file else None)]
        elif isinstance(problems, Problem):
            problems = [problems]
        self.problems: list[Problem] = list(problems)
        super().__init__(self._text())

    def _text(self) -> str:
        if len(self.problems) == 1:
            return str(self.problems[0])
        head = str(self.problems[0])
        more = len(self.problems) - 1
        tail = f" (and {more} more problems)" if _en() else f"（另有 {more} 处问题）"
        return head + tail

    def __str__(self) -> str:
        return self._text()


class InputFileError(InputError, FileNotFoundError):
    """A file is missing, unreadable, or not what its extension says."""


class ConfigError(LifecircleError, KeyError):
    """A profile, format code or setting is unknown or invalid."""

    def __str__(self) -> str:  # KeyError quotes its argument; we want the plain message
        return str(self.args[0]) if self.args else ""


@dataclass
class ProblemCollector:
    """Gathers problems while validating a whole input, then raises them together."""

    file: str | None = None
    problems: list[Problem] = field(default_factory=list)

    def add(self, message: str, *, row: int | None = None, field: str | None = None) -> None:
        self.problems.append(Problem(message, file=self.file, row=row, field=field))

    def raise_if_any(self) -> None:
        if self.problems:
            raise InputError(self.problems)
