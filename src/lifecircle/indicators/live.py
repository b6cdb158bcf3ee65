"""Live indicators: the circles' coverage, grade and gaps kept up to date as outlets open and close
(issue 11), each change recomputing only what it reaches — not the whole city.

:meth:`LiveIndicators.build` runs the batch evaluation's stages once (the same stages as
:func:`lifecircle.indicators.evaluate.evaluate_city`, on the same network the ``evaluate`` command
builds) and keeps, for every community and format, how many outlets reach it within three
walking limits: the format's layer (``layer_min`` minutes) at the default speed, the same layer at
the older residents' speed, and the largest walking layer (15 minutes) at the default speed
(speeds in km/h from the profile; limits in metres). A community reaches a format within a limit
exactly when that count is positive. Registering or closing an outlet then takes:

1. a snap of the outlet to its street (:func:`lifecircle.network.snap.snap_lonlat`, the profile's
   ``snap_max_m`` metres, as the batch snaps it);
2. one Dijkstra from the outlet, bounded at the longest limit (:mod:`lifecircle.network.reach`,
   built on :func:`lifecircle.network.kernels.dijkstra_seeded`), which gives every community it
   reaches with the batch engine's own distance to that outlet, bit for bit;
3. the ``within`` test of :mod:`lifecircle.network.engine` (tolerance ``WITHIN_RTOL``) per format
   and limit, added to / taken from the counts;
4. the outlet's circle by :func:`lifecircle.indicators.membership.outlet_circles` (the batch rule)
   for the circle's outlet and chain counts;
5. for the circles whose communities it reaches, and its own circle, the batch's own rules on
   those circles only: :func:`~lifecircle.indicators.stages.access_flags`,
   :func:`~lifecircle.indicators.aggregate.group_indicators` (members summed in the batch order),
   :func:`~lifecircle.indicators.levels.circle_group_columns` and
   :func:`~lifecircle.indicators.levels.graded_table` (gaps and grade, as ``grade_stage``).

So after any sequence of changes, each circle's ``coverage``, indicators, grade and gaps equal
those of a full ``evaluate_city`` on the city whose outlets table has the same rows. That covers
everything in a circle's row that depends on outlets: coverage at both speeds, completeness,
quality formats, smart coverage, outlet and chain counts, chain share (一店多能: an outlet with
several formats counts once per format, as in the batch; smart-only facilities are not shops).
Not live: district and city figures, the per-community access table (nearest metres and counts
within 5/10/15 minutes) and the outlets' districts — run ``evaluate_city`` for those.

An outlet farther than ``snap_max_m`` metres from every street is kept (its circle may still count
it as a shop, as the batch does) but reaches nobody; it is logged and listed by
:meth:`LiveIndicators.unsnapped`. Format codes the profile does not know are ignored and noted.
"""

from __future__ import annotations

import logging
import math
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from lifecircle.city.model import City
from lifecircle.i18n import t
from lifecircle.indicators.access import explode_outlets
from lifecircle.indicators.aggregate import CommunityValues, Groups, group_indicators, ratio
from lifecircle.indicators.evaluate import resolve_rules
from lifecircle.indicators.grades import GradingRules
from lifecircle.indicators.levels import (
    circle_group_columns,
    circle_indicator_stage,
    grade_stage,
    graded_table,
)
from lifecircle.indicators.membership import outlet_circles
from lifecircle.indicators.stages import (
    FormatClasses,
    access_flags,
    access_stage,
    circle_stage,
    community_stage,
    outlet_stage,
)
from lifecircle.network import WalkNetwork, kernels, nearest_per_category
from lifecircle.network.engine import WITHIN_RTOL, edge_points, metres, within
from lifecircle.network.reach import Reach
from lifecircle.network.snap import Snapped, snap_lonlat
from lifecircle.profile import Profile

log = logging.getLogger(__name__)

GRADE_FIELDS = ("grade_code", "grade", "grade_en", "grade_reasons", "grade_reasons_en", "gaps")
GAP_FIELDS = ("format", "format_zh", "class", "share_within_layer", "residents_uncovered", "priority")


@dataclass
class _Outlet:
    """One row of the outlets table as the live state holds it: ``base`` (its position in the
    built city's table, -1 when registered live) or ``row`` (the registered row); ``cats`` its
    formats (positions in ``profile.codes``, each once); ``circle`` (-1 = none)."""

    base: int
    row: dict[str, Any] | None
    snap: Snapped | None
    cats: NDArray[np.int64]
    circle: int
    is_shop: bool
    is_chain: bool


