"""What careful users hit (issue 8 item 8): read-only outputs, axis-aligned streets, invalid circle
polygons, one small shop given six formats, typos in profiles, spreadsheet formulas in names, and
origins files the importer reads but ``access`` did not."""

from __future__ import annotations

from pathlib import Path

import pytest


# ------------------------------------------------------------------ 3. valid circle polygons
def test_plan_circles_writes_only_valid_polygons(cli, tmp_path: Path) -> None:
    import geopandas as gpd
    import shapely

    out = tmp_path / "circles.gpkg"
    code, _, err = cli("plan", "circles", "--demo", "--scale", "0.2", "--out", out)
    assert code == 0, err
    g = gpd.read_file(out, layer="circles")
    assert len(g) == 30
    assert shapely.is_valid(g.geometry.to_numpy()).all()  # 22 of 30 were invalid at this scale
    assert set(g.geom_type) <= {"Polygon", "MultiPolygon"}


def test_valid_polygonal_repairs_a_bowtie_and_drops_lines() -> None:
    import shapely
    from shapely.geometry import LineString, Polygon

    from lifecircle.plans.circles import valid_polygonal

    bowtie = Polygon([(0, 0), (1, 1), (1, 0), (0, 1)])
    assert not bowtie.is_valid
    fixed = valid_polygonal(bowtie)
    assert fixed.is_valid and fixed.geom_type in ("Polygon", "MultiPolygon") and fixed.area == pytest.approx(0.5)
    assert valid_polygonal(LineString([(0, 0), (1, 1)])) is None
    assert valid_polygonal(None) is None
    sq = shapely.box(0, 0, 1, 1)
    assert valid_polygonal(sq) is sq


# ------------------------------------------------------------------ 1. read-only --out
@pytest.fixture
def read_only(tmp_path: Path) -> Path:
    """A folder we may not write in: a chmod 555 folder, or — as root, who ignores permission
    bits — /sys (sysfs refuses new files even to root); skipped where neither works."""
    import os
    import tempfile

    def writable(d: Path) -> bool:
        try:
            fd, p = tempfile.mkstemp(dir=d)
        except OSError:
            return False
        os.close(fd)
        os.unlink(p)
        return True

    d = tmp_path / "只读"
    d.mkdir()
    d.chmod(0o555)
    if not writable(d):
        yield d
        d.chmod(0o755)
        return
    d.chmod(0o755)
    if Path("/sys").is_dir() and not writable(Path("/sys")):
        yield Path("/sys")
        return
    pytest.skip("no read-only location: running as root without a read-only /sys")


def _one_line_error(code: int, err: str, name: str) -> None:
    assert code == 2, err
    assert "Traceback" not in err and "PermissionError" not in err
    assert name in " ".join(err.split())


def test_access_read_only_out_is_one_line(cli, helsinki_pbf, read_only: Path) -> None:
    out = read_only / "lc-acc.csv"
    code, _, err = cli("access", "--osm", helsinki_pbf, "--formats", "pharmacy", "--out", out)
    _one_line_error(code, err, "lc-acc.csv")
    assert not out.exists()


def test_evaluate_read_only_out_is_one_line(cli, read_only: Path, tmp_path: Path) -> None:
    code, _, err = cli("evaluate", "--db", tmp_path / "none.db", "--city", "c", "--out", read_only / "lc-eval")
    _one_line_error(code, err, "lc-eval")  # the output is checked first, before the store


def test_plan_report_read_only_out_is_one_line(cli, read_only: Path) -> None:
    code, _, err = cli(
        "plan", "report", "XL-01", "--demo", "--scale", "0.05", "--out", read_only / "lc-rep" / "sub", "--no-pdf"
    )
    _one_line_error(code, err, "lc-rep")


def test_scenario_create_read_only_dir_is_one_line(cli, read_only: Path) -> None:
    code, _, err = cli("scenario", "create", "s1", "--dir", read_only / "lc-scn", "--add", "wet_market,111.3,30.7")
    _one_line_error(code, err, "lc-scn")


