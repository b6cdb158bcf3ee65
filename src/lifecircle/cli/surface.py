"""``lifecircle surface``: the city-wide walking-time surface (H3 hexagons), blind spots and
fairness figures; with ``--compare SCENARIO``, the gain/loss surface of a scenario against the base
(or ``--against`` another scenario) and before/after histograms of residents by walking time."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import typer
from rich.table import Table

from lifecircle.city.demo import DEMO_PROFILE, DEMO_SCALE, DEMO_SEED
from lifecircle.cli.app import command, console, out, progress, step
from lifecircle.errors import InputError
from lifecircle.i18n import get_lang, t
from lifecircle.profile import load_profile

_SUFFIXES = (".gpkg", ".parquet")


def _codes(formats: str | None, prof) -> list[str] | None:
    if formats is None:
        return None
    codes = list(dict.fromkeys(c.strip() for c in formats.split(",") if c.strip()))
    if not codes:
        raise InputError(t(f"--formats '{formats}' 中没有业态代码", f"--formats '{formats}' names no format code"))
    for c in codes:
        prof.format(c)  # unknown code: one line naming the known ones
    return codes


def _print_fairness(table, codes: list[str] | None) -> None:
    from lifecircle.indicators.surface import ALL_BASIC

    tab = Table(title=t("可达公平性（全市）", "fairness of access (city)"))
    for col in (
        t("业态", "format"),
        t("人群", "group"),
        t("平均分钟", "mean min"),
        "F15",
        t("圈层内", "in layer"),
        "Gini",
    ):
        tab.add_column(col, justify="right")
    keep = set(codes or []) | {ALL_BASIC}
    for r in table.to_dict("records"):
        if codes and r["format"] not in keep:
            continue
        tab.add_row(
            str(r["format"]),
            t("全体", "all") if r["group"] == "all" else t("老年人", "older"),
            f"{r['mean_min']:.1f}" if np.isfinite(r["mean_min"]) else "–",
            f"{r['f15']:.1%}",
            f"{r['f_layer']:.1%}",
            f"{r['gini']:.3f}" if np.isfinite(r["gini"]) else "–",
        )
    out.print(tab)


@command("surface")
def surface_cmd(
    out_path: Path = typer.Option(..., "--out", help="输出 .gpkg | .parquet（GeoParquet，WGS-84）/ output file"),
    db: str = typer.Option(None, "--db", help="城市数据库文件或 URL / city store file or URL"),
    city: str = typer.Option("yichang", "--city", help="数据库中的城市名 / city name in the store"),
    demo: bool = typer.Option(False, "--demo", help="使用合成的宜昌演示城市 / use the synthetic demo city"),
    seed: int = typer.Option(DEMO_SEED, "--seed", help="演示城市随机种子 / demo city seed"),
    scale: float = typer.Option(DEMO_SCALE, "--scale", help="演示城市规模 / demo city scale"),
    formats: str = typer.Option(None, "--formats", help="只输出这些业态，逗号分隔 / only these format codes"),
    resolution: int = typer.Option(9, "--resolution", help="H3 分辨率（9 约 0.1 km²）/ H3 resolution"),
    k: int = typer.Option(
        1, "--k", help="另给出到第 k 近网点的步行时间（1–10）/ also the walk to the k-th nearest outlet (1–10)"
    ),
    population: Path = typer.Option(
        None, "--population", help="人口网格 CSV（lon,lat,population）代替小区人口 / population grid CSV"
    ),
    compare: str = typer.Option(None, "--compare", help="与基准对比的情景名称或 .json / scenario to compare"),
    against: str = typer.Option(None, "--against", help="与另一情景而非基准对比 / compare with this scenario"),
    folder: Path = typer.Option(Path("scenarios"), "--dir", help="情景文件夹 / folder of scenario files"),
    profile: str = typer.Option(None, "--profile", help="业态配置（默认取城市的）/ profile"),
) -> None:
    """步行时间面：H3 六边形网格上到各业态最近网点的步行分钟、盲区与公平性（F15、基尼系数）；
    --k N 另给出到第 N 近网点的步行分钟。
    Walking-time surface: minutes to the nearest outlet of each format on H3 hexagons, blind
    spots and fairness (F15, Gini); --k N adds the walk to the N-th nearest outlet (columns
    kN_min_<format>; blind spots and fairness stay on the nearest); --compare SCENARIO writes the
    gain/loss surface instead."""
    from lifecircle.cli.plan_circles import load_city_for_plan, network_for_city
    from lifecircle.indicators.surface import build_surface, check_k, check_resolution, read_population_grid
    from lifecircle.sources.files import check_input_file, check_output_path

    out_path = check_output_path(out_path, _SUFFIXES)
    check_k(k)
    if against is not None and compare is None:
        raise InputError(t("--against 需要与 --compare 一起使用", "--against needs --compare"))
    grid = read_population_grid(check_input_file(population, (".csv",))) if population is not None else None
    scns = load_compared(compare, against, folder) if compare is not None else []
    check_resolution(resolution)
    if profile is not None or demo:  # the profile is known before the city: check --formats at once
        _codes(formats, load_profile(profile or DEMO_PROFILE))
    with progress() as p:
        with step(p, t("读取城市数据", "loading the city")):
            c = load_city_for_plan(db, city, demo, seed, scale)
        prof = load_profile(profile or c.profile)
        codes = _codes(formats, prof)
        with step(p, t("构建步行路网", "building the network")):
            net = network_for_city(c)
        with step(p, t("计算步行时间面", "computing the surface")):
            opts = {"resolution": resolution, "k": k, "population_grid": grid, "grid_name": str(population or "")}
            s = build_surface(c, net, prof, **opts)
            if compare is not None:
                _compare(c, net, prof, s, scns, codes, out_path, opts)
                return
    _write_surface(c, prof, s, codes, out_path)


def _write_surface(c, prof, s, codes, out_path: Path) -> None:
    from lifecircle.indicators.fairness import fairness_table
    from lifecircle.indicators.surface import blind_spots, district_names, write_surface

    write_surface(s, out_path, prof, codes, city=c)
    if c.synthetic:
        out.print(
            t("[yellow]合成数据[/yellow]：演示城市，不是真实统计", "[yellow]synthetic data[/yellow]: the demo city")
        )
    r = s.residents
    out.print(
        t(
            f"{len(s.cells)} 个六边形（H3 分辨率 {s.resolution}），{r.table['population'].sum():,.0f} 名居民",
            f"{len(s.cells)} hexagons (H3 resolution {s.resolution}), {r.table['population'].sum():,.0f} residents",
        ),
        highlight=False,
    )
    if r.left_out:
        console.print(
            t(
                f"注意：{r.left_out} 处人口点距道路过远，未计入（{r.left_out_population:,.0f} 人）",
                f"note: {r.left_out} population points too far from every street were left out "
                f"({r.left_out_population:,.0f} residents)",
            ),
            highlight=False,
        )
    if s.k > 1:
        out.print(
            t(
                f"第 {s.k} 近网点的步行分钟见列 k{s.k}_min_<业态>（盲区与公平性仍按最近网点）",
                f"minutes to the {s.k}th nearest outlet: columns k{s.k}_min_<format> "
                "(blind spots and fairness stay on the nearest)",
            ),
            highlight=False,
        )
    _print_fairness(fairness_table(s, prof), codes)
    b = blind_spots(s, prof, codes, district_names(c))
    worst = b[b["blind_residents"] > 0].sort_values("blind_residents", ascending=False).head(8)
    if len(worst):
        tab = Table(title=t("盲区居民最多的区与业态", "districts and formats with most residents in blind spots"))
        for col in (t("区", "district"), t("业态", "format"), t("盲区六边形", "cells"), t("居民", "residents")):
            tab.add_column(col, justify="right")
        for x in worst.to_dict("records"):
            tab.add_row(
                str(x["district_name"]), str(x["format"]), str(x["blind_cells"]), f"{x['blind_residents']:,.0f}"
            )
        out.print(tab)
    out.print(t(f"已写出：{out_path}", f"written: {out_path}"), highlight=False)


def load_compared(compare: str, against: str | None, folder: Path) -> list:
    """The scenarios of ``--compare`` (and ``--against``), read before any work: ``[against,]
    compare``; a name not in ``folder`` is one line listing the scenarios there."""
    from lifecircle.plans.scenarios import load_scenario

    scns = [load_scenario(n, folder) for n in ([against] if against else []) + [compare]]
    if len(scns) == 2 and scns[0].name == scns[1].name:
        raise InputError(
            t(
                f"--against 与 --compare 是同一个情景 {compare}：对比结果全为零；"
                "与基准对比请去掉 --against，或给出另一个情景",
                f"--against and --compare name the same scenario {compare}: nothing would differ; "
                "drop --against to compare with the base, or name another scenario",
            )
        )
    return scns


def check_compared(scns: list, c) -> None:
    """Every scenario was made on city ``c`` (else one line naming each that was not)."""
    from lifecircle.plans.scenarios import city_problem

    wrong = [f"{x.name}: {why}" for x in scns if (why := city_problem(x, c))]
    if wrong:
        raise InputError("; ".join(wrong))


def compared_surfaces(c, net, prof, base, scns: list, opts: dict | None = None) -> tuple:
    """(before, after) surfaces: ``base`` (or the first of two scenarios) and the last scenario."""
    from lifecircle.indicators.surface import build_surface
    from lifecircle.plans.scenarios import apply_scenario

    check_compared(scns, c)
    surfaces = [base]
    for x in scns:
        c2, n2 = apply_scenario(c, net, x, profile=prof)
        surfaces.append(build_surface(c2, n2, prof, **(opts or {})))
    return surfaces[-2], surfaces[-1]


def _compare(c, net, prof, base, scns: list, codes, out_path: Path, opts) -> None:
    from lifecircle.indicators.surface import mark_city
    from lifecircle.indicators.surface_compare import gain_loss, histograms
    from lifecircle.reports.gain_loss import pick_format, write_gain_page
    from lifecircle.sources.files import atomic_output, write_table

    before, after = compared_surfaces(c, net, prof, base, scns, opts)
    compare, against = scns[-1].name, scns[0].name if len(scns) > 1 else None
    g = gain_loss(before, after, codes)
    meta = mark_city(c, g)  # column synthetic (合成数据 for the demo city), the city named in the GeoPackage
    with atomic_output(out_path) as tmp:
        if out_path.suffix.lower() == ".parquet":
            g.to_parquet(tmp, index=False)
        else:
            g.to_file(tmp, layer="gain_loss", driver="GPKG", engine="pyogrio", layer_metadata=meta)
    h = histograms(before, after, codes)
    h_path = out_path.with_name(out_path.stem + "_histogram.csv")
    write_table(h, h_path)
    base_name = against or t("基准", "base")
    page = out_path.with_suffix(".html")
    shown = pick_format(g, codes or list(after.codes))
    write_gain_page(
        g,
        h,
        shown,
        page,
        before=base_name,
        after=compare,
        lang=get_lang(),
        city=meta["lifecircle_city"] if meta else "",
        synthetic=bool(c.synthetic),
        name=next((f.en if get_lang() == "en" else f.zh for f in prof.formats if f.code == shown), None),
    )
    tab = Table(
        title=t(f"居民步行时间分布：{base_name} → {compare}", f"residents by walking time: {base_name} → {compare}")
    )
    for col in (t("业态", "format"), t("分钟", "minutes"), base_name, compare):
        tab.add_column(col, justify="right")
    for r in h.to_dict("records"):
        if r["before"] == r["after"] == 0:
            continue
        upto = "∞" if not np.isfinite(r["to_min"]) else f"{r['to_min']:g}"
        tab.add_row(str(r["format"]), f"{r['from_min']:g}–{upto}", f"{r['before']:,.0f}", f"{r['after']:,.0f}")
    out.print(tab)
    gains = [col for col in g.columns if col.startswith("gain_")]
    better = int((g[gains].fillna(0).to_numpy() > 0).any(axis=1).sum())
    worse = int((g[gains].fillna(0).to_numpy() < 0).any(axis=1).sum())
    out.print(
        t(f"变快的六边形 {better} 个，变慢的 {worse} 个", f"{better} hexagons gain, {worse} lose"), highlight=False
    )
    out.print(t(f"已写出：{out_path}，{h_path}，{page}", f"written: {out_path}, {h_path}, {page}"), highlight=False)
