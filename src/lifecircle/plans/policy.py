"""One plan per circle (一圈一策, M3): what a circle has, what it lacks, where the missing shops
should go, and what the indicators and grade would be after the plan.

For one circle, :func:`circle_plan` runs these steps (each a function a test can call):

1. :func:`plan_options` — the policy settings, sites per format and solver method;
   :func:`circle_gaps` — the circle's gap list (from the evaluation), in priority order;
2. :func:`formats_to_plan` — the missing or weak formats to site: the gap list limited to the
   classes and count of the policy settings (or the formats asked for);
3. :func:`site_formats` — for each, ``k`` sites among the city's ``candidate_sites``
   (:mod:`lifecircle.plans.format_sites`: MCLP on the walking network, old communities first).
   Formats are sited in priority order and a site takes no more formats than its floor area holds:
   the formats' ``typical_floor_area_m2`` (profile) placed on a site add up to at most its
   ``floor_area_m2`` (a site without a floor area is not limited, and the plan says 面积未知);
4. :func:`plan_sites_table`, :func:`plan_outlets`, :func:`plan_scenario` and
   :func:`evaluate_after` — the city re-evaluated with the recommended sites added as outlets, on a
   copy, through a :class:`~lifecircle.plans.scenarios.Scenario`, the base data untouched;
   :func:`indicator_table` — the indicators and the grade now and after;
5. the precise gap-filling (精准补建, :mod:`lifecircle.plans.gapfill`): the fewest additions that
   bring the circle to its next grade, verified the same way.

This module owns the plan (:class:`CirclePlan`, :func:`circle_plan`, :func:`plan_summary_line`).
The settings live in :mod:`lifecircle.plans.policy_settings` (:class:`PolicySettings`,
:func:`load_policy`, ``lifecircle/profiles/policy-yichang-2022.toml``) and the sites for one format
in :mod:`lifecircle.plans.format_sites` (:func:`recommend_format_sites`, :class:`FormatSites`,
:func:`site_room`, :func:`fits`); both are re-exported here for the callers that import them from
this module. Residents are people, distances metres, walking layers minutes, speeds km/h.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from lifecircle.city.model import City
from lifecircle.city.schema import split_formats
from lifecircle.errors import ConfigError, InputError
from lifecircle.i18n import t
from lifecircle.indicators.evaluate import Evaluation, evaluate_city
from lifecircle.network import WalkNetwork
from lifecircle.plans.format_sites import (
    _SITE_COLS,
    FormatSites,
    _check_circle,
    _Context,
    _context,
    _site_rows,  # noqa: F401 - re-exported
    _solve_format,
    fits,  # noqa: F401 - re-exported
    recommend_format_sites,  # noqa: F401 - re-exported
    site_room,
)
from lifecircle.plans.policy_settings import (
    DEFAULT_POLICY,
    METHODS,
    SITE_KIND_NAMES,  # noqa: F401 - re-exported
    PolicySettings,
    load_policy,
)
from lifecircle.plans.scenarios import COMPARE_INDICATORS, Scenario, apply_scenario, make_outlets
from lifecircle.plans.sites import SiteSettings
from lifecircle.profile import Profile

if TYPE_CHECKING:
    from lifecircle.plans.gapfill import GapFill


# ------------------------------------------------------------------------------------ the plan
@dataclass
class CirclePlan:
    """The plan of one circle (see the module docstring). Shares 0..1, residents people.

    ``outlets_by_format``: one row per format of the profile: ``format, format_zh, format_en,
    class, layer_min, n_outlets`` (outlets of the circle serving it), ``share_now, share_after``
    (residents within its walking layer), ``uncovered_now, uncovered_after, is_gap, priority,
    n_sites``. ``gaps``: the circle's rows of ``Evaluation.gaps``. ``sites``: every recommended
    site, per format (``format, format_zh`` + :class:`FormatSites` columns). ``indicators``:
    ``indicator, label_zh, label_en, now, after``. ``scenario``: the plan as a scenario (the sites
    added as outlets), ``evaluation_after`` the city evaluated with it. ``gapfill``: precise
    gap-filling (精准补建, :func:`lifecircle.plans.gapfill.gap_fill`): the fewest additions that bring
    the circle to its next grade, verified by the engine (None when not asked for).
    """

    circle_id: str
    circle_name: str
    district: str
    district_name: str
    city_name: str
    synthetic: bool
    circle: dict[str, Any]
    circle_after: dict[str, Any]
    communities: pd.DataFrame
    outlets: pd.DataFrame
    outlets_by_format: pd.DataFrame
    gaps: pd.DataFrame
    formats: list[FormatSites]
    sites: pd.DataFrame
    indicators: pd.DataFrame
    scenario: Scenario
    evaluation: Evaluation
    evaluation_after: Evaluation
    settings: PolicySettings
    notes: list[str] = field(default_factory=list)
    gapfill: GapFill | None = None

    @property
    def grade_now(self) -> tuple[str, str, str]:
        """(code, 中文, English) of the grade now."""
        return _grade(self.circle)

    @property
    def grade_after(self) -> tuple[str, str, str]:
        """(code, 中文, English) of the grade after the plan."""
        return _grade(self.circle_after)

    @property
    def residents_added(self) -> float:
        """Residents newly within a format's layer, summed over formats (a resident counts once per format)."""
        return float(sum(f.covered for f in self.formats))