def test_scale_cities_read_only_out_is_one_line(cli, read_only: Path) -> None:
    code, _, err = cli("scale", "cities", "--demo", "1", "--demo-scale", "0.02", "--out", read_only / "lc-cities.csv")
    _one_line_error(code, err, "lc-cities.csv")


def test_atomic_output_that_cannot_create_its_temp_file_is_an_input_error(tmp_path: Path, monkeypatch) -> None:
    import tempfile

    import pandas as pd

    from lifecircle.errors import InputError
    from lifecircle.sources import files

    real = tempfile.mkstemp
    calls = []

    def deny(*a, **k):
        calls.append(1)
        if len(calls) > 1:  # the check passes, the write itself is refused (e.g. a race, a quota)
            raise PermissionError(13, "Permission denied", str(k.get("dir")))
        return real(*a, **k)

    monkeypatch.setattr(files.tempfile, "mkstemp", deny)
    with pytest.raises(InputError, match="t.csv"):
        files.write_table(pd.DataFrame({"a": [1]}), tmp_path / "t.csv")
    assert list(tmp_path.iterdir()) == []


def test_cli_guard_turns_a_permission_error_into_one_line(capsys) -> None:
    import typer

    from lifecircle.cli.app import guarded

    def cmd() -> None:
        raise PermissionError(13, "Permission denied", "/data/out.xlsx")

    with pytest.raises(typer.Exit) as exc:
        guarded(cmd)()
    assert exc.value.exit_code == 2
    assert "/data/out.xlsx" in capsys.readouterr().err


# ------------------------------------------------------------------ 2. axis-aligned streets
def _grid_geojson(path: Path, n: int = 6, step: float = 0.002) -> Path:
    """A small street grid of perfectly horizontal and vertical lines (WGS-84), as GeoJSON."""
    import json

    lon0, lat0 = 114.30, 30.59
    feats = []
    for i in range(n):
        for coords in (
            [[lon0, lat0 + i * step], [lon0 + (n - 1) * step, lat0 + i * step]],
            [[lon0 + i * step, lat0], [lon0 + i * step, lat0 + (n - 1) * step]],
        ):
            feats.append(
                {
                    "type": "Feature",
                    "properties": {"highway": "residential"},
                    "geometry": {"type": "LineString", "coordinates": coords},
                }
            )
    path.write_text(json.dumps({"type": "FeatureCollection", "features": feats}), encoding="utf-8")
    return path


def test_isochrone_on_axis_aligned_streets(cli, tmp_path: Path) -> None:
    import geopandas as gpd

    grid = _grid_geojson(tmp_path / "网格 街道.geojson")
    out = tmp_path / "iso.geojson"
    code, _, err = cli(
        "isochrone", "--streets", grid, "--lon", "114.305", "--lat", "30.595", "--out", out, "--minutes", "2,5"
    )
    assert code == 0, err  # was: GEOSException getX called on empty Point
    g = gpd.read_file(out)
    assert g.is_valid.all() and (g.to_crs(32650).area > 0).all()


def test_metric_crs_of_a_single_horizontal_line() -> None:
    import numpy as np
    from shapely.geometry import LineString

    from lifecircle.sources.network_loader import metric_crs_of

    assert metric_crs_of(np.array([LineString([(114.3, 30.5), (114.4, 30.5)])])).to_epsg() == 32650


# ------------------------------------------------------------------ 4. floor area per format
SIX = ["wet_market", "supermarket", "convenience_store", "pharmacy", "breakfast", "hair_beauty"]


