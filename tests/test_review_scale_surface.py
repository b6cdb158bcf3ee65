"""What a hurried user of this session's features ran into (review 2): the province file as Excel
saves it, a misspelt column or a bad value named by row and field; a province file or store kept
where the batch writes its report; an --out or --network-dir that is a file; Ctrl-C in the
terminal printing a traceback from every local worker; a user's own folder ``networks`` emptied by
the batch; --against the same scenario as --compare; a misspelt --compare-format leaving a
half-written demo folder; surface and gain/loss outputs of the demo city without 合成数据."""

from __future__ import annotations

import signal

import geopandas as gpd
import pandas as pd
import pyogrio
import pytest
import shapely

from lifecircle.city.demo import build_demo_city
from lifecircle.plans.scenarios import Scenario, make_outlets, save_scenario
from lifecircle.scale.batch import _remove_networks, read_province

HEAD = "label,kind,seed,scale,store,name\n"


def test_province_file_saved_by_chinese_excel_as_gbk_csv_or_as_xlsx(tmp_path):
    text = HEAD + "宜昌,demo,1,0.01,,\n襄阳,demo,2,0.02,,\n"
    (tmp_path / "gbk.csv").write_bytes(text.encode("gbk"))
    pd.read_csv(tmp_path / "gbk.csv", encoding="gbk").to_excel(tmp_path / "p.xlsx", index=False)
    for f in ("gbk.csv", "p.xlsx"):
        got = read_province(tmp_path / f)
        assert [(s.title, s.seed, s.scale) for s in got] == [("宜昌", 1, 0.01), ("襄阳", 2, 0.02)]


@pytest.mark.parametrize(
    ("rows", "words"),
    [
        (HEAD + "宜昌,demo,1,0.01,,\n荆州,demo,x,0.01,,\n", ["row 3", "seed", "'x'"]),
        (HEAD + "宜昌,demo,1,-1,,\n", ["row 2", "scale", "0.01"]),
        ("label,kind,seed,scale,profil\n宜昌,demo,1,0.01,my.toml\n", ["profil", "profile"]),
        (HEAD + "宜昌,dmeo,1,0.01,,\n", ["row 2", "dmeo"]),
    ],
)
def test_a_bad_province_row_is_one_line_naming_row_and_field(cli, tmp_path, rows, words):
    (tmp_path / "p.csv").write_text(rows, encoding="utf-8")
    code, _, stderr = cli("--lang", "en", "scale", "cities", "--province", tmp_path / "p.csv", "--out", tmp_path / "o")
    assert code == 2 and "Traceback" not in stderr and len(stderr.strip().splitlines()) == 1, stderr
    assert all(w in stderr for w in words), stderr
    assert not (tmp_path / "o").exists()


def test_a_province_file_where_the_report_goes_is_not_overwritten(cli, tmp_path):
    out = tmp_path / "province"
    out.mkdir()
    mine = HEAD + "宜昌,demo,1,0.01,,\n"
    (out / "cities.csv").write_text(mine, encoding="utf-8")
    code, _, stderr = cli("scale", "cities", "--province", out / "cities.csv", "--out", out)
    assert code == 2 and "cities.csv" in stderr and "Traceback" not in stderr
    assert (out / "cities.csv").read_text(encoding="utf-8") == mine and sorted(p.name for p in out.iterdir()) == [
        "cities.csv"
    ]


def test_out_or_network_dir_that_is_a_file(cli, tmp_path):
    (tmp_path / "p.csv").write_text(HEAD + "宜昌,demo,1,0.01,,\n", encoding="utf-8")
    (tmp_path / "file").write_text("x", encoding="utf-8")
    code, _, stderr = cli("scale", "cities", "--province", tmp_path / "p.csv", "--out", tmp_path / "file" / "o")
    assert code == 2 and "Traceback" not in stderr and "文件夹" in stderr
    args = ("--province", tmp_path / "p.csv", "--out", tmp_path / "o", "--network-dir", tmp_path / "file")
    code, _, stderr = cli("--lang", "en", "scale", "cities", *args)
    assert code == 2 and "--network-dir" in stderr and "not a folder" in stderr
    assert not (tmp_path / "o").exists()


