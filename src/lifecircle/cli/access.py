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


def _network(
    osm: Path | None, streets: Path | None, city=None, *, join_ends_m: float, min_piece_m: float | None = None
):  # -> WalkNetwork
    """The walking network from exactly one of an OSM PBF (ways share nodes: exact), a street file
    (lines noded: ends within ``join_ends_m`` metres of another end or line are joined; the report
    is printed) or a stored city; with ``min_piece_m`` (metres), pieces with less street are
    dropped (and listed)."""
    net = _read_network(osm, streets, city, join_ends_m)
    if min_piece_m is None:
        return net
    from lifecircle.sources.network_loader import prune_network

    return prune_network(net, min_piece_m)


def _read_network(osm: Path | None, streets: Path | None, city, join_ends_m: float):
    if sum(x is not None for x in (osm, streets, city)) != 1:
        raise InputError(
            t(
                "请给出 --osm、--streets 或 --db 之一作为路网",
                "give exactly one of --osm, --streets or --db for the network",
            )
        )
    if osm is not None:
        from lifecircle.sources.osm import read_osm_network

        return read_osm_network(osm)
    if city is not None:
        from lifecircle.sources.network_loader import network_from_city

        net = network_from_city(city, tolerance_m=join_ends_m, min_piece_m=0.0)
    else:
        from lifecircle.sources.streets import read_streets_network

        assert streets is not None  # exactly one source was checked above
        net = read_streets_network(streets, tolerance_m=join_ends_m)
    if net.noding is not None:  # the joins; pieces and islands are named once, by _report_network
        for line in net.noding.lines()[:1]:
            console.print(line, highlight=False, soft_wrap=True)
    return net


def _stored_city(db: str | None, name: str | None):
    """The city ``name`` of the store ``db``; without ``--city``, the store's only city."""
    if db is None:
        if name is not None:
            raise InputError(t("--city 需要与 --db 一起使用", "--city needs --db"))
        return None
    from lifecircle.city import store

    if name is None:
        names = [c.name for c in store.list_cities(db)]
        if len(names) != 1:
            listed = "、".join(names) if names else t("（无）", "(none)")
            raise InputError(
                t(
                    f"{db}: 请用 --city 指定城市；已有：{listed}",
                    f"{db}: name the city with --city; the store has: {listed}",
                )
            )
        name = names[0]
    return store.load_city(db, name)


def _outlet_rows(outlets: pd.DataFrame, prof) -> pd.DataFrame:
    """Outlets table (``formats`` 'a;b') → one row per outlet and format: id, name, format, lon, lat."""
    from lifecircle.indicators.access import explode_outlets

    ex = explode_outlets(outlets.reset_index(drop=True), prof)
    sel = outlets.reset_index(drop=True).iloc[ex.outlet]
    return pd.DataFrame(
        {
            "id": sel["id"].astype(str).to_numpy(),
            "name": sel["name"].fillna("").astype(str).to_numpy()
            if "name" in sel
            else sel["id"].astype(str).to_numpy(),
            "format": np.asarray(prof.codes, dtype=object)[ex.cat] if len(ex) else np.zeros(0, dtype=object),
            "lon": sel["lon"].to_numpy(float),
            "lat": sel["lat"].to_numpy(float),
        }
    )


def _read_outlets_file(path: Path, prof, crs: str | None) -> pd.DataFrame:
    """An outlets file read as ``lifecircle import outlets`` reads it (Amap exports included)."""
    from lifecircle.sources.importer import import_file

    table, rep = import_file("outlets", path, crs=crs, profile=prof)
    if rep.unclassified:
        console.print(
            t(
                f"提示：{path} 中 {len(rep.unclassified)} 个 POI 不属于任何业态，未计入",
                f"note: {len(rep.unclassified)} POIs of {path} match no format and were left out",
            ),
            highlight=False,
            soft_wrap=True,
            markup=False,
        )
    return table


def _check_crs(crs: str) -> str:
    c = crs.lower().replace("-", "").replace("_", "")  # GCJ-02, gcj_02, GCJ02 as in `import`
    if c not in SYSTEMS:
        raise InputError(
            t(
                f"--crs 须为 {'|'.join(SYSTEMS)} 之一，而不是 '{crs}'",
                f"--crs must be one of {'|'.join(SYSTEMS)}, not '{crs}'",
            )
        )
    return c


def _check_speed(speed: float | None) -> None:
    if speed is not None and not (0 < speed <= 20):
        raise InputError(
            t(
                f"--speed {speed} 不合理：步行速度应在 0–20 km/h 之间",
                f"--speed {speed} is not a walking speed (0–20 km/h)",
            )
        )