@pytest.fixture(scope="module")
def one_shop_city():
    """The small demo city with every outlet closed and one candidate site, a 370 m² shop at the
    biggest community of the first circle: every format would want it."""
    import dataclasses

    from lifecircle.city.demo import build_demo_city
    from lifecircle.cli.plan_circles import network_for_city
    from lifecircle.profile import load_profile

    city = build_demo_city(2022, 0.05)
    cid = str(city.circles["id"].iloc[0])
    comm = city.communities[city.communities["circle_id"] == cid]
    big = comm.loc[comm["population"].idxmax()]  # the shop is at the biggest community's door
    site = city.candidate_sites.iloc[:1].copy()
    site[["id", "name", "kind", "lon", "lat", "district", "floor_area_m2"]] = [
        "SHOP-370",
        "空置商铺 370",
        "vacant_shop",
        float(big["lon"]),
        float(big["lat"]),
        str(big["district"]),
        370.0,
    ]
    tables = {**city.tables, "candidate_sites": site.reset_index(drop=True), "outlets": city.outlets.iloc[0:0]}
    city = dataclasses.replace(city, tables=tables)
    return city, network_for_city(city), load_profile(city.profile), cid


def _plan(one_shop_city, area: float | None):
    from lifecircle.indicators.evaluate import evaluate_city
    from lifecircle.plans.policy import circle_plan

    city, net, prof, cid = one_shop_city
    if area is None or area != 370.0:
        import dataclasses

        sites = city.candidate_sites.copy()
        sites["floor_area_m2"] = area
        city = dataclasses.replace(city, tables={**city.tables, "candidate_sites": sites})
    ev = evaluate_city(city, net, prof)
    return circle_plan(city, net, prof, ev, cid, formats=SIX, k_per_format=1)


def test_profile_gives_a_typical_floor_area_per_format() -> None:
    from lifecircle.profile import load_profile

    p = load_profile()
    areas = {f.code: f.typical_floor_area_m2 for f in p.formats}
    assert all(a is not None and a > 0 for a in areas.values())
    assert areas["convenience_store"] < areas["supermarket"] < areas["wet_market"]


def test_a_370_m2_shop_gets_only_the_formats_it_can_hold(one_shop_city) -> None:
    from lifecircle.profile import load_profile

    plan = _plan(one_shop_city, 370.0)
    placed = plan.sites.loc[plan.sites["site_id"] == "SHOP-370", "format"].tolist()
    need = {f.code: f.typical_floor_area_m2 for f in load_profile().formats}
    assert placed, "the only site should still be used"
    assert sum(need[c] for c in placed) <= 370.0
    assert "wet_market" not in placed  # 750 m² does not fit in 370 m²
    assert len(placed) < len(SIX)
    added = plan.scenario.added_outlets
    assert len(added) == 1 and sorted(added["formats"].iloc[0].split(";")) == sorted(placed)


def test_a_site_without_floor_area_keeps_every_format_but_says_so(one_shop_city) -> None:
    plan = _plan(one_shop_city, None)
    placed = plan.sites.loc[plan.sites["site_id"] == "SHOP-370", "format"].tolist()
    assert sorted(placed) == sorted(SIX)  # today's behaviour
    assert any("面积未知" in n for n in plan.notes)


# ------------------------------------------------------------------ 5. unknown profile keys
@pytest.mark.parametrize(
    ("text", "key", "near"),
    [
        ('extends = "yichang-2022"\n[walkin]\nspeed_kmh = 4.5\n', "walkin", "walking"),
        ('extends = "yichang-2022"\n[walking]\nspeed_km = 4.5\n', "speed_km", "speed_kmh"),
        ('extends = "yichang-2022"\n[[format]]\ncode = "breakfast"\nlayer_mins = 10\n', "layer_mins", "layer_min"),
        ('extends = "yichang-2022"\n[profile]\ntitle = "x"\n', "title", "title_zh"),
        ('extend = "yichang-2022"\n', "extend", "extends"),
    ],
)
def test_profile_unknown_key_is_refused_naming_the_nearest(tmp_path: Path, text: str, key: str, near: str) -> None:
    from lifecircle.errors import ConfigError
    from lifecircle.profile import load_profile

    p = tmp_path / "我的 配置.toml"
    p.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as exc:
        load_profile(p)
    msg = str(exc.value)
    assert "我的 配置.toml" in msg and f"'{key}'" in msg and f"'{near}'" in msg


