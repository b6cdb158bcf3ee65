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
