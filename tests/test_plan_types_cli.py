"""`lifecircle plan types`: one workbook with a sheet per community type, synthetic rows labelled."""

from __future__ import annotations

import openpyxl


def test_plan_types_writes_workbook(cli, tmp_path):
    out = tmp_path / "types.xlsx"
    code, stdout, stderr = cli("plan", "types", "--demo", "--scale", "0.05", "--out", out)
    assert code == 0, stdout + stderr
    wb = openpyxl.load_workbook(out, read_only=True)
    assert wb.sheetnames == ["概况", "老旧小区", "老旧小区候选场地", "新建小区", "完整小区业态", "产业园区"]
    rows = list(wb["概况"].iter_rows(values_only=True))
    header, body = rows[0], rows[1:]
    assert "数据" in header and all(r[header.index("数据")] == "合成数据" for r in body)
    kinds = {r[header.index("kind")] for r in body}
    assert kinds == {"old", "new", "complete", "industrial"}
    assert "新建小区" in stdout and "10%" in stdout


def test_plan_types_rejects_wrong_output(cli, tmp_path):
    code, stdout, stderr = cli("plan", "types", "--demo", "--out", tmp_path / "types.pdf")
    assert code == 2 and ".xlsx" in stdout + stderr
