"""``lifecircle scenario create|list|compare``: save a plan as a scenario (outlets added, outlets
closed, new street links) and compare scenarios side by side with the same indicators, without
touching the base data. A thin shell over :mod:`lifecircle.plans.scenarios`."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import typer
from rich.table import Table
from shapely.geometry import LineString

from lifecircle.city.demo import DEMO_SCALE, DEMO_SEED
from lifecircle.cli.app import app, command, console, out, progress, step
from lifecircle.errors import InputError, ProblemCollector
from lifecircle.i18n import get_lang, t
from lifecircle.profile import load_profile

scenario_app = typer.Typer(
    help="情景：保存规划方案并对比指标 / scenarios: save plans and compare them", no_args_is_help=True
)
app.add_typer(scenario_app, name="scenario")

DEFAULT_DIR = Path("scenarios")
_DIR_HELP = "情景文件夹（每个情景一个 JSON 文件）/ folder of scenario files"


def parse_outlet(spec: str, i: int) -> dict[str, object]:
    """``FORMAT[;FORMAT2],LON,LAT[,NAME]`` → an outlet row (id ``S-<i>``)."""
    parts = [p.strip() for p in spec.replace("，", ",").split(",")]
    if len(parts) < 3:
        raise InputError(
            t(f"--add '{spec}' 应写成 业态,经度,纬度[,名称]", f"--add '{spec}' must read FORMAT,LON,LAT[,NAME]")
        )
    return {
        "id": f"S-{i}",
        "name": parts[3] if len(parts) > 3 and parts[3] else f"新增网点 {i}",
        "formats": parts[0],
        "lon": parts[1],
        "lat": parts[2],
        "source": "scenario",
    }


def parse_link(spec: str) -> LineString:
    """``LON LAT;LON LAT;...`` (or ``LON,LAT;LON,LAT``) → a WGS-84 LineString."""
    pts = []
    for p in spec.replace("；", ";").split(";"):
        xy = p.replace(",", " ").split()
        if not p.strip():
            continue
        try:
            if len(xy) != 2:
                raise ValueError
            pts.append((float(xy[0]), float(xy[1])))
        except ValueError:
            raise InputError(
                t(f"--link '{spec}' 应写成 经度 纬度;经度 纬度;...", f"--link '{spec}' must read 'LON LAT;LON LAT;...'")
            ) from None
    if len(pts) < 2:
        raise InputError(t(f"--link '{spec}' 至少需要两个点", f"--link '{spec}' needs at least two points"))
    return LineString(pts)


def _city_options(db: str | None, demo: bool) -> bool:
    return db is not None or demo


@command("create", target=scenario_app)
def scenario_create_cmd(
    name: str = typer.Argument(..., help="情景名称 / scenario name"),
    folder: Path = typer.Option(DEFAULT_DIR, "--dir", help=_DIR_HELP),
    description: str = typer.Option("", "--description", help="说明 / description"),
    add: list[str] = typer.Option(
        None, "--add", help="新增网点 业态,经度,纬度[,名称]（可多次）/ add an outlet FORMAT,LON,LAT[,NAME]"
    ),
    close: list[str] = typer.Option(None, "--close", help="关闭网点编号（可多次）/ close an outlet by id"),
    link: list[str] = typer.Option(
        None, "--link", help="新增道路 '经度 纬度;经度 纬度;...'（可多次）/ new street link"
    ),
    from_plan: str = typer.Option(
        None, "--from-plan", help="把该生活圈的一圈一策推荐选址存为情景 / save a circle's plan"
    ),
    db: str = typer.Option(None, "--db", help="城市数据库（SQLite），用于核对 / city store, to check against"),
    city: str = typer.Option("yichang", "--city", help="数据库中的城市名 / city name in the store"),
    demo: bool = typer.Option(False, "--demo", help="使用合成的宜昌演示城市 / use the synthetic demo city"),
    seed: int = typer.Option(DEMO_SEED, "--seed", help="演示城市随机种子 / demo city seed"),
    scale: float = typer.Option(DEMO_SCALE, "--scale", help="演示城市规模 / demo city scale"),
    overwrite: bool = typer.Option(False, "--overwrite", help="覆盖同名情景 / replace a scenario of that name"),
) -> None:
    """新建情景：新增/关闭网点、新增道路，或保存某生活圈的规划方案。
    Create a scenario: outlets added or closed, new street links, or a circle's plan."""
    from lifecircle.plans.scenarios import Scenario, apply_scenario, make_outlets, save_scenario
    from lifecircle.sources.files import check_output_dir

    check_output_dir(folder)  # before the city is built

    bag = ProblemCollector(file="--add/--link")
    rows, links = [], []
    for i, spec in enumerate(add or [], start=1):
        try:
            rows.append(parse_outlet(spec, i))
        except InputError as exc:
            bag.problems.extend(exc.problems)
    for spec in link or []:
        try:
            links.append(parse_link(spec))
        except InputError as exc:
            bag.problems.extend(exc.problems)
    bag.raise_if_any()
    added = make_outlets(rows, file="--add")
    city_name = None
    if from_plan is not None and not _city_options(db, demo):
        raise InputError(t("--from-plan 需要 --db/--city 或 --demo", "--from-plan needs --db/--city or --demo"))
    if _city_options(db, demo):
        from lifecircle.cli.plan_circles import load_city_for_plan, network_for_city

        with progress() as p, step(p, t("读取城市并核对情景", "loading the city and checking the scenario")):
            c = load_city_for_plan(db, city, demo, seed, scale)
            net = network_for_city(c)
            city_name = c.name
            if from_plan is not None:
                from lifecircle.indicators.evaluate import evaluate_city
                from lifecircle.plans.policy import circle_plan

                prof = load_profile(c.profile)
                plan = circle_plan(c, net, prof, evaluate_city(c, net, prof), from_plan, gapfill=False)
                plan_rows = plan.scenario.added_outlets
                added = pd.concat([plan_rows, added], ignore_index=True) if len(added) else plan_rows
                description = description or plan.scenario.description
            scn = Scenario(
                name=name,
                description=description,
                added_outlets=added,
                closed_outlets=list(close or []),
                new_links=links,
                city=city_name,
                origin=f"plan {from_plan}" if from_plan else "",
                city_provenance=dict(c.provenance),
            )
            apply_scenario(c, net, scn, profile=load_profile(c.profile))  # every problem now, not at compare time
    else:
        scn = Scenario(
            name=name, description=description, added_outlets=added, closed_outlets=list(close or []), new_links=links
        )
    path = save_scenario(scn, folder, overwrite=overwrite)
    s = scn.summary()
    out.print(
        t(
            f"已保存情景 {scn.name}：新增网点 {s['n_added']} 处，关闭 {s['n_closed']} 处，"
            f"新增道路 {s['n_links']} 条 → {path}",
            f"saved scenario {scn.name}: {s['n_added']} outlets added, {s['n_closed']} closed, "
            f"{s['n_links']} links → {path}",
        ),
        highlight=False,
    )


