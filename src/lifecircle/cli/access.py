"""``lifecircle access`` and ``lifecircle isochrone``: the walking engine from the command line."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import typer
from rich.table import Table

from lifecircle.cli.app import command, console, out, progress, step
from lifecircle.errors import InputError, Problem
from lifecircle.i18n import t
from lifecircle.network.isochrone import isochrones
from lifecircle.network.table import access_table, coverage_summary
from lifecircle.profile import load_profile
from lifecircle.sources.coords import SYSTEMS, to_wgs84
from lifecircle.sources.files import check_output_path, write_table


def _network(osm: Path | None, streets: Path | None):  # -> WalkNetwork
    if (osm is None) == (streets is None):
        raise InputError(t("请给出 --osm 或 --streets 之一作为路网", "give exactly one of --osm or --streets for the network"))
    if osm is not None:
        from lifecircle.sources.osm import read_osm_network

        return read_osm_network(osm)
    from lifecircle.sources.streets import read_streets_network

    return read_streets_network(streets)


def _check_crs(crs: str) -> str:
    c = crs.lower().replace("-", "").replace("_", "")  # GCJ-02, gcj_02, GCJ02 as in `import`
    if c not in SYSTEMS:
        raise InputError(t(f"--crs 须为 {'|'.join(SYSTEMS)} 之一，而不是 '{crs}'", f"--crs must be one of {'|'.join(SYSTEMS)}, not '{crs}'"))
    return c


def _check_speed(speed: float | None) -> None:
    if speed is not None and not (0 < speed <= 20):
        raise InputError(t(f"--speed {speed} 不合理：步行速度应在 0–20 km/h 之间", f"--speed {speed} is not a walking speed (0–20 km/h)"))


@command("access")
def access_cmd(
    out_path: Path = typer.Option(..., "--out", help="输出文件 .parquet | .gpkg | .csv / output file"),
    osm: Path = typer.Option(None, "--osm", help="OSM PBF 文件（路网与商业网点）/ OSM PBF file"),
    streets: Path = typer.Option(None, "--streets", help="自有道路线文件 .gpkg/.parquet/.geojson / your own street lines"),
    origins: Path = typer.Option(None, "--origins", help="起点表 CSV/Excel（id,lon,lat 或高德 location 列）或矢量文件；缺省为全部路网节点 / origins: CSV/Excel (id,lon,lat or an Amap location column) or a vector file"),
    profile: str = typer.Option("yichang-2022", "--profile", help="业态配置名或 .toml 路径 / profile name or path"),
    speed: float = typer.Option(None, "--speed", help="步行速度 km/h（默认取配置）/ walking speed km/h"),
    crs: str = typer.Option("wgs84", "--crs", help="输入坐标系 wgs84|gcj02|bd09 / input coordinates"),
    formats: str = typer.Option(None, "--formats", help="只计算这些业态代码，逗号分隔 / only these format codes"),
) -> None:
    """步行可达性：每个起点到每类业态的最近距离与 5/10/15 分钟内网点数。
    Walking accessibility: nearest distance and counts within 5/10/15 minutes, per origin and format."""
    out_path = check_output_path(out_path, (".parquet", ".gpkg", ".csv"))
    prof = load_profile(profile)
    crs = _check_crs(crs)
    _check_speed(speed)
    codes = list(dict.fromkeys(c.strip() for c in formats.split(",") if c.strip())) if formats is not None else None
    if codes == []:
        raise InputError(t(f"--formats '{formats}' 中没有业态代码", f"--formats '{formats}' names no format code"))
    for c in codes or []:
        prof.format(c)  # unknown code → clear error before any work
    if osm is None and streets is not None:
        raise InputError(t("--streets 路网需要商业网点来源：目前请用 --osm 提供网点", "--streets needs outlets: give --osm for the outlets for now"))
    origin_df = None
    if origins is not None:
        from lifecircle.sources.points import read_points

        origin_df = read_points(origins, crs=crs)
    with progress() as p:
        with step(p, t("读取路网", "reading the network")):
            net = _network(osm, streets)
        if origin_df is not None:
            from lifecircle.sources.points import check_extent

            check_extent(origin_df, net.bounds_wgs84(), file=str(origins))
        with step(p, t("读取并分类商业网点", "reading and classifying outlets")):
            outlets = _osm_outlets(osm, prof)
        if outlets.empty:  # a PBF without shops: every distance would be empty, say so
            console.print(t(f"警告：{osm} 中没有任何属于业态目录的商业网点，所有距离均为空",
                            f"warning: {osm} has no outlet of any catalogue format; every distance is empty"),
                          highlight=False, soft_wrap=True)
        with step(p, t("计算步行可达性", "computing walking access")):
            res = access_table(net, origin_df, outlets, prof, speed_kmh=speed, formats=codes)
        if res.table.empty and len(res.unsnapped_origins):  # nothing to write: say why, write nothing
            u = res.unsnapped_origins
            rows = u["row"].tolist() if "row" in u else [None] * len(u)
            raise InputError([
                Problem(t(f"起点 '{i}' 距最近道路 {d:.0f} 米，超过 {prof.walking.snap_max_m:g} 米",
                          f"origin '{i}' is {d:.0f} m from the nearest street, beyond {prof.walking.snap_max_m:g} m"),
                        file=str(origins), row=None if r is None else int(r), field="lon,lat")
                for i, d, r in zip(u["id"], u["distance_to_street_m"], rows, strict=True)
            ])
        with step(p, t("写出结果", "writing the result")):
            write_table(res.table, out_path, layer="access")
    comp = net.component_summary()
    if comp["n_components"] > 1:
        console.print(t(
            f"提示：路网有 {comp['n_components']} 个互不连通的部分，最大部分之外有 {comp['nodes_outside_largest']} 个节点（{comp['share_outside_largest']:.1%}）",
            f"note: the network has {comp['n_components']} disconnected pieces; {comp['nodes_outside_largest']} nodes ({comp['share_outside_largest']:.1%}) lie outside the largest",
        ))
    if len(res.unsnapped_origins):
        ids = ", ".join(res.unsnapped_origins["id"].astype(str).head(10))
        console.print(t(
            f"警告：{len(res.unsnapped_origins)} 个起点距道路超过 {prof.walking.snap_max_m:g} 米，已排除（未移动）：{ids}",
            f"warning: {len(res.unsnapped_origins)} origins are more than {prof.walking.snap_max_m:g} m from any street and were left out (not moved): {ids}",
        ))
    if len(res.unsnapped_outlets):
        console.print(t(f"警告：{len(res.unsnapped_outlets)} 个网点距道路过远，已排除", f"warning: {len(res.unsnapped_outlets)} outlets are too far from any street and were left out"))
    _print_summary(res.table, out_path, speed or prof.walking.speed_kmh)


def _osm_outlets(osm: Path, prof) -> pd.DataFrame:  # noqa: ANN001
    from lifecircle.sources.osm import classify_osm, read_osm_pois

    pois = read_osm_pois(osm)
    cls = classify_osm(pois, prof)
    sel = pois.iloc[cls["poi"].to_numpy()]
    return pd.DataFrame({
        "id": sel["id"].astype(str).to_numpy(),
        "name": sel["name"].fillna("").astype(str).to_numpy(),
        "format": cls["format"].to_numpy(),
        "lon": sel.geometry.x.to_numpy(),
        "lat": sel.geometry.y.to_numpy(),
    })


def _print_summary(table: pd.DataFrame, path: Path, speed: float) -> None:
    s = coverage_summary(table)
    tab = Table(title=t(f"各业态覆盖（步速 {speed:g} km/h）", f"Coverage by format (walking {speed:g} km/h)"))
    for col in (t("业态", "format"), t("类别", "class"), t("步行圈层", "layer"), t("圈层内覆盖", "within layer"), t("最近中位", "median nearest"), t("15分钟内平均数", "mean n ≤15 min")):
        tab.add_column(col)
    for r in s.itertuples():
        med = "—" if np.isnan(r.median_nearest_min) else f"{r.median_nearest_min:.1f} min"
        tab.add_row(f"{r.format_zh} ({r.format})", r._3, f"{r.layer_min:g} min", f"{r.share_within_layer:.1%}", med, f"{r.mean_count:.1f}")
    out.print(tab)
    out.print(t(f"已写出 {len(table)} 行到 {path}", f"wrote {len(table)} rows to {path}"))


@command("isochrone")
def isochrone_cmd(
    lon: float = typer.Option(..., "--lon", help="经度 / longitude"),
    lat: float = typer.Option(..., "--lat", help="纬度 / latitude"),
    out_path: Path = typer.Option(..., "--out", help="输出 .geojson 或 .gpkg / output"),
    osm: Path = typer.Option(None, "--osm", help="OSM PBF 文件 / OSM PBF file"),
    streets: Path = typer.Option(None, "--streets", help="自有道路线文件 / your own street lines"),
    minutes: str = typer.Option("5,10,15", "--minutes", help="分钟数，逗号分隔 / minutes, comma-separated"),
    speed: float = typer.Option(None, "--speed", help="步行速度 km/h / walking speed km/h"),
    profile: str = typer.Option("yichang-2022", "--profile", help="配置 / profile"),
    crs: str = typer.Option("wgs84", "--crs", help="输入坐标系 wgs84|gcj02|bd09"),
) -> None:
    """等时圈：从一点出发步行若干分钟可达的范围（沿实际道路）。
    Isochrones: the area reachable on foot from a point, along the streets actually reached."""
    out_path = check_output_path(out_path, (".geojson", ".gpkg"))
    prof = load_profile(profile)
    crs = _check_crs(crs)
    _check_speed(speed)
    try:
        mins = [float(m) for m in minutes.split(",") if m.strip()]
    except ValueError:
        raise InputError(t(f"--minutes '{minutes}' 应为逗号分隔的数字", f"--minutes '{minutes}' must be comma-separated numbers")) from None
    if not (np.isfinite(lon) and np.isfinite(lat)) or abs(lon) > 180:
        raise InputError(t(f"--lon {lon} --lat {lat} 不是有效的经纬度（度）", f"--lon {lon} --lat {lat} is not a valid longitude/latitude in degrees"))
    if abs(lat) > 90:
        raise InputError(t(f"--lat {lat} 超出 ±90：经纬度可能写反了", f"--lat {lat} is beyond ±90: lon and lat may be swapped"))
    wlon, wlat = to_wgs84(np.array([lon]), np.array([lat]), crs)
    with progress() as p:
        with step(p, t("读取路网", "reading the network")):
            net = _network(osm, streets)
        pts = pd.DataFrame({"id": ["point"], "lon": wlon, "lat": wlat})
        from lifecircle.sources.points import check_extent

        check_extent(pts, net.bounds_wgs84(), file="--lon/--lat")
        with step(p, t("计算等时圈", "computing isochrones")):
            try:
                gdf = isochrones(net, float(wlon[0]), float(wlat[0]), mins, speed_kmh=speed or prof.walking.speed_kmh,
                                 buffer_m=prof.walking.isochrone_buffer_m, snap_max_m=prof.walking.snap_max_m)
            except InputError as exc:  # name the input: the point off the streets is the user's --lon/--lat
                raise InputError([replace(q, file=q.file or f"--lon {lon:g} --lat {lat:g}") for q in exc.problems]) from None
        write_table(gdf, out_path, layer="isochrones")
    for r in gdf.itertuples():
        out.print(t(f"{r.minutes:g} 分钟：{r.area_m2 / 1e6:.3f} km²", f"{r.minutes:g} min: {r.area_m2 / 1e6:.3f} km²"))
    out.print(t(f"已写出 {out_path}", f"wrote {out_path}"))
