"""``lifecircle evaluate`` and ``lifecircle demo``: evaluate a city end to end.

``demo`` builds the synthetic Yichang demo city into the embedded SQLite store, loads it back,
evaluates it and writes ``out/`` (HTML dashboard, Excel workbook, GeoPackage); ``evaluate`` does
the same for a city already in a store (real data brought with ``lifecircle import``).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import typer
from rich.table import Table

from lifecircle.city.demo import DEMO_SCALE, DEMO_SEED
from lifecircle.cli.app import command, console, out, progress, step
from lifecircle.i18n import get_lang, t


def _check_out_dir(out_dir: Path) -> None:
    """An output folder must be a folder (or not exist yet): checked before any work."""
    from lifecircle.sources.files import check_output_dir

    check_output_dir(out_dir)


_SURFACE_HELP = "同时计算步行时间面并加入仪表板与 Excel（公平性、盲区）/ add the walking-time surface and fairness"
_COMPARE_HELP = "仪表板与 Excel 加入该情景与基准的对比（含 --surface）/ compare this scenario with the base"
_AGAINST_HELP = "与另一情景而非基准对比 / compare with this scenario instead of the base"
_FORMAT_HELP = "对比图显示的业态（默认：变快居民最多的业态）/ format of the gain/loss map"


@dataclass
class CompareOptions:
    """``--compare SCENARIO [--against OTHER] [--compare-format CODE] --dir FOLDER``: the scenarios
    (read before any work), the format of the gain/loss map and the name of the 'before' side."""

    scenarios: list = field(default_factory=list)
    format: str | None = None

    @classmethod
    def read(cls, compare: str | None, against: str | None, folder: Path, code: str | None) -> CompareOptions:
        from lifecircle.cli.surface import load_compared
        from lifecircle.errors import InputError

        if compare is None:
            if against is not None or code is not None:
                flag = "--against" if against is not None else "--compare-format"
                raise InputError(t(f"{flag} 需要与 --compare 一起使用", f"{flag} needs --compare"))
            return cls()
        return cls(load_compared(compare, against, folder), code)

    def comparison(self, city, net, prof, base):  # -> Comparison | None
        """The two surfaces compared (``base``: the base city's surface), or None without --compare."""
        if not self.scenarios:
            return None
        from lifecircle.cli.surface import compared_surfaces
        from lifecircle.indicators.surface_compare import Comparison

        before, after = compared_surfaces(city, net, prof, base, self.scenarios)
        name = self.scenarios[0].name if len(self.scenarios) > 1 else t("基准", "base")
        return Comparison(before, after, name, self.scenarios[-1].name, self.format)

    def check(self, city, prof) -> None:
        """Before the evaluation: the scenarios were made on ``city``; the format is known."""
        from lifecircle.cli.surface import check_compared

        check_compared(self.scenarios, city)
        if self.format is not None:
            prof.format(self.format)  # unknown code: one line naming the known ones


def _evaluate_and_write(
    city,
    out_dir: Path,
    profile: str | None,
    rules: str | None,
    p,
    surface: bool = False,
    cmp: CompareOptions | None = None,
) -> tuple:
    from lifecircle.indicators.evaluate import evaluate_city
    from lifecircle.profile import load_profile
    from lifecircle.reports import write_outputs
    from lifecircle.sources.network_loader import network_from_city

    cmp = cmp or CompareOptions()
    prof = load_profile(profile or city.profile)
    cmp.check(city, prof)
    with step(p, t("构建步行路网", "building the walking network")):
        net = network_from_city(city)
    with step(p, t("计算可达性与指标、评级", "computing access, indicators and grades")):
        ev = evaluate_city(city, net, prof, rules=rules)
    surf = comparison = None
    if surface or cmp.scenarios:
        from lifecircle.indicators.surface import build_surface

        with step(p, t("计算步行时间面", "computing the walking-time surface")):
            surf = build_surface(city, net, prof)
        if cmp.scenarios:
            with step(p, t("计算情景的步行时间面", "computing the scenarios' surfaces")):
                comparison = cmp.comparison(city, net, prof, surf)
    with step(p, t("写出仪表板、Excel 与 GeoPackage", "writing dashboard, Excel and GeoPackage")):
        files = write_outputs(ev, out_dir, city=city, lang=get_lang(), surface=surf, comparison=comparison)
    return net, ev, files


def _print_summary(city, net, ev, files: dict, seconds: float) -> None:
    if ev.synthetic:
        out.print(
            t(
                "[bold yellow]※ 合成数据（演示用，非真实统计）[/]",
                "[bold yellow]※ SYNTHETIC DATA (demo, not real statistics)[/]",
            )
        )
    c = ev.city
    head = Table(
        title=t(f"{ev.city_name} 一刻钟便民生活圈评估 — 全市", f"{ev.city_name} 15-minute living circles — city")
    )
    head.add_column(t("指标", "indicator"))
    head.add_column(t("数值", "value"), justify="right")

    def pct(v) -> str:
        return "—" if v is None or pd.isna(v) else f"{float(v):.1%}"

    def area(v) -> str:
        return "—" if v is None or pd.isna(v) else f"{float(v):.1f} m²"

    rows = [
        (t("常住人口（小区）", "residents (communities)"), f"{int(c.get('population', 0)):,}"),
        (t("小区数", "communities"), f"{len(ev.communities):,}"),
        (
            t("商业网点 / 智能设施", "outlets / smart facilities"),
            f"{int(c.get('n_outlets', 0)):,} / {int(c.get('n_smart_facilities', 0)):,}",
        ),
        (t("路网节点 / 边", "network nodes / edges"), f"{net.n_nodes:,} / {net.n_edges:,}"),
        (t("生活圈数", "circles"), f"{len(ev.circles)}"),
        (
            t("居民在各自圈层内可达全部基本业态", "residents reaching every basic format in its layer"),
            pct(c.get("basic_coverage")),
        ),
        (t("基本业态平均覆盖", "mean basic-format coverage"), pct(c.get("basic_format_coverage"))),
        (
            t("老年步速下基本业态平均覆盖", "same at older residents' speed"),
            pct(c.get("elderly_basic_format_coverage")),
        ),
        (t("连锁化率（目标≥30%）", "chain share (target ≥30%)"), pct(c.get("chain_share"))),
        (t("智能设施覆盖", "smart-facility coverage"), pct(c.get("smart_coverage"))),
        (
            t("每百户社区服务面积（目标≥30 m²）", "service area per 100 households (target ≥30 m²)"),
            area(c.get("service_area_per_100hh")),
        ),
        (t("满意度（目标≥90%）", "satisfaction (target ≥90%)"), pct(c.get("satisfaction"))),
    ]
    for k, v in rows:
        head.add_row(k, v)
    out.print(head)
    grades = ev.circles["grade"].value_counts()
    gt = Table(title=t("生活圈评级", "circle grades"))
    gt.add_column(t("等级", "grade"))
    gt.add_column(t("个数", "circles"), justify="right")
    for g, n in grades.items():
        gt.add_row(str(g), str(n))
    out.print(gt)
    dt = Table(title=t("分区", "districts"))
    for col in (
        t("区", "district"),
        t("人口", "residents"),
        t("生活圈", "circles"),
        t("基本业态平均覆盖", "mean basic coverage"),
        t("连锁化率", "chain share"),
    ):
        dt.add_column(col)
    for r in ev.districts.to_dict("records"):
        dt.add_row(
            str(r.get("name_zh", r.get("code"))),
            f"{int(r.get('population', 0) or 0):,}",
            str(r.get("n_circles", "")),
            pct(r.get("basic_format_coverage")),
            pct(r.get("chain_share")),
        )
    out.print(dt)
    for note in ev.notes:  # islands, unknown codes, ...: data problems the user should see
        console.print(note, highlight=False, soft_wrap=True, markup=False)
    for kind, path in files.items():
        out.print(f"{kind}: {path}")
    out.print(t(f"用时 {seconds:.1f} 秒", f"took {seconds:.1f} s"))


def _check_can_evaluate(city, db: str) -> None:
    """A city without streets, outlets or communities has nothing to evaluate: say which tables
    to import (as ``city check`` does) instead of writing an empty dashboard."""
    from lifecircle.city.check import IMPORT_HINT, check_city
    from lifecircle.errors import InputError

    missing = check_city(city).missing_for("evaluate")
    if missing:
        first = IMPORT_HINT.format(table=missing[0].split(".")[0], city=city.name).replace("STORE", db)
        raise InputError(
            t(
                f"城市 {city.name} 还不能评估：缺少 {'、'.join(missing)}；请先导入，例如 {first}",
                f"city {city.name} cannot be evaluated yet: {', '.join(missing)} missing; import first, e.g. {first}",
            )
        )


@command("demo")
def demo_cmd(
    out_dir: Path = typer.Option(Path("out"), "--out", help="输出目录 / output folder"),
    scale: float = typer.Option(DEMO_SCALE, "--scale", help="演示城市规模（1 = 约160万人）/ demo city scale"),
    seed: int = typer.Option(DEMO_SEED, "--seed", help="随机种子 / random seed"),
    db: str = typer.Option(None, "--db", help="内嵌数据库文件（默认 OUT/lifecircle.db）/ store file"),
    surface: bool = typer.Option(False, "--surface", help=_SURFACE_HELP),
    compare: str = typer.Option(None, "--compare", help=_COMPARE_HELP),
    against: str = typer.Option(None, "--against", help=_AGAINST_HELP),
    folder: Path = typer.Option(Path("scenarios"), "--dir", help="情景文件夹 / folder of scenario files"),
    compare_format: str = typer.Option(None, "--compare-format", help=_FORMAT_HELP),
) -> None:
    """演示：生成宜昌演示城市（合成数据）入库、评估并输出报告。
    Demo: build the synthetic Yichang demo city into the store, evaluate it and write the reports."""
    from lifecircle.city.demo import build_demo_city
    from lifecircle.city.store import load_city, save_city
    from lifecircle.profile import load_profile

    t0 = time.perf_counter()
    _check_out_dir(out_dir)
    cmp = CompareOptions.read(compare, against, folder, compare_format)
    db = db or str(out_dir / "lifecircle.db")
    with progress() as p:
        with step(p, t("生成宜昌演示城市（合成数据）", "building the Yichang demo city (synthetic)")):
            city = build_demo_city(seed=seed, scale=scale)
        cmp.check(city, load_profile(city.profile))  # a misspelt --compare-format: nothing written yet
        out_dir.mkdir(parents=True, exist_ok=True)  # only once the arguments proved good
        with step(p, t(f"写入内嵌数据库 {db}", f"saving into the embedded store {db}")):
            save_city(city, db, replace=True)
            built, city = city, load_city(db, city.name)
            city.provenance = city.provenance or dict(built.provenance)  # a store without the field
        net, ev, files = _evaluate_and_write(city, out_dir, None, None, p, surface, cmp)
    _print_summary(city, net, ev, files, time.perf_counter() - t0)


@command("evaluate")
def evaluate_cmd(
    db: str = typer.Option(..., "--db", help="数据库文件或 URL / store file or URL"),
    city_name: str = typer.Option(..., "--city", help="城市名称 / city name"),
    out_dir: Path = typer.Option(Path("out"), "--out", help="输出目录 / output folder"),
    profile: str = typer.Option(None, "--profile", help="业态配置（默认取城市的配置）/ profile"),
    rules: str = typer.Option(None, "--rules", help="评级规则 .toml / grading rules"),
    surface: bool = typer.Option(False, "--surface", help=_SURFACE_HELP),
    compare: str = typer.Option(None, "--compare", help=_COMPARE_HELP),
    against: str = typer.Option(None, "--against", help=_AGAINST_HELP),
    folder: Path = typer.Option(Path("scenarios"), "--dir", help="情景文件夹 / folder of scenario files"),
    compare_format: str = typer.Option(None, "--compare-format", help=_FORMAT_HELP),
) -> None:
    """评估库中的一个城市：指标、评级、缺口，输出仪表板、Excel 与 GeoPackage。
    Evaluate a stored city: indicators, grades, gaps; write dashboard, Excel and GeoPackage."""
    from lifecircle.city.store import load_city

    t0 = time.perf_counter()
    _check_out_dir(out_dir)
    cmp = CompareOptions.read(compare, against, folder, compare_format)
    city = load_city(str(db), city_name)
    _check_can_evaluate(city, str(db))
    with progress() as p:
        net, ev, files = _evaluate_and_write(city, out_dir, profile, rules, p, surface, cmp)
    _print_summary(city, net, ev, files, time.perf_counter() - t0)
