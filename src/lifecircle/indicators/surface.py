"""A city-wide walking-time surface on an H3 hexagon grid, and its blind spots (盲区).

A cell's value is the walk from the *network nodes inside it*, not from its centre: the minimum,
over the cell's nodes, of the engine's nearest distance (:func:`nearest_distance_nodes`, equal to
:func:`nearest_per_category` with every node as an origin) to an outlet of each format, in minutes
at the profile's speed (and at the older residents' speed). Cells are those holding at least one
node, so the surface covers the city's streets.

Residents are placed, not spread: each community's residents (or each row of a user's population
grid, ``lon, lat, population``) go to the cell of their point *snapped to the street* (the point the
walk starts from); when that cell holds no node, to the cell of the nearer end of the street they
snapped to. Points farther than ``snap_max_m`` from every street are left out and counted.
Older residents are ``population × elderly_share`` (a community without ``elderly_share`` takes
the city's population-weighted share; a grid row without it, the same).

A blind spot of a format is a cell with residents whose value is beyond the format's walking layer
(``layer_min``), or that reaches no outlet at all.

With ``k > 1`` each cell also gets the walk to the *k-th nearest* distinct outlet of each format
(the minimum over the cell's nodes of their k-th nearest, :mod:`lifecircle.network.knearest`):
"k outlets within t minutes", the choice a resident has, as in the 15-minute-city literature's
k-th nearest (a mean of the k nearest would blur one close outlet with a far second). ``k`` is
1–10. Blind spots and the fairness figures stay on the nearest outlet (``k = 1``) whatever ``k``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import h3
import numpy as np
import pandas as pd
import shapely
from numpy.typing import NDArray

from lifecircle.city.model import City
from lifecircle.errors import InputError
from lifecircle.i18n import t
from lifecircle.indicators.access import explode_outlets
from lifecircle.network.engine import metres, minutes, nearest_distance_nodes, within
from lifecircle.network.graph import WalkNetwork
from lifecircle.network.knearest import MAX_K, k_nearest_per_category
from lifecircle.network.snap import snap_lonlat
from lifecircle.profile import Profile

DEFAULT_RESOLUTION = 9
ALL_BASIC = "all_basic"  # pseudo-format: every basic format (the walk to the farthest of the nearest ones)


@dataclass
class Residents:
    """Where residents live on the surface: one row per community (or grid row) placed in a cell.

    ``cell`` (index into the surface's cells), ``population``, ``elderly``, ``district``,
    ``circle_id`` (empty for a grid row), ``id``."""

    table: pd.DataFrame
    left_out: int = 0  # rows farther than the snap limit from every street
    left_out_population: float = 0.0
    source: str = "communities"  # or the population grid's file name


@dataclass
class Surface:
    """The walking-time surface of one city.

    ``cells``: h3 (index), lon, lat (cell centre), n_nodes, district, population, elderly.
    ``dist_m[i, f]``: metres from cell ``i`` to the nearest outlet of ``codes[f]`` (``inf`` =
    none reachable). ``node_cell[n]``: the cell of network node ``n``."""

    codes: list[str]
    layer_min: NDArray[np.float64]
    basic: NDArray[np.bool_]
    speed_kmh: float
    elderly_speed_kmh: float
    resolution: int
    cells: pd.DataFrame
    dist_m: NDArray[np.float64]
    node_cell: NDArray[np.int64]
    residents: Residents
    k: int = 1
    dist_k_m: NDArray[np.float64] | None = None  # [i, f]: metres to the k-th nearest (k > 1)

    def minutes(self, elderly: bool = False) -> NDArray[np.float64]:
        """Minutes to the nearest outlet per cell and format (``inf`` = unreachable)."""
        return minutes(self.dist_m, self.elderly_speed_kmh if elderly else self.speed_kmh)

    def minutes_k(self, elderly: bool = False) -> NDArray[np.float64]:
        """Minutes to the k-th nearest distinct outlet per cell and format (``inf`` = fewer than
        ``k`` reachable); the nearest when ``k = 1``."""
        d = self.dist_m if self.dist_k_m is None else self.dist_k_m
        return minutes(d, self.elderly_speed_kmh if elderly else self.speed_kmh)

    def column(self, code: str) -> int:
        if code not in self.codes:
            raise InputError(
                t(
                    f"未知业态代码 '{code}'；可用：{', '.join(self.codes)}",
                    f"unknown format code '{code}'; known: {', '.join(self.codes)}",
                )
            )
        return self.codes.index(code)

    def blind(self, elderly: bool = False) -> NDArray[np.bool_]:
        """``blind[i, f]``: cell ``i`` has residents and is beyond format ``f``'s layer."""
        speed = self.elderly_speed_kmh if elderly else self.speed_kmh
        beyond = ~within(self.dist_m, metres(self.layer_min, speed)[None, :])
        return beyond & (self.cells["population"].to_numpy(float) > 0)[:, None]


def check_resolution(resolution: int) -> None:
    """Refuse an H3 resolution outside 0–15 with a one-line message."""
    if not 0 <= resolution <= 15:
        raise InputError(t(f"--resolution {resolution} 应在 0–15 之间", f"--resolution {resolution} must be 0–15"))


def node_cells(lon: NDArray, lat: NDArray, resolution: int) -> tuple[NDArray[np.str_], NDArray[np.int64]]:
    """The H3 cells (``ids``, ascending) holding the points (degrees) and each point's cell
    (``ids[node_cell[i]]``): what ``np.unique`` of their cell strings gives, computed on H3's
    integer indexes (cheaper to make and to sort; the cell strings of one resolution have equal
    length, so their order is the integers' order) and turned into strings once per cell."""
    from h3.api import numpy_int

    cell = numpy_int.latlng_to_cell
    xs, ys = np.asarray(lon, float).tolist(), np.asarray(lat, float).tolist()
    ints = np.fromiter((cell(b, a, resolution) for a, b in zip(xs, ys, strict=True)), dtype=np.uint64, count=len(xs))
    uniq, node_cell = np.unique(ints, return_inverse=True)
    ids = np.array([h3.int_to_str(int(c)) for c in uniq], dtype=str)
    return ids, node_cell.astype(np.int64).ravel()


def _outlet_sources(net: WalkNetwork, outlets: pd.DataFrame, profile: Profile):
    ex = explode_outlets(outlets.reset_index(drop=True), profile)
    w = profile.walking
    snapped = snap_lonlat(net, outlets["lon"].to_numpy(float), outlets["lat"].to_numpy(float), w.snap_max_m)
    return snapped.subset(ex.outlet), ex.cat


def node_distances(net: WalkNetwork, outlets: pd.DataFrame, profile: Profile) -> NDArray[np.float64]:
    """Metres from every network node to the nearest outlet of each format (``(n_nodes, n_fmt)``)."""
    n_fmt = len(profile.codes)
    sources, cat = _outlet_sources(net, outlets, profile)
    if len(cat) == 0 or not sources.ok.any():
        return np.full((net.n_nodes, n_fmt), np.inf)
    # distances only (no outlet labels: half the memory), float64 as every other path gives them
    return np.ascontiguousarray(nearest_distance_nodes(net, sources, cat, n_fmt, dtype=np.float64))


def node_distances_k(
    net: WalkNetwork, outlets: pd.DataFrame, profile: Profile, k: int
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Metres from every network node to the nearest and to the ``k``-th nearest distinct outlet of
    each format (two ``(n_nodes, n_fmt)`` arrays; ``inf`` = none / fewer than ``k`` reachable)."""
    n_fmt = len(profile.codes)
    sources, cat = _outlet_sources(net, outlets, profile)
    if len(cat) == 0 or not sources.ok.any():
        none = np.full((net.n_nodes, n_fmt), np.inf)
        return none, none.copy()
    dist, _ = k_nearest_per_category(net, sources, cat, n_fmt, k)
    return np.ascontiguousarray(dist[:, :, 0]), np.ascontiguousarray(dist[:, :, k - 1])


def _place(
    net: WalkNetwork,
    lon: NDArray,
    lat: NDArray,
    cell_index: dict[str, int],
    node_cell: NDArray,
    snap_m: float,
    res: int,
) -> NDArray[np.int64]:
    """The cell (index) of each point snapped to the streets (-1: too far from every street)."""
    snapped = snap_lonlat(net, lon, lat, snap_m)
    out = np.full(len(lon), -1, dtype=np.int64)
    ok = np.flatnonzero(snapped.ok)
    if len(ok) == 0:
        return out
    e = snapped.edge[ok]
    pts = shapely.line_interpolate_point(net.edge_lines(e), snapped.pos_m[ok])  # these edges only
    plon, plat = net.to_wgs84.transform(shapely.get_x(pts), shapely.get_y(pts))
    near_end = np.where(snapped.pos_m[ok] <= net.edge_len[e] / 2, net.edge_u[e], net.edge_v[e])
    ids, which = node_cells(np.atleast_1d(plon), np.atleast_1d(plat), res)
    for j, c in enumerate(ids[which]):
        out[ok[j]] = cell_index.get(c, node_cell[near_end[j]])
    return out


def _elderly_share(communities: pd.DataFrame) -> NDArray[np.float64]:
    pop = communities["population"].to_numpy(float) if len(communities) else np.zeros(0)
    share = (
        pd.to_numeric(communities["elderly_share"], errors="coerce").to_numpy(float)
        if "elderly_share" in communities
        else np.full(len(communities), np.nan)
    )
    known = np.isfinite(share)
    mean = float(np.sum(pop[known] * share[known]) / pop[known].sum()) if known.any() and pop[known].sum() > 0 else 0.0
    return np.where(known, share, mean)


def read_population_grid(path: str | Path) -> pd.DataFrame:
    """A user's population grid: CSV with ``lon, lat, population`` (WGS-84), optional
    ``elderly_share``. A missing column or a bad number is one error naming the file, row and field."""
    p = Path(path)
    try:
        df = pd.read_csv(p, encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError, pd.errors.ParserError) as exc:
        msg = t(f"{p}: 无法读取人口网格（{exc}）", f"{p}: cannot read the population grid ({exc})")
        raise InputError(msg) from None
    for col in ("lon", "lat", "population"):
        if col not in df.columns:
            raise InputError(t(f"{p}: 缺少列 '{col}'", f"{p}: missing column '{col}'"))
        v = pd.to_numeric(df[col], errors="coerce")
        bad = np.flatnonzero(~np.isfinite(v.to_numpy(float)) | ((v < 0).to_numpy() if col == "population" else False))
        if len(bad):
            raise InputError(
                t(
                    f"{p}: 第 {bad[0] + 2} 行 '{col}' 不是有效数字：{df[col].iloc[bad[0]]!r}",
                    f"{p}: row {bad[0] + 2}, field '{col}' is not a valid number: {df[col].iloc[bad[0]]!r}",
                )
            )
        df[col] = v.astype(float)
    return df


def _residents(
    net: WalkNetwork,
    city: City,
    profile: Profile,
    cell_index: dict[str, int],
    node_cell: NDArray,
    res: int,
    grid: pd.DataFrame | None,
    grid_name: str,
) -> Residents:
    comm = city.communities.reset_index(drop=True)
    snap_m = profile.walking.snap_max_m
    if grid is None:
        src = comm
        share = _elderly_share(comm)
        district = comm["district"].astype(str).to_numpy() if len(comm) else np.zeros(0, object)
        circle = comm["circle_id"].fillna("").astype(str).to_numpy() if "circle_id" in comm else np.full(len(comm), "")
        ids = comm["id"].astype(str).to_numpy() if len(comm) else np.zeros(0, object)
    else:
        src = grid
        city_share = _elderly_share(comm)
        mean = float(np.average(city_share, weights=comm["population"])) if comm["population"].sum() > 0 else 0.0
        given = pd.to_numeric(grid.get("elderly_share", pd.Series(np.nan, index=grid.index)), errors="coerce")
        share = given.fillna(mean).to_numpy(float)
        district = np.full(len(grid), "", dtype=object)
        circle = np.full(len(grid), "", dtype=object)
        ids = np.array([f"grid-{i + 1}" for i in range(len(grid))], dtype=object)
    cell = _place(net, src["lon"].to_numpy(float), src["lat"].to_numpy(float), cell_index, node_cell, snap_m, res)
    pop = src["population"].to_numpy(float) if len(src) else np.zeros(0)
    table = pd.DataFrame(
        {"id": ids, "cell": cell, "population": pop, "elderly": pop * share, "district": district, "circle_id": circle}
    )
    bad = cell < 0
    return Residents(
        table[~bad].reset_index(drop=True), int(bad.sum()), float(pop[bad].sum()), grid_name if grid is not None else ""
    )


def _cell_districts(cells: pd.DataFrame, city: City) -> NDArray[np.object_]:
    """The district whose boundary holds each cell's centre ('' outside every district)."""
    d = city.districts
    out = np.full(len(cells), "", dtype=object)
    if not len(d) or not len(cells):
        return out
    pts = shapely.points(cells["lon"].to_numpy(float), cells["lat"].to_numpy(float))
    tree = shapely.STRtree(np.asarray(d.geometry.values, dtype=object))
    pi, di = tree.query(pts, predicate="within")
    codes = d["code"].astype(str).to_numpy()
    out[pi[::-1]] = codes[di[::-1]]  # the first district wins where boundaries overlap
    return out


def check_k(k: int) -> None:
    """Refuse a ``k`` (the k-th nearest outlet) outside 1–:data:`MAX_K` in one line."""
    if not 1 <= k <= MAX_K:
        raise InputError(
            t(
                f"--k {k}：应在 1–{MAX_K} 之间（第 k 近的网点）",
                f"--k {k}: must be 1–{MAX_K} (the k-th nearest outlet)",
            )
        )


def build_surface(
    city: City,
    net: WalkNetwork,
    profile: Profile,
    *,
    resolution: int = DEFAULT_RESOLUTION,
    k: int = 1,
    population_grid: pd.DataFrame | None = None,
    grid_name: str = "",
    node_m: NDArray[np.float64] | None = None,
) -> Surface:
    """The walking-time surface of ``city`` on ``net`` (see the module's notes).

    ``node_m``: metres from every node to the nearest outlet of each format (``(n_nodes, n_fmt)``,
    float64), when already walked for the same outlets — e.g. kept from the evaluation's engine
    pass (:class:`lifecircle.indicators.access.NodeKeepingWalks`); the surface then does not walk
    the network (only ``k = 1``). Without it, one nearest search per format over every node."""
    check_k(k)
    check_resolution(resolution)
    if node_m is not None:
        if k != 1 or np.shape(node_m) != (net.n_nodes, len(profile.codes)):
            raise ValueError("node_m: one row per network node and one column per format, and only with k = 1")
        node_d, node_k = node_m, None
    elif k == 1:
        node_d, node_k = node_distances(net, city.outlets, profile), None
    else:
        node_d, node_k = node_distances_k(net, city.outlets, profile, k)
    lon, lat = net.node_lonlat()
    ids, node_cell = node_cells(np.atleast_1d(lon), np.atleast_1d(lat), resolution)
    order = np.argsort(node_cell, kind="stable")
    starts = np.searchsorted(node_cell[order], np.arange(len(ids)))
    dist = _cell_min(node_d, order, starts)
    dist_k = None if node_k is None else _cell_min(node_k, order, starts)
    centre = [h3.cell_to_latlng(c) for c in ids]
    cells = pd.DataFrame(
        {
            "h3": ids.astype(object),
            "lon": [c[1] for c in centre],
            "lat": [c[0] for c in centre],
            "n_nodes": np.bincount(node_cell, minlength=len(ids)),
        }
    )
    cell_index = {c: i for i, c in enumerate(ids)}
    res = _residents(net, city, profile, cell_index, node_cell, resolution, population_grid, grid_name)
    cells["district"] = _cell_districts(cells, city)
    cells["population"] = np.bincount(res.table["cell"], weights=res.table["population"], minlength=len(ids))
    cells["elderly"] = np.bincount(res.table["cell"], weights=res.table["elderly"], minlength=len(ids))
    w = profile.walking
    return Surface(
        profile.codes,
        np.array([f.layer_min for f in profile.formats], dtype=float),
        np.array([f.cls == "basic" for f in profile.formats]),
        w.speed_kmh,
        w.elderly_speed_kmh,
        resolution,
        cells,
        dist,
        node_cell,
        res,
        k,
        dist_k,
    )


def _cell_min(node_d: NDArray[np.float64], order: NDArray, starts: NDArray) -> NDArray[np.float64]:
    """Per cell, the minimum over its nodes (``order``: nodes sorted by cell, ``starts``: each
    cell's first position in ``order``) of ``node_d`` (``(n_nodes, n_fmt)`` metres)."""
    if len(starts) == 0:
        return np.zeros((0, node_d.shape[1]))
    return np.minimum.reduceat(node_d[order], starts, axis=0)


def surface_table(s: Surface, formats: list[str] | None = None):  # -> GeoDataFrame
    """The surface as hexagons (WGS-84): h3, district, population, elderly, n_nodes, and per
    format ``min_<code>``, ``min_elderly_<code>`` (minutes to the nearest; empty = unreachable),
    ``blind_<code>``; with ``k > 1`` also ``k<k>_min_<code>``, ``k<k>_min_elderly_<code>`` (minutes
    to the k-th nearest distinct outlet, e.g. ``k3_min_wet_market``; empty = fewer than k)."""
    import geopandas as gpd

    cols = [s.column(c) for c in formats] if formats else list(range(len(s.codes)))
    df = s.cells[["h3", "district", "population", "elderly", "n_nodes"]].copy()
    m, me, b = s.minutes(), s.minutes(elderly=True), s.blind()
    mk, mke = (s.minutes_k(), s.minutes_k(elderly=True)) if s.k > 1 else (None, None)
    for f in cols:
        code = s.codes[f]
        df[f"min_{code}"] = np.where(np.isfinite(m[:, f]), m[:, f], np.nan)
        df[f"min_elderly_{code}"] = np.where(np.isfinite(me[:, f]), me[:, f], np.nan)
        if mk is not None and mke is not None:
            df[f"k{s.k}_min_{code}"] = np.where(np.isfinite(mk[:, f]), mk[:, f], np.nan)
            df[f"k{s.k}_min_elderly_{code}"] = np.where(np.isfinite(mke[:, f]), mke[:, f], np.nan)
        df[f"blind_{code}"] = b[:, f]
    geoms = [shapely.Polygon([(p[1], p[0]) for p in h3.cell_to_boundary(c)]) for c in s.cells["h3"]]
    return gpd.GeoDataFrame(df, geometry=geoms, crs=4326)


def blind_spots(
    s: Surface, profile: Profile, formats: list[str] | None = None, district_names: dict[str, str] | None = None
) -> pd.DataFrame:
    """Blind spots by district and format: cells, residents and older residents in cells with
    residents beyond the format's layer (at the default speed, and at the older residents' speed)."""
    cols = [s.column(c) for c in formats] if formats else list(range(len(s.codes)))
    b, bo = s.blind(), s.blind(elderly=True)
    pop = s.cells["population"].to_numpy(float)
    old = s.cells["elderly"].to_numpy(float)
    district = s.cells["district"].replace("", "?").to_numpy()
    names = district_names or {}
    rows = []
    for f in cols:
        fmt = profile.formats[f]
        for d in sorted(set(district)):
            m = district == d
            rows.append(
                {
                    "district": d,
                    "district_name": names.get(d, d),
                    "format": fmt.code,
                    "format_zh": fmt.zh,
                    "layer_min": fmt.layer_min,
                    "blind_cells": int((b[:, f] & m).sum()),
                    "blind_residents": float(pop[b[:, f] & m].sum()),
                    "blind_elderly": float(old[bo[:, f] & m].sum()),
                    "residents": float(pop[m].sum()),
                }
            )
    return pd.DataFrame(rows)


def district_names(city: City) -> dict[str, str]:
    """District code → name (Chinese)."""
    d = city.districts
    return dict(zip(d["code"].astype(str), d["name_zh"].astype(str), strict=True)) if len(d) else {}


def write_surface(
    s: Surface, path: str | Path, profile: Profile, formats: list[str] | None = None, city: City | None = None
) -> Path:
    """Write the surface (layer ``surface``) and, for .gpkg, the blind spots by district (layer
    ``blind_spots``) to GeoPackage or GeoParquet (WGS-84), atomically. With ``city``, a column
    ``synthetic`` (1 for the demo city) and, in a GeoPackage, layer metadata naming the city."""
    import pyogrio

    from lifecircle.sources.files import atomic_output, check_output_path

    p = check_output_path(path, (".gpkg", ".parquet"))
    gdf = surface_table(s, formats)
    blind = blind_spots(s, profile, formats, district_names(city) if city is not None else None)
    meta = mark_city(city, gdf, blind)
    with atomic_output(p) as tmp:
        if p.suffix.lower() == ".parquet":
            gdf.to_parquet(tmp, index=False)
        else:
            pyogrio.write_dataframe(gdf, tmp, layer="surface", driver="GPKG", layer_metadata=meta)
            pyogrio.write_dataframe(blind, tmp, layer="blind_spots", driver="GPKG", append=True, layer_metadata=meta)
    return p


def mark_city(city: City | None, *tables: pd.DataFrame) -> dict[str, str] | None:
    """Add the column ``synthetic`` (1: computed on the generated demo city, 合成数据) to each of
    ``tables`` in place; the GeoPackage layer metadata naming ``city`` (None without a city)."""
    if city is None:
        return None
    from lifecircle.city.model import city_label

    for df in tables:
        df["synthetic"] = int(bool(city.synthetic))
    return {"lifecircle_city": city_label(city.name, city.provenance), "synthetic": str(bool(city.synthetic))}