def test_profile_unknown_key_exits_2_on_the_cli(cli, helsinki_pbf, tmp_path: Path) -> None:
    p = tmp_path / "p.toml"
    p.write_text('extends = "yichang-2022"\n[walking]\nspeed_km = 5\n', encoding="utf-8")
    out = tmp_path / "i.geojson"
    code, _, err = cli(
        "--lang",
        "en",
        "isochrone",
        "--osm",
        helsinki_pbf,
        "--lon",
        "24.944",
        "--lat",
        "60.17",
        "--out",
        out,
        "--profile",
        p,
    )
    assert code == 2 and "Traceback" not in err and not out.exists()
    assert "did you mean 'speed_kmh'" in " ".join(err.split())


def test_shipped_configs_still_load() -> None:
    from lifecircle.indicators.grades import load_rules
    from lifecircle.plans.circles import load_plan
    from lifecircle.plans.policy import load_policy
    from lifecircle.plans.sites import SiteSettings
    from lifecircle.profile import builtin_profiles, load_profile

    for name in builtin_profiles():
        SiteSettings.from_profile(load_profile(name))
    load_plan()
    load_policy()
    load_rules(None)


def test_other_config_readers_use_the_same_unknown_key_rule(tmp_path: Path) -> None:
    from lifecircle.errors import ConfigError, InputError
    from lifecircle.plans.policy import load_policy

    p = tmp_path / "policy.toml"
    p.write_text("[policy]\nk_per_formats = 2\n", encoding="utf-8")
    with pytest.raises((ConfigError, InputError), match="k_per_format'"):
        load_policy(p)


def test_typical_floor_area_must_be_positive(tmp_path: Path) -> None:
    from lifecircle.errors import ConfigError
    from lifecircle.profile import load_profile

    p = tmp_path / "p.toml"
    p.write_text(
        'extends = "yichang-2022"\n[[format]]\ncode = "breakfast"\ntypical_floor_area_m2 = -5\n', encoding="utf-8"
    )
    with pytest.raises(ConfigError, match="typical_floor_area_m2"):
        load_profile(p)


# ------------------------------------------------------------------ 6. formulas in CSV / Excel
FORMULA = '=HYPERLINK("http://x","点我")'


def test_spreadsheet_safe_prefixes_formula_text_only() -> None:
    from lifecircle.sources.files import spreadsheet_safe

    for bad in (FORMULA, "+1+2", "-2+3", "@SUM(A1)", "\t=1", "\r=1", "-cmd|' /C calc'!A0"):
        assert spreadsheet_safe(bad) == "'" + bad
    for good in ("西陵区", "a=b", "-3", "+1.5", "-2.5e3", -3, -2.5, None, "", "O-12"):
        assert spreadsheet_safe(good) == good


def test_write_table_neutralises_formulas_in_csv_and_xlsx(tmp_path: Path) -> None:
    import openpyxl
    import pandas as pd

    from lifecircle.sources.files import write_table

    df = pd.DataFrame({"name": [FORMULA, "普通", "-3"], "value": [-5.0, 1.0, 2.0]})
    write_table(df, tmp_path / "t.csv")
    back = pd.read_csv(tmp_path / "t.csv", encoding="utf-8-sig", dtype={"name": str})
    assert back["name"].tolist() == ["'" + FORMULA, "普通", "-3"]
    assert back["value"].tolist() == [-5.0, 1.0, 2.0]  # a negative number stays a number
    write_table(df, tmp_path / "t.xlsx")
    ws = openpyxl.load_workbook(tmp_path / "t.xlsx").active
    cells = [c for row in ws.iter_rows() for c in row]
    assert not any(c.data_type == "f" for c in cells)
    assert ws["A2"].value == "'" + FORMULA and ws["B2"].value == -5