def _grade(rec: dict[str, Any]) -> tuple[str, str, str]:
    return (
        str(rec.get("grade_code", "none")),
        str(rec.get("grade", "未达标")),
        str(rec.get("grade_en", rec.get("grade", ""))),
    )


def _circle_row(ev: Evaluation, circle_id: str) -> dict[str, Any]:
    c = ev.circles[ev.circles["id"].astype(str) == str(circle_id)]
    if not len(c):
        raise InputError(t(f"评估结果中没有生活圈 '{circle_id}'", f"circle '{circle_id}' is not in the evaluation"))
    return c.iloc[0].to_dict()


def _outlets_by_format(
    profile: Profile, ev: Evaluation, ev_after: Evaluation, circle_id: str, gaps: pd.DataFrame, sites: pd.DataFrame
) -> pd.DataFrame:
    outl = ev.outlets
    mine = outl[outl["circle_id"].astype(object).eq(str(circle_id)).to_numpy()] if len(outl) else outl
    counts: dict[str, int] = {}
    for v in mine.get("formats", pd.Series(dtype=object)):
        for c in set(split_formats(v)) if isinstance(v, str) else ():
            counts[c] = counts.get(c, 0) + 1

    def cov(e: Evaluation) -> pd.DataFrame:
        fc = e.format_coverage
        return fc[(fc["level"] == "circle") & (fc["unit_id"].astype(str) == str(circle_id))].set_index("format")

    now, after = cov(ev), cov(ev_after)
    prio = dict(zip(gaps["format"], gaps["priority"], strict=True)) if len(gaps) else {}
    n_sites = sites.groupby("format").size().to_dict() if len(sites) else {}
    rows = []
    for f in profile.formats:
        rows.append(
            {
                "format": f.code,
                "format_zh": f.zh,
                "format_en": f.en,
                "class": f.cls,
                "layer_min": float(f.layer_min),
                "n_outlets": counts.get(f.code, 0),
                "share_now": float(now["share_within_layer"].get(f.code, np.nan)),
                "share_after": float(after["share_within_layer"].get(f.code, np.nan)),
                "uncovered_now": int(now["residents_uncovered"].get(f.code, 0)),
                "uncovered_after": int(after["residents_uncovered"].get(f.code, 0)),
                "is_gap": f.code in prio,
                "priority": prio.get(f.code),
                "n_sites": int(n_sites.get(f.code, 0)),
            }
        )
    return pd.DataFrame(rows)