@command("access")
def access_cmd(
    out_path: Path = typer.Option(..., "--out", help="输出文件 .parquet | .gpkg | .csv / output file"),
    osm: Path = typer.Option(None, "--osm", help="OSM PBF 文件（路网与商业网点）/ OSM PBF file"),
    streets: Path = typer.Option(
        None, "--streets", help="自有道路线文件 .gpkg/.shp/.parquet/.geojson / your own street lines"
    ),
    db: str = typer.Option(
        None, "--db", help="城市数据库：用库中城市的道路、网点与小区 / city store: its streets, outlets, communities"
    ),
    city_name: str = typer.Option(
        None, "--city", help="数据库中的城市名（库中只有一个城市时可省略）/ city in the store"
    ),
    outlets_file: Path = typer.Option(
        None,
        "--outlets",
        help="网点文件（高德导出或网点表 CSV/Excel/矢量）/ outlets file (Amap export or outlets table)",
    ),
    origins: Path = typer.Option(
        None,
        "--origins",
        help="起点表 CSV/Excel（id,lon,lat 或高德 location 列）或矢量文件；"
        "缺省为库中小区或全部路网节点（路口与尽端）"
        "/ origins: CSV/Excel (id,lon,lat or an Amap location column) or a vector file "
        "(default: the stored communities, or every junction and dead end)",
    ),
    profile: str = typer.Option(
        None, "--profile", help="业态配置名或 .toml 路径（默认取城市的配置）/ profile name or path"
    ),
    speed: float = typer.Option(None, "--speed", help="步行速度 km/h（默认取配置）/ walking speed km/h"),
    crs: str = typer.Option("wgs84", "--crs", help="起点坐标系 wgs84|gcj02|bd09 / coordinates of --origins"),
    outlets_crs: str = typer.Option(
        None, "--outlets-crs", help="网点文件坐标系（高德导出默认 gcj02）/ coordinates of --outlets"
    ),
    formats: str = typer.Option(None, "--formats", help="只计算这些业态代码，逗号分隔 / only these format codes"),
) -> None:
    """步行可达性：每个起点到每类业态的最近距离与 5/10/15 分钟内网点数。
    Walking accessibility: nearest distance and counts within 5/10/15 minutes, per origin and format.

    路网 / network: --osm PBF | --streets FILE | --db STORE [--city NAME]；
    网点 / outlets: --outlets FILE，否则取库中网点或 PBF 中的商店 / else the stored outlets or the PBF's shops；
    起点 / origins: --origins FILE，否则取库中小区或全部路网节点 / else the stored communities or every network node."""
    out_path = check_output_path(out_path, (".parquet", ".gpkg", ".csv"))
    crs = _check_crs(crs)
    o_crs = _check_crs(outlets_crs) if outlets_crs is not None else None
    _check_speed(speed)
    city = _stored_city(db, city_name)
    prof = load_profile(profile or (city.profile if city is not None else "yichang-2022"))
    codes = list(dict.fromkeys(c.strip() for c in formats.split(",") if c.strip())) if formats is not None else None
    if codes == []:
        raise InputError(t(f"--formats '{formats}' 中没有业态代码", f"--formats '{formats}' names no format code"))
    for c in codes or []:
        prof.format(c)  # unknown code → clear error before any work
    if streets is not None and outlets_file is None:
        raise InputError(
            t(
                "--streets 路网需要网点：请用 --outlets 给出网点文件（高德导出或网点表）",
                "--streets needs outlets: give them with --outlets FILE (an Amap export or an outlets table)",
            )
        )
    origin_df = None
    if origins is not None:
        from lifecircle.sources.points import read_points

        origin_df = read_points(origins, crs=crs)
    elif city is not None and len(city.communities):
        origin_df = city.communities[["id", "name", "lon", "lat"]].reset_index(drop=True)
    with progress() as p:
        with step(p, t("读取路网", "reading the network")):
            net = _network(
                osm, streets, city, join_ends_m=prof.walking.join_ends_m, min_piece_m=prof.walking.min_piece_m
            )
        if origin_df is not None and origins is not None:
            from lifecircle.sources.points import check_extent

            check_extent(origin_df, net.bounds_wgs84(), file=str(origins))
        with step(p, t("读取并分类商业网点", "reading and classifying outlets")):
            if outlets_file is not None:
                outlets = _outlet_rows(_read_outlets_file(outlets_file, prof, o_crs), prof)
            elif city is not None:
                outlets = _outlet_rows(city.outlets, prof)
            else:
                from lifecircle.sources.osm import osm_outlets

                outlets = osm_outlets(osm, prof)
        where = outlets_file or (f"{db} {city.name}" if city is not None else osm)
        if outlets.empty:  # no shops: every distance would be empty, say so
            console.print(
                t(
                    f"警告：{where} 中没有任何属于业态目录的商业网点，所有距离均为空",
                    f"warning: {where} has no outlet of any catalogue format; every distance is empty",
                ),
                highlight=False,
                soft_wrap=True,
                markup=False,
            )
        with step(p, t("计算步行可达性", "computing walking access")):
            res = access_table(net, origin_df, outlets, prof, speed_kmh=speed, formats=codes)
        if res.table.empty and len(res.unsnapped_origins):  # nothing to write: say why, write nothing
            u = res.unsnapped_origins
            rows = u["row"].tolist() if "row" in u else [None] * len(u)
            raise InputError(
                [
                    Problem(
                        t(
                            f"起点 '{i}' 距最近道路 {d:.0f} 米，超过 {prof.walking.snap_max_m:g} 米",
                            f"origin '{i}' is {d:.0f} m from the nearest street, beyond {prof.walking.snap_max_m:g} m",
                        ),
                        file=str(origins or where),
                        row=None if r is None else int(r),
                        field="lon,lat",
                    )
                    for i, d, r in zip(u["id"], u["distance_to_street_m"], rows, strict=True)
                ]
            )
        with step(p, t("写出结果", "writing the result")):
            write_table(res.table, out_path, layer="access")
    _report_network(net, origin_df, outlets, prof)
    if len(res.unsnapped_origins):
        ids = ", ".join(res.unsnapped_origins["id"].astype(str).head(10))
        console.print(
            t(
                f"警告：{len(res.unsnapped_origins)} 个起点距道路超过 {prof.walking.snap_max_m:g} 米，"
                f"已排除（未移动）：{ids}",
                f"warning: {len(res.unsnapped_origins)} origins are more than {prof.walking.snap_max_m:g} m "
                f"from any street and were left out (not moved): {ids}",
            ),
            highlight=False,
            soft_wrap=True,
            markup=False,
        )
    if len(res.unsnapped_outlets):
        console.print(
            t(
                f"警告：{len(res.unsnapped_outlets)} 个网点距道路过远，已排除",
                f"warning: {len(res.unsnapped_outlets)} outlets are too far from any street and were left out",
            )
        )
    _print_summary(res.table, out_path, speed or prof.walking.speed_kmh)


