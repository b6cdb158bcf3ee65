"""Why each centre was chosen, in Chinese and English: its marginal cover (residents within the
walk not covered by the centres chosen before it), the best alternative at that point, its own
cover and rank among the district's candidates, and the residents only it serves."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from lifecircle.plans.circles.candidates import DistrictCandidates
from lifecircle.plans.circles.choose import CentreChoice

KIND_ZH = {
    "community_service_centre": "社区综合服务中心",
    "health_centre": "社区卫生服务中心",
    "culture_centre": "文化活动中心",
    "transit_hub": "交通枢纽",
    "shopping_centre": "购物中心",
    "community": "小区（候选不足时补位）",
}
KIND_EN = {
    "community_service_centre": "community service centre",
    "health_centre": "health centre",
    "culture_centre": "culture centre",
    "transit_hub": "transit hub",
    "shopping_centre": "shopping centre",
    "community": "community (standing in: too few candidates)",
}
PHASE_ZH = {"pilot": "试点", "rollout": "推广"}
PHASE_EN = {"pilot": "pilot", "rollout": "roll-out"}


@dataclass
class CentreExplanations:
    """Per chosen centre (in ``CentreChoice.chosen`` order), in residents: ``marginal`` (newly
    covered within the walk), ``best_alternative`` (the most any other remaining candidate would
    have added then), ``unique`` (within the walk of no other chosen centre); per pool entry:
    ``rank`` among the district's real candidates by own cover (1 = most, 0 = a stand-in)."""

    marginal: list[float]
    best_alternative: list[float]
    unique: list[float]
    rank: NDArray[np.int64]


def explain_centres(cands: DistrictCandidates, choice: CentreChoice) -> CentreExplanations:
    """Step 6 (per district): the figures the reasons quote (see :class:`CentreExplanations`)."""
    w, in_walk, cover, is_real = cands.residents, cands.in_walk, cands.cover, cands.is_real
    chosen = choice.chosen
    n_m, n_pool = len(cands.members), len(cands.pool)
    marg, best_alt = [], []
    best = np.zeros(n_m)
    avail = np.ones(n_pool, bool)
    for j in chosen:
        gains_cov = (np.maximum(w[:, None] * in_walk - best[:, None], 0.0)).sum(axis=0)
        marg.append(float(gains_cov[j]))
        avail[j] = False
        alt = gains_cov.copy()
        alt[~avail] = -np.inf
        best_alt.append(float(alt.max()) if avail.any() else 0.0)
        best = np.maximum(best, w * in_walk[:, j])
    uniq = []
    W = in_walk[:, chosen]
    for pos, j in enumerate(chosen):
        others = np.delete(W, pos, axis=1).any(axis=1) if len(chosen) > 1 else np.zeros(n_m, bool)
        uniq.append(float((w * (in_walk[:, j] & ~others)).sum()))
    order_real = np.argsort(-cover[is_real], kind="stable") if is_real.any() else np.zeros(0, int)
    rank_of = np.zeros(n_pool, dtype=np.int64)
    rank_of[np.flatnonzero(is_real)[order_real]] = np.arange(1, len(order_real) + 1)
    return CentreExplanations(marg, best_alt, uniq, rank_of)


def reason(
    phase: str,
    k: int,
    kind: str,
    marginal: float,
    best_alt: float,
    cover: float,
    rank: int,
    n_real: int,
    unique: float,
    pop: float,
    share: float,
    walk_min: float,
    real: bool,
    first: bool,
) -> tuple[str, str]:
    """Why this centre, in Chinese and English."""
    kz, ke = KIND_ZH.get(kind, kind), KIND_EN.get(kind, kind)
    pz, pe = PHASE_ZH.get(phase, phase), PHASE_EN.get(phase, phase)
    wm = f"{walk_min:g}"
    if not real:
        why_zh = f"区内中心候选不足，以该小区为中心补足配额；步行{wm}分钟内覆盖 {cover:,.0f} 名居民"
        why_en = (
            "too few centre candidates in the district, so this community stands in as a centre; it covers "
            f"{cover:,.0f} residents within {wm} min"
        )
    elif marginal >= best_alt - 1e-6:
        if first and abs(marginal - cover) < 1e-6:
            why_zh = f"步行{wm}分钟内覆盖 {cover:,.0f} 名居民，为全部候选中最多"
            why_en = f"covers {cover:,.0f} residents within {wm} min, the most of any candidate"
        else:
            why_zh = f"在此前已选中心之外新增覆盖 {marginal:,.0f} 名居民（{wm}分钟步行），为剩余候选中最多"
            why_en = (
                f"adds {marginal:,.0f} residents within {wm} min not covered by the centres chosen before it, the most "
                "of any remaining candidate"
            )
    else:
        why_zh = f"在此前已选中心之外新增覆盖 {marginal:,.0f} 名居民；与同区其他中心组合后总覆盖最大（整体最优选择）"
        why_en = (
            f"adds {marginal:,.0f} residents not covered by the centres chosen before it; chosen because, together "
            "with the district's other centres, the set covers the most (whole-set optimum)"
        )
    rank_zh = f"；单独覆盖 {cover:,.0f} 人，在本区 {n_real} 个候选中排第 {rank} 位" if real and rank else ""
    rank_en = (
        f"; on its own it covers {cover:,.0f}, rank {rank} of {n_real} candidates in the district"
        if real and rank
        else ""
    )
    if real and first and rank == 1 and abs(marginal - cover) < 1e-6:
        rank_zh, rank_en = f"（本区共 {n_real} 个候选）", f" ({n_real} candidates in the district)"
    sh = "—" if not np.isfinite(share) else f"{share:.0%}"
    zh = (
        f"{pz}第 {k} 个中心（{kz}）：{why_zh}{rank_zh}；其中 {unique:,.0f} 人不在其他已选中心的{wm}分钟范围内。"
        f"本圈居民 {pop:,.0f} 人，{sh} 在中心{wm}分钟步行范围内。"
    )
    en = (
        f"{pe} centre {k} ({ke}): {why_en}{rank_en}; {unique:,.0f} of them are within {wm} min of no other chosen "
        "centre. "
        f"The circle has {pop:,.0f} residents, {sh} within a {wm}-minute walk of the centre."
    )
    return zh, en