# ------------------------------------------------------------------------------------ the steps
def plan_options(
    policy: PolicySettings | str | Path | None, k_per_format: int | None, method: str | None
) -> tuple[PolicySettings, int, str]:
    """Step 1: the policy settings (by name, path or as given), sites per format and solver method
    (both default to the policy's); an unknown method or a negative count is an error."""
    pol = policy if isinstance(policy, PolicySettings) else load_policy(policy or DEFAULT_POLICY)
    k = pol.k_per_format if k_per_format is None else int(k_per_format)
    how = method or pol.method
    if how not in METHODS:
        raise ConfigError(
            t(
                f"未知求解方法 '{how}'：可用 auto、exact、heuristic",
                f"unknown method '{how}': use auto, exact or heuristic",
            )
        )
    if k < 0:
        raise InputError(t(f"每业态选址数 {k} 不能为负", f"sites per format {k} cannot be negative"))
    return pol, k, how


def circle_gaps(evaluation: Evaluation, circle_id: str) -> pd.DataFrame:
    """Step 1: the circle's rows of ``evaluation.gaps``, in priority order, indexed 0..n-1."""
    gaps = evaluation.gaps
    return gaps[gaps["circle_id"].astype(str) == circle_id].sort_values("priority").reset_index(drop=True)


def formats_to_plan(
    profile: Profile, pol: PolicySettings, gaps: pd.DataFrame, formats: Sequence[str] | None
) -> tuple[list[str], list[str]]:
    """Step 2: the format codes to site and the notes. ``formats`` (checked against the profile)
    when given, else the gap list filtered by the policy's classes, the first ``max_formats``."""
    notes: list[str] = []
    if formats is not None:
        codes = list(dict.fromkeys(str(c) for c in formats))
        bad = [c for c in codes if c not in profile.by_code]
        if bad:
            raise ConfigError(
                t(
                    f"未知业态代码：{', '.join(bad)}；可用：{', '.join(profile.codes)}",
                    f"unknown format codes: {', '.join(bad)}; known: {', '.join(profile.codes)}",
                )
            )
        return codes, notes
    eligible = gaps[gaps["class"].isin(pol.plan_classes)]
    codes = [str(c) for c in eligible["format"]][: pol.max_formats]
    if len(eligible) > pol.max_formats:
        rest = "、".join(str(z) for z in eligible["format_zh"].iloc[pol.max_formats :])
        rest_en = ", ".join(
            profile.by_code[str(c)].en if str(c) in profile.by_code else str(c)
            for c in eligible["format"].iloc[pol.max_formats :]
        )
        notes.append(
            t(
                f"缺口较多，本期按优先级为前 {pol.max_formats} 项选址；其余留待下期：{rest}",
                f"many gaps: sites for the first {pol.max_formats} by priority; later: {rest_en}",
            )
        )
    return codes, notes


def site_formats(
    ctx: _Context, net: WalkNetwork, profile: Profile, codes: Sequence[str], k: int, how: str, pol: PolicySettings
) -> tuple[list[FormatSites], list[str]]:
    """Step 3: ``k`` sites for each format of ``codes``, in that (priority) order, each site's floor
    area taken by the formats placed there; the results and the notes (sites of unknown area)."""
    st = SiteSettings.from_profile(profile)
    room = site_room(ctx.sites)  # m² left per site, taken by each format placed there in priority order
    results = []
    for c in codes:
        r = _solve_format(ctx, net, profile, c, k, how, True, pol.old_first_min_ratio, st, room=room)
        need = profile.by_code[c].typical_floor_area_m2 or 0.0
        pos = ctx.sites["id"].astype(str).reset_index(drop=True)
        for sid in r.sites["site_id"]:
            room[(pos == str(sid)).to_numpy()] -= need
        results.append(r)
    unknown_area = sorted(
        {str(s) for r in results for s in r.sites["site_id"]}
        & set(ctx.sites.loc[np.isnan(site_room(ctx.sites)), "id"].astype(str))
    )
    notes: list[str] = []
    if unknown_area:
        notes.append(
            t(
                f"场地 {'、'.join(unknown_area)} 面积未知：未按面积核对安排的业态数",
                f"sites {', '.join(unknown_area)}: floor area unknown (面积未知); the formats placed there were not "
                "checked against it",
            )
        )
    return results, notes


