"""The surface and fairness figures in the reports: the dashboard's map layer (rendered in headless
chromium: coloured hexagons in the map area), its fairness table, the workbook's sheets and the
一圈一策 document's table; the 情景对比 section and sheet of a scenario (synthetic: a wet market
added at the demo city's last community) against the base."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess

import numpy as np
import pytest

from lifecircle.city.demo import build_demo_city
from lifecircle.indicators.evaluate import evaluate_city
from lifecircle.indicators.fairness import fairness_table
from lifecircle.indicators.surface import build_surface
from lifecircle.indicators.surface_compare import Comparison
from lifecircle.plans.policy import circle_plan
from lifecircle.plans.scenarios import Scenario, apply_scenario, make_outlets
from lifecircle.profile import load_profile
from lifecircle.reports.dashboard import render_dashboard, write_dashboard
from lifecircle.reports.excel import build_workbook
from lifecircle.reports.gain_loss import GAIN_CLASSES
from lifecircle.reports.plan_report import render_plan_html
from lifecircle.reports.surface_report import MINUTE_CLASSES, UNREACHABLE
from lifecircle.sources.network_loader import network_from_city

RAMP = {c for _, c in MINUTE_CLASSES} | {UNREACHABLE}


@pytest.fixture(scope="module")
def world():
    city = build_demo_city(2022, 0.05)
    net = network_from_city(city)
    prof = load_profile(city.profile)
    return city, net, prof, evaluate_city(city, net, prof), build_surface(city, net, prof)


GAINS = {c for u, c in GAIN_CLASSES if u > 0.05}
LOSSES = {c for u, c in GAIN_CLASSES if u < 0}


@pytest.fixture(scope="module")
def comparison(world):
    """The base against a synthetic scenario that adds one wet market at the last community."""
    city, net, prof, _, s = world
    far = city.communities.iloc[-1]
    add = make_outlets(
        [{"id": "new-1", "name": "新菜场", "formats": "wet_market", "lon": far["lon"], "lat": far["lat"]}]
    )
    c2, n2 = apply_scenario(city, net, Scenario("加菜场", added_outlets=add), profile=prof)
    return Comparison(s, build_surface(c2, n2, prof), "基准", "加菜场")


def _map(html: str) -> str:
    return html[html.index('<svg id="map"') : html.index("</svg>", html.index('<svg id="map"'))]


def _surface_data(html: str) -> dict:
    start = html.index('<script type="application/json" id="surface-data">')
    return json.loads(html[html.index(">", start) + 1 : html.index("</script>", start)])


def test_dashboard_map_has_one_coloured_hexagon_per_cell_and_blind_spots_outlined(world):
    city, _, _, ev, s = world
    html = render_dashboard(ev, city=city, surface=s, surface_format="wet_market")
    m = _map(html)
    fills = re.findall(r'<polygon class="hex" points="[^"]+" fill="(#[0-9a-f]{6})"', m)
    assert len(fills) == len(s.cells) and set(fills) <= RAMP and len(set(fills)) > 1
    assert len(re.findall(r'<polygon class="blind"', m)) == int(s.blind()[:, s.column("wet_market")].sum())
    assert 'id="fairness"' in html and "F15" in html
    # the page's menu and speed switch: every format's classes at both speeds, one character a cell
    data = _surface_data(html)
    assert [f["code"] for f in data["formats"]] == s.codes and data["default"] == "wet_market"
    assert all(len(f[sp]) == len(s.cells) for f in data["formats"] for sp in "ne")
    wm = next(f for f in data["formats"] if f["code"] == "wet_market")
    assert [data["colours"][ord(c) - (65 if c >= "A" else 48)] for c in wm["n"]] == fills
    assert sum(c >= "A" for c in wm["n"]) == int(s.blind()[:, s.column("wet_market")].sum())
    assert sum(c >= "A" for c in wm["e"]) == int(s.blind(elderly=True)[:, s.column("wet_market")].sum())
    menu = html[html.index('<select id="surface-format">') : html.index("</select>")]
    assert re.findall(r'<option value="([^"]+)"', menu) == s.codes and "菜市场" in menu
    assert html.count('name="surface-speed"') == 2
    # without a surface (or a comparison) the dashboard is as before
    plain = render_dashboard(ev, city=city)
    assert 'class="hex"' not in plain and 'id="fairness"' not in plain and 'id="compare"' not in plain


def test_workbook_sheets_and_plan_document_table(world):
    city, net, prof, ev, s = world
    wb = build_workbook(ev, city=city, surface=s)
    assert wb.sheetnames[-3:] == ["可达公平性", "盲区", "说明"]
    rows = list(wb["可达公平性"].iter_rows(min_row=3, values_only=True))
    city_fair = fairness_table(s, prof)
    assert len(rows) >= len(city_fair)
    wm = next(r for r in rows if r[0] == "全市" and r[2] == "wet_market" and r[4] == "全体居民")
    want = city_fair[(city_fair["format"] == "wet_market") & (city_fair["group"] == "all")].iloc[0]
    assert wm[7] == pytest.approx(want["f15"]) and wm[9] == pytest.approx(want["gini"])
    assert "可达公平性" not in build_workbook(ev, city=city).sheetnames
    cid = str(ev.circles["id"].iloc[0])
    html = render_plan_html(circle_plan(city, net, prof, ev, cid), city=city, surface=s)
    assert 'id="fairness"' in html and "基尼系数" in html


def test_dashboard_surface_in_headless_chromium(world, tmp_path):
    from PIL import Image

    exe = shutil.which("chromium") or shutil.which("chromium-browser")
    if exe is None:
        pytest.fail("chromium is not installed: run .ci/install-system-packages (Debian package 'chromium')")
    city, _, _, ev, s = world
    page = write_dashboard(ev, tmp_path / "d.html", city=city, surface=s)
    args = [exe, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking"]
    env = {**os.environ, "HOME": str(tmp_path)}
    dom = subprocess.run(
        [*args, f"--user-data-dir={tmp_path / 'p1'}", "--dump-dom", page.as_uri()],
        capture_output=True,
        text=True,
        timeout=180,
        env=env,
    ).stdout
    fills = re.findall(r'<polygon class="hex" points="[^"]+" fill="(#[0-9a-f]{6})"', _map(dom))
    assert len(fills) == len(s.cells) and len(set(fills)) > 1
    plain = write_dashboard(ev, tmp_path / "plain.html", city=city)

    def ramp_pixels(html_path, name: str) -> int:
        png = tmp_path / f"{name}.png"
        subprocess.run(
            [*args, f"--user-data-dir={tmp_path / name}", f"--screenshot={png}", "--window-size=1400,2000"]
            + [html_path.as_uri()],
            capture_output=True,
            timeout=180,
            env=env,
        )
        region = np.asarray(Image.open(png).convert("RGB").crop((80, 700, 1080, 1650))).reshape(-1, 3).astype(int)
        near = np.zeros(len(region), bool)
        for colour in set(fills):  # the hexagons' colours (80% opaque over the map)
            rgb = np.array([int(colour[i : i + 2], 16) for i in (1, 3, 5)])
            near |= np.abs(region - rgb).sum(axis=1) < 90
        return int(near.sum())

    with_surface, without = ramp_pixels(page, "surface"), ramp_pixels(plain, "plain")
    assert with_surface > 2 * without + 5000, (with_surface, without)


def test_dashboard_comparison_section_and_sheet(world, comparison):
    city, _, _, ev, s = world
    html = render_dashboard(ev, city=city, comparison=comparison)
    sec = html[html.index('<section id="compare">') : html.index("</section>", html.index('<section id="compare">'))]
    assert "情景对比：基准 → 加菜场" in sec and "菜市场" in sec  # the format with most residents gaining
    fills = re.findall(r'<polygon class="gain" points="[^"]+" fill="(#[0-9a-f]{6})"', sec)
    assert len(fills) == len(s.cells) and GAINS & set(fills) and not LOSSES & set(fills)
    assert 'id="gain-histogram"' in sec and 'id="gain-histogram-all"' in sec and "节省 5 分钟以上" in sec
    g = comparison.gain_loss()
    gaining = g.loc[g["gain_wet_market"] > 0.05, "population"].sum()
    rows = {
        r[0]: r for r in build_workbook(ev, city=city, comparison=comparison)["情景对比"].iter_rows(values_only=True)
    }
    wm = rows["wet_market"]
    assert wm[2] == round(gaining) > 0 and wm[3] == 0 and wm[4] > 0 and wm[6] >= wm[5]
    assert rows["pharmacy"][2:4] == (0, 0) and rows["pharmacy"][5] == rows["pharmacy"][6]


def test_dashboard_comparison_in_chromium_desktop_and_phone(world, comparison, tmp_path):
    """The gain/loss map shows gain colours (and no loss colour) in its area, the histogram bars
    have a size, and the section fits the screen: at 1400 px and on a 390 px phone."""
    from PIL import Image
    from playwright.sync_api import sync_playwright

    from web.browser import ARGS, CHROMIUM, require_chromium

    require_chromium()
    city, _, _, ev, _ = world
    page_path = write_dashboard(ev, tmp_path / "d.html", city=city, comparison=comparison)

    def near(png, colours) -> int:
        px = np.asarray(Image.open(png).convert("RGB")).reshape(-1, 3).astype(int)
        hit = np.zeros(len(px), bool)
        for c in colours:
            hit |= np.abs(px - [int(c[i : i + 2], 16) for i in (1, 3, 5)]).sum(axis=1) < 30
        return int(hit.sum())

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        page = browser.new_page(viewport={"width": 1400, "height": 900})
        page.goto(page_path.as_uri())
        page.add_style_tag(content=".synthetic-banner { position: static; }")  # not over the element shots
        for width, height in ((1400, 900), (390, 844)):
            page.set_viewport_size({"width": width, "height": height})
            shots = {}
            for sel in ("#gain-map", "#gain-histogram"):
                box = page.locator(sel).bounding_box()
                assert box and box["width"] > 200 and box["x"] + box["width"] <= width, (width, sel, box)
                shots[sel] = tmp_path / f"{sel[1:]}-{width}.png"
                page.locator(sel).screenshot(path=str(shots[sel]))
            assert near(shots["#gain-map"], GAINS) > 100 and near(shots["#gain-map"], LOSSES) == 0, width
            assert near(shots["#gain-histogram"], ["#2166ac"]) > 100, width  # the 'after' bars
            bars = page.eval_on_selector_all(
                "#gain-histogram rect.bar", "els => els.filter(e => e.getBoundingClientRect().height > 0).length"
            )
            assert bars > 4, width
            assert page.evaluate("document.documentElement.scrollWidth") <= width
        browser.close()


def test_dashboard_surface_format_and_speed_switch_in_chromium(world, tmp_path):
    """Choosing another format, then the older residents' speed, recolours the map's hexagons
    (other counts of ramp-coloured pixels) and the legend's caption; at 1400 px and on a 390 px
    phone, without sideways scroll."""
    from PIL import Image
    from playwright.sync_api import sync_playwright

    from web.browser import ARGS, CHROMIUM, require_chromium

    require_chromium()
    city, _, _, ev, s = world
    page_path = write_dashboard(ev, tmp_path / "d.html", city=city, surface=s)
    data = _surface_data(page_path.read_text(encoding="utf-8"))

    def hist(codes: str) -> np.ndarray:
        return np.bincount([ord(c) - (65 if c >= "A" else 48) for c in codes], minlength=7)

    default = next(f for f in data["formats"] if f["code"] == data["default"])
    other = max(data["formats"], key=lambda f: np.abs(hist(f["n"]) - hist(default["n"])).sum())
    assert other["n"] != other["e"]
    ramp = [np.array([int(c[i : i + 2], 16) for i in (1, 3, 5)]) for c in data["colours"]]

    def ramp_pixels(page, png) -> np.ndarray:
        page.locator("#map").screenshot(path=str(png))
        px = np.asarray(Image.open(png).convert("RGB")).reshape(-1, 3).astype(int)
        return np.array([int((np.abs(px - rgb).sum(axis=1) < 60).sum()) for rgb in ramp])

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        page = browser.new_page(viewport={"width": 1400, "height": 900})
        page.goto(page_path.as_uri())
        page.add_style_tag(content=".synthetic-banner { position: static; }")  # not over the element shots
        for width, height in ((1400, 900), (390, 844)):
            page.set_viewport_size({"width": width, "height": height})
            page.select_option("#surface-format", data["default"])
            page.check("input[name=surface-speed][value=n]")
            before = ramp_pixels(page, tmp_path / f"default-{width}.png")
            page.select_option("#surface-format", other["code"])
            after = ramp_pixels(page, tmp_path / f"other-{width}.png")
            assert np.abs(after - before).sum() > 500, (width, before, after)
            assert page.get_attribute("#surface", "data-format") == other["code"]
            assert page.text_content("#surface-caption") == other["name"]
            page.check("input[name=surface-speed][value=e]")
            older = ramp_pixels(page, tmp_path / f"older-{width}.png")
            assert np.abs(older - after).sum() > 50, (width, after, older)
            assert page.text_content("#surface-caption") == other["name"] + "（老年人步速）"
            blind = page.eval_on_selector_all("#blind-spots polygon", "els => els.length")
            assert blind == sum(c >= "A" for c in other["e"])
            box = page.locator("#surface-controls").bounding_box()
            assert box and box["height"] > 0 and box["x"] + box["width"] <= width, (width, box)
            assert page.evaluate("document.documentElement.scrollWidth") <= width
        browser.close()
