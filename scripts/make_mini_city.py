"""Write the sample city of ``examples/mini-city/`` (a made-up city of four communities near
Yichang, SYNTHETIC): the files a commerce bureau would bring, with the defects real files have.

    python scripts/make_mini_city.py examples/mini-city

The figures of this city can be checked by hand; see ``examples/mini-city/README.md`` and
``tests/test_real_city_e2e.py``.
"""

from __future__ import annotations

import sys
from pathlib import Path

import geopandas as gpd
import pandas as pd
import shapely
from pyproj import CRS, Transformer

from lifecircle.sources.coords import wgs84_to_gcj02

X0, Y0 = 520_000.0, 3_390_000.0
_to_wgs = Transformer.from_crs(CRS.from_epsg(32649), 4326, always_xy=True)


def ll(x: float, y: float) -> tuple[float, float]:
    lon, lat = _to_wgs.transform(X0 + x, Y0 + y)
    return float(lon), float(lat)


def gcj(x: float, y: float) -> str:
    lon, lat = wgs84_to_gcj02(*ll(x, y))
    return f"{float(lon):.7f},{float(lat):.7f}"


def line(*pts: tuple[float, float]) -> shapely.LineString:
    return shapely.LineString([ll(x, y) for x, y in pts])


def write_city_files(d: Path) -> dict[str, Path]:
    """The files a bureau would bring, in ``d``."""
    files = {}
    streets = gpd.GeoDataFrame(
        {
            "道路名称": ["沿江大道", "沿江大道", "滨江路", "东山大桥", "断头路"],
            "道路等级": ["primary", "primary", "residential", "primary", "service"],
            "桥梁": ["否", "否", "否", "是", "否"],
            "图层高度": [0, 0, 0, 1, 0],
            "geometry": [
                line((0, 0), (500, 0), (1200, 0)),
                line((1200.5, 0), (1500, 0), (2000, 0)),
                line((500, 600), (500, 0.4)),
                line((1500, -300), (1500, 0), (1500, 300)),
                line((1000, 250), (1080, 250)),
            ],
        },
        geometry="geometry",
        crs=4326,
    )
    files["streets"] = d / "streets.geojson"
    streets.to_file(files["streets"], driver="GeoJSON")

    amap_cols = ["id", "name", "type", "typecode", "address", "location", "pname", "cityname", "adname", "adcode"]
    exp1 = [
        [
            "B0MINI001",
            "美宜佳(沿江店)",
            "购物服务;便民商店/便利店;便民商店/便利店",
            "060200",
            "沿江大道1号",
            gcj(300, 10),
        ],
        ["B0MINI002", "中百仓储(沿江店)", "购物服务;超级市场;超级市场", "060400", "沿江大道9号", gcj(1000, 10)],
    ]
    exp2 = [
        [
            "B0MINI003",
            "老百姓大药房(东山店)",
            "医疗保健服务;医药保健销售店;药房",
            "090601",
            "东山大道3号",
            gcj(1700, 15),
        ],
        [
            "B0MINI004",
            "Today便利店(东山店)",
            "购物服务;便民商店/便利店;便民商店/便利店",
            "060200",
            "东山大道8号",
            gcj(1900, 10),
        ],
    ]
    for k, rows in (("amap_export_1", exp1), ("amap_export_2", exp2)):
        df = pd.DataFrame([r + ["湖北省", "宜昌市", "西陵区", "420502"] for r in rows], columns=amap_cols)
        files[k] = d / f"{k}.csv"
        df.to_csv(files[k], index=False, encoding="utf-8-sig")

    comm = pd.DataFrame(
        [
            ["C1", "江边小区", "西陵区", *ll(200, 20), 1000, 400, "老旧小区", "Q1", None, None],
            ["C2", "滨江花园", "西陵区", *ll(520, 500), 800, 300, "完整社区", "Q1", None, None],
            ["C3", "东山新城", "西陵区", *ll(1800, 30), 1200, 500, "新建小区", "Q2", 50000, 6000],
            ["C4", "桥头小区", "西陵区", *ll(1520, 280), 300, 100, "完整社区", "Q2", None, None],
        ],
        columns=[
            "小区编号",
            "小区名称",
            "所属区",
            "经度",
            "纬度",
            "常住人口",
            "户数",
            "小区类型",
            "所属生活圈",
            "总建筑面积",
            "商业面积",
        ],
    )
    comm["社区服务用房面积"] = [150, None, 200, None]  # m²; C2 and C4 did not report it
    comm["来源"] = "synthetic"  # a made-up sample: labelled in the data too
    files["communities"] = d / "communities.xlsx"
    comm.to_excel(files["communities"], index=False)

    x0, y0 = ll(-500, -500)
    x1, y1 = ll(2500, 1000)
    dist = gpd.GeoDataFrame(
        {"区划代码": ["420502"], "区名": ["西陵区"]}, geometry=[shapely.box(x0, y0, x1, y1)], crs=4326
    )
    files["districts"] = d / "districts.geojson"
    dist.to_file(files["districts"], driver="GeoJSON")

    pd.DataFrame(
        [["Q1", "滨江生活圈", "西陵区", "试点"], ["Q2", "东山生活圈", "西陵区", "试点"]],
        columns=["生活圈编号", "生活圈名称", "所属区", "批次"],
    ).to_csv(d / "circles.csv", index=False)
    files["circles"] = d / "circles.csv"
    pd.DataFrame(
        [["s1", "原纺织厂", "闲置厂房", *ll(520, 300), 400], ["s2", "沿街空铺", "空置商铺", *ll(1750, 20), 120]],
        columns=["编号", "场地名称", "类型", "经度", "纬度", "建筑面积"],
    ).to_csv(d / "candidate_sites.csv", index=False)
    files["candidate_sites"] = d / "candidate_sites.csv"
    pd.DataFrame(
        [
            ["cc1", "滨江社区服务中心", "社区服务中心", *ll(450, 15)],
            ["cc2", "东山卫生服务中心", "社区卫生服务中心", *ll(1750, 15)],
        ],
        columns=["编号", "名称", "类型", "经度", "纬度"],
    ).to_csv(d / "centres.csv", index=False)
    files["centre_candidates"] = d / "centres.csv"
    pd.DataFrame(
        [["Q1", "2024H1", 100, 92], ["Q2", "2024H1", 80, 70]], columns=["生活圈编号", "期次", "受访人数", "满意人数"]
    ).to_csv(d / "surveys.csv", index=False)
    files["surveys"] = d / "surveys.csv"
    plan = files["plan"] = d / "plan-mini.toml"
    plan.write_text(
        '[plan]\nname = "plan-mini"\nphases = ["pilot", "rollout"]\n'
        '[[district]]\ncode = "420502"\nname_zh = "西陵区"\npilot = 2\nrollout = 0\n'
        "[delineation]\nmin_population = 500\nmax_population = 5000\n",
        encoding="utf-8",
    )
    # a synthetic sample: say so in the data as well as in the README
    return files


if __name__ == "__main__":
    folder = Path(sys.argv[1] if len(sys.argv) > 1 else "examples/mini-city")
    folder.mkdir(parents=True, exist_ok=True)
    for kind, path in write_city_files(folder).items():
        print(f"{kind}: {path}")