def plan_sites_table(results: Sequence[FormatSites]) -> pd.DataFrame:
    """Step 4: every recommended site, per format (``format, format_zh, format_en, class`` +
    the :class:`FormatSites` site columns)."""
    site_rows = [
        {"format": r.format, "format_zh": r.format_zh, "format_en": r.format_en, "class": r.cls, **rec}
        for r in results
        for rec in r.sites.to_dict("records")
    ]
    return pd.DataFrame(site_rows, columns=["format", "format_zh", "format_en", "class", *_SITE_COLS])


def plan_outlets(results: Sequence[FormatSites], circle_id: str, pol: PolicySettings) -> list[dict[str, Any]]:
    """Step 4: the recommended sites as new outlet records, one per site serving every format
    chosen there (``formats`` joined with ``;``, no ``district`` key when the site has none)."""
    by_site: dict[str, dict[str, Any]] = {}
    for r in results:
        for rec in r.sites.to_dict("records"):
            o = by_site.setdefault(
                rec["site_id"],
                {
                    "id": f"PLAN-{circle_id}-{rec['site_id']}",
                    "name": rec["site_name"],
                    "formats": [],
                    "lon": rec["lon"],
                    "lat": rec["lat"],
                    "district": rec["district"],
                    "is_chain": pol.new_outlets_chain,
                    "source": "plan",
                },
            )
            o["formats"].append(r.format)
    added = [{**o, "formats": ";".join(o["formats"])} for o in by_site.values()]
    for o in added:
        if o["district"] is None:
            del o["district"]
    return added


def plan_scenario(city: City, added: list[dict[str, Any]], circle_id: str, base: dict[str, Any]) -> Scenario:
    """Step 4: the plan as a scenario adding the outlets ``added`` (:func:`plan_outlets`);
    ``base`` is the circle's row of the evaluation (its name)."""
    cid = circle_id
    return Scenario(
        name=f"plan-{cid}",
        description=t(
            f"{base.get('name', cid)} 一圈一策：新增 {len(added)} 处网点", f"plan of {cid}: {len(added)} new outlets"
        ),
        added_outlets=make_outlets(added, file=f"plan {cid}"),
        city=city.name,
        origin=f"plan {cid}",
        city_provenance=dict(city.provenance),
    )


def evaluate_after(
    city: City, net: WalkNetwork, profile: Profile, evaluation: Evaluation, scenario: Scenario, n_added: int
) -> Evaluation:
    """Step 4: the city evaluated with the scenario applied (on a copy), with the grading rules of
    ``evaluation``; ``evaluation`` itself when the plan adds nothing."""
    city_after, net_after = apply_scenario(city, net, scenario)
    return evaluate_city(city_after, net_after, profile, rules=evaluation.rules) if n_added else evaluation


def indicator_table(base: dict[str, Any], after: dict[str, Any]) -> pd.DataFrame:
    """Step 4: ``indicator, label_zh, label_en, now, after`` of the circle's rows ``base`` and
    ``after`` (the grade by its Chinese name; the per-format counts left out)."""
    ind_rows = []
    for key, zh, en in COMPARE_INDICATORS:
        if key.startswith("n_") and key != "n_outlets":
            continue
        if key == "grade":
            ind_rows.append(
                {
                    "indicator": key,
                    "label_zh": zh,
                    "label_en": en,
                    "now": base.get("grade"),
                    "after": after.get("grade"),
                }
            )
            continue
        ind_rows.append(
            {
                "indicator": key,
                "label_zh": zh,
                "label_en": en,
                "now": base.get(key, np.nan),
                "after": after.get(key, np.nan),
            }
        )
    return pd.DataFrame(ind_rows)


