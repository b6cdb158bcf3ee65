"""The sections of the one-plan-per-circle document (一圈一策) as plain values: :func:`plan_context`
turns a :class:`~lifecircle.plans.policy.CirclePlan` into everything the template
``plan_report.html.j2`` shows — title and cards, grade badges and reasons, outlets by format, the
gap list, the recommended sites with the residents each adds, solver notes, indicators now and
after, precise gap-filling (精准补建), communities, notes and credits — with the figures of
:mod:`lifecircle.reports.plan_figures`. Rendering and writing files is
:mod:`lifecircle.reports.plan_report`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pandas as pd
from markupsafe import Markup

import lifecircle
from lifecircle.plans.policy_settings import SITE_KIND_NAMES
from lifecircle.reports.common import (
    CLASS_NAMES,
    SYNTHETIC_TITLE,
    check_lang,
    city_origin,
    credits,
    fmt_num,
    fmt_pct,
    fmt_value,
    generated_at,
    grade_style,
    is_missing,
    synthetic_note,
    tr,
    value_label,
)
from lifecircle.reports.plan_figures import before_after_bars, circle_map_svg

if TYPE_CHECKING:
    from lifecircle.city.model import City
    from lifecircle.plans.policy import CirclePlan


def _badge(code: str, zh: str, lang: str) -> Markup:
    st = grade_style(code, zh)
    name = tr(lang, st.zh, st.en)
    return Markup('<span class="badge" style="background:{};color:{}">{}</span>').format(st.fill, st.ink, name)


def _delta(key: str, a: Any, b: Any, lang: str) -> tuple[str, str]:
    """Text and CSS class of the change from ``a`` to ``b``."""
    if is_missing(a) or is_missing(b) or isinstance(a, str) or isinstance(b, str):
        return "", ""
    d = float(b) - float(a)
    if abs(d) < 1e-9:
        return "—", "same"
    if key.endswith(("coverage", "completeness", "share")):
        txt = f"{d * 100:+.1f} {tr(lang, '个百分点', 'pp')}"
    else:
        txt = f"{d:+,.0f}"
    return txt, "up" if d > 0 else "down"


def _numbered_sites(plan: CirclePlan) -> tuple[pd.DataFrame, dict[str, int]]:
    """The plan's sites with one marker number per site, in order of first appearance."""
    sites = plan.sites.copy()
    markers: dict[str, int] = {}
    for sid in sites.get("site_id", []):
        markers.setdefault(str(sid), len(markers) + 1)
    sites["marker"] = [markers[str(s)] for s in sites.get("site_id", [])]
    return sites.sort_values("marker", kind="stable"), markers


def _format_rows(obf: pd.DataFrame, lang: str) -> list[dict[str, Any]]:
    """Outlets and coverage per format, grouped by class (basic, quality, smart)."""
    rows = []
    for cls in ("basic", "quality", "smart"):
        part = obf[obf["class"] == cls]
        for i, (_, r) in enumerate(part.iterrows()):
            rows.append(
                {
                    "cls": cls,
                    "cls_name": tr(lang, *CLASS_NAMES[cls]),
                    "first": i == 0,
                    "n_in_class": len(part),
                    "name": r["format_en"] if lang == "en" else r["format_zh"],
                    "layer": f"{r['layer_min']:g}",
                    "n": int(r["n_outlets"]),
                    "share_now": fmt_pct(r["share_now"], 0),
                    "share_after": fmt_pct(r["share_after"], 0),
                    "gap": bool(r["is_gap"]),
                    "changed": not is_missing(r["share_now"])
                    and abs(float(r["share_after"]) - float(r["share_now"])) > 1e-9,
                }
            )
    return rows


def _gap_rows(plan: CirclePlan, fnames: dict[str, str], lang: str) -> list[dict[str, Any]]:
    """The circle's gaps in priority order, with whether the plan places sites for each."""
    planned = {f.format: f for f in plan.formats}
    rows = []
    for _, r in plan.gaps.iterrows():
        code = str(r["format"])
        fs = planned.get(code)
        rows.append(
            {
                "priority": int(r["priority"]),
                "name": fnames.get(code, code),
                "cls": str(r["class"]),
                "cls_name": tr(lang, *CLASS_NAMES.get(str(r["class"]), (str(r["class"]), str(r["class"])))),
                "share": fmt_pct(r["share_within_layer"], 0),
                "uncovered": fmt_num(r["residents_uncovered"]),
                "planned": fs is not None,
                "n_sites": len(fs.sites) if fs is not None else 0,
            }
        )
    return rows


