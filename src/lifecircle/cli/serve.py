"""``lifecircle serve`` and ``lifecircle platform init``: the officials' platform.

``serve`` runs the database migrations, then starts the web app with uvicorn (default
http://127.0.0.1:8000). ``--demo`` first loads the demo content and prints the demo accounts once.
Settings come from the environment (see :mod:`lifecircle.platform.settings`); ``DATABASE_URL``
selects PostgreSQL, the default is a SQLite file under ``LIFECIRCLE_DATA_DIR``. uvicorn's own
``X-Forwarded-For`` handling is off: the platform believes that header only from
``LIFECIRCLE_TRUSTED_PROXIES`` (see :func:`lifecircle.web.deps.client_ip`). Accounts outside the
demo: ``lifecircle user add|reset-password|list`` (:mod:`lifecircle.cli.user`).
"""

from __future__ import annotations

from pathlib import Path

import typer

from lifecircle.cli.app import app, command, console, out
from lifecircle.i18n import t

platform_app = typer.Typer(
    help="官员平台：数据库与演示数据 / officials' platform: database and demo content", no_args_is_help=True
)
app.add_typer(platform_app, name="platform")
_SCALE_HELP = (
    "演示城市规模（1 约 160 万人；默认与 lifecircle demo 相同）/ "
    "demo city size (1 = about 1.6 M residents; default: the same city as lifecircle demo)"
)
_SEED_HELP = "演示城市随机种子（默认与 lifecircle demo 相同）/ demo city seed (default: as lifecircle demo)"


def _init(
    demo: bool, scale: float | None, seed: int | None, store: str | None = None, city_name: str | None = None
) -> None:
    from lifecircle.platform.db import make_engine, session_factory
    from lifecircle.platform.programme import load_programme
    from lifecircle.platform.seed import init_platform, seed_demo
    from lifecircle.platform.settings import load_settings

    city = _store_city(store, city_name) if demo and store else None  # before any platform file is made
    settings = load_settings()
    if settings.db_url.startswith("sqlite"):
        settings.data_dir.mkdir(parents=True, exist_ok=True)
    prog = load_programme(settings.programme)
    engine = make_engine(settings.db_url)
    factory = session_factory(engine)
    init_platform(engine, factory, prog)
    url = engine.url.render_as_string(hide_password=True)
    out.print(t(f"数据库已迁移到最新版本：{url}", f"database migrated to the newest schema: {url}"))
    if demo:
        source = None
        if city is not None:
            source = {"kind": "store", "store_path": str(Path(store or "").resolve()), "city_name": city.name}
        res = seed_demo(factory, settings, prog, seed=seed, scale=scale, city=city, city_source=source)
        for note in res.notes:
            console.print(note)
        if res.source == "store" and city is not None and not city.synthetic:
            out.print(
                t(
                    f"生活圈：{res.circles} 个（来源：城市数据库 {store} 中的 {city.name}）",
                    f"circles: {res.circles} (from city {city.name} of the store {store})",
                )
            )
        else:
            out.print(
                t(
                    f"演示生活圈：{res.circles} 个（来源：{res.source}，合成数据）",
                    f"demo circles: {res.circles} (source: {res.source}, synthetic data)",
                )
            )
        if res.accounts:
            if res.source == "store":
                out.print(
                    t(
                        "初始账号（密码只显示这一次，请登录后修改）：",
                        "first accounts (passwords shown only this once; change them after signing in):",
                    )
                )
            else:
                out.print(t("演示账号（密码只显示这一次）：", "demo accounts (passwords shown only this once):"))
            for user, pw in res.accounts.items():
                out.print(f"  {user:<10} {pw}", highlight=False)
        else:
            out.print(
                t(
                    "账号已存在（密码不再显示）；忘记密码请用 lifecircle user reset-password NAME",
                    "the accounts exist already (passwords are not shown again); "
                    "for a forgotten one use lifecircle user reset-password NAME",
                )
            )
    engine.dispose()


def _store_city(store: str, city_name: str | None):
    """The city of the store, refused (one line, nothing created) when it lacks what the platform shows."""
    from lifecircle.city.check import IMPORT_HINT, check_city
    from lifecircle.city.store import load_city
    from lifecircle.errors import InputError

    city = load_city(store, city_name or "yichang-demo")
    missing = check_city(city).missing_for("platform")
    if missing:
        first = IMPORT_HINT.format(table=missing[0].split(".")[0], city=city.name).replace("STORE", store)
        raise InputError(
            t(
                f"城市 {city.name} 还不能用于管理平台：缺少 {'、'.join(missing)}；请先导入，例如 {first}",
                f"city {city.name} cannot feed the platform yet: {', '.join(missing)} missing; "
                f"import first, e.g. {first}",
            )
        )
    return city


@command("init", target=platform_app)
def platform_init(
    demo: bool = typer.Option(
        False, "--demo", help="加载演示城市并创建演示账号 / load the demo city and demo accounts"
    ),
    scale: float = typer.Option(None, "--scale", help=_SCALE_HELP),
    seed: int = typer.Option(None, "--seed", help=_SEED_HELP),
    store: str = typer.Option(
        None, "--store", help="从城市数据库读取生活圈与道路（代替演示城市）/ take circles and streets from a city store"
    ),
    city: str = typer.Option("yichang-demo", "--city", help="城市数据库中的城市名 / city name in the store"),
) -> None:
    """迁移数据库并写入计划配置（可选演示数据）。Migrate the database and write the programme (optionally demo data)."""
    _init(demo or bool(store), scale, seed, store, city)


@command("serve")
def serve(
    host: str = typer.Option("127.0.0.1", "--host", help="监听地址 / address to listen on"),
    port: int = typer.Option(8000, "--port", min=1, max=65535, help="端口 / port"),
    demo: bool = typer.Option(False, "--demo", help="先加载演示数据与账号 / load demo data and accounts first"),
    scale: float = typer.Option(None, "--scale", help=_SCALE_HELP),
    workers: int = typer.Option(1, "--workers", min=1, max=32, help="工作进程数 / worker processes"),
    store: str = typer.Option(
        None,
        "--store",
        help="先从城市数据库载入生活圈、道路与评估 / load circles, streets and scorecards from a city store first",
    ),
    city: str = typer.Option("yichang-demo", "--city", help="城市数据库中的城市名 / city name in the store"),
) -> None:
    """启动官员平台（运行数据库迁移后提供网页与 API）。Start the officials' platform (migrates the database first)."""
    import uvicorn

    _init(demo or bool(store), scale, None, store, city)
    out.print(
        t(
            f"平台地址：http://{host}:{port}/  （API 文档：/api/docs）",
            f"platform at http://{host}:{port}/  (API docs: /api/docs)",
        )
    )
    if workers > 1:
        uvicorn.run(
            "lifecircle.web.asgi:app", host=host, port=port, workers=workers, log_level="warning", proxy_headers=False
        )
    else:
        from lifecircle.web.app import create_app

        app = create_app(migrate=False)
        app.state.live.start()  # the live indicators are computed while the server starts
        uvicorn.run(app, host=host, port=port, log_level="warning", proxy_headers=False)
