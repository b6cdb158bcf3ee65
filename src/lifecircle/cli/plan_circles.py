"""``lifecircle plan circles``: delineate the living circles of a city (M2), or assign its
communities to circle boundaries the user brings; write a GeoPackage or GeoJSON and print a summary
per district. A thin shell over :mod:`lifecircle.plans.circles`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import typer
from rich.table import Table

from lifecircle.city.demo import DEMO_SCALE, DEMO_SEED
from lifecircle.city.model import City
from lifecircle.cli._plan_group import plan_app
from lifecircle.cli.app import command, console, out, progress, step
from lifecircle.errors import InputError
from lifecircle.i18n import t
from lifecircle.plans.circles import (
    DEFAULT_PLAN,
    PHASE_EN,
    PHASE_ZH,
    Delineation,
    GivenAssignment,
    assign_to_given_circles,
    delineate_circles,
    load_plan,
)
from lifecircle.profile import load_profile
from lifecircle.sources.files import atomic_output, check_output_path
from lifecircle.sources.tables import read_geo

OUT_SUFFIXES = (".gpkg", ".geojson")


def load_city_for_plan(db: str | None, city: str, demo: bool, seed: int, scale: float) -> City:
    """The city from the store (``--db``/``--city``) or the synthetic demo city (``--demo``)."""
    if demo:
        if db is not None:
            raise InputError(t("--demo 与 --db 只能二选一", "give either --demo or --db, not both"))
        if not (0 < scale <= 4):
            raise InputError(t(f"--scale {scale} 应在 0–4 之间", f"--scale {scale} must be between 0 and 4"))
        from lifecircle.city.demo import build_demo_city

        return build_demo_city(seed, scale)
    if db is None:
        raise InputError(
            t(
                "请给出 --db 数据库与 --city 城市名，或使用 --demo 演示城市",
                "give --db and --city, or --demo for the demo city",
            )
        )
    from lifecircle.city import store

    return store.load_city(db, city)  # a missing file or city is a one-line InputError there


def network_for_city(city: City):  # -> WalkNetwork
    """The walking network of a city (its ``streets`` table, WGS-84 lines, in a local UTM CRS),
    with its islands reported on the terminal: short pieces dropped, communities and outlets on
    pieces apart from the main network named (see :mod:`lifecircle.network.islands`)."""
    from lifecircle.sources.network_loader import network_from_city

    net = network_from_city(city)
    report_islands(net, city)
    return net


def report_islands(net, city: City) -> None:
    """Print the islands of ``net`` with the city's communities and outlets on them (stderr)."""
    from lifecircle.network.islands import islands_of_tables
    from lifecircle.profile import load_profile

    max_m = load_profile(city.profile).walking.snap_max_m
    tables = {name: city.table(name).reset_index(drop=True) for name in ("communities", "outlets")}
    repaired = (
        net.noding.lines()[:1] if net.noding is not None and (net.noding.ends_joined or net.noding.t_joins) else []
    )
    for line in repaired + islands_of_tables(net, tables, max_m).lines():
        console.print(line, highlight=False, soft_wrap=True, markup=False)


def _layers(
    d: Delineation | None, given: GivenAssignment | None, communities: pd.DataFrame, synthetic: bool
) -> dict[str, gpd.GeoDataFrame]:
    src = "synthetic" if synthetic else "lifecircle"
    if d is not None:
        circles = d.circles.copy()
        comm = d.communities.copy()
        cen = d.centres.copy()
        cen_g = gpd.GeoDataFrame(cen, geometry=gpd.points_from_xy(cen["lon"], cen["lat"]), crs=4326)
        cen_g["source"] = src
    else:
        assert given is not None
        circles = given.circles.copy()
        comm = given.communities.merge(communities[["id", "lon", "lat"]].astype({"id": str}), on="id", how="left")
        cen_g = None
    comm["source"] = src
    comm_g = gpd.GeoDataFrame(comm, geometry=gpd.points_from_xy(comm["lon"], comm["lat"]), crs=4326)
    layers = {"circles": circles, "communities": comm_g}
    if cen_g is not None:
        layers["centres"] = cen_g
    for g in layers.values():
        for c in g.columns:
            if c != "geometry" and g[c].dtype == object:
                g[c] = g[c].astype("string")  # mixed None / str columns write cleanly
    return layers