@dataclass
class _CircleState:
    """What :meth:`LiveIndicators.circle` returns for one circle (kept ready)."""

    row: dict[str, Any]
    gaps: list[dict[str, Any]]
    coverage: dict[str, float | None]
    as_of: str


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


def _plain(v: Any) -> Any:
    """A JSON-friendly value: numpy scalars as Python numbers, NaN and NA as None."""
    if isinstance(v, np.generic):
        v = v.item()
    if v is pd.NA or (isinstance(v, float) and math.isnan(v)):
        return None
    return v


def _is_chain(v: Any) -> bool:
    """The batch's reading of ``is_chain`` (``fillna(False).astype(bool)``)."""
    return False if v is None or v is pd.NA or (isinstance(v, float) and math.isnan(v)) else bool(v)


class LiveIndicators:
    """Circle indicators that follow outlets as they are registered and closed (see the module
    docstring). Thread-safe: every public method holds one lock. Make one with :meth:`build`."""

    def __init__(self, city: City, net: WalkNetwork, profile: Profile, rules: GradingRules) -> None:
        self.city, self.net, self.profile, self.rules = city, net, profile, rules
        self._lock = threading.RLock()
        self.notes: list[str] = []
        self.version = 0  # changes applied since build
        access = access_stage(city, net, profile)
        communities = community_stage(access, profile, rules)
        circles = circle_stage(city, access, communities)
        outlets = outlet_stage(city, net, access, circles, profile)
        indicators = circle_indicator_stage(city, net, communities, circles, outlets, profile, rules)
        graded = grade_stage(indicators, profile, rules)
        w = profile.walking
        layer_min = np.array([f.layer_min for f in profile.formats], dtype=float)
        n_f = len(layer_min)
        # per format: metres of its layer at the default speed, at the older residents' speed, and
        # of the largest walking layer at the default speed (the batch's within_15)
        self._limits = np.stack(
            [
                metres(layer_min, w.speed_kmh),
                metres(layer_min, w.elderly_speed_kmh),
                np.full(n_f, access.quality_reach_m),
            ],
            axis=1,
        ).reshape(n_f, 3)
        bound = float(self._limits.max()) * (1.0 + WITHIN_RTOL) * (1.0 + 1e-9) if n_f else 0.0
        self._access, self._circles, self._cls = access, circles, FormatClasses.of(profile)
        self._values: CommunityValues = communities.values
        self._member = circles.member
        self._members = [np.flatnonzero(circles.member == k) for k in range(circles.n)]
        self._index = {cid: k for k, cid in enumerate(circles.ids)}
        self._base = indicators.table
        self._reach = Reach(net, access.access.communities, bound)
        self._comm_nodes: tuple[NDArray[np.float64], NDArray[np.int64]] | None = None
        self._counts = np.zeros((len(access.communities), n_f, 3), dtype=np.int32)
        self._outlets: dict[str, list[_Outlet]] = {}
        self._load_outlets(access, outlets)
        shop = (outlets.circle >= 0) & outlets.is_shop
        self._n_shops = np.bincount(outlets.circle[shop], minlength=circles.n)[: circles.n].astype(np.int64)
        self._n_chain = np.bincount(outlets.circle[shop & outlets.is_chain], minlength=circles.n)[: circles.n]
        self._n_chain = self._n_chain.astype(np.int64)
        self._check_against(access)
        self._nearest_community(access.access.outlets.subset(np.zeros(0, dtype=np.int64)))  # its search, now
        self._state: dict[int, _CircleState] = {}
        self._store(list(range(circles.n)), graded.circles, graded.gaps, indicators.groups, _now())

    @classmethod
    def build(
        cls,
        city: City,
        profile: Profile,
        *,
        rules: GradingRules | str | Path | None = None,
        net: WalkNetwork | None = None,
    ) -> LiveIndicators:
        """Evaluate ``city`` once and keep what the live updates need. ``net``: the walking network
        (metric CRS); default: built from the city's streets as the ``evaluate`` and ``access``
        commands build it (ends joined within the profile's ``join_ends_m`` metres, pieces under
        ``min_piece_m`` metres dropped). ``rules``: as for ``evaluate_city``."""
        if net is None:
            from lifecircle.sources.network_loader import network_from_city

            w = profile.walking
            net = network_from_city(city, tolerance_m=w.join_ends_m, min_piece_m=w.min_piece_m)
        return cls(city, net, profile, resolve_rules(rules, profile))

    # ------------------------------------------------------------------------ build
    def _load_outlets(self, access: Any, outlets: Any) -> None:
        """The built city's outlets, and their walking access added to the counts."""
        acc = access.access
        ex = acc.exploded
        n_o = len(access.outlets)
        order = np.argsort(ex.outlet, kind="stable")
        cuts = np.searchsorted(ex.outlet[order], np.arange(n_o + 1))
        cats_of = [ex.cat[order[cuts[i] : cuts[i + 1]]] for i in range(n_o)]
        ids = access.outlets["id"].astype(str).tolist() if "id" in access.outlets else [str(i) for i in range(n_o)]
        for i in range(n_o):
            o = _Outlet(
                i, None, None, cats_of[i], int(outlets.circle[i]), bool(outlets.is_shop[i]), bool(outlets.is_chain[i])
            )
            self._outlets.setdefault(ids[i], []).append(o)
        if not len(ex):
            return
        ptr, tgt, dst = self._reach.many(acc.outlets)
        lens = ptr[ex.outlet + 1] - ptr[ex.outlet]
        start = np.repeat(ptr[ex.outlet], lens)
        pair = start + (np.arange(int(lens.sum())) - np.repeat(np.cumsum(lens) - lens, lens))
        cat = np.repeat(ex.cat, lens)
        flags = within(dst[pair][:, None], self._limits[cat])
        np.add.at(self._counts, (tgt[pair], cat), flags.astype(np.int32))

    def _check_against(self, access: Any) -> None:
        """The counts must give the batch's access exactly; anything else is a bug, said loudly."""
        acc = access.access
        have = self._counts > 0
        same = (
            np.array_equal(have[:, :, 0], acc.within)
            and np.array_equal(have[:, :, 1], acc.within_elderly)
            and np.array_equal(have[:, :, 2], access.within_15)
        )
        if not same:
            raise RuntimeError("live indicators: the outlet-by-outlet access differs from the batch evaluation")

    # ------------------------------------------------------------------------ circles
    def _store(self, ks: list[int], table: pd.DataFrame, gaps: pd.DataFrame, G: Groups, as_of: str) -> None:
        """Keep rows ``0..len(ks)-1`` of the graded ``table`` / ``G`` as the state of circles ``ks``
        (columns read as lists: row-wise pandas access is slow on a 1-row table)."""
        share = ratio(G.covered, G.pop[:, None])
        gap_rows: dict[str, list[dict[str, Any]]] = {}
        gap_cols = [gaps[f].tolist() for f in GAP_FIELDS]
        for cid, *vals in zip(gaps["circle_id"].tolist(), *gap_cols, strict=True):
            gap_rows.setdefault(cid, []).append({f: _plain(v) for f, v in zip(GAP_FIELDS, vals, strict=True)})
        names = [c for c in table.columns if c != "geometry"]
        cols = [table[c].tolist() for c in names]
        codes = self.profile.codes
        for j, k in enumerate(ks):
            row = {c: _plain(col[j]) for c, col in zip(names, cols, strict=True)}
            self._state[k] = _CircleState(
                row=row,
                gaps=gap_rows.get(row["id"], []),
                coverage={c: _plain(float(share[j, f])) for f, c in enumerate(codes)},
                as_of=as_of,
            )

    def _refresh(self, ks: set[int], as_of: str) -> None:
        """Recompute circles ``ks`` from the counts, by the batch's rules, on their communities only."""
        if not ks:
            return
        order = sorted(ks)
        idx = np.concatenate([self._members[k] for k in order]).astype(np.int64)
        grp = np.concatenate([np.full(len(self._members[k]), j, dtype=np.int64) for j, k in enumerate(order)])
        have = self._counts[idx] > 0
        v = self._values
        sub = CommunityValues(
            weight=v.weight[idx],
            **access_flags(have[:, :, 0], have[:, :, 1], have[:, :, 2], self._cls, self.rules),
            service_area_m2=v.service_area_m2[idx],
            households=v.households[idx],
            commercial_share=v.commercial_share[idx],
            commercial_ok=v.commercial_ok[idx],
        )
        G = group_indicators(grp, len(order), sub)
        cols = self._base.iloc[order].to_dict("list")
        cols.update(circle_group_columns(G, self._n_shops[order], self._n_chain[order], self._cls))
        table = pd.DataFrame(cols, columns=self._base.columns)
        circles, gaps = graded_table(table, G, self.profile, self.rules)
        self._store(order, circles, gaps, G, as_of)

    # ------------------------------------------------------------------------ outlets
    def _nearest_community(self, snapped: Snapped) -> NDArray[np.int64]:
        """The nearest community of each snapped outlet within the largest walking layer, as
        :func:`nearest_per_category` gives it (its node search is run once and kept)."""
        acc = self._access.access
        reach_m = float(self._access.quality_reach_m)
        if self._comm_nodes is None:
            zeros = np.zeros(len(acc.communities), dtype=np.int64)
            d, lab = nearest_per_category(self.net, acc.communities, zeros, 1, None, max_m=reach_m)
            self._comm_nodes = (np.ascontiguousarray(d.T), np.ascontiguousarray(lab.T))
        node_d, node_lab = self._comm_nodes
        starts = edge_points(snapped, self.net.n_edges, group=False)
        cat = np.zeros(len(acc.communities), dtype=np.int64)
        _, lab = kernels.resolve_origins(node_d, node_lab, self._reach.graph, starts, self._reach.targets, cat, reach_m)
        return np.asarray(lab[:, 0], dtype=np.int64)

    def _snap_of(self, o: _Outlet) -> Snapped:
        if o.snap is None:
            o.snap = self._base_outlets_snapped.subset(np.array([o.base]))
        return o.snap

    @property
    def _base_outlets_snapped(self) -> Snapped:
        return self._access.access.outlets

    def _apply(self, o: _Outlet, sign: int) -> tuple[set[int], set[int]]:
        """Add (``sign`` +1) or take away (-1) outlet ``o``: its shop in its circle and its access in
        the counts. Returns the circles touched — its own, and those of the communities it reaches
        within a limit of one of its formats — and, among them, those whose figures can change:
        its own if it is a shop, and those where a community gains or loses a format within a limit
        (a count going from or to zero). The others' figures are a function of the same inputs."""
        touched: set[int] = set()
        dirty: set[int] = set()
        if o.circle >= 0 and o.is_shop:
            self._n_shops[o.circle] += sign
            self._n_chain[o.circle] += sign * int(o.is_chain)
            touched.add(o.circle)
            dirty.add(o.circle)
        snap = self._snap_of(o)
        if len(o.cats) and bool(snap.ok[0]):
            q, d = self._reach.one(snap)
            flags = within(d[:, None, None], self._limits[o.cats][None, :, :])  # (community, format, limit)
            hit = flags.any(axis=(1, 2))
            q, flags = q[hit], flags[hit]
            at = (q[:, None], o.cats[None, :])  # communities and formats are distinct: no repeated cells
            counts = self._counts[at]
            before = counts > 0
            counts += sign * flags.astype(np.int32)
            self._counts[at] = counts
            k = self._member[q]
            touched.update(int(x) for x in k[k >= 0])
            k = k[(before != (counts > 0)).any(axis=(1, 2))]
            dirty.update(int(x) for x in k[k >= 0])
        return touched, dirty

    def _new_outlet(self, outlet_id: str, lon: float, lat: float, formats: Sequence[str] | str, attrs: dict) -> _Outlet:
        """An outlet registered live, classified as the batch classifies the outlets table's rows."""
        fm = formats if isinstance(formats, str) else ";".join(str(f) for f in formats)
        row = {"id": outlet_id, "lon": float(lon), "lat": float(lat), "formats": fm, **attrs}
        ex = explode_outlets(pd.DataFrame([{"id": outlet_id, "formats": fm}]), self.profile)
        if ex.unknown:
            bad = ", ".join(sorted({c for _, c in ex.unknown}))
            self.notes.append(
                t(
                    f"网点 {outlet_id} 的业态代码不在配置中，已忽略：{bad}",
                    f"outlet {outlet_id}: unknown format codes ignored: {bad}",
                )
            )
        cats = np.asarray(ex.cat, dtype=np.int64)
        snap = snap_lonlat(self.net, np.array([lon], float), np.array([lat], float), self.profile.walking.snap_max_m)
        circle = outlet_circles(
            self.net,
            (np.array([lon], float), np.array([lat], float)),
            snap,
            self._access.access.communities,
            self._circles.member,
            self._circles.given,
            self._access.quality_reach_m,
            nearest_community=self._nearest_community,
        )
        is_shop = bool((~self._cls.smart[cats]).any()) if len(cats) else False
        return _Outlet(-1, row, snap, cats, int(circle[0]), is_shop, _is_chain(attrs.get("is_chain")))

    def add_outlet(
        self, outlet_id: str, lon: float, lat: float, formats: Sequence[str] | str, **attrs: Any
    ) -> set[str]:
        """Register outlet ``outlet_id`` at ``lon``, ``lat`` (WGS-84 degrees) serving ``formats``
        (profile format codes, or one ``'a;b'`` text; several = 一店多能). ``attrs``: other columns of
        the outlets table (``name``, ``is_chain``, ``district`` …; only ``is_chain`` changes a
        circle). Returns the ids of the circles touched (recomputed). An id already registered is
        refused (``ValueError``); an outlet beyond ``snap_max_m`` metres of every street is kept,
        logged and listed by :meth:`unsnapped`, and reaches nobody."""
        outlet_id = str(outlet_id)
        if not (math.isfinite(float(lon)) and math.isfinite(float(lat))):
            raise ValueError(f"outlet {outlet_id}: lon/lat must be finite numbers")
        with self._lock:
            if outlet_id in self._outlets:
                raise ValueError(f"outlet {outlet_id} is already registered")
            o = self._new_outlet(outlet_id, lon, lat, formats, attrs)
            if o.snap is not None and not bool(o.snap.ok[0]):
                log.warning(
                    "outlet %s is more than %g m from every street: it reaches nobody", outlet_id, self._snap_max
                )
            self._outlets[outlet_id] = [o]
            return self._changed(*self._apply(o, +1))

    def remove_outlet(self, outlet_id: str) -> set[str]:
        """Close outlet ``outlet_id`` (every row of the outlets table with that id). Returns the ids
        of the circles touched; an unknown id raises ``KeyError``."""
        outlet_id = str(outlet_id)
        with self._lock:
            rows = self._outlets.pop(outlet_id)
            touched: set[int] = set()
            dirty: set[int] = set()
            for o in rows:
                t_o, d_o = self._apply(o, -1)
                touched |= t_o
                dirty |= d_o
            return self._changed(touched, dirty)

    def _changed(self, touched: set[int], dirty: set[int]) -> set[str]:
        """Recompute the ``dirty`` circles; mark every ``touched`` one as of now."""
        self.version += 1
        now = _now()
        self._refresh(dirty, now)
        for k in touched - dirty:
            self._state[k].as_of = now
        return {self._circles.ids[k] for k in touched}

    @property
    def _snap_max(self) -> float:
        return float(self.profile.walking.snap_max_m)

    # ------------------------------------------------------------------------ reading
    def circle(self, circle_id: str) -> dict[str, Any]:
        """The live figures of circle ``circle_id``: ``as_of`` (ISO time, UTC, of the last change
        that touched it, or of the build), ``coverage`` (format code → share 0..1 of the circle's
        residents whose nearest outlet of the format is within its layer at the default speed;
        None without residents), ``grade`` (code, name, name_en, reasons, reasons_en), ``gaps``
        (the formats it lacks, in priority order, as the batch's gap list) and ``indicators`` (the
        batch's circle row: shares 0..1, persons, counts, m²). Unknown ids raise ``KeyError``."""
        with self._lock:
            k = self._index[str(circle_id)]
            s = self._state[k]
            row = s.row
            return {
                "id": row["id"],
                "as_of": s.as_of,
                "coverage": dict(s.coverage),
                "grade": {
                    "code": row["grade_code"],
                    "name": row["grade"],
                    "name_en": row["grade_en"],
                    "reasons": row["grade_reasons"],
                    "reasons_en": row["grade_reasons_en"],
                },
                "gaps": [dict(g) for g in s.gaps],
                "indicators": {key: v for key, v in row.items() if key not in GRADE_FIELDS},
            }

    @property
    def circle_ids(self) -> list[str]:
        """Every circle's id (the circles table's, then those only communities name)."""
        return list(self._circles.ids)

    def outlets_table(self) -> pd.DataFrame:
        """The outlets table as it stands: the built city's rows still open, then those registered
        live (in the order they were registered)."""
        with self._lock:
            base_rows = sorted(o.base for rows in self._outlets.values() for o in rows if o.base >= 0)
            added = [o.row for rows in self._outlets.values() for o in rows if o.base < 0 and o.row is not None]
            base = self._access.outlets.iloc[base_rows]
            return pd.concat([base, pd.DataFrame(added)], ignore_index=True) if added else base.reset_index(drop=True)

    def unsnapped(self) -> pd.DataFrame:
        """The open outlets farther than ``snap_max_m`` metres from every street (they reach
        nobody): id, lon, lat, message."""
        with self._lock:
            rows = []
            for oid, outs in self._outlets.items():
                for o in outs:
                    if not bool(self._snap_of(o).ok[0]):
                        src = o.row if o.row is not None else self._access.outlets.iloc[o.base].to_dict()
                        rows.append((oid, float(src["lon"]), float(src["lat"])))
            msg = t(
                f"距最近道路超过 {self._snap_max:g} 米，未计入步行可达",
                f"more than {self._snap_max:g} m from every street; left out of walking access",
            )
            return pd.DataFrame([(i, lon, lat, msg) for i, lon, lat in rows], columns=["id", "lon", "lat", "message"])