def _site_rows(plan: CirclePlan, sites: pd.DataFrame, fnames: dict[str, str], lang: str) -> list[dict[str, Any]]:
    """One row per recommended site (marker, format, kind, residents added, coverage before → after)."""
    planned = {f.format: f for f in plan.formats}
    rows = []
    for _, r in sites.iterrows():
        fs = planned.get(str(r["format"]))
        rows.append(
            {
                "marker": int(r["marker"]),
                "format": fnames.get(str(r["format"]), str(r["format"])),
                "cls": str(r["class"]),
                "name": str(r["site_name"]),
                "id": str(r["site_id"]),
                "kind": tr(lang, *SITE_KIND_NAMES.get(str(r["site_kind"]), (str(r["site_kind"]),) * 2)),
                "added": fmt_num(round(float(r["residents_added"]))),
                "n_comm": int(r["n_communities"]),
                "communities": str(r["communities"]),
                "old_first": bool(r["old_first"]),
                "share": f"{fmt_pct(fs.share_before, 0)} → {fmt_pct(fs.share_after, 0)}" if fs is not None else "",
            }
        )
    return rows


def _solver_rows(plan: CirclePlan, lang: str) -> list[dict[str, Any]]:
    """How each format's sites were chosen: k, covered residents, bound, gap, method."""
    return [
        {
            "name": f.format_en if lang == "en" else f.format_zh,
            "k": f.k,
            "n": len(f.sites),
            "radius": fmt_num(round(f.radius_m)),
            "covered": fmt_num(round(f.covered)),
            "bound": fmt_num(round(f.bound)),
            "gap": fmt_pct(f.gap, 1),
            "method": f.method,
            "optimal": f.optimal,
            "notes": "；".join(f.notes) if lang == "zh" else "; ".join(f.notes),
        }
        for f in plan.formats
    ]


def _indicator_rows(plan: CirclePlan, lang: str) -> list[dict[str, Any]]:
    """The circle's indicators now and after the plan, with the change (the grade is shown apart)."""
    rows = []
    for _, r in plan.indicators.iterrows():
        key = str(r["indicator"])
        a, b = r["now"], r["after"]
        if key == "grade":
            continue
        d, dcls = _delta(key, a, b, lang)
        rows.append(
            {
                "label": r["label_en"] if lang == "en" else r["label_zh"],
                "now": fmt_value(key, a, lang),
                "after": fmt_value(key, b, lang),
                "delta": d,
                "dcls": dcls,
            }
        )
    return rows


def _community_rows(plan: CirclePlan, lang: str) -> list[dict[str, Any]]:
    """The circle's communities, largest first."""
    return [
        {
            "name": str(r["name"]),
            "kind": value_label("kind", r["kind"], lang),
            "population": fmt_num(r["population"]),
            "hh": fmt_num(r.get("households")),
            "basic_n": int(r["basic_formats_within_layer"]),
            "ok": bool(r["basic_complete"]),
        }
        for _, r in plan.communities.sort_values("population", ascending=False).iterrows()
    ]


def _gapfill_context(plan: CirclePlan, lang: str) -> dict[str, Any] | None:
    """The precise gap-filling (精准补建) section: sentence, additions and the target's conditions."""
    g = plan.gapfill
    if g is None:
        return None
    from lifecircle.i18n import use_lang
    from lifecircle.indicators.grades import format_value, indicator_name

    names = plan.evaluation.rules.grade_names() if plan.evaluation.rules is not None else {}
    with use_lang(lang):
        return {
            "sentence": g.sentence(),
            "reached": g.reached,
            "badge_target": _badge(g.target[0], g.target[1], lang),
            "badge_after": _badge(g.grade_after[0], g.grade_after[1], lang),
            "rows": [
                {
                    "site": a.site_id,
                    "site_name": a.site_name,
                    "format": a.name,
                    "added": fmt_num(round(a.residents_added)),
                    "area": a.area_check(),
                    "lonlat": f"{a.lon:.5f}, {a.lat:.5f}",
                }
                for a in g.additions
            ],
            "cond_rows": [
                {
                    "grade": tr(lang, *names.get(c.grade, (c.grade, c.grade))),
                    "indicator": indicator_name(c.indicator),
                    "now": format_value(c.indicator, c.now),
                    "after": format_value(c.indicator, c.after),
                    "needed": f"{c.condition.op.replace('>=', '≥').replace('<=', '≤')} "
                    f"{format_value(c.indicator, c.needed)}",
                    "met": c.met_after,
                    "fixable": c.fixable,
                }
                for c in g.conditions
            ],
            "notes": list(g.notes),
        }


