"""``lifecircle plan sites``: recommend candidate sites for one format, for a circle or the whole
city (M8), old communities' sites first (M4). A thin shell over
:func:`lifecircle.plans.format_sites.recommend_format_sites`."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table

from lifecircle.city.demo import DEMO_SCALE, DEMO_SEED
from lifecircle.cli._plan_group import plan_app
from lifecircle.cli.app import command, console, out, progress, step
from lifecircle.errors import InputError
from lifecircle.i18n import t
from lifecircle.plans.format_sites import FormatSites, recommend_format_sites
from lifecircle.plans.policy_settings import SITE_KIND_NAMES
from lifecircle.profile import load_profile
from lifecircle.sources.files import check_output_path, write_table


def print_format_sites(fs: FormatSites, where: str) -> None:
    """The chosen sites and how good the answer is (residents added, bound, gap)."""
    tab = Table(
        title=t(
            f"{where} · {fs.format_zh}（步行 {fs.layer_min:g} 分钟 ≈ {fs.radius_m:,.0f} 米）推荐选址",
            f"{where} · {fs.format_en} (walk {fs.layer_min:g} min ≈ {fs.radius_m:,.0f} m): recommended sites",
        )
    )
    for col, just in (
        (t("序", "#"), "right"),
        (t("场地编号", "site"), "left"),
        (t("名称", "name"), "left"),
        (t("类型", "kind"), "left"),
        (t("新增覆盖（人）", "residents added"), "right"),
        (t("新覆盖小区", "communities"), "right"),
        (t("老旧小区优先", "old-first"), "left"),
    ):
        tab.add_column(col, justify=just)  # type: ignore[arg-type]
    for r in fs.sites.to_dict("records"):
        kind = SITE_KIND_NAMES.get(r["site_kind"], (r["site_kind"], r["site_kind"]))
        tab.add_row(
            str(r["rank"]),
            r["site_id"],
            r["site_name"],
            t(*kind),
            f"{r['residents_added']:,.0f}",
            str(r["n_communities"]),
            t("是", "yes") if r["old_first"] else "",
        )
    if len(fs.sites):
        out.print(tab)
    else:
        out.print(
            t(
                f"{where} · {fs.format_zh}：没有可新增覆盖居民的候选场地",
                f"{where} · {fs.format_en}: no candidate site adds residents",
            )
        )

    def pct(v: float | None) -> str:
        return "—" if v is None else f"{v:.1%}"

    out.print(
        t(
            f"居民 {fs.residents:,.0f} 人；已被现有网点覆盖 {fs.already_covered:,.0f} 人；新增覆盖 {fs.covered:,.0f} 人"
            f"（覆盖率 {pct(fs.share_before)} → {pct(fs.share_after)}）；上界 {fs.bound:,.0f} 人，差距 {fs.gap:.2%}；"
            f"方法 {fs.method}{'，已证最优' if fs.optimal else ''}",
            f"residents {fs.residents:,.0f}; already covered by outlets {fs.already_covered:,.0f}; "
            f"newly covered {fs.covered:,.0f}"
            f" (coverage {pct(fs.share_before)} → {pct(fs.share_after)}); bound {fs.bound:,.0f}, gap {fs.gap:.2%}; "
            f"method {fs.method}{', proven optimal' if fs.optimal else ''}",
        ),
        highlight=False,
    )
    for n in fs.notes:
        console.print(f"[yellow]{t('注意', 'note')}:[/yellow] {n}", highlight=False)


@command("sites", target=plan_app)
def plan_sites_cmd(
    format_code: str = typer.Option(..., "--format", help="业态代码，如 wet_market / format code"),
    circle: str = typer.Option(None, "--circle", help="生活圈编号（默认全市）/ circle id (default: the whole city)"),
    k: int = typer.Option(3, "--k", help="选址数量 / number of sites"),
    method: str = typer.Option("auto", "--method", help="求解方法 auto|exact|heuristic / solver"),
    db: str = typer.Option(None, "--db", help="城市数据库文件或 URL / city store file or URL"),
    city: str = typer.Option("yichang", "--city", help="数据库中的城市名 / city name in the store"),
    demo: bool = typer.Option(False, "--demo", help="使用合成的宜昌演示城市 / use the synthetic Yichang demo city"),
    seed: int = typer.Option(DEMO_SEED, "--seed", help="演示城市随机种子 / demo city seed"),
    scale: float = typer.Option(DEMO_SCALE, "--scale", help="演示城市规模（1 = 约160万人）/ demo city scale"),
    old_first: bool = typer.Option(
        True, "--old-first/--any-site", help="老旧小区周边场地优先 / old communities' sites first"
    ),
    profile: str = typer.Option(None, "--profile", help="业态配置（默认取城市的）/ profile (default: the city's)"),
    out_path: Path = typer.Option(None, "--out", help="输出 .csv | .gpkg（可选）/ optional output file"),
) -> None:
    """推荐选址：为缺口业态在候选场地中选 k 处，使步行层内新增覆盖居民最多。
    Recommend k candidate sites for a format to bring the most residents within its walking layer."""
    from lifecircle.cli.plan_circles import load_city_for_plan, network_for_city

    if out_path is not None:
        out_path = check_output_path(out_path, (".csv", ".gpkg"))
    if k < 1:
        raise InputError(t(f"--k 须至少为 1（收到 {k}）", f"--k must be at least 1 (got {k})"))
    with progress() as p:
        with step(p, t("读取城市数据", "loading the city")):
            c = load_city_for_plan(db, city, demo, seed, scale)
        prof = load_profile(profile or c.profile)
        prof.format(format_code)
        with step(p, t("构建步行路网", "building the walking network")):
            net = network_for_city(c)
        with step(p, t("计算覆盖并求解", "computing coverage and solving")):
            fs = recommend_format_sites(
                c, net, prof, format_code, circle_id=circle, k=k, method=method, old_first=old_first
            )
    if c.synthetic:
        out.print(
            t(
                "[yellow]合成数据[/yellow]：演示城市，不是真实统计",
                "[yellow]synthetic data[/yellow]: the demo city, not real statistics",
            )
        )
    print_format_sites(fs, circle or c.name)
    if out_path is not None:
        df = fs.sites.copy()
        df.insert(0, "format", fs.format)
        df.insert(1, "circle_id", circle or "")
        df["source"] = "synthetic" if c.synthetic else "lifecircle"
        write_table(df, out_path, layer="sites")
        out.print(t(f"已写出：{out_path}", f"written: {out_path}"), highlight=False)