def write_layers(layers: dict[str, gpd.GeoDataFrame], path: Path, city: City | None = None) -> list[Path]:
    """GeoPackage: one file with a layer each (their metadata name the ``city`` they were made
    on); GeoJSON: the circles in ``path`` and the other layers beside it as
    ``<stem>.<layer>.geojson``. Every file is written atomically."""
    if path.suffix.lower() == ".gpkg":
        meta = {"lifecircle_city": city.origin_label} if city is not None else None
        with atomic_output(path) as tmp:
            for name, g in layers.items():
                g.to_file(tmp, layer=name, driver="GPKG", engine="pyogrio", layer_metadata=meta)
        return [path]
    written = []
    for name, g in layers.items():
        p = path if name == "circles" else path.with_name(f"{path.stem}.{name}.geojson")
        with atomic_output(p) as tmp:
            g.to_file(tmp, driver="GeoJSON", engine="pyogrio")
        written.append(p)
    return written


def _pct(v: Any) -> str:
    return "—" if v is None or not np.isfinite(v) else f"{v:.0%}"


def print_district_summary(d: Delineation, phases: tuple[str, ...], phase: str) -> None:
    """Per district: quota, circles formed, residents, share within the walk, how chosen."""
    tab = Table(title=t(f"生活圈划定（{'全部阶段' if phase == 'all' else phase}）", f"circle delineation ({phase})"))
    tab.add_column(t("区", "district"))
    tab.add_column(
        t("配额", "quota") + "\n" + "+".join(t(PHASE_ZH.get(p, p), PHASE_EN.get(p, p)) for p in phases), justify="right"
    )
    tab.add_column(t("形成", "formed"), justify="right")
    tab.add_column(t("居民", "residents"), justify="right")
    tab.add_column(t(f"{d.settings.walk_min:g}分钟内", f"within {d.settings.walk_min:g} min"), justify="right")
    tab.add_column(t("规模区间", "size range"), justify="right")
    tab.add_column(t("方法 选点/分配", "method choice/assign"))
    circles = d.circles
    for _, r in d.districts.iterrows():
        mine = circles[circles["district"] == r["district"]]
        pop = int(mine["population"].sum()) if len(mine) else 0
        within = int(mine["population_within"].sum()) if len(mine) else 0
        quota = "+".join(str(int(r.get(f"quota_{p}", 0))) for p in phases)
        lo, hi = r["size_min"], r["size_max"]
        size = "—" if not np.isfinite(lo) else f"{_people(lo)}–{_people(hi)}"
        how = f"{r['choice_method']}/{r['assign_method']}"
        tab.add_row(
            str(r["district_name"]), quota, str(len(mine)), f"{pop:,}", _pct(within / pop if pop else np.nan), size, how
        )
    pop = int(circles["population"].sum()) if len(circles) else 0
    within = int(circles["population_within"].sum()) if len(circles) else 0
    tab.add_row(t("合计", "total"), "", str(len(circles)), f"{pop:,}", _pct(within / pop if pop else np.nan), "", "")
    out.print(tab)


def _people(v: float) -> str:
    """A circle size for the table: 5.0万 / 50k from ten thousand up, else the number (500, not 0.1万 or 0k)."""
    if v < 1e4:
        return f"{v:,.0f}"
    return t(f"{v / 1e4:.1f}万", f"{v / 1e3:.0f}k")


