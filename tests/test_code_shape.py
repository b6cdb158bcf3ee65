"""The house rule on code shape, kept by a test: no module of ``src/lifecircle`` over 600 lines
(the Alembic migrations excepted) and no function or method over 120 lines (``def`` line to last
line, decorators and docstring included). Ruff keeps the rest of the rule (line length 120,
complexity ≤ 20). Split a module along its seams, or a function into named steps, rather than
growing the allow-lists below."""

from __future__ import annotations

import ast
from pathlib import Path

import lifecircle

ROOT = Path(lifecircle.__file__).resolve().parent
MAX_MODULE_LINES = 600
MAX_FUNCTION_LINES = 120
EXEMPT_DIRS = ("migrations/versions",)  # generated schema migrations

# Known offenders, not yet split (found when the rule got its test). Remove an entry once the
# module or function is brought under the limit; never add one for new code.
MODULE_ALLOW: dict[str, int] = {}
FUNCTION_ALLOW: dict[str, int] = {
    # the `lifecircle access` command: a long typer signature plus its body; not touched by the split
    # of policy/plan_report/importer, left for its owner (may not grow past its size today)
    "cli/access.py::access_cmd": 139,
}


def _modules() -> list[Path]:
    return sorted(p for p in ROOT.rglob("*.py") if not any(d in p.relative_to(ROOT).as_posix() for d in EXEMPT_DIRS))


def _rel(p: Path) -> str:
    return p.relative_to(ROOT).as_posix()


def _functions(tree: ast.AST, prefix: str = ""):
    for node in ast.iter_child_nodes(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            start = min([node.lineno, *(d.lineno for d in node.decorator_list)])
            yield f"{prefix}{node.name}", node.end_lineno - start + 1
            yield from _functions(node, f"{prefix}{node.name}.")
        elif isinstance(node, ast.ClassDef):
            yield from _functions(node, f"{prefix}{node.name}.")
        else:
            yield from _functions(node, prefix)


def test_the_walk_sees_the_package():
    names = {_rel(p) for p in _modules()}
    assert "plans/policy.py" in names and "sources/importer.py" in names
    assert not any(n.startswith("migrations/versions/") for n in names)


def test_no_module_over_600_lines():
    too_long = {}
    for p in _modules():
        n = len(p.read_text(encoding="utf-8").splitlines())
        if n > MODULE_ALLOW.get(_rel(p), MAX_MODULE_LINES):
            too_long[_rel(p)] = n
    assert not too_long, f"modules over {MAX_MODULE_LINES} lines (split them along their seams): {too_long}"


def test_no_function_over_120_lines():
    too_long = {}
    for p in _modules():
        tree = ast.parse(p.read_text(encoding="utf-8"), filename=str(p))
        for name, n in _functions(tree):
            key = f"{_rel(p)}::{name}"
            if n > FUNCTION_ALLOW.get(key, MAX_FUNCTION_LINES):
                too_long[key] = n
    assert not too_long, f"functions over {MAX_FUNCTION_LINES} lines (break them into named steps): {too_long}"