@command("list", target=scenario_app)
def scenario_list_cmd(folder: Path = typer.Option(DEFAULT_DIR, "--dir", help=_DIR_HELP)) -> None:
    """列出情景。List the saved scenarios."""
    from lifecircle.plans.scenarios import list_scenarios

    df = list_scenarios(folder)
    if not len(df):
        out.print(t(f"{folder} 中没有情景", f"no scenarios in {folder}"), highlight=False)
        return
    tab = Table(title=t(f"情景（{folder}）", f"scenarios ({folder})"))
    for col in (
        t("名称", "name"),
        t("城市", "city"),
        t("新增", "added"),
        t("关闭", "closed"),
        t("道路", "links"),
        t("来源", "origin"),
        t("创建时间", "created"),
        t("说明", "description"),
    ):
        tab.add_column(col)
    for r in df.to_dict("records"):
        if r["error"]:
            tab.add_row(str(r["name"]), "", "", "", "", "", "", f"[red]{r['error']}[/red]")
            continue
        tab.add_row(
            str(r["name"]),
            str(r["city"] or ""),
            str(r["n_added"]),
            str(r["n_closed"]),
            str(r["n_links"]),
            str(r["origin"] or ""),
            str(r["created"]),
            str(r["description"] or ""),
        )
    out.print(tab)


