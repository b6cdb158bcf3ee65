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


def test_origin_csv_row_numbers_count_blank_lines(tmp_path: Path) -> None:
    from lifecircle.sources.points import read_points

    p = tmp_path / "起点 文件.csv"
    p.write_text("id,lon,lat\na,24.94,60.17\n\nb,24.94,abc\n", encoding="utf-8")
    with pytest.raises(InputError) as exc:
        read_points(p)
    (prob,) = exc.value.problems
    assert (prob.row, prob.field) == (4, "lat")  # line 4 of the file, not 3
    p.write_text("id,lon,lat\na,24.94,60.17\n\n\nb,24.95,60.18\n", encoding="utf-8")
    pts = read_points(p)
    assert pts["id"].tolist() == ["a", "b"] and pts["row"].tolist() == [2, 5]


@pytest.mark.parametrize("minutes", ["nan", "5,inf", "-5", "0"])
def test_isochrone_minutes_not_finite_positive_exit_2_no_output(cli, helsinki_pbf, tmp_path: Path, minutes: str) -> None:
    out = tmp_path / "iso.geojson"
    code, _, err = cli("isochrone", "--osm", helsinki_pbf, "--lon", "24.944", "--lat", "60.17", "--out", out,
                       "--minutes", minutes)
    assert code == 2 and "Traceback" not in err
    assert not out.exists()


def test_isochrone_repeated_minutes_give_one_polygon_each(cli, helsinki_pbf, tmp_path: Path) -> None:
    import geopandas as gpd

    out = tmp_path / "iso.geojson"
    code, _, _ = cli("isochrone", "--osm", helsinki_pbf, "--lon", "24.944", "--lat", "60.17", "--out", out,
                     "--minutes", "5,5,10")
    assert code == 0
    assert sorted(gpd.read_file(out)["minutes"]) == [5.0, 10.0]


@pytest.mark.parametrize("walking", [
    "speed_kmh = 67",          # metres per minute written as km/h
    "speed_kmh = nan",
    "elderly_speed_kmh = 0",
    "snap_max_m = -1",         # crashed the snapper with a traceback
    "isochrone_buffer_m = -40",
    "layers_min = [5, 0, 15]",
    "layers_min = []",
])
def test_profile_walking_values_out_of_range_are_config_errors(tmp_path: Path, walking: str) -> None:
    from lifecircle.errors import ConfigError
    from lifecircle.profile import load_profile

    p = tmp_path / "我的 配置.toml"
    p.write_text(f'extends = "yichang-2022"\n[walking]\n{walking}\n', encoding="utf-8")
    with pytest.raises(ConfigError, match="walking"):
        load_profile(p)


def test_profile_format_layer_nan_is_a_config_error(tmp_path: Path) -> None:
    from lifecircle.errors import ConfigError
    from lifecircle.profile import load_profile

    p = tmp_path / "p.toml"
    p.write_text('extends = "yichang-2022"\n[[format]]\ncode = "breakfast"\nlayer_min = nan\n', encoding="utf-8")
    with pytest.raises(ConfigError, match="breakfast"):
        load_profile(p)


def test_profile_snap_negative_exits_2_on_the_cli(cli, helsinki_pbf, tmp_path: Path) -> None:
    p = tmp_path / "p.toml"
    p.write_text('extends = "yichang-2022"\n[walking]\nsnap_max_m = -1\n', encoding="utf-8")
    out = tmp_path / "i.geojson"
    code, _, err = cli("isochrone", "--osm", helsinki_pbf, "--lon", "24.944", "--lat", "60.17", "--out", out,
                       "--profile", p)
    assert code == 2 and "snap_max_m" in err and not out.exists()
