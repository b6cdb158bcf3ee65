"""``lifecircle user``: accounts of the officials' platform from the command line.

The first administrator and a forgotten password need a way in that does not need a sign-in:
whoever runs these commands holds the database (the same one ``lifecircle serve`` uses:
``DATABASE_URL`` or the SQLite file under ``LIFECIRCLE_DATA_DIR``), so they act as the system.

- ``lifecircle user add NAME --role ROLE [--district CODE] [--password-stdin]`` — without
  ``--password-stdin`` a random password is generated and printed once;
- ``lifecircle user reset-password NAME [--password-stdin]`` — ends the account's sessions;
- ``lifecircle user list``.

The password rules are those of the web forms (:func:`lifecircle.platform.auth.password_problems`);
a mistake (unknown role or district, a taken name, a weak password) prints one line and exits 2.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

import typer

from lifecircle.cli.app import app, command, out
from lifecircle.i18n import t

if TYPE_CHECKING:
    from sqlalchemy.orm import Session, sessionmaker

    from lifecircle.platform.settings import Settings

user_app = typer.Typer(
    help="官员平台账号：创建、重置密码、列出 / platform accounts: add, reset a password, list", no_args_is_help=True
)
app.add_typer(user_app, name="user")

_STDIN_HELP = (
    "从标准输入读取密码（一行），代替随机生成 / read the password (one line) from standard input "
    "instead of generating one"
)


@contextmanager
def platform_db() -> Iterator[tuple[Settings, sessionmaker[Session]]]:
    """The settings and a session factory of the platform database, migrated to the newest schema."""
    from lifecircle.platform.db import make_engine, session_factory
    from lifecircle.platform.programme import load_programme
    from lifecircle.platform.seed import init_platform
    from lifecircle.platform.settings import load_settings

    settings = load_settings()
    if settings.db_url.startswith("sqlite"):
        settings.data_dir.mkdir(parents=True, exist_ok=True)
    engine = make_engine(settings.db_url)
    try:
        factory = session_factory(engine)
        init_platform(engine, factory, load_programme(settings.programme))
        yield settings, factory
    finally:
        engine.dispose()


def _password(from_stdin: bool) -> tuple[str, bool]:
    """The new password and whether it was generated (to be shown once)."""
    from lifecircle.errors import InputError
    from lifecircle.platform.auth import generate_password

    if not from_stdin:
        return generate_password(), True
    pw = sys.stdin.readline().rstrip("\r\n")
    if not pw:
        raise InputError(t("标准输入中没有密码", "no password on standard input"))
    return pw, False


@command("add", target=user_app)
def user_add(
    name: str = typer.Argument(..., help="用户名 / user name"),
    role: str = typer.Option(
        ...,
        "--role",
        help="city_admin | district_officer | evaluator | leader | merchant | inspector | community_officer",
    ),
    district: str = typer.Option(
        None, "--district", help="区代码（区级负责人、检查员）/ district code (district officers, inspectors)"
    ),
    circle: str = typer.Option(
        None, "--circle", help="生活圈编号（街道/社区工作人员）/ circle id (community officers)"
    ),
    display_name: str = typer.Option("", "--display-name", help="显示名称 / display name"),
    password_stdin: bool = typer.Option(False, "--password-stdin", help=_STDIN_HELP),
) -> None:
    """创建账号（第一个管理员也用它）。Create an account (also the first administrator)."""
    from lifecircle.platform.auth import create_user
    from lifecircle.platform.db import transaction

    password, generated = _password(password_stdin)
    with platform_db() as (settings, factory), transaction(factory) as s:
        create_user(
            s,
            None,
            settings,
            username=name.strip(),
            password=password,
            role=role.strip(),
            district=(district or "").strip() or None,
            circle_id=(circle or "").strip() or None,
            display_name=display_name.strip(),
        )
    out.print(t(f"账号已创建：{name}（{role}）", f"account created: {name} ({role})"), highlight=False)
    if generated:
        out.print(
            t("密码（只显示这一次，请登录后修改）：", "password (shown only this once; change it after signing in):")
        )
        out.print(f"  {password}", highlight=False)


@command("reset-password", target=user_app)
def user_reset_password(
    name: str = typer.Argument(..., help="用户名 / user name"),
    password_stdin: bool = typer.Option(False, "--password-stdin", help=_STDIN_HELP),
) -> None:
    """重置账号的密码（并结束它的所有会话）。Reset an account's password (and end its sessions)."""
    from lifecircle.platform import service
    from lifecircle.platform.db import transaction

    password, generated = _password(password_stdin)
    with platform_db() as (settings, factory), transaction(factory) as s:
        service.system_reset_password(s, settings, name.strip(), password)
    out.print(t(f"密码已重置：{name}", f"password reset: {name}"), highlight=False)
    if generated:
        out.print(t("新密码（只显示这一次）：", "new password (shown only this once):"))
        out.print(f"  {password}", highlight=False)


@command("list", target=user_app)
def user_list() -> None:
    """列出所有账号。List every account."""
    from lifecircle.platform import service
    from lifecircle.platform.db import transaction

    with platform_db() as (_settings, factory), transaction(factory) as s:
        rows = service.system_list_users(s)
        lines = [(r.user.username, r.user.role, r.user.district or "-", r.user.active, r.last_login) for r in rows]
    if not lines:
        out.print(
            t(
                "还没有账号；用 lifecircle user add NAME --role city_admin 创建第一个管理员",
                "no accounts yet; create the first administrator with lifecircle user add NAME --role city_admin",
            )
        )
        return
    out.print(
        t(
            "用户名      角色              区        状态  最近登录（UTC）",
            "user        role              district  state last sign-in (UTC)",
        )
    )
    for name, role, district, active, last in lines:
        state = t("启用", "on") if active else t("停用", "off")
        when = last.strftime("%Y-%m-%d %H:%M") if last else "-"
        out.print(f"{name:<11} {role:<17} {district:<9} {state:<5} {when}", highlight=False)
