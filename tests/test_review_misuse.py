"""Review of the "real city from its own files" path as a hurried user would take it: imports in
the wrong order, files from Chinese desktop GIS, commands run on a half-filled city."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "mini-city"


@pytest.fixture
def files(tmp_path: Path) -> Path:
    d = tmp_path / "files"
    shutil.copytree(EXAMPLE, d)
    return d


def test_communities_before_districts_get_the_district_codes_when_districts_arrive(cli, files: Path, tmp_path: Path) -> None:
    from lifecircle.city.store import load_table

    db = tmp_path / "city.db"
    assert cli("import", "communities", files / "communities.xlsx", "--db", db, "--city", "mini")[0] == 0
    assert cli("import", "circles", files / "circles.csv", "--db", db, "--city", "mini")[0] == 0
    assert set(load_table(db, "mini", "communities")["district"]) == {"西陵区"}  # no districts yet: kept as given
    code, out, _ = cli("import", "districts", files / "districts.geojson", "--db", db, "--city", "mini", "--dry-run")
    assert code == 0 and "区划代码" not in out
    assert set(load_table(db, "mini", "communities")["district"]) == {"西陵区"}  # a dry run changes nothing
    code, out, err = cli("import", "districts", files / "districts.geojson", "--db", db, "--city", "mini")
    assert code == 0, out + err
    assert "communities 4 行" in out and "circles 2 行" in out
    assert set(load_table(db, "mini", "communities")["district"]) == {"420502"}
    assert set(load_table(db, "mini", "circles")["district"]) == {"420502"}
