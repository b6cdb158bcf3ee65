"""The demo city's street network: a warped, jittered grid turned along the river, denser in the
old-town cores, minor links dropped in the hills, no link across the river except the bridges,
only the largest connected piece kept. Coordinates in metres (local UTM CRS) until the streets
are written in WGS-84."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import geopandas as gpd
import numpy as np
import shapely
from numpy.typing import NDArray
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components
from scipy.spatial import cKDTree

from lifecircle.city.demo_data import _WORDS, SYNTHETIC, load_river


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


@dataclass
class _Lattice:
    """The street grid before links are cut: spacing ``d`` (metres), lattice indices ``GI``/``GJ``,
    metric ``x``/``y`` of every lattice point, its district (-1 off the land), grid step (1, 2, 4
    lattice links per street), closeness to an old-town core (0..1) and drop rate of minor links."""

    d: float
    GI: NDArray[np.int64]
    GJ: NDArray[np.int64]
    x: NDArray[np.float64]
    y: NDArray[np.float64]
    dist_idx: NDArray[np.int64]
    step: NDArray[np.int64]
    core: NDArray[np.float64]
    drop: NDArray[np.float64]


@dataclass
class _Links:
    """Lattice links (node ``a`` to node ``b``) with their grid ``line``, position along it,
    direction, road class ``hw`` and whether they are ``keep``-t; flat node x/y (metres),
    district and count of lattice nodes."""

    a: NDArray[np.int64]
    b: NDArray[np.int64]
    line: NDArray[np.int64]
    pos: NDArray[np.int64]
    vertical: NDArray[np.bool_]
    hw: NDArray[np.object_]
    keep: NDArray[np.bool_]
    xf: NDArray[np.float64]
    yf: NDArray[np.float64]
    df: NDArray[np.int64]
    n_lat: int


class _Streets:
    """The street part of the demo generator (mixed into ``_Gen``, which sets these attributes)."""

    rng: np.random.Generator
    scale: float
    cfg: dict[str, Any]
    dcfg: list[dict[str, Any]]
    land_m: list[shapely.Geometry]
    river_m: shapely.Geometry
    centre_m: shapely.Geometry
    fwd: Any
    spacing_m: float

    def lonlat(self, x: NDArray, y: NDArray) -> tuple[NDArray, NDArray]:  # pragma: no cover - see _Gen
        raise NotImplementedError

    # ------------------------------------------------------------------ streets
    def streets(self) -> tuple[gpd.GeoDataFrame, _Nodes]:
        """The streets (WGS-84 lines with ``highway``, ``name``) and the nodes they keep."""
        lat = self._lattice()
        lk = self._links(lat)
        bridges = self._bridges(lk)
        bridges = self._largest_piece(lk, bridges)
        a, b, keep, xf, yf, df, n_lat = lk.a, lk.b, lk.keep, lk.xf, lk.yf, lk.df, lk.n_lat
        line, pos, vertical, hw, core, d = lk.line, lk.pos, lk.vertical, lk.hw, lat.core, lat.d

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

    def _lattice(self) -> _Lattice:
        """The warped, jittered lattice and, per point, district, grid step, core and drop rate."""
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
        return _Lattice(d, GI, GJ, x, y, dist_idx, step, core, drop)

    def _links(self, lat: _Lattice) -> _Links:
        """Links of the lattice on the land, by grid step; road classes; minor links dropped in
        the hills; links crossing the river cut."""
        rng = self.rng
        d, GI, GJ, x, y, dist_idx, step, drop = lat.d, lat.GI, lat.GJ, lat.x, lat.y, lat.dist_idx, lat.step, lat.drop
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

        return _Links(a, b, line, pos, vertical, hw, keep, xf, yf, df, n_lat)

    def _bridges(self, lk: _Links) -> list[tuple[int, int, str]]:
        """The bridges of the settings as links (node, node, name) across the river, each end the
        kept node nearest a point 120 m beyond the bank (none when farther than 700 m)."""
        a, b, keep, xf, yf, n_lat = lk.a, lk.b, lk.keep, lk.xf, lk.yf, lk.n_lat
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
        return bridges

    def _largest_piece(self, lk: _Links, bridges: list[tuple[int, int, str]]) -> list[tuple[int, int, str]]:
        """Keep (in ``lk.keep``) only the links of the largest connected piece; its bridges."""
        a, b, keep, n_lat = lk.a, lk.b, lk.keep, lk.n_lat
        # keep the largest connected piece
        ea = np.concatenate([a[keep], [e[0] for e in bridges]]).astype(np.int64)
        eb = np.concatenate([b[keep], [e[1] for e in bridges]]).astype(np.int64)
        g = coo_matrix((np.ones(len(ea)), (ea, eb)), shape=(n_lat, n_lat))
        _, lab = connected_components(g, directed=False)
        deg = np.bincount(np.concatenate([ea, eb]), minlength=n_lat)
        sizes = np.bincount(lab, weights=(deg > 0).astype(float))
        big = int(np.argmax(sizes))
        keep &= lab[a] == big
        return bridges

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