def _report_network(net, origins: pd.DataFrame | None, outlets: pd.DataFrame, prof) -> None:
    """Pieces of the network, and the origins and outlets on islands (stderr)."""
    from lifecircle.network.islands import islands_of_tables

    tables = {"origins": origins, "outlets": outlets.drop_duplicates("id").reset_index(drop=True)}
    islands = islands_of_tables(net, tables, prof.walking.snap_max_m)
    for line in islands.lines():  # dropped pieces, islands and who is on them
        console.print(line, highlight=False, soft_wrap=True, markup=False)


def _print_summary(table: pd.DataFrame, path: Path, speed: float) -> None:
    s = coverage_summary(table)
    tab = Table(title=t(f"各业态覆盖（步速 {speed:g} km/h）", f"Coverage by format (walking {speed:g} km/h)"))
    for col in (
        t("业态", "format"),
        t("类别", "class"),
        t("步行圈层", "layer"),
        t("圈层内覆盖", "within layer"),
        t("最近中位", "median nearest"),
        t("15分钟内平均数", "mean n ≤15 min"),
    ):
        tab.add_column(col)
    for r in s.itertuples():
        med = "—" if np.isnan(r.median_nearest_min) else f"{r.median_nearest_min:.1f} min"
        tab.add_row(
            f"{r.format_zh} ({r.format})",
            r._3,
            f"{r.layer_min:g} min",
            f"{r.share_within_layer:.1%}",
            med,
            f"{r.mean_count:.1f}",
        )
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
        raise InputError(
            t(f"--minutes '{minutes}' 应为逗号分隔的数字", f"--minutes '{minutes}' must be comma-separated numbers")
        ) from None
    if not (np.isfinite(lon) and np.isfinite(lat)) or abs(lon) > 180:
        raise InputError(
            t(
                f"--lon {lon} --lat {lat} 不是有效的经纬度（度）",
                f"--lon {lon} --lat {lat} is not a valid longitude/latitude in degrees",
            )
        )
    if abs(lat) > 90:
        raise InputError(
            t(f"--lat {lat} 超出 ±90：经纬度可能写反了", f"--lat {lat} is beyond ±90: lon and lat may be swapped")
        )
    wlon, wlat = to_wgs84(np.array([lon]), np.array([lat]), crs)
    with progress() as p:
        with step(p, t("读取路网", "reading the network")):
            net = _network(osm, streets, join_ends_m=prof.walking.join_ends_m)
        pts = pd.DataFrame({"id": ["point"], "lon": wlon, "lat": wlat})
        from lifecircle.sources.points import check_extent

        check_extent(pts, net.bounds_wgs84(), file="--lon/--lat")
        with step(p, t("计算等时圈", "computing isochrones")):
            try:
                gdf = isochrones(
                    net,
                    float(wlon[0]),
                    float(wlat[0]),
                    mins,
                    speed_kmh=speed or prof.walking.speed_kmh,
                    buffer_m=prof.walking.isochrone_buffer_m,
                    snap_max_m=prof.walking.snap_max_m,
                )
            except InputError as exc:  # name the input: the point off the streets is the user's --lon/--lat
                raise InputError(
                    [replace(q, file=q.file or f"--lon {lon:g} --lat {lat:g}") for q in exc.problems]
                ) from None
        write_table(gdf, out_path, layer="isochrones")
    for r in gdf.itertuples():
        out.print(t(f"{r.minutes:g} 分钟：{r.area_m2 / 1e6:.3f} km²", f"{r.minutes:g} min: {r.area_m2 / 1e6:.3f} km²"))
    out.print(t(f"已写出 {out_path}", f"wrote {out_path}"))
