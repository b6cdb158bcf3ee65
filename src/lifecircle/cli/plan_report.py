"""``lifecircle plan report CIRCLE``: the one-plan-per-circle document (一圈一策) of a circle —
``<out>/<circle>.html`` and ``<out>/<circle>.pdf``. ``all`` writes one per circle. A thin shell
over :func:`lifecircle.plans.policy.circle_plan` and :mod:`lifecircle.reports.plan_report`."""

from __future__ import annotations

from pathlib import Path

import typer

from lifecircle.city.demo import DEMO_SCALE, DEMO_SEED
from lifecircle.cli._plan_group import plan_app
from lifecircle.cli.app import command, console, out, progress, step
from lifecircle.i18n import get_lang, t, use_lang


@command("report", target=plan_app)
def plan_report_cmd(
    circle_id: str = typer.Argument(..., help="生活圈编号，或 all 表示全部 / circle id, or all"),
    out_dir: Path = typer.Option(..., "--out", help="输出文件夹 / output folder"),
    db: str = typer.Option(None, "--db", help="城市数据库文件或 URL / city store file or URL"),
    city: str = typer.Option("yichang", "--city", help="数据库中的城市名 / city name in the store"),
    demo: bool = typer.Option(False, "--demo", help="使用合成的宜昌演示城市 / use the synthetic Yichang demo city"),
    seed: int = typer.Option(DEMO_SEED, "--seed", help="演示城市随机种子 / demo city seed"),
    scale: float = typer.Option(DEMO_SCALE, "--scale", help="演示城市规模（1 = 约160万人）/ demo city scale"),
    k: int = typer.Option(None, "--k", help="每个缺口业态的选址数（默认按编制参数）/ sites per gap format"),
    formats: str = typer.Option(
        None, "--formats", help="只为这些业态选址，逗号分隔 / plan only these formats (comma-separated)"
    ),
    method: str = typer.Option(None, "--method", help="求解方法 auto|exact|heuristic / solver"),
    policy: str = typer.Option(None, "--policy", help="一圈一策编制参数 .toml（默认内置）/ plan settings"),
    profile: str = typer.Option(None, "--profile", help="业态配置（默认取城市的）/ profile (default: the city's)"),
    report_lang: str = typer.Option(
        None, "--report-lang", help="报告语言 zh|en（默认与 --lang 相同）/ document language (default: as --lang)"
    ),
    pdf: bool = typer.Option(True, "--pdf/--no-pdf", help="同时生成 PDF（需 chromium）/ also print the PDF"),
    surface: bool = typer.Option(
        False, "--surface", help="加入步行时间面的公平性（F15、基尼系数）/ add fairness figures from the surface"
    ),
) -> None:
    """一圈一策：生成生活圈建设方案（HTML 与 PDF）。
    One plan per circle: write the circle's plan as HTML and PDF."""
    from lifecircle.cli.plan_circles import load_city_for_plan, network_for_city
    from lifecircle.indicators.evaluate import evaluate_city
    from lifecircle.plans.policy import circle_plan, plan_summary_line
    from lifecircle.profile import load_profile
    from lifecircle.reports.common import check_lang
    from lifecircle.reports.plan_report import write_plan_report
    from lifecircle.sources.files import check_output_dir

    report_lang = report_lang or get_lang()  # `--lang en plan report` writes (and says) English
    check_lang(report_lang)
    check_output_dir(out_dir)
    codes = [c.strip() for c in formats.split(",") if c.strip()] if formats else None
    with progress() as p:
        with step(p, t("读取城市数据", "loading the city")):
            c = load_city_for_plan(db, city, demo, seed, scale)
        prof = load_profile(profile or c.profile)
        with step(p, t("构建步行路网并评估", "building the network and evaluating")):
            net = network_for_city(c)  # its notes go to the terminal, in the message language
            with use_lang(report_lang):
                ev = evaluate_city(c, net, prof)
        ids = [str(x) for x in ev.circles["id"]] if circle_id == "all" else [circle_id]
        task = p.add_task(t("编制一圈一策", "drawing up the plans"), total=len(ids))
        plans = []
        for cid in ids:  # every plan first (the document's language), so a user error leaves no partial output
            with use_lang(report_lang):
                plans.append(
                    circle_plan(c, net, prof, ev, cid, k_per_format=k, formats=codes, method=method, policy=policy)
                )
            p.advance(task)
        surf = None
        if surface:
            from lifecircle.indicators.surface import build_surface

            with step(p, t("计算步行时间面", "computing the walking-time surface")):
                surf = build_surface(c, net, prof)
        written = [
            (plan, write_plan_report(plan, out_dir, city=c, lang=report_lang, pdf=pdf, surface=surf)) for plan in plans
        ]
    if c.synthetic:
        out.print(
            t(
                "[yellow]合成数据[/yellow]：演示城市，不是真实统计",
                "[yellow]synthetic data[/yellow]: the demo city, not real statistics",
            )
        )
    for plan, paths in written:
        out.print(plan_summary_line(plan), highlight=False)
        if plan.gapfill is not None:
            out.print("  " + t("精准补建：", "gap-filling: ") + plan.gapfill.sentence(), highlight=False)
        out.print("  " + t("已写出：", "written: ") + ", ".join(str(v) for v in paths.values()), highlight=False)
        for n in plan.notes:
            console.print(f"  [yellow]{t('注意', 'note')}:[/yellow] {n}", highlight=False)