def circle_members(evaluation: Evaluation, circle_id: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The circle's communities and outlets (rows of the evaluation), each indexed 0..n-1."""
    cid = circle_id
    comm = evaluation.communities[evaluation.communities["circle_id"].astype(object).eq(cid).to_numpy()].reset_index(
        drop=True
    )
    outl = (
        evaluation.outlets[evaluation.outlets["circle_id"].astype(object).eq(cid).to_numpy()].reset_index(drop=True)
        if len(evaluation.outlets)
        else evaluation.outlets
    )
    return comm, outl


def _district_names(evaluation: Evaluation) -> dict[str, str]:
    return (
        dict(zip(evaluation.districts["code"].astype(str), evaluation.districts["name_zh"].astype(str), strict=True))
        if len(evaluation.districts)
        else {}
    )


# ------------------------------------------------------------------------------------ the plan
def circle_plan(
    city: City,
    net: WalkNetwork,
    profile: Profile,
    evaluation: Evaluation,
    circle_id: str,
    *,
    k_per_format: int | None = None,
    formats: Sequence[str] | None = None,
    method: str | None = None,
    policy: PolicySettings | str | Path | None = None,
    gapfill: bool = True,
) -> CirclePlan:
    """Draw up the plan of circle ``circle_id`` (一圈一策).

    ``evaluation`` is :func:`evaluate_city` of ``city`` on ``net`` with ``profile`` (its grading
    rules are reused for the evaluation after the plan). ``formats``: plan these format codes
    (default: the circle's gap list, filtered by the policy's classes and ``max_formats``).
    ``k_per_format`` and ``method`` default to the policy settings. ``city`` and ``net`` are not
    modified. ``gapfill``: also work out the precise gap-filling (精准补建) to the next grade.
    """
    pol, k, how = plan_options(policy, k_per_format, method)
    cid = str(circle_id)
    _check_circle(city, cid)
    base = _circle_row(evaluation, cid)
    gaps = circle_gaps(evaluation, cid)
    codes, notes = formats_to_plan(profile, pol, gaps, formats)
    ctx = _context(city, net, profile, cid)
    results, area_notes = site_formats(ctx, net, profile, codes, k, how, pol)
    notes += area_notes
    sites = plan_sites_table(results)
    added = plan_outlets(results, cid, pol)
    scenario = plan_scenario(city, added, cid, base)
    ev_after = evaluate_after(city, net, profile, evaluation, scenario, len(added))
    after = _circle_row(ev_after, cid)
    district = str(base.get("district") or "")
    comm, outl = circle_members(evaluation, cid)
    if k == 0:
        notes.append(t("每业态选址数为 0：只列现状与缺口", "zero sites per format: current state and gaps only"))
    fill = None
    if gapfill:
        from lifecircle.plans.gapfill import gap_fill

        fill = gap_fill(city, net, profile, cid, evaluation=evaluation, policy=pol)
    return CirclePlan(
        circle_id=cid,
        circle_name=str(base.get("name") or cid),
        district=district,
        district_name=_district_names(evaluation).get(district, district),
        city_name=city.display_name,
        synthetic=bool(city.synthetic or evaluation.synthetic),
        circle=base,
        circle_after=after,
        communities=comm,
        outlets=outl,
        outlets_by_format=_outlets_by_format(profile, evaluation, ev_after, cid, gaps, sites),
        gaps=gaps,
        formats=results,
        sites=sites,
        indicators=indicator_table(base, after),
        scenario=scenario,
        evaluation=evaluation,
        evaluation_after=ev_after,
        settings=pol,
        notes=notes,
        gapfill=fill,
    )


def plan_summary_line(plan: CirclePlan) -> str:
    """One line: sites recommended, residents added, grade now → after."""
    n_sites = plan.sites["site_id"].nunique() if len(plan.sites) else 0
    g0, g1 = plan.grade_now, plan.grade_after
    return t(
        f"{plan.circle_name}：{len(plan.formats)} 项缺口业态，推荐 {n_sites} 处场地，新增覆盖 "
        f"{plan.residents_added:,.0f} 人次；等级 {g0[1]} → {g1[1]}",
        f"{plan.circle_name}: {len(plan.formats)} gap formats, {n_sites} sites recommended, "
        f"{plan.residents_added:,.0f} resident-formats newly covered; grade {g0[2]} → {g1[2]}",
    )
