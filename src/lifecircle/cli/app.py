"""The Typer application, shared options, and the guard that turns user errors into one line.

Commands are written as::

    @command()
    def access(...): ...

``command`` registers on the app and wraps the function so that a :class:`LifecircleError`
(bad input, unknown profile ...) prints ``错误: <message>`` on stderr and exits with status 2,
with no traceback. Any other exception is a bug and is shown in full.
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from lifecircle.errors import LifecircleError
from lifecircle.i18n import set_lang, t

app = typer.Typer(
    name="lifecircle",
    help="一刻钟便民生活圈：规划、评估与运营 / 15-minute convenient living circles: plan, evaluate, run.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
console = Console(stderr=True)
out = Console()

F = TypeVar("F", bound=Callable[..., Any])


@app.callback()
def _root(
    lang: str = typer.Option(
        None, "--lang", help="消息语言 zh|en（默认 zh，或环境变量 LIFECIRCLE_LANG）/ message language"
    ),
) -> None:
    if lang:
        try:
            set_lang(lang)
        except ValueError as exc:
            console.print(f"[red]{exc}[/red]")
            raise typer.Exit(2) from None


def fail(message: str, code: int = 2) -> None:
    """Print a one-line error and exit with ``code``."""
    # the message is plain text: '[walking]' or a file named 'a[1].csv' must not be read as markup
    console.print(f"[bold red]{t('错误', 'error')}:[/bold red] {escape(message)}", highlight=False, soft_wrap=True)
    raise typer.Exit(code)


def guarded(fn: F) -> F:
    """Wrap a command so user errors print one line and exit 2."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except LifecircleError as exc:
            fail(str(exc))
        except PermissionError as exc:  # a file or folder the user pointed at that we may not touch
            where = exc.filename or t("文件", "a file")
            fail(
                t(
                    f"{where}: 没有权限（{exc.strerror}），请换一个位置",
                    f"{where}: permission denied ({exc.strerror}); choose another location",
                )
            )
        except KeyboardInterrupt:
            console.print(t("已中断", "interrupted"))
            sys.exit(130)

    return wrapper  # type: ignore[return-value]


def command(*args: Any, target: typer.Typer | None = None, **kwargs: Any) -> Callable[[F], F]:
    """Register a guarded command on ``target`` (default: the main app)."""

    def deco(fn: F) -> F:
        (target or app).command(*args, **kwargs)(guarded(fn))
        return fn

    return deco


@contextmanager
def progress() -> Iterator[Progress]:
    """A Rich progress display on stderr (quiet when stderr is not a terminal)."""
    with Progress(
        SpinnerColumn(),
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total}"),
        TimeElapsedColumn(),
        console=console,
        transient=False,
        disable=not console.is_terminal,
    ) as p:
        yield p


@contextmanager
def step(p: Progress, description: str) -> Iterator[None]:
    """Show one indeterminate step on progress ``p``; marks it done at the end."""
    task = p.add_task(description, total=1)
    yield
    p.update(task, completed=1)
