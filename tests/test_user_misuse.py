"""Bug-hunt regressions: user mistakes on the command line give one line, exit 2, no traceback
and no partial output (access / isochrone / import / profiles)."""

from __future__ import annotations

from pathlib import Path

import pytest

from lifecircle.errors import InputError
from lifecircle.sources.files import check_output_path


def test_output_path_that_is_an_existing_folder_is_refused_before_any_work(tmp_path: Path) -> None:
    folder = tmp_path / "result.csv"
    folder.mkdir()
    with pytest.raises(InputError, match="result.csv"):
        check_output_path(folder, (".csv",))


def test_output_path_under_a_file_is_refused(tmp_path: Path) -> None:
    f = tmp_path / "a.csv"
    f.write_text("x")
    with pytest.raises(InputError, match="a.csv"):
        check_output_path(f / "b.csv", (".csv",))


def test_isochrone_out_is_existing_folder_exits_2(cli, helsinki_pbf, tmp_path: Path) -> None:
    d = tmp_path / "iso.geojson"
    d.mkdir()
    code, _, err = cli("isochrone", "--osm", helsinki_pbf, "--lon", "24.944", "--lat", "60.17", "--out", d)
    assert code == 2
    assert "Traceback" not in err and "iso.geojson" in err
    assert list(tmp_path.iterdir()) == [d] and not list(d.iterdir())
