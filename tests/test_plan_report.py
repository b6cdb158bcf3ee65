"""One plan per circle (issue 4 items 2 and 4): the plan's sites, indicators and grade after the
plan on a copy; the printable HTML and the PDF of a demo circle (rendered to PNG, Chinese text)."""

from __future__ import annotations

import shutil
import subprocess

import numpy as np
import pandas as pd
import pytest

from lifecircle.city.demo import build_demo_city
from lifecircle.cli.plan_circles import network_for_city
from lifecircle.indicators.evaluate import evaluate_city
from lifecircle.plans.policy import PolicySettings, circle_plan, load_policy, recommend_format_sites
from lifecircle.profile import load_profile
from lifecircle.reports.plan_report import render_plan_html, write_plan_report

SCALE = 0.05


@pytest.fixture(scope="module")
def world():
    city = build_demo_city(2022, SCALE)
    net = network_for_city(city)
    prof = load_profile(city.profile)
    ev = evaluate_city(city, net, prof)
    return city, net, prof, ev


@pytest.fixture(scope="module")
def plan(world):
    city, net, prof, ev = world
    n_outlets = len(city.outlets)
    for cid in ev.circles["id"]:  # the first circle for which some candidate site helps
        p = circle_plan(city, net, prof, ev, cid)
        if len(p.sites):
            break
    assert len(city.outlets) == n_outlets  # the base city is untouched
    return p


def test_plan_recommends_sites_that_add_residents_and_never_lower_coverage(plan):
    assert len(plan.sites) > 0
    assert (plan.sites["residents_added"] > 0).all()
    for f in plan.formats:
        assert f.covered == pytest.approx(f.sites["residents_added"].sum())
        assert f.covered <= f.bound + 1e-6 and 0 <= f.gap <= 1
        assert f.share_after >= f.share_before
    obf = plan.outlets_by_format.set_index("format")
    assert (obf["share_after"].fillna(0) >= obf["share_now"].fillna(0) - 1e-12).all()
    for fmt in plan.sites["format"].unique():  # the re-evaluation agrees with the site model
        fs = next(f for f in plan.formats if f.format == fmt)
        assert obf.loc[fmt, "share_after"] == pytest.approx(fs.share_after, abs=1e-9)
    assert set(plan.gaps["format"]) == set(obf.index[obf["is_gap"]])
    ind = plan.indicators.set_index("indicator")
    assert ind.loc["basic_format_coverage", "after"] >= ind.loc["basic_format_coverage", "now"]
    assert plan.grade_now[0] in {"none", "basic", "upgraded", "quality"}
    assert len(plan.scenario.added_outlets) == plan.sites["site_id"].nunique()
    assert plan.synthetic


def test_zero_sites_per_format_changes_nothing(world, plan):
    city, net, prof, ev = world
    p = circle_plan(city, net, prof, ev, plan.circle_id, k_per_format=0)
    assert len(p.sites) == 0 and p.grade_after == p.grade_now
    assert p.evaluation_after is ev


def test_old_communities_sites_come_first(world):
    city, net, prof, ev = world
    old = city.communities[city.communities["kind"] == "old"].iloc[0]
    sites = pd.concat(
        [
            city.candidate_sites,
            pd.DataFrame(
                [
                    {
                        "id": "OLD-1",
                        "name": "老旧小区旁闲置厂房",
                        "kind": "idle_factory",
                        "lon": old["lon"],
                        "lat": old["lat"],
                        "district": old["district"],
                        "floor_area_m2": 500.0,
                        "source": "test",
                    }
                ]
            ),
        ],
        ignore_index=True,
    )
    from lifecircle.city.model import City

    c2 = City(city.name, city.profile, city.synthetic, {**city.tables, "candidate_sites": sites}, city.credits)
    acc = ev.access[(ev.access["community_id"] == old["id"]) & ~ev.access["within_layer"]]
    code = next(c for c in acc["format"] if prof.by_code[c].cls == "basic")
    fs = recommend_format_sites(
        c2, net, prof, code, circle_id=old["circle_id"], k=1, policy=PolicySettings(old_first_min_ratio=0.0)
    )
    assert fs.old_first_used and fs.sites["site_id"].tolist() == ["OLD-1"] and fs.sites["old_first"].all()
    free = recommend_format_sites(c2, net, prof, code, circle_id=old["circle_id"], k=1, old_first=False)
    assert free.covered >= fs.covered


def test_policy_settings_are_data():
    p = load_policy()
    assert p.k_per_format >= 1 and p.method in ("auto", "exact", "heuristic")


