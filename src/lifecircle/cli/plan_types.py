"""``lifecircle plan types``: what each kind of community needs (M4) — old communities short of
commercial space and the idle sites near them, new communities against the 10% rule, the format
mix of complete communities, industrial parks for their workers."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import typer
from rich.table import Table

from lifecircle.city.demo import DEMO_SCALE, DEMO_SEED
from lifecircle.cli._plan_group import plan_app
from lifecircle.cli.app import command, out, progress, step
from lifecircle.cli.plan_circles import load_city_for_plan, network_for_city
from lifecircle.i18n import t
from lifecircle.plans.circles import DEFAULT_PLAN, load_plan
from lifecircle.plans.community_types import community_types
from lifecircle.profile import load_profile
from lifecircle.sources.files import atomic_output, check_output_path, spreadsheet_safe_frame

SHEETS = {  # attribute of CommunityTypeReport -> (sheet zh, sheet en)
    "summary": ("概况", "summary"),
    "old": ("老旧小区", "old"),
    "old_sites": ("老旧小区候选场地", "old - sites"),
    "new": ("新建小区", "new"),
    "complete": ("完整小区业态", "complete - mix"),
    "industrial": ("产业园区", "industrial"),
}


@command("types", target=plan_app)
def plan_types_cmd(
    out_path: Path = typer.Option(..., "--out", help="输出 Excel 文件 .xlsx / output workbook"),
    db: str = typer.Option(None, "--db", help="城市数据库文件或 URL / city store file or URL"),
    city: str = typer.Option("yichang", "--city", help="数据库中的城市名 / city name in the store"),
    demo: bool = typer.Option(False, "--demo", help="使用合成的宜昌演示城市 / use the synthetic demo city"),
    seed: int = typer.Option(DEMO_SEED, "--seed", help="演示城市随机种子 / demo city seed"),
    scale: float = typer.Option(DEMO_SCALE, "--scale", help="演示城市规模 / demo city scale"),
    plan: str = typer.Option(DEFAULT_PLAN, "--plan", help="规划参数文件名或 .toml 路径 / plan settings"),
    profile: str = typer.Option(None, "--profile", help="业态配置（默认取城市的）/ profile"),
) -> None:
    """分类施策：老旧小区补商业空间、新建小区 10% 商业面积核对、完整小区业态优化、产业园区职工可达性。
    Community types: old, new, complete and industrial communities, each with what it needs."""
    out_path = check_output_path(out_path, (".xlsx",))
    settings = load_plan(plan).community_types
    with progress() as p:
        with step(p, t("读取城市数据", "loading the city")):
            c = load_city_for_plan(db, city, demo, seed, scale)
            prof = load_profile(profile or c.profile)
        with step(p, t("构建步行路网", "building the walking network")):
            net = network_for_city(c)
        with step(p, t("按小区类型分析", "analysing community types")):
            rep = community_types(
                c.communities, net, prof, outlets=c.outlets, sites=c.candidate_sites, settings=settings
            )
        with atomic_output(out_path) as tmp, pd.ExcelWriter(tmp, engine="openpyxl") as xl:
            for attr, (zh, en) in SHEETS.items():
                df: pd.DataFrame = getattr(rep, attr)
                if "geometry" in df.columns:
                    df = df.drop(columns="geometry")
                if c.synthetic:
                    df = df.assign(**{t("数据", "data"): t("合成数据", "synthetic")})
                spreadsheet_safe_frame(df).to_excel(xl, sheet_name=t(zh, en), index=False)
    if c.synthetic:
        out.print(t("[bold yellow]※ 合成数据（演示用）[/]", "[bold yellow]※ synthetic data (demo)[/]"))
    tab = Table(title=t("小区类型与施策要点", "community types and what they need"))
    for col in (t("类型", "kind"), t("小区数", "communities"), t("人口/职工", "people"), t("要点", "headline")):
        tab.add_column(col)
    for r in rep.summary.to_dict("records"):
        tab.add_row(t(r["kind_zh"], r["kind"]), f"{r['communities']:,}", f"{r['population']:,}", r["headline"])
    out.print(tab)
    for note in rep.notes:
        out.print(t("注意: ", "note: ") + note)
    out.print(t(f"已写出：{out_path}", f"wrote {out_path}"))