def _show(v: object, key: str) -> str:
    """A compared value for the terminal: shares as %, counts with separators, text as is."""
    if v is None or (isinstance(v, float) and np.isnan(v)):
        return "—"
    if isinstance(v, float | int | np.floating | np.integer) and not isinstance(v, bool):
        x = float(v)
        if key.endswith(("coverage", "completeness", "share")):
            return f"{x:.1%}"
        return f"{x:,.0f}" if x == int(x) else f"{x:,.2f}"
    return str(v)


@command("compare", target=scenario_app)
def scenario_compare_cmd(
    names: list[str] = typer.Argument(..., help="情景名称或 .json 文件 / scenario names or files"),
    folder: Path = typer.Option(DEFAULT_DIR, "--dir", help=_DIR_HELP),
    circle: list[str] = typer.Option(None, "--circle", help="只看这些生活圈（可多次）/ only these circles"),
    db: str = typer.Option(None, "--db", help="城市数据库文件或 URL / city store file or URL"),
    city: str = typer.Option("yichang", "--city", help="数据库中的城市名 / city name in the store"),
    demo: bool = typer.Option(False, "--demo", help="使用合成的宜昌演示城市 / use the synthetic demo city"),
    seed: int = typer.Option(DEMO_SEED, "--seed", help="演示城市随机种子 / demo city seed"),
    scale: float = typer.Option(DEMO_SCALE, "--scale", help="演示城市规模 / demo city scale"),
    profile: str = typer.Option(None, "--profile", help="业态配置（默认取城市的）/ profile"),
    out_path: Path = typer.Option(None, "--out", help="完整对比表 .csv | .xlsx | .parquet / full table"),
) -> None:
    """对比情景：基准与各情景的同一组指标并列（全市与生活圈）。
    Compare scenarios: the same indicators for the base and each scenario, side by side."""
    from lifecircle.cli.plan_circles import load_city_for_plan, network_for_city
    from lifecircle.plans.scenarios import (
        BASE_COLUMN,
        BaseCase,
        city_problem,
        compare_scenarios,
        load_scenario,
    )
    from lifecircle.sources.files import check_output_path, write_table

    if out_path is not None:
        out_path = check_output_path(out_path, (".csv", ".xlsx", ".parquet"))
    scns = [load_scenario(n, folder) for n in names]
    with progress() as p:
        with step(p, t("读取城市数据", "loading the city")):
            c = load_city_for_plan(db, city, demo, seed, scale)
            wrong = [f"{s.name}: {why}" for s in scns if (why := city_problem(s, c))]
            if wrong:  # another city's scenario: refused before the network is built and reported
                raise InputError("; ".join(wrong))
            net = network_for_city(c)
        with step(p, t("评估基准与各情景", "evaluating the base and each scenario")):
            table = compare_scenarios(
                BaseCase(c, net, load_profile(profile or c.profile)), scns, circles=circle or None, lang=get_lang()
            )
    if c.synthetic:
        out.print(
            t(
                "[yellow]合成数据[/yellow]：演示城市，不是真实统计",
                "[yellow]synthetic data[/yellow]: the demo city, not real statistics",
            )
        )
    cols = [BASE_COLUMN, *[s.name for s in scns]]
    shown = table if circle else table[table["level"] == "city"]
    for (level, unit), part in shown.groupby(["level", "unit_name"], sort=False):
        tab = Table(title=f"{t('全市', 'city') if level == 'city' else t('生活圈', 'circle')} · {unit}")
        tab.add_column(t("指标", "indicator"))
        for col in cols:
            tab.add_column(t("基准", "base") if col == BASE_COLUMN else col, justify="right")
        for r in part.to_dict("records"):
            tab.add_row(str(r["label"]), *[_show(r[col], str(r["indicator"])) for col in cols])
        out.print(tab)
    if not circle:
        console.print(
            t(
                "用 --circle 查看生活圈，或 --out 写出完整对比表",
                "use --circle for circles, or --out for the full table",
            )
        )
    if out_path is not None:
        write_table(table, out_path)
        out.print(t(f"已写出：{out_path}", f"written: {out_path}"), highlight=False)