def test_html_has_every_part_in_chinese_and_english(world, plan):
    city = world[0]
    html = render_plan_html(plan, city=city)
    for text in (
        "一圈一策",
        plan.circle_name,
        "合成数据 / SYNTHETIC DATA",
        "缺口清单",
        "推荐选址",
        "规划后等级",
        "<svg",
        "@page",
        "Noto Sans CJK SC",
    ):
        assert text in html
    en = render_plan_html(plan, city=city, lang="en")
    assert "Recommended sites" in en and "SYNTHETIC" in en and "缺口清单" not in en


@pytest.mark.skipif(
    shutil.which("chromium") is None or shutil.which("pdftoppm") is None,
    reason="needs Debian chromium and poppler-utils (.ci/apt-packages.txt)",
)
def test_pdf_of_a_demo_circle_renders_with_chinese_text(world, plan, tmp_path):
    from PIL import Image

    paths = write_plan_report(plan, tmp_path, city=world[0])
    pdf = paths["pdf"]
    assert pdf.read_bytes()[:5] == b"%PDF-" and paths["html"].exists()
    assert not list(tmp_path.glob(".*"))  # no temporary file left behind
    subprocess.run(["pdftoppm", "-png", "-r", "60", "-f", "1", "-l", "1", str(pdf), str(tmp_path / "page")], check=True)
    png = next(tmp_path.glob("page*.png"))
    img = np.asarray(Image.open(png).convert("L"), dtype=float)
    assert img.shape[0] > img.shape[1]  # portrait A4
    assert (img < 200).mean() > 0.05 and img.std() > 20  # not blank: text, map and tables
    text = subprocess.run(["pdftotext", "-layout", str(pdf), "-"], check=True, capture_output=True, text=True).stdout
    assert "一圈一策" in text and plan.circle_name in text and "合成数据" in text


def test_plan_cli_commands(cli, plan, tmp_path):
    circle = plan.circle_id
    code, out, err = cli(
        "plan",
        "sites",
        "--format",
        "wet_market",
        "--circle",
        circle,
        "--k",
        "2",
        "--demo",
        "--scale",
        SCALE,
        "--out",
        tmp_path / "s.csv",
    )
    assert code == 0, err
    assert "上界" in out and "差距" in out
    assert (tmp_path / "s.csv").exists()
    code, out, err = cli("plan", "report", circle, "--demo", "--scale", SCALE, "--out", tmp_path / "r", "--no-pdf")
    assert code == 0, err
    assert (tmp_path / "r" / f"{circle}.html").exists()
    assert "精准补建：" in out and "基础型" in out  # the gap-filling sentence to the next grade
    assert "精准补建" in (tmp_path / "r" / f"{circle}.html").read_text(encoding="utf-8")
    code, out, err = cli("plan", "report", "NOPE", "--demo", "--scale", SCALE, "--out", tmp_path / "r")
    assert code == 2 and "NOPE" in err and "Traceback" not in err


def test_plan_report_in_english_has_its_notes_in_english_too(cli, plan, tmp_path):
    """--report-lang en with Chinese terminal messages: the document's notes follow the document."""
    code, _out, err = cli(
        "plan",
        "report",
        plan.circle_id,
        "--demo",
        "--scale",
        SCALE,
        "--out",
        tmp_path / "en",
        "--no-pdf",
        "--k",
        "0",
        "--report-lang",
        "en",
    )
    assert code == 0, err
    html = (tmp_path / "en" / f"{plan.circle_id}.html").read_text(encoding="utf-8")
    assert "zero sites per format" in html
    assert "每业态选址数为 0" not in html


def test_plan_report_all_writes_nothing_when_one_circle_fails(cli, world, tmp_path, monkeypatch):
    """``plan report all``: a user error on a later circle leaves no partial set of documents."""
    from lifecircle.errors import InputError
    from lifecircle.plans import policy

    real = policy.circle_plan
    first = str(world[3].circles["id"].iloc[0])

    def failing(city, net, prof, ev, cid, **kw):
        if str(cid) != first:
            raise InputError("boom")
        return real(city, net, prof, ev, cid, **kw)

    monkeypatch.setattr(policy, "circle_plan", failing)
    code, _out, err = cli("plan", "report", "all", "--demo", "--scale", SCALE, "--out", tmp_path / "all", "--no-pdf")
    assert code == 2 and "boom" in err
    assert not list((tmp_path / "all").glob("*.html")) if (tmp_path / "all").exists() else True


def test_many_gaps_note_in_english_names_the_formats_in_english(world):
    from lifecircle.i18n import use_lang

    city, net, prof, ev = world
    cid = str(ev.gaps["circle_id"].value_counts().index[0])
    with use_lang("en"):
        p = circle_plan(city, net, prof, ev, cid, k_per_format=0, policy=PolicySettings(max_formats=1))
    note = next(n for n in p.notes if n.startswith("many gaps"))
    later = note.split("later: ", 1)[1].split(", ")
    assert later and all(x in {f.en for f in prof.formats} for x in later), note