def plan_context(
    plan: CirclePlan, *, city: City | None = None, lang: str = "zh", surface: Any = None
) -> dict[str, Any]:
    """Everything the template shows, as plain values (for tests and other renderers). With a
    walking-time ``surface``, ``fair_rows`` holds the circle's fairness figures."""
    check_lang(lang)
    c0, c1 = plan.circle, plan.circle_after
    g0, g1 = plan.grade_now, plan.grade_after
    sites, markers = _numbered_sites(plan)
    map_svg = circle_map_svg(_with_sites(plan, sites) if len(sites) else plan, city, lang)
    obf = plan.outlets_by_format
    fnames = {f.code: (f.en if lang == "en" else f.zh) for f in plan.evaluation.profile.formats}
    chart_rows = obf[obf["is_gap"] | (obf["n_sites"] > 0)].copy()
    chart_rows["_p"] = chart_rows["priority"].fillna(99)
    chart = before_after_bars(chart_rows.sort_values("_p"), lang)
    n_basic = int((obf["class"] == "basic").sum())
    n_sites = len(markers)
    ev = plan.evaluation
    prof = ev.profile
    title = tr(lang, f"{plan.circle_name}“一圈一策”建设方案", f"{plan.circle_name}: one plan for the circle (一圈一策)")
    district = plan.district_name or plan.district
    return {
        "lang": lang,
        "L": lambda zh, en: tr(lang, zh, en),
        "title": title,
        "doc_kind": tr(lang, "一圈一策", "One plan per circle · 一圈一策"),
        "city_name": plan.city_name,
        "circle_id": plan.circle_id,
        "circle_name": plan.circle_name,
        "district": district,
        "phase": value_label("phase", c0.get("phase"), lang) if not is_missing(c0.get("phase")) else "—",
        "status": value_label("status", c0.get("status"), lang) if not is_missing(c0.get("status")) else "—",
        "synthetic": plan.synthetic,
        "synthetic_title": SYNTHETIC_TITLE,
        "synthetic_note": synthetic_note(lang),
        "badge_now": _badge(g0[0], g0[1], lang),
        "badge_after": _badge(g1[0], g1[1], lang),
        "grade_changed": g0[0] != g1[0],
        "reasons_now": str(c0.get("grade_reasons_en" if lang == "en" else "grade_reasons", "") or ""),
        "reasons_after": str(c1.get("grade_reasons_en" if lang == "en" else "grade_reasons", "") or ""),
        "cards": [
            (tr(lang, "常住人口", "Residents"), fmt_num(c0.get("population"))),
            (tr(lang, "小区", "Communities"), fmt_num(c0.get("n_communities"))),
            (tr(lang, "商业网点", "Outlets"), fmt_num(c0.get("n_outlets"))),
            (
                tr(lang, "基本业态齐全度", "Basic completeness"),
                f"{fmt_pct(c0.get('basic_completeness'), 0)} → {fmt_pct(c1.get('basic_completeness'), 0)}",
            ),
            (tr(lang, "缺口业态", "Gap formats"), str(len(plan.gaps))),
            (tr(lang, "推荐选址", "Sites recommended"), str(n_sites)),
        ],
        "map_svg": Markup(map_svg),
        "fmt_rows": _format_rows(obf, lang),
        "n_basic": n_basic,
        "gap_rows": _gap_rows(plan, fnames, lang),
        "site_rows": _site_rows(plan, sites, fnames, lang),
        "solver_rows": _solver_rows(plan, lang),
        "ind_rows": _indicator_rows(plan, lang),
        "gapfill": _gapfill_context(plan, lang),
        "chart": Markup(chart),
        "comm_rows": _community_rows(plan, lang),
        "notes": list(plan.notes) + list(ev.notes),
        "k": plan.formats[0].k if plan.formats else plan.settings.k_per_format,
        "chain_assumed": plan.settings.new_outlets_chain,
        "policy_name": plan.settings.name,
        "policy_version": plan.settings.version,
        "profile_name": prof.name,
        "profile_version": prof.version,
        "rules_name": ev.rules.name if ev.rules is not None else "",
        "speed_kmh": float(ev.speed_kmh),
        "elderly_speed_kmh": float(ev.elderly_speed_kmh),
        "credits": credits(plan.synthetic, city, lang),
        "city_origin": city_origin(plan.evaluation, lang),
        "generated_at": generated_at(),
        "version": lifecircle.__version__,
        **_fairness_context(plan, surface, fnames, lang),
    }


def _fairness_context(plan: CirclePlan, surface: Any, fnames: dict[str, str], lang: str) -> dict[str, Any]:
    """The circle's fairness figures from the surface (empty without one)."""
    if surface is None:
        return {"fair_rows": [], "fair_head": []}
    from lifecircle.indicators.fairness import fairness_table
    from lifecircle.reports.surface_report import fairness_head, fairness_rows

    t = fairness_table(surface, plan.evaluation.profile, by="circle")
    t = t[t["unit"] == str(plan.circle_id)]
    return {"fair_rows": fairness_rows(t, fnames, lang), "fair_head": fairness_head(lang)}


def _with_sites(plan: CirclePlan, sites: pd.DataFrame) -> CirclePlan:
    import copy

    p = copy.copy(plan)
    p.sites = sites
    return p
