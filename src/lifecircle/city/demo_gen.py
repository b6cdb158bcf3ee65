"""The demo city generator: communities, centre candidates, the 30 circles, outlets, candidate
sites and surveys, drawn from a seed on the street nodes of :mod:`lifecircle.city.demo_streets`.
Distances in metres (local UTM CRS); residents are people; coordinates written in WGS-84."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd
import shapely
from numpy.typing import NDArray
from pyproj import Transformer

from lifecircle.city.demo_data import (
    _CHAIN_FACTOR,
    _CHAINS,
    _COMMUNITY_SUFFIX,
    _EXTRA_FORMAT,
    _FLOOR_M2,
    _HOURS,
    _OWN_SUFFIX,
    _SURNAMES,
    _WORDS,
    DEMO_PROFILE,
    SHORT,
    SYNTHETIC,
    demo_settings,
    load_districts,
    load_river,
)
from lifecircle.city.demo_streets import _Nodes, _Streets
from lifecircle.network.graph import local_metric_crs
from lifecircle.profile import load_profile


class _Gen(_Streets):
    """Draws every table of the demo city from one random generator, in a fixed order."""

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
                    p = np.array(
                        [kinds_p["old"] * (1 + 2.5 * corew), kinds_p["complete"], kinds_p["new"] * (1.6 - corew)]
                    )
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
        row: dict[str, Any] = {
            "name": self._name(used, word + suffix),
            "district": code,
            "lon": float(lon[0]),
            "lat": float(lat[0]),
            "kind": kind,
            "source": SYNTHETIC,
        }
        if kind == "industrial":
            workers = int(rng.integers(1500, 9000) * max(self.scale, 0.1))
            row.update(
                population=workers,
                households=0,
                build_year=int(rng.integers(2005, 2021)),
                floor_area_m2=float(round(workers * rng.uniform(30, 60), -1)),
                commercial_floor_area_m2=float(round(workers * rng.uniform(0.5, 2.0), -1)),
                service_floor_area_m2=float(round(workers * rng.uniform(0.1, 0.4), -1)),
                elderly_share=0.0,
            )
            return row
        hh = max(1, int(round(pop / self.cfg["city"]["persons_per_household"] * rng.uniform(0.92, 1.08))))
        year = {"old": (1975, 2000), "complete": (2000, 2012), "new": (2012, 2024)}[kind]
        per_hh = {"old": (58, 75), "complete": (80, 100), "new": (95, 125)}[kind]
        floor = hh * rng.uniform(*per_hh)
        com_share = {"old": (0.02, 0.07), "complete": (0.04, 0.10), "new": (0.06, 0.16)}[kind]
        svc = {"old": (8, 40), "complete": (18, 55), "new": (24, 70)}[kind]
        eld = {"old": (0.24, 0.38), "complete": (0.15, 0.28), "new": (0.08, 0.18)}[kind]
        row.update(
            population=pop,
            households=hh,
            build_year=int(rng.integers(*year)),
            floor_area_m2=float(round(floor, -1)),
            commercial_floor_area_m2=float(round(floor * rng.uniform(*com_share), 0)),
            service_floor_area_m2=float(round(hh / 100 * rng.uniform(*svc), 0)),
            elderly_share=float(round(rng.uniform(*eld), 3)),
        )
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
                name = {
                    "community_service_centre": f"{place}社区党群服务中心",
                    "health_centre": f"{st}社区卫生服务中心",
                    "culture_centre": f"{st}文化活动中心",
                    "transit_hub": f"{place}公交枢纽站",
                    "shopping_centre": (
                        f"{dname[code][:-1] if code != 'gaoxin' else '高新'}"
                        f"{_WORDS[int(rng.integers(len(_WORDS)))]}购物中心"
                    ),
                }[kind]
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
            lab = (
                np.argmin(((pts[:, None, :] - seeds[None, :, :]) ** 2).sum(-1), axis=1)
                if len(pts)
                else np.array([], int)
            )
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
                    new = {
                        "id": f"S{len(centres) + 1:04d}",
                        "name": f"{dc['streets_zh'][j % len(dc['streets_zh'])]}党群服务中心",
                        "kind": "community_service_centre",
                        "x": nodes.x[nd] + 20.0,
                        "y": nodes.y[nd] + 20.0,
                        "district": code,
                        "source": SYNTHETIC,
                    }
                    new["lon"], new["lat"] = (
                        float(v[0]) for v in self.lonlat(np.array([new["x"]]), np.array([new["y"]]))
                    )
                    centres.loc[len(centres)] = new
                    sx, sy = centres["x"].to_numpy(), centres["y"].to_numpy()
                    c = len(centres) - 1
                cid = str(centres["id"].iloc[c])
                taken.add(cid)
                phase = "pilot" if j < int(dc["pilot"]) else "rollout"
                status = (
                    ["accepted", "accepted", "pre_accepted", "self_assessed"]
                    if phase == "pilot"
                    else ["building", "planned", "self_assessed", "building"]
                )[int(rng.integers(4))]
                names = dc["streets_zh"]
                base = names[j % len(names)]
                if j >= len(names):
                    base += _cn_num(j // len(names) + 1)
                rows.append(
                    {
                        "id": f"{SHORT[code]}-{j + 1:02d}",
                        "name": f"{base}一刻钟便民生活圈",
                        "district": code,
                        "phase": phase,
                        "centre_id": cid,
                        "status": status,
                        "sx": seeds[j, 0],
                        "sy": seeds[j, 1],
                    }
                )
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
                rows.append(
                    {
                        "name": name,
                        "formats": ";".join(formats),
                        "x": x[i],
                        "y": y[i],
                        "district": code,
                        "brand": brand,
                        "is_chain": is_chain,
                        "floor_area_m2": float(round(_FLOOR_M2.get(f.code, 80) * rng.lognormal(0, 0.35), 1)),
                        "opening_hours": hours[int(rng.integers(len(hours)))],
                        "accepts_cash": bool(rng.random() < (0.3 if smart else 0.93)),
                        "barrier_free": bool(rng.random() < (0.2 if smart else 0.45)),
                        "elderly_counter": bool(
                            rng.random() < (0.35 if f.code in ("pharmacy", "supermarket", "post_express") else 0.08)
                        )
                        and not smart,
                        "address": f"{dname[code]}{roads[int(rng.integers(len(roads)))]}{int(rng.integers(1, 300))}号",
                    }
                )
        df = pd.DataFrame(rows)
        df["lon"], df["lat"] = self.lonlat(df.pop("x").to_numpy(), df.pop("y").to_numpy())
        df.insert(0, "id", [f"O{i + 1:06d}" for i in range(len(df))])
        df["source"] = SYNTHETIC
        return df

    # ------------------------------------------------------------------ sites and surveys
    def sites(self, nodes: _Nodes) -> pd.DataFrame:
        rng = self.rng
        area = {
            "idle_factory": (2000, 20000),
            "warehouse": (500, 6000),
            "public_housing": (100, 800),
            "vacant_shop": (40, 400),
            "public_building": (300, 3000),
        }
        label = {
            "idle_factory": "原{w}厂（闲置厂房）",
            "warehouse": "{w}仓储库房",
            "public_housing": "{w}公租房底层用房",
            "vacant_shop": "{w}路空置商铺",
            "public_building": "原{w}办公楼",
        }
        # factories and warehouses lean to the industrial districts, shops to the old town
        lean = {
            "idle_factory": {"420505": 3.0, "gaoxin": 3.0, "420503": 1.5},
            "warehouse": {"420505": 2.5, "gaoxin": 2.5, "420503": 1.5},
        }
        rows = []
        for kind, per in self.cfg["sites"].items():
            n = max(2, self._scaled(float(per), 1e5))
            wgt = np.array([lean.get(kind, {}).get(self.dcfg[int(d)]["code"], 1.0) for d in nodes.district])
            if kind == "vacant_shop":
                wgt = wgt * (0.3 + nodes.core)
            pick = rng.choice(len(nodes.x), size=n, p=wgt / wgt.sum(), replace=n >= len(nodes.x))
            for nd in pick:
                rows.append(
                    {
                        "name": label[kind].format(w=_WORDS[int(rng.integers(len(_WORDS)))]),
                        "kind": kind,
                        "x": nodes.x[nd] + rng.uniform(-30, 30),
                        "y": nodes.y[nd] + rng.uniform(-30, 30),
                        "district": self.dcfg[int(nodes.district[nd])]["code"],
                        "floor_area_m2": float(round(rng.uniform(*area[kind]), -1)),
                    }
                )
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
                rows.append(
                    {
                        "circle_id": r.id,
                        "period": p,
                        "respondents": n,
                        "satisfied": int(round(n * rate)),
                        "source": SYNTHETIC,
                    }
                )
        return pd.DataFrame(rows)


def _cn_num(n: int) -> str:
    digits = "零一二三四五六七八九十"
    return digits[n] if n <= 10 else str(n)