@command("circles", target=plan_app)
def plan_circles_cmd(
    out_path: Path = typer.Option(..., "--out", help="输出文件 .gpkg | .geojson / output file"),
    db: str = typer.Option(None, "--db", help="城市数据库文件或 URL / city store file or URL"),
    city: str = typer.Option("yichang", "--city", help="数据库中的城市名 / city name in the store"),
    demo: bool = typer.Option(False, "--demo", help="使用合成的宜昌演示城市 / use the synthetic Yichang demo city"),
    seed: int = typer.Option(DEMO_SEED, "--seed", help="演示城市随机种子 / demo city seed"),
    scale: float = typer.Option(
        DEMO_SCALE, "--scale", help="演示城市规模（1 = 约160万人）/ demo city scale (1 = about 1.6 M residents)"
    ),
    phase: str = typer.Option("all", "--phase", help="输出阶段 pilot|rollout|all / phase to write"),
    boundaries: Path = typer.Option(
        None, "--boundaries", help="自带生活圈边界 .geojson/.gpkg（按点落面划入）/ your own circle boundaries"
    ),
    plan: str = typer.Option(DEFAULT_PLAN, "--plan", help="规划配额文件名或 .toml 路径 / plan quotas name or path"),
    profile: str = typer.Option(None, "--profile", help="业态配置（默认取城市的）/ profile (default: the city's)"),
) -> None:
    """划定生活圈：按区配额选中心，按步行距离划入小区并说明理由。
    Delineate circles: choose centres per district quota, assign communities by walking distance, explain the choice."""
    out_path = check_output_path(out_path, OUT_SUFFIXES)
    cfg = load_plan(plan)
    if phase not in ("all", *cfg.phases):
        raise InputError(
            t(
                f"--phase 须为 all 或 {'|'.join(cfg.phases)}，而不是 '{phase}'",
                f"--phase must be all or {'|'.join(cfg.phases)}, not '{phase}'",
            )
        )
    given_gdf = None
    if boundaries is not None:
        given_gdf = read_geo(boundaries).df
        if given_gdf.crs is None:
            given_gdf = given_gdf.set_crs(4326)
    with progress() as p:
        with step(p, t("读取城市数据", "loading the city")):
            c = load_city_for_plan(db, city, demo, seed, scale)
        if c.synthetic:
            out.print(
                t(
                    "[yellow]合成数据[/yellow]：演示城市，不是真实统计",
                    "[yellow]synthetic data[/yellow]: the demo city, not real statistics",
                )
            )
        communities = c.communities
        if len(communities) == 0:
            raise InputError(t(f"城市 {c.name} 没有小区数据（communities）", f"city {c.name} has no communities"))
        prof = load_profile(profile or c.profile)
        if given_gdf is not None:
            with step(p, t("按自带边界划入小区", "assigning communities to the given boundaries")):
                g = assign_to_given_circles(communities, given_gdf)
            written = write_layers(_layers(None, g, communities, c.synthetic), out_path, c)
            _print_given(g)
            for n in g.notes:
                console.print(f"[yellow]{t('注意', 'note')}:[/yellow] {n}", highlight=False)
        else:
            with step(p, t("构建步行路网", "building the walking network")):
                net = network_for_city(c)
            with step(p, t("选择中心并划定生活圈", "choosing centres and forming circles")):
                walk_m = prof.walking.metres(cfg.delineation.walk_min)
                d = delineate_circles(
                    communities,
                    c.centre_candidates,
                    net,
                    c.districts,
                    quotas=cfg.quotas(),
                    max_walk_m=walk_m,
                    size_range=(cfg.delineation.min_population, cfg.delineation.max_population),
                    phases=cfg.phases,
                    settings=cfg.delineation,
                    snap_max_m=prof.walking.snap_max_m,
                    district_names=cfg.district_names(),
                )
                d = d.for_phase(phase)
            written = write_layers(_layers(d, None, communities, c.synthetic), out_path, c)
            print_district_summary(d, cfg.phases, phase)
            for n in d.notes:
                console.print(f"[yellow]{t('注意', 'note')}:[/yellow] {n}", highlight=False)
    out.print(
        t(f"已写出：{', '.join(str(w) for w in written)}", f"written: {', '.join(str(w) for w in written)}"),
        highlight=False,
    )


def _print_given(g: GivenAssignment) -> None:
    tab = Table(title=t("按自带边界划入", "assigned to the given boundaries"))
    for col in (t("生活圈", "circle"), t("区", "district"), t("小区数", "communities"), t("人口", "population")):
        tab.add_column(col)
    for _, r in g.circles.iterrows():
        tab.add_row(str(r["id"]), str(r["district"] or ""), str(r["n_communities"]), f"{int(r['population']):,}")
    tab.add_row(t("边界外", "outside"), "", str(len(g.outside)), f"{int(g.outside['population'].sum()):,}")
    out.print(tab)