def test_local_workers_leave_ctrl_c_to_the_command():
    """Ctrl-C reaches every process of the terminal's group: the workers ignore it (no traceback
    from each), the command stops and closes them; its own handler is left as it was."""
    from lifecircle.scale.cluster import close_client, get_client

    before = signal.getsignal(signal.SIGINT)
    client = get_client(n_workers=1, memory_limit="1GiB")
    try:
        got = client.run(lambda: signal.getsignal(signal.SIGINT) == signal.SIG_IGN)
        assert list(got.values()) == [True]
        assert signal.getsignal(signal.SIGINT) is before
    finally:
        close_client(client)


def test_the_batch_removes_only_its_own_networks(tmp_path):
    nets = tmp_path / "networks"
    (nets / "net-abc").mkdir(parents=True)
    (nets / "net-abc" / "edges.parquet").write_text("x", encoding="utf-8")
    (nets / "roads.shp").write_text("the user's", encoding="utf-8")
    _remove_networks(nets)
    assert sorted(p.name for p in nets.iterdir()) == ["roads.shp"]
    (nets / "roads.shp").unlink()
    _remove_networks(nets)
    assert not nets.exists()


@pytest.fixture(scope="module")
def city01():
    return build_demo_city(2022, 0.01)


def _scenario(c, folder, name="加菜场") -> None:
    far = c.communities.iloc[-1]
    add = make_outlets(
        [{"id": "new-1", "name": "新菜场", "formats": "wet_market", "lon": far["lon"], "lat": far["lat"]}]
    )
    save_scenario(Scenario(name, added_outlets=add, city=c.name, city_provenance=c.provenance), folder)


def test_against_the_same_scenario_is_refused(cli, tmp_path, city01):
    _scenario(city01, tmp_path)
    args = ("--compare", "加菜场", "--against", "加菜场", "--dir", tmp_path)
    code, _, stderr = cli("surface", "--demo", "--scale", "0.01", *args, "--out", tmp_path / "g.gpkg")
    assert code == 2 and "--against" in stderr and len(stderr.strip().splitlines()) == 1
    assert not (tmp_path / "g.gpkg").exists()


def test_a_misspelt_compare_format_leaves_no_demo_folder(cli, tmp_path, city01):
    _scenario(city01, tmp_path / "scn")
    args = ("--compare", "加菜场", "--dir", tmp_path / "scn", "--compare-format", "wet_markt")
    code, _, stderr = cli("demo", "--scale", "0.01", "--out", tmp_path / "out", *args)
    assert code == 2 and "wet_markt" in stderr
    assert not (tmp_path / "out").exists()


def test_the_demo_surface_says_synthetic_and_names_its_city(cli, tmp_path):
    code, _, _ = cli(
        "surface",
        "--demo",
        "--scale",
        "0.01",
        "--formats",
        "wet_market",
        "--resolution",
        "8",
        "--out",
        tmp_path / "s.gpkg",
    )
    assert code == 0
    for layer in ("surface", "blind_spots"):
        meta = pyogrio.read_info(tmp_path / "s.gpkg", layer=layer)["layer_metadata"]
        assert meta["synthetic"] == "True" and "scale 0.01" in meta["lifecircle_city"]
        assert (gpd.read_file(tmp_path / "s.gpkg", layer=layer)["synthetic"] == 1).all()


def test_the_gain_page_of_a_synthetic_city_says_so(tmp_path):
    from lifecircle.reports.gain_loss import write_gain_page

    hexagon = shapely.Polygon([(111.30, 30.70), (111.301, 30.70), (111.301, 30.701), (111.30, 30.701)])
    g = gpd.GeoDataFrame({"population": [10.0], "gain_wet_market": [3.0]}, geometry=[hexagon], crs=4326)
    h = pd.DataFrame({"format": ["wet_market"], "from_min": [0.0], "to_min": [5.0], "before": [4.0], "after": [10.0]})
    page = write_gain_page(
        g,
        h,
        "wet_market",
        tmp_path / "g.html",
        before="基准",
        after="加菜场",
        lang="zh",
        city="yichang-demo",
        synthetic=True,
    ).read_text(encoding="utf-8")
    assert "<title>[合成数据]" in page and "合成数据 / SYNTHETIC DATA" in page and "yichang-demo" in page
    plain = write_gain_page(g, h, "wet_market", tmp_path / "r.html", before="a", after="b", lang="zh")
    assert "合成数据" not in plain.read_text(encoding="utf-8")
