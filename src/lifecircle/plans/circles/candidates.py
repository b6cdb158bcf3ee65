"""Inputs of a delineation, checked and prepared: communities and centre candidates snapped to
the walking network, district polygons in the network's CRS (metres), quotas per district, and
per district the candidate pool with its gain matrix (residents within the walk). Distances in
metres, populations in residents."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import shapely
from numpy.typing import NDArray

from lifecircle.errors import ProblemCollector
from lifecircle.i18n import t
from lifecircle.network import Snapped, WalkNetwork
from lifecircle.network.engine import within
from lifecircle.network.snap import snap_lonlat
from lifecircle.plans.circles.config import DelineationSettings
from lifecircle.plans.circles.walking import walk_matrix

INDUSTRIAL = "industrial"


def _check_inputs(communities: pd.DataFrame, centres: pd.DataFrame, districts: pd.DataFrame | None) -> None:
    bag = ProblemCollector(file="communities")
    for col in ("id", "district", "lon", "lat", "population"):
        if col not in communities.columns:
            bag.add(t(f"缺少必填列 '{col}'", f"required column '{col}' is missing"), field=col)
    bag.raise_if_any()
    ids = communities["id"].astype(str)
    for r in np.flatnonzero(ids.duplicated().to_numpy()):
        bag.add(t(f"小区 id '{ids.iloc[r]}' 重复", f"community id '{ids.iloc[r]}' repeats"), row=int(r) + 2, field="id")
    pop = pd.to_numeric(communities["population"], errors="coerce").to_numpy(float)
    for r in np.flatnonzero(~np.isfinite(pop) | (pop < 0)):
        bag.add(t("人口应为非负数字", "population must be a number >= 0"), row=int(r) + 2, field="population")
    for col in ("lon", "lat"):
        v = pd.to_numeric(communities[col], errors="coerce").to_numpy(float)
        for r in np.flatnonzero(~np.isfinite(v)):
            bag.add(t("坐标缺失或无效", "missing or invalid coordinate"), row=int(r) + 2, field=col)
    bag2 = ProblemCollector(file="centre_candidates")
    for col in ("id", "lon", "lat"):
        if col not in centres.columns:
            bag2.add(t(f"缺少必填列 '{col}'", f"required column '{col}' is missing"), field=col)
    if not bag2.problems:
        cids = centres["id"].astype(str)
        for r in np.flatnonzero(cids.duplicated().to_numpy()):
            bag2.add(
                t(f"中心候选 id '{cids.iloc[r]}' 重复", f"centre candidate id '{cids.iloc[r]}' repeats"),
                row=int(r) + 2,
                field="id",
            )
    if districts is not None and len(districts) and "code" not in districts.columns:
        bag.add(t("区表缺少 'code' 列", "the districts table has no 'code' column"), field="code")
    bag.problems.extend(bag2.problems)
    bag.raise_if_any()


def _code(v: Any) -> str | None:
    """A district code as text: ``420502``, ``420502.0`` and ``" 420502 "`` are all ``"420502"``;
    empty / NaN is None."""
    if v is None or (isinstance(v, float) and not np.isfinite(v)) or v is pd.NA:
        return None
    if isinstance(v, float | np.floating) and float(v).is_integer():
        return str(int(v))
    s = str(v).strip()
    return s or None


def _normalise_quotas(quotas: Mapping[str, int | Sequence[int]], phases: Sequence[str]) -> dict[str, tuple[int, ...]]:
    out: dict[str, tuple[int, ...]] = {}
    bag = ProblemCollector(file="quotas")
    for code, q in quotas.items():
        vals = (q,) + (0,) * (len(phases) - 1) if isinstance(q, int | np.integer) else tuple(q)
        if len(vals) != len(phases) or any(int(v) != v or v < 0 for v in vals):
            bag.add(
                t(
                    f"区 {code} 的配额 {q!r} 应为每个阶段一个非负整数（{', '.join(phases)}）",
                    f"district {code}: quota {q!r} must be one whole number >= 0 per phase ({', '.join(phases)})",
                ),
                field=str(code),
            )
            continue
        out[_code(code) or str(code)] = tuple(int(v) for v in vals)
    bag.raise_if_any()
    return out


# ------------------------------------------------------------------------------- communities
@dataclass
class CommunityTable:
    """The communities, one entry per row of ``frame`` (the input, index reset): district code
    (``""`` when missing), ``kind``, ``population`` (people), ``residents`` (0 for ``industrial``
    parks, whose people are workers), names, WGS-84 ``lon``/``lat`` and the snap to the network
    (projected ``x``/``y`` in metres)."""

    frame: pd.DataFrame
    district: NDArray[np.object_]
    kind: NDArray[np.object_]
    population: NDArray[np.float64]
    residents: NDArray[np.float64]
    names: NDArray[np.object_]
    lon: NDArray[np.float64]
    lat: NDArray[np.float64]
    snap: Snapped

    def __len__(self) -> int:
        return len(self.frame)

    def members(self, code: str) -> NDArray[np.intp]:
        """Rows of the communities in district ``code``."""
        return np.flatnonzero(self.district == code)


def prepare_communities(communities: pd.DataFrame, net: WalkNetwork, snap_max_m: float) -> CommunityTable:
    """Step 1a: the communities with district codes, residents and their snap (within
    ``snap_max_m`` metres of a street) on ``net``."""
    comm = communities.reset_index(drop=True)
    n_c = len(comm)
    kind = comm["kind"].astype(str).to_numpy(dtype=object) if "kind" in comm else np.full(n_c, "", dtype=object)
    pop = pd.to_numeric(comm["population"], errors="coerce").fillna(0).to_numpy(float)
    names = (
        comm["name"].astype(str).to_numpy(dtype=object)
        if "name" in comm
        else comm["id"].astype(str).to_numpy(dtype=object)
    )
    lon, lat = comm["lon"].to_numpy(float), comm["lat"].to_numpy(float)
    return CommunityTable(
        frame=comm,
        district=np.array([_code(v) or "" for v in comm["district"].tolist()], dtype=object),
        kind=kind,
        population=pop,
        residents=np.where(kind == INDUSTRIAL, 0.0, pop),
        names=names,
        lon=lon,
        lat=lat,
        snap=snap_lonlat(net, lon, lat, snap_max_m),
    )


# ---------------------------------------------------------------------------------- districts
@dataclass
class DistrictShapes:
    """District polygons in the network's CRS (metres) and display names, by district code.
    ``given``: whether a districts table was passed at all (a missing polygon is then noted)."""

    geoms: dict[str, Any]
    names: dict[str, str]
    given: bool


def district_shapes(
    districts: pd.DataFrame | None, net: WalkNetwork, district_names: Mapping[str, str] | None = None
) -> DistrictShapes:
    """Step 1b: the districts table (``code, name_zh, geometry`` WGS-84) projected to metres;
    names from ``district_names`` first, else the table (zh/en by the current language)."""
    dgeom: dict[str, Any] = {}
    dname: dict[str, str] = dict(district_names or {})
    if districts is not None and len(districts):
        to_m = net.from_wgs84
        for _, row in districts.iterrows():
            code = _code(row["code"]) or ""
            g = row.get("geometry")
            if g is not None and hasattr(g, "is_empty") and not g.is_empty:
                # densify first (about 10 m) so straight edges in degrees stay on the boundary in metres
                g = shapely.segmentize(shapely.make_valid(g), 1e-4)
                dgeom[code] = shapely.make_valid(
                    shapely.transform(g, lambda xy: np.column_stack(to_m.transform(xy[:, 0], xy[:, 1])))
                )
            if code not in dname:
                dname[code] = t(
                    str(row.get("name_zh", code)), str(row.get("name_en", row.get("name_zh", code)) or code)
                )
    return DistrictShapes(dgeom, dname, districts is not None)


# ---------------------------------------------------------------------------------- candidates
@dataclass
class CandidateTable:
    """Centre candidates: ids, names, kinds, district code (None when unknown), WGS-84
    ``lon``/``lat``, their snap to the network, and notes (candidates not snapped)."""

    ids: NDArray[np.object_]
    names: NDArray[np.object_]
    kinds: NDArray[np.object_]
    district: NDArray[np.object_]
    lon: NDArray[np.float64]
    lat: NDArray[np.float64]
    snap: Snapped
    notes: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.ids)


def prepare_candidates(
    centres: pd.DataFrame, net: WalkNetwork, shapes: DistrictShapes, snap_max_m: float
) -> CandidateTable:
    """Step 1c: the centre candidates snapped (within ``snap_max_m`` metres); the district from
    their ``district`` column, else the district polygon that contains the snapped point."""
    cand = centres.reset_index(drop=True)
    dgeom = shapes.geoms
    notes: list[str] = []
    n_k = len(cand)
    k_lon, k_lat = (cand["lon"].to_numpy(float), cand["lat"].to_numpy(float)) if n_k else (np.zeros(0), np.zeros(0))
    k_snap = snap_lonlat(net, k_lon, k_lat, snap_max_m)
    k_dist = np.full(n_k, None, dtype=object)
    if n_k and "district" in cand:
        k_dist[:] = [_code(v) for v in cand["district"].tolist()]
    if n_k and dgeom and (k_dist == None).any():  # noqa: E711 - elementwise
        pts = shapely.points(k_snap.x, k_snap.y)
        for code, g in dgeom.items():
            inside = shapely.contains(g, pts) & (k_dist == None)  # noqa: E711
            k_dist[inside] = code
    if n_k and (~k_snap.ok).any():
        bad = cand["id"].astype(str).to_numpy()[~k_snap.ok]
        notes.append(
            t(
                f"{len(bad)} 个中心候选距最近道路超过 {snap_max_m:g} 米，未参与选择：{', '.join(bad[:10])}",
                f"{len(bad)} centre candidates are more than {snap_max_m:g} m from every street and were not "
                f"considered: {', '.join(bad[:10])}",
            )
        )
    k_kind = (
        cand["kind"].astype(str).to_numpy(dtype=object)
        if n_k and "kind" in cand
        else np.full(n_k, "community_service_centre", dtype=object)
    )
    k_name = (
        cand["name"].astype(str).to_numpy(dtype=object)
        if n_k and "name" in cand
        else (cand["id"].astype(str).to_numpy(dtype=object) if n_k else np.zeros(0, object))
    )
    k_ids = cand["id"].astype(str).to_numpy(dtype=object) if n_k else np.zeros(0, object)
    return CandidateTable(k_ids, k_name, k_kind, k_dist, k_lon, k_lat, k_snap, notes)


# ------------------------------------------------------------------------- per-district pool
def effective_quotas(quotas: Sequence[int], n_communities: int) -> list[int]:
    """The quotas per phase, cut from the last phase backwards so that there are never more
    circles than communities."""
    eff = list(quotas)
    excess = sum(eff) - n_communities
    for pi in range(len(eff) - 1, -1, -1):
        if excess <= 0:
            break
        cut = min(eff[pi], excess)
        eff[pi] -= cut
        excess -= cut
    return eff


@dataclass
class DistrictCandidates:
    """The candidate pool of one district and what each candidate would serve.

    ``members``: rows of the district's communities in the :class:`CommunityTable`;
    ``quotas``: circles per phase after :func:`effective_quotas`; ``pool``: ``("cand", row)``
    in the :class:`CandidateTable` or ``("comm", row)`` (a community standing in); ``pool_snap``:
    their snap; ``is_real``: pool entries that are candidates; ``short``: fewer candidates than
    circles. ``residents``: per member (people); ``in_walk``: members x pool within the walk;
    ``gain``: residents-equivalents (within the walk + closeness credit); ``bonus``: per pool
    entry (prefers real candidates when short); ``cover``: residents within the walk per entry.
    """

    code: str
    label: str
    members: NDArray[np.intp]
    quotas: list[int]
    pool: list[tuple[str, int]]
    pool_snap: Snapped
    member_snap: Snapped
    is_real: NDArray[np.bool_]
    short: bool
    residents: NDArray[np.float64]
    in_walk: NDArray[np.bool_]
    gain: NDArray[np.float64]
    bonus: NDArray[np.float64]
    cover: NDArray[np.float64]
    notes: list[str] = field(default_factory=list)


def _pool_snap(pool: list[tuple[str, int]], k_snap: Snapped, c_snap: Snapped) -> Snapped:
    return Snapped(
        np.array([k_snap.edge[j] if s == "cand" else c_snap.edge[j] for s, j in pool], dtype=np.int32),
        np.array([k_snap.pos_m[j] if s == "cand" else c_snap.pos_m[j] for s, j in pool], dtype=float),
        np.array([k_snap.offset_m[j] if s == "cand" else c_snap.offset_m[j] for s, j in pool], dtype=float),
        np.array([k_snap.ok[j] if s == "cand" else c_snap.ok[j] for s, j in pool], dtype=bool),
        np.array([k_snap.x[j] if s == "cand" else c_snap.x[j] for s, j in pool], dtype=float),
        np.array([k_snap.y[j] if s == "cand" else c_snap.y[j] for s, j in pool], dtype=float),
    )


def district_candidates(
    net: WalkNetwork,
    code: str,
    label: str,
    quotas: Sequence[int],
    members: NDArray[np.intp],
    comms: CommunityTable,
    cands: CandidateTable,
    *,
    walk_m: float,
    settings: DelineationSettings,
) -> DistrictCandidates:
    """Step 2 (per district): the pool of centre candidates of district ``code`` (its snapped
    candidates; its communities stand in when there are fewer than circles) and the walking
    distances (metres, up to ``walk_m x search_factor``) from its ``members`` to each."""
    st = settings
    n_m = len(members)
    R = float(walk_m)
    search_m = max(R * st.search_factor, R)
    notes: list[str] = []
    quota_total = sum(quotas)
    eff = effective_quotas(quotas, n_m)
    if sum(eff) < quota_total:
        notes.append(
            t(
                f"区 {label} 只有 {n_m} 个小区，少于配额 {quota_total}，只能形成 {sum(eff)} 个生活圈",
                f"district {label} has only {n_m} communities, fewer than its quota of {quota_total}; {sum(eff)} "
                "circles formed",
            )
        )
    q_tot = sum(eff)
    c_snap = comms.snap
    # candidate pool: the district's snapped candidates; communities stand in when too few
    real = np.flatnonzero((cands.district == code) & cands.snap.ok) if len(cands) else np.zeros(0, dtype=np.int64)
    pool = [("cand", int(j)) for j in real]
    short = len(real) < q_tot
    if short:
        pool += [("comm", int(i)) for i in members if c_snap.ok[i]] or [("comm", int(i)) for i in members]
        notes.append(
            t(
                f"区 {label} 只有 {len(real)} 个中心候选（需 {q_tot} 个），已全部选用，并以小区为中心补足",
                f"district {label} has {len(real)} centre candidates for {q_tot} circles; all are used and "
                "communities stand in for the rest",
            )
        )
    pool_snap = _pool_snap(pool, cands.snap, c_snap)
    m_snap = c_snap.subset(members)
    w = comms.residents[members]
    D = walk_matrix(net, m_snap, pool_snap, max_m=search_m)
    in_walk = within(D, R)
    close = np.where(np.isfinite(D), np.clip(1.0 - D / search_m, 0.0, 1.0), 0.0)
    G = w[:, None] * (in_walk + st.closeness_weight * close)
    is_real = np.array([s == "cand" for s, _ in pool])
    bonus = np.where(is_real, float(w.sum()) + 1.0, 0.0) if short else np.zeros(len(pool))
    cover = (w[:, None] * in_walk).sum(axis=0)
    return DistrictCandidates(
        code, label, members, eff, pool, pool_snap, m_snap, is_real, short, w, in_walk, G, bonus, cover, notes
    )
