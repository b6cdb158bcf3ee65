"""``lifecircle scale access`` and ``lifecircle scale cities``: the engine and city evaluations on
a Dask cluster (a scheduler given by ``--scheduler`` / ``LIFECIRCLE_DASK_SCHEDULER``, else a local
cluster of worker processes on this machine)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pandas as pd
import typer
from rich.table import Table

from lifecircle.cli.app import app, command, console, out, progress, step
from lifecircle.i18n import get_lang, t
from lifecircle.sources.files import check_output_path, write_table

scale_app = typer.Typer(
    help="集群计算（Dask）：全省、全国规模 / on a Dask cluster: province or country scale", no_args_is_help=True
)
app.add_typer(scale_app, name="scale")

_SCHED_HELP = "Dask 调度器地址（默认环境变量 LIFECIRCLE_DASK_SCHEDULER，否则本机集群）/ scheduler address"


@contextmanager
def _client(scheduler: str | None, workers: int | None) -> Iterator[Any]:
    from lifecircle.scale.cluster import close_client, get_client

    client = get_client(scheduler, n_workers=workers)
    try:
        yield client
    finally:
        close_client(client)


def _describe(client: Any) -> str:
    info = client.scheduler_info()
    ws = info.get("workers", {})
    threads = sum(int(w.get("nthreads", 1)) for w in ws.values())
    return t(
        f"集群 {info.get('address', '')}：{len(ws)} 个工作进程，{threads} 个线程",
        f"cluster {info.get('address', '')}: {len(ws)} workers, {threads} threads",
    )


@command("access", target=scale_app)
def scale_access_cmd(
    osm: Path = typer.Option(..., "--osm", help="OSM PBF 文件（路网与商业网点）/ OSM PBF file"),
    out_path: Path = typer.Option(
        ...,
        "--out",
        help="输出文件 .parquet | .csv，或文件夹（各任务直接写分块 parquet）/ "
        "output file, or a folder (each task writes its own parquet part)",
    ),
    scheduler: str = typer.Option(None, "--scheduler", help=_SCHED_HELP),
    workers: int = typer.Option(None, "--workers", help="本机集群的工作进程数（默认每核一个）/ local workers"),
    chunk: int = typer.Option(None, "--chunk", help="每个任务的起点数（默认自动）/ origins per task"),
    origins: Path = typer.Option(
        None,
        "--origins",
        help="起点 CSV（id,lon,lat）；缺省为全部路网节点（路口与尽端）/ origins (default: every junction and dead end)",
    ),
    profile: str = typer.Option("yichang-2022", "--profile", help="业态配置名或 .toml 路径 / profile"),
    speed: float = typer.Option(None, "--speed", help="步行速度 km/h（默认取配置）/ walking speed km/h"),
    formats: str = typer.Option(None, "--formats", help="只计算这些业态代码，逗号分隔 / only these format codes"),
    tile_m: float = typer.Option(
        None,
        "--tile-m",
        help="按此边长（米）分块，每块加缓冲区为一个任务，只读取本块路网 / "
        "square tiles of this side in metres, each with its buffer one task reading only its part",
    ),
    network_dir: Path = typer.Option(
        None,
        "--network-dir",
        help="与 --tile-m 同用：路网 parquet 写到此文件夹（远程集群须为共享目录；默认临时目录）/ "
        "with --tile-m: folder for the network parquet (shared with remote workers; default a temporary one)",
    ),
) -> None:
    """集群上的步行可达性：与 `lifecircle access` 结果相同，按起点分块并行。
    Walking accessibility on a cluster: the same table as `lifecircle access`, origins in chunks."""
    from lifecircle.cli.access import _check_speed, _print_summary
    from lifecircle.errors import ConfigError
    from lifecircle.network.table import AccessTable
    from lifecircle.profile import load_profile
    from lifecircle.scale.access import access_table_dask
    from lifecircle.sources.osm import osm_outlets, read_osm_network

    to_folder = out_path.is_dir() or not out_path.suffix
    if to_folder:
        if not out_path.parent.exists():
            from lifecircle.errors import InputError

            raise InputError(
                t(
                    f"{out_path}: 上级目录 {out_path.parent} 不存在",
                    f"{out_path}: parent folder {out_path.parent} does not exist",
                )
            )
    else:
        out_path = check_output_path(out_path, (".parquet", ".csv"))
    prof = load_profile(profile)
    _check_speed(speed)
    if chunk is not None and chunk < 1:
        raise ConfigError(t(f"--chunk 须至少为 1（收到 {chunk}）", f"--chunk must be at least 1 (got {chunk})"))
    if workers is not None and workers < 1:
        raise ConfigError(t(f"--workers 须至少为 1（收到 {workers}）", f"--workers must be at least 1 (got {workers})"))
    codes = [c.strip() for c in formats.split(",") if c.strip()] if formats else None
    for c in codes or []:
        prof.format(c)
    if tile_m is not None and (to_folder or not tile_m > 0):
        raise ConfigError(
            t(
                f"--tile-m 须为正数（米），且 --out 须为文件（收到 {tile_m}，{out_path}）",
                f"--tile-m must be positive metres and --out a file (got {tile_m}, {out_path})",
            )
        )
    origin_df = None
    if origins is not None:
        from lifecircle.sources.points import read_points

        origin_df = read_points(origins)
    t0 = time.perf_counter()
    with progress() as p:
        with step(p, t("读取路网与商业网点", "reading the network and outlets")):
            net = read_osm_network(osm)
            outlets = osm_outlets(osm, prof)
        if origin_df is not None:
            from lifecircle.sources.points import check_extent

            check_extent(origin_df, net.bounds_wgs84(), file=str(origins))
        with _client(scheduler, workers) as client:
            console.print(_describe(client))
            task = p.add_task(t("集群计算步行可达性", "computing walking access on the cluster"), total=None)
            res = _tiled(net, origin_df, outlets, prof, client, tile_m, network_dir, speed, codes, p, task)
            res = res or access_table_dask(
                net,
                origin_df,
                outlets,
                prof,
                client,
                speed_kmh=speed,
                formats=codes,
                chunk=chunk,
                on_progress=lambda d, n: p.update(task, completed=d, total=n),
                out_dir=out_path if to_folder else None,
            )
        if isinstance(res, AccessTable):
            with step(p, t("写出结果", "writing the result")):
                write_table(res.table, out_path, layer="access")
    if len(res.unsnapped_origins):
        console.print(
            t(
                f"警告：{len(res.unsnapped_origins)} 个起点距道路过远，已排除（未移动）",
                f"warning: {len(res.unsnapped_origins)} origins are too far from any street "
                "and were left out (not moved)",
            )
        )
    if isinstance(res, AccessTable):
        _print_summary(res.table, out_path, speed or prof.walking.speed_kmh)
    else:
        _print_streamed(res, speed or prof.walking.speed_kmh)
    out.print(t(f"用时 {time.perf_counter() - t0:.1f} 秒", f"took {time.perf_counter() - t0:.1f} s"))


def _tiled(
    net: Any,
    origins: Any,
    outlets: Any,
    prof: Any,
    client: Any,
    tile_m: float | None,
    network_dir: Path | None,
    speed: float | None,
    codes: list[str] | None,
    p: Any,
    task: Any,
) -> Any:
    """The tiled run (:func:`lifecircle.scale.tiles.access_table_tiles`) when ``tile_m`` (metres)
    is given, else None."""
    if tile_m is None:
        return None
    import tempfile

    from lifecircle.scale.tiles import access_table_tiles, write_network

    with tempfile.TemporaryDirectory(prefix="lifecircle-net-") as tmp:
        nf = write_network(net, network_dir or tmp)
        res, run = access_table_tiles(
            nf,
            origins,
            outlets,
            prof,
            client,
            tile_m=tile_m,
            speed_kmh=speed,
            formats=codes,
            on_progress=lambda d, n: p.update(task, completed=d, total=n),
            net=net,
        )
    console.print(
        t(
            f"{run.n_tiles} 个分块，{len(run.rounds)} 轮；"
            f"单块最多读取 {run.max_edges_read[0]:,} / {run.n_edges:,} 条边",
            f"{run.n_tiles} tiles, {len(run.rounds)} rounds; a tile read at most "
            f"{run.max_edges_read[0]:,} of {run.n_edges:,} edges",
        ),
        highlight=False,
    )
    return res


def _print_streamed(res: Any, speed: float) -> None:
    """Coverage by format of a result streamed to a folder (from the tasks' summaries; speed in km/h)."""
    tab = Table(title=t(f"各业态覆盖（步速 {speed:g} km/h）", f"Coverage by format (walking {speed:g} km/h)"))
    for col in (t("业态", "format"), t("类别", "class"), t("步行圈层", "layer"), t("圈层内覆盖", "within layer")):
        tab.add_column(col)
    for r in res.per_format.to_dict("records"):
        share = "—" if not r["n_origins"] else f"{r['n_within_layer'] / r['n_origins']:.1%}"
        tab.add_row(f"{r['format_zh']} ({r['format']})", r["class"], f"{r['layer_min']:g} min", share)
    out.print(tab)
    out.print(
        t(
            f"已写出 {res.n_rows} 行到 {res.out_dir}（{len(res.parts)} 个分块，完成标记 _SUCCESS）",
            f"wrote {res.n_rows} rows to {res.out_dir} ({len(res.parts)} parts, marker _SUCCESS)",
        )
    )


@command("cities", target=scale_app)
def scale_cities_cmd(
    out_path: Path = typer.Option(
        ...,
        "--out",
        help="输出文件 .csv | .parquet | .xlsx；或文件夹：城市库、对比报告与完成标记，重跑时跳过已完成的城市 / "
        "output file, or a folder (city store, report, done-markers; a rerun skips finished cities)",
    ),
    demo: int = typer.Option(
        None, "--demo", help="评估 N 个演示城市（合成数据，种子与规模各不相同）/ N synthetic demo cities"
    ),
    demo_scale: float = typer.Option(0.05, "--demo-scale", help="演示城市基准规模 / base scale of the demo cities"),
    db: str = typer.Option(None, "--db", help="数据库文件或 URL：评估其中的城市 / city store"),
    cities: str = typer.Option(None, "--cities", help="与 --db 同用：城市名，逗号分隔（默认全部）/ city names"),
    province: Path = typer.Option(
        None, "--province", help="省份城市清单 CSV（label,kind,seed,scale,store,name,profile）/ province file"
    ),
    scheduler: str = typer.Option(None, "--scheduler", help=_SCHED_HELP),
    workers: int = typer.Option(None, "--workers", help="本机集群的工作进程数 / local workers"),
    retries: int = typer.Option(2, "--retries", help="失败任务的重试次数 / re-runs of a failed task"),
    tile_above: int = typer.Option(
        None,
        "--tile-above",
        help="与 --out 文件夹同用：路网节点数超过此值的城市分块计算步行可达（默认取 scale-batch.toml）/ "
        "with a folder --out: tile a city whose network has more nodes (default from scale-batch.toml)",
    ),
    tile_m: float = typer.Option(
        None, "--tile-m", help="分块边长（米，默认取 scale-batch.toml）/ tile side in metres (default from the config)"
    ),
    network_dir: Path = typer.Option(
        None,
        "--network-dir",
        help="分块城市的路网 parquet 写到此文件夹（远程集群须为共享目录；默认 --out/networks）/ "
        "folder for tiled cities' networks (shared with remote workers; default --out/networks)",
    ),
) -> None:
    """并行评估多个城市（每城一个任务），输出各城市的总体指标。
    Evaluate many cities in parallel (one task per city); write the city-level figures."""
    from lifecircle.errors import ConfigError
    from lifecircle.scale.cities import demo_sources, evaluate_many, store_sources

    batch = out_path.is_dir() or not out_path.suffix
    if not batch:
        out_path = check_output_path(out_path, (".csv", ".parquet", ".xlsx"))
    if sum(x is not None for x in (demo, db, province)) != 1:
        raise ConfigError(
            t("请给出 --demo N、--db 或 --province 之一", "give exactly one of --demo N, --db or --province")
        )
    if workers is not None and workers < 1:
        raise ConfigError(t(f"--workers 须至少为 1（收到 {workers}）", f"--workers must be at least 1 (got {workers})"))
    if retries < 0:
        raise ConfigError(t(f"--retries 不能为负（收到 {retries}）", f"--retries cannot be negative (got {retries})"))
    if not batch and any(x is not None for x in (tile_above, tile_m, network_dir)):
        raise ConfigError(
            t(
                "--tile-above、--tile-m、--network-dir 只用于省级批量（--out 为文件夹）",
                "--tile-above, --tile-m and --network-dir are for the province batch only (--out a folder)",
            )
        )
    if demo is not None:
        sources = demo_sources(demo, scale=demo_scale)
    elif province is not None:
        from lifecircle.scale.batch import read_province

        sources = read_province(province)
    else:
        from lifecircle.city.store import list_cities

        names = [c.strip() for c in cities.split(",") if c.strip()] if cities else [c.name for c in list_cities(db)]
        if not names:
            raise ConfigError(t(f"{db}: 库中没有城市", f"{db}: the store holds no city"))
        sources = store_sources(db, names)
    if batch:
        from lifecircle.scale.batch import batch_tiling

        tiling = batch_tiling(out_path, tile_above, tile_m, network_dir)  # bad values refused before any work
        _check_inputs_outside(out_path, [province, db, *(s.store for s in sources if s.store)])
        _run_batch(sources, out_path, scheduler, workers, retries, tiling)
        return
    t0 = time.perf_counter()
    with progress() as p:
        with _client(scheduler, workers) as client:
            console.print(_describe(client))
            task = p.add_task(t("评估城市", "evaluating cities"), total=len(sources))
            df = evaluate_many(sources, client, on_progress=lambda d, n: p.update(task, completed=d, total=n))
        write_table(df, out_path, layer="cities")
    _print_cities(df)
    _warn_failed(df)
    out.print(
        t(
            f"已写出 {len(df)} 个城市到 {out_path}，用时 {time.perf_counter() - t0:.1f} 秒",
            f"wrote {len(df)} cities to {out_path} in {time.perf_counter() - t0:.1f} s",
        )
    )


def _warn_failed(df: pd.DataFrame) -> None:
    bad = df[df["error"].fillna("").astype(str) != ""]
    for r in bad.itertuples():
        console.print(
            t(f"警告：{r.label} 未能评估：{r.error}", f"warning: {r.label} could not be evaluated: {r.error}"),
            highlight=False,
        )


def _say_outdated(labels: list[str]) -> None:
    """Name the cities evaluated again because an earlier batch version had done them."""
    if not labels:
        return
    from lifecircle.reports.comparison import name_list

    names = name_list(labels, get_lang())
    out.print(
        t(
            f"以下 {len(labels)} 个城市由较早版本的批量评估完成（结果缺少新版的列），已重新评估：{names}",
            f"evaluated again as an earlier version of the batch had done them (their rows lack newer columns), "
            f"{len(labels)}: {names}",
        ),
        highlight=False,
    )


def _check_inputs_outside(out_dir: Path, inputs: list) -> None:
    """The batch writes cities.db, cities.csv, cities.xlsx and cities.html into ``out_dir``: an
    input file of the same path (a province list saved there as cities.csv) would be overwritten."""
    from lifecircle.errors import InputError
    from lifecircle.scale.batch import HTML_REPORT, REPORT, STORE_FILE

    written = {(out_dir / name).resolve() for name in (STORE_FILE, *REPORT, HTML_REPORT)}
    for f in inputs:
        if f and "://" not in str(f) and Path(f).resolve() in written:
            raise InputError(
                t(
                    f"{f}: 是输入文件，但批量评估会把结果写到这个位置；请把它移出 {out_dir} 或改名",
                    f"{f}: is an input, but the batch writes its results there; move it out of {out_dir} or rename it",
                )
            )


def _run_batch(
    sources: list, out_dir: Path, scheduler: str | None, workers: int | None, retries: int, tiling: Any
) -> None:
    """The province batch into the folder ``out_dir`` (see :mod:`lifecircle.scale.batch`); exit 1 if a city failed."""
    from lifecircle.errors import InputError
    from lifecircle.scale.batch import run_batch

    if not out_dir.parent.exists():
        raise InputError(
            t(
                f"{out_dir}: 上级目录 {out_dir.parent} 不存在",
                f"{out_dir}: parent folder {out_dir.parent} does not exist",
            )
        )
    if not out_dir.parent.is_dir() or (out_dir.exists() and not out_dir.is_dir()):
        bad = out_dir if out_dir.exists() else out_dir.parent
        raise InputError(
            t(
                f"{out_dir}: {bad} 是文件，不是文件夹；--out 须为文件夹",
                f"{out_dir}: {bad} is a file, not a folder; --out must be a folder",
            )
        )
    t0 = time.perf_counter()
    with progress() as p, _client(scheduler, workers) as client:
        console.print(_describe(client))
        task = p.add_task(t("评估城市", "evaluating cities"), total=len(sources))
        res = run_batch(
            sources,
            client,
            out_dir,
            retries=retries,
            on_progress=lambda d, n: p.update(task, completed=d, total=n),
            tiling=tiling,
        )
    if len(res.report):
        _print_cities(res.report)
    _warn_failed(res.report)
    _say_outdated(res.outdated)
    out.print(
        t(
            f"新完成 {len(res.done)} 个，跳过已完成 {len(res.skipped)} 个，失败 {len(res.failed)} 个；"
            f"城市库 {res.store}，报告 {', '.join(str(f) for f in res.files)}；用时 {time.perf_counter() - t0:.1f} 秒",
            f"{len(res.done)} done, {len(res.skipped)} skipped as already done, {len(res.failed)} failed; "
            f"store {res.store}, report {', '.join(str(f) for f in res.files)}; took {time.perf_counter() - t0:.1f} s",
        ),
        highlight=False,
    )
    if res.failed:
        raise typer.Exit(1)


def _print_cities(df: pd.DataFrame) -> None:
    if "synthetic" in df.columns and df["synthetic"].any():
        out.print(
            t(
                "[bold yellow]※ 含合成数据（演示用，非真实统计）[/]",
                "[bold yellow]※ includes SYNTHETIC DATA (demo, not real statistics)[/]",
            )
        )
    tab = Table(title=t("各城市总体指标", "city-level figures"))
    for col in (
        t("城市", "city"),
        t("人口", "residents"),
        t("路网节点", "nodes"),
        t("生活圈", "circles"),
        t("基本业态平均覆盖", "mean basic coverage"),
        "F15",
        t("连锁化率", "chain share"),
        t("用时", "time"),
    ):
        tab.add_column(col)

    def pct(v: Any) -> str:
        return "—" if v is None or pd.isna(v) else f"{float(v):.1%}"

    def num(v: Any) -> str:
        return "—" if v is None or pd.isna(v) else f"{int(v):,}"

    for r in df.to_dict("records"):
        tab.add_row(
            str(r["label"]),
            num(r.get("population")),
            num(r.get("n_nodes")),
            num(r.get("n_circles")),
            pct(r.get("basic_format_coverage")),
            pct(r.get("f15")),
            pct(r.get("chain_share")),
            "—" if pd.isna(r.get("seconds")) else f"{r.get('seconds', 0):.1f} s",
        )
    out.print(tab)
