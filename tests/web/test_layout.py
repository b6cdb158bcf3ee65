"""The web layer's shape (routes per resource, small functions, no permission rules of its own) and
the agreement of what a page offers with what the service allows."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from lifecircle.platform.db import Circle, transaction

from .test_pages import csrf_of, page_login

WEB = Path(__file__).resolve().parents[2] / "src" / "lifecircle" / "web"
XL, WJ = "420502-P1", "420503-P1"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
ROLES = ["admin", "xiling", "wujiagang", "evaluator", "leader"]


def _modules() -> list[Path]:
    return sorted(WEB.rglob("*.py"))


def test_web_modules_and_functions_stay_small():
    for p in _modules():
        src = p.read_text(encoding="utf-8")
        assert len(src.splitlines()) <= 600, p
        for node in ast.walk(ast.parse(src)):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                assert node.end_lineno - node.lineno + 1 <= 120, f"{p}:{node.name}"


def test_create_app_is_short_and_includes_one_router_per_resource():
    from lifecircle.web.routes import ROUTERS

    tree = ast.parse((WEB / "app.py").read_text(encoding="utf-8"))
    fn = next(n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == "create_app")
    assert fn.end_lineno - fn.lineno < 40
    assert not [n for n in ast.walk(fn) if n is not fn and isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)]
    assert len(ROUTERS) >= 8


def test_the_web_layer_compares_no_roles():
    """Role and district rules live in lifecircle.platform.permissions; the web layer only calls them."""
    for p in _modules():
        for node in ast.walk(ast.parse(p.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Compare):
                for side in [node.left, *node.comparators]:
                    assert not (isinstance(side, ast.Attribute) and side.attr in ("role", "district")), (
                        f"{p}:{node.lineno} compares .{side.attr}"
                    )


def _set_status(p, cid: str, status: str) -> None:
    with transaction(p.factory()) as s:
        s.get(Circle, cid).status = status


@pytest.mark.parametrize("user", ROLES)
def test_what_the_circle_page_offers_is_what_the_api_allows(platform, user):
    c, h = platform.client, platform.h(user)
    prog = platform.app.state.prog
    for cid in (XL, WJ):
        r = c.get(f"/api/circles/{cid}", headers=h)
        if r.status_code == 403:
            assert user in ("xiling", "wujiagang")
            continue
        d = r.json()
        got = c.post(
            f"/api/circles/{cid}/funds", json={"kind": "fund", "amount_yuan": 1, "date": "2024-01-01"}, headers=h
        )
        assert got.status_code == (201 if d["can_edit"] else 403), (cid, got.text)
        got = c.post(f"/api/circles/{cid}/scores", json={"score": 50}, headers=h)
        assert got.status_code == (201 if d["can_score"] else 403), (cid, got.text)
        got = c.post(f"/api/circles/{cid}/evidence", files={"file": ("a.png", PNG, "image/png")}, headers=h)
        assert got.status_code == (201 if d["can_upload"] else 403), (cid, got.text)
        start = d["circle"]["status"]
        for to in prog.statuses:
            if (start, to) not in prog.transitions:
                continue
            _set_status(platform, cid, start)
            got = c.post(f"/api/circles/{cid}/status", json={"status": to}, headers=h)
            assert got.status_code == (200 if to in d["allowed_next"] else 403), (cid, start, to, got.text)


def test_a_bad_form_is_422_before_its_csrf_token_is_checked(platform):
    """The form's CSRF token is checked once the form is valid: a form missing a field is a 422."""
    c = platform.client
    _set_status(platform, XL, "planned")
    page_login(c, "xiling")
    assert c.post(f"/circles/{XL}/status", data={"csrf_token": "forged"}).status_code == 422
    assert c.post(f"/circles/{XL}/status", data={"status": "building", "csrf_token": "forged"}).status_code == 403
    token = csrf_of(c.get(f"/circles/{XL}").text)
    assert (
        c.post(
            f"/circles/{XL}/status", data={"status": "building", "csrf_token": token}, follow_redirects=False
        ).status_code
        == 303
    )