def test_formula_names_through_import_evaluate_excel(cli, tmp_path: Path) -> None:
    import openpyxl

    from lifecircle.city.demo import build_demo_city
    from lifecircle.city.store import save_city

    city = build_demo_city(2022, 0.05)
    city.communities.loc[0, "name"] = "@SUM(A1)"
    db = tmp_path / "s.db"
    save_city(city, db)
    outlets = city.outlets.drop(columns="geometry", errors="ignore").head(8).copy()
    outlets.loc[outlets.index[0], "name"] = FORMULA
    outlets.to_csv(tmp_path / "outlets.csv", index=False)
    code, _, err = cli("import", "outlets", tmp_path / "outlets.csv", "--db", db, "--city", city.name, "--crs", "wgs84")
    assert code == 0, err
    code, _, err = cli("evaluate", "--db", db, "--city", city.name, "--out", tmp_path / "ev")
    assert code == 0, err
    wb = openpyxl.load_workbook(tmp_path / "ev" / "evaluation.xlsx")
    cells = [c for ws in wb for row in ws.iter_rows() for c in row]
    assert not any(c.data_type == "f" for c in cells)
    assert "'@SUM(A1)" in {c.value for c in cells}


def test_access_csv_neutralises_formula_origin_ids(cli, helsinki_pbf, tmp_path: Path) -> None:
    import pandas as pd

    origins = tmp_path / "origins.csv"
    origins.write_text('id,lon,lat\n"=HYPERLINK(""http://x"")",24.944,60.17\n-3,24.945,60.171\n', encoding="utf-8")
    out = tmp_path / "acc.csv"
    code, _, err = cli("access", "--osm", helsinki_pbf, "--origins", origins, "--formats", "pharmacy", "--out", out)
    assert code == 0, err
    text = out.read_text(encoding="utf-8-sig")
    assert '"\'=HYPERLINK(""http://x"")"' in text and "\n=" not in text
    df = pd.read_csv(out, encoding="utf-8-sig", dtype={"origin_id": str})
    assert df["origin_id"].tolist() == ['\'=HYPERLINK("http://x")', "-3"]
    assert (df["nearest_m"] > 0).all()


# ------------------------------------------------------------------ 7. origins like import
def test_origins_from_xlsx_with_a_title_row(tmp_path: Path) -> None:
    import openpyxl

    from lifecircle.sources.points import read_points

    p = tmp_path / "起点.xlsx"
    wb = openpyxl.Workbook()
    ws = wb.active
    ws["A1"] = "起点清单（2024）"
    ws.merge_cells("A1:C1")
    ws.append(["编号", "经度", "纬度"])
    ws.append(["a", 24.944, 60.170])
    ws.append(["b", "24.945", "60.171"])
    wb.save(p)
    pts = read_points(p)
    assert pts["id"].tolist() == ["a", "b"]
    assert pts["lon"].tolist() == pytest.approx([24.944, 24.945]) and pts["lat"].tolist() == pytest.approx(
        [60.170, 60.171]
    )


def test_origins_with_an_amap_location_column(tmp_path: Path) -> None:
    from lifecircle.errors import InputError
    from lifecircle.sources.points import read_points

    p = tmp_path / "amap.csv"
    p.write_text('name,location\n小区A,"111.2865,30.6920"\n小区B,"111.2870，30.6925"\n', encoding="utf-8")
    pts = read_points(p)
    assert pts["id"].tolist() == ["小区A", "小区B"]
    assert pts["lon"].tolist() == pytest.approx([111.2865, 111.2870])
    gcj = read_points(p, crs="gcj02")  # converted like the importer does
    assert abs(gcj["lon"].iloc[0] - 111.2865) > 1e-4
    p.write_text('name,location\n小区A,"111.2865"\n', encoding="utf-8")
    with pytest.raises(InputError) as exc:
        read_points(p)
    assert [(q.row, q.field) for q in exc.value.problems] == [(2, "location")]


def test_access_reads_xlsx_origins(cli, helsinki_pbf, tmp_path: Path) -> None:
    import pandas as pd

    p = tmp_path / "o.xlsx"
    pd.DataFrame({"id": ["a", "b"], "lon": [24.944, 24.945], "lat": [60.170, 60.171]}).to_excel(p, index=False)
    out = tmp_path / "acc.csv"
    code, _, err = cli("access", "--osm", helsinki_pbf, "--origins", p, "--formats", "pharmacy", "--out", out)
    assert code == 0, err
    assert sorted(pd.read_csv(out, encoding="utf-8-sig")["origin_id"]) == ["a", "b"]
