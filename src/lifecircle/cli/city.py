"""``lifecircle city list|check``: the cities of a store, and what each still lacks.

A thin shell over :func:`lifecircle.city.store.list_cities` and
:func:`lifecircle.city.check.check_city`.
"""

from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table

from lifecircle.cli.app import app, command, out
from lifecircle.i18n import t

city_app = typer.Typer(help="城市数据：列出、检查 / city data: list, check", no_args_is_help=True)
app.add_typer(city_app, name="city")

_DB_HELP = "城市数据库：SQLite 文件或数据库 URL / city store: SQLite file or database URL"


@command("list", target=city_app)
def city_list_cmd(db: str = typer.Option(..., "--db", help=_DB_HELP)) -> None:
    """列出数据库中的城市及各表行数。List the cities of a store with rows per table."""
    from lifecircle.city import store

    cities = store.list_cities(db)
    if not cities:
        out.print(t(f"{db}: 没有任何城市", f"{db}: no cities"))
        return
    tab = Table(title=t(f"{db} 中的城市", f"cities in {db}"))
    for col in (
        t("城市", "city"),
        t("配置", "profile"),
        t("合成", "synthetic"),
        t("创建时间", "created"),
        t("各表行数", "rows per table"),
    ):
        tab.add_column(col)
    for c in cities:
        rows = "，".join(f"{k} {v:,}" for k, v in c.tables.items() if v)
        tab.add_row(c.name, c.profile, t("是", "yes") if c.synthetic else t("否", "no"), c.created, rows)
    out.print(tab)


@command("check", target=city_app)
def city_check_cmd(
    db: str = typer.Option(..., "--db", help=_DB_HELP),
    city: str = typer.Option(
        None, "--city", help="城市名称（库中只有一个城市时可省略）/ city name (may be left out when the store has one)"
    ),
) -> None:
    """检查城市数据：已有哪些表，每项输出还缺什么。
    Check a city: which tables it has, and what each output still lacks."""
    from lifecircle.city import store
    from lifecircle.city.check import IMPORT_HINT, check_city
    from lifecircle.errors import InputError

    if city is None:  # as access does: the store's only city, else name them
        if "://" not in db and not Path(db).exists():
            raise InputError(t(f"{db}: 数据库文件不存在", f"{db}: the store file does not exist"))
        names = [c.name for c in store.list_cities(db)]
        if len(names) != 1:
            listed = t("、", ", ").join(names) if names else t("（无）", "(none)")
            raise InputError(
                t(
                    f"{db}: 请用 --city 指定城市；已有：{listed}",
                    f"{db}: name the city with --city; the store has: {listed}",
                )
            )
        city = names[0]
    c = store.load_city(db, city)
    rep = check_city(c)
    tt = Table(title=t(f"城市 {c.display_name} 的数据", f"data of city {c.display_name}"))
    tt.add_column(t("表", "table"))
    tt.add_column(t("行数", "rows"), justify="right")
    tt.add_column(t("有数据的列", "columns with data"))
    for r in rep.tables.itertuples():
        tt.add_row(r.table, f"{r.rows:,}" if r.rows else "—", r.columns)
    out.print(tt)
    ot = Table(title=t("各项输出", "outputs"))
    ot.add_column(t("输出", "output"))
    ot.add_column(t("状态", "status"))
    ot.add_column(t("缺少", "missing"))
    for r in rep.outputs.itertuples():
        ot.add_row(r.name, t("可运行", "ready") if r.ready else t("缺数据", "missing data"), "、".join(r.missing))
    out.print(ot)
    missing_tables = sorted({m.split(".")[0] for ms in rep.outputs["missing"] for m in ms if " " not in m})
    if missing_tables:
        out.print(t("补齐数据：", "to fill the gaps:"), highlight=False)
        for tb in missing_tables:
            out.print("  " + IMPORT_HINT.format(table=tb, city=city), highlight=False, markup=False)
    if c.synthetic:
        out.print(t("※ 合成数据（演示用）", "※ synthetic data (demo)"))
