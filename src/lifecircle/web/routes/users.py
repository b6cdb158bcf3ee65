"""Accounts (the city administrator): ``/api/users`` and the ``/users`` page with its forms."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Form
from fastapi.responses import HTMLResponse, Response
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from lifecircle.errors import InputError
from lifecircle.i18n import t
from lifecircle.platform import auth, service
from lifecircle.platform.db import ROLES, District, User, transaction
from lifecircle.web.deps import (
    ApiUser,
    Db,
    DbId,
    Factory,
    FormCsrf,
    PageUser,
    Render,
    Renderer,
    SettingsDep,
)
from lifecircle.web.flash import redirect_with_flash
from lifecircle.web.schemas import UserIn
from lifecircle.web.views import user_json

router = APIRouter()


# ------------------------------------------------------------------ API


@router.get("/api/users", tags=["accounts"])
def api_users(user: ApiUser, s: Db) -> list[dict[str, Any]]:
    return [
        user_json(r.user) | {"active": r.user.active, "last_login": r.last_login} for r in service.list_users(s, user)
    ]


@router.post("/api/users", tags=["accounts"], status_code=201)
def api_create_user(body: UserIn, user: ApiUser, s: Db, settings: SettingsDep) -> dict[str, Any]:
    u = auth.create_user(
        s,
        user,
        settings,
        username=body.username,
        password=body.password,
        role=body.role,
        district=body.district,
        circle_id=body.circle_id,
        display_name=body.display_name,
    )
    return user_json(u)


# ------------------------------------------------------------------ the page and its forms


def users_page_response(
    render: Renderer, factory: sessionmaker[Session], user: User, status_code: int = 200, **ctx: Any
) -> HTMLResponse:
    """The accounts page (its own transaction: after a refused change the change's is rolled back)."""
    with transaction(factory) as s:
        rows = service.list_users(s, user)
        dists = list(s.scalars(select(District).order_by(District.seq)))
    ctx.setdefault("errors", {})
    ctx.setdefault("form", {})
    return render(
        "users.html",
        status_code=status_code,
        rows=rows,
        districts=dists,
        roles=ROLES,
        min_password=auth.MIN_PASSWORD,
        names={d.code: t(d.name_zh, d.name_en) for d in dists},
        **ctx,
    )


def user_change(
    render: Renderer,
    factory: sessionmaker[Session],
    user: User,
    change: Callable[[Session], User],
    done: tuple[str, str],
    target: int | None = None,
    form: dict[str, Any] | None = None,
    shown_password: str | None = None,
) -> Response:
    """Run ``change(s)`` in one transaction; a user mistake re-renders the page with the field's error."""
    try:
        with transaction(factory) as s:
            u = change(s)
            name = u.username
    except InputError as exc:
        errors = {p.field or "input": p.message for p in exc.problems}
        return users_page_response(render, factory, user, 422, errors=errors, target=target, form=form or {})
    if shown_password is None:
        return redirect_with_flash(render.request, "/users", done[0], done[1])
    resp = users_page_response(
        render, factory, user, msg=t(done[0], done[1]), shown_user=name, shown_password=shown_password
    )
    resp.headers["Cache-Control"] = "no-store"  # the password is shown once and never cached
    return resp


@router.get("/users", include_in_schema=False, response_class=HTMLResponse)
def users_page(user: PageUser, render: Render, factory: Factory) -> HTMLResponse:
    return users_page_response(render, factory, user)


@router.post("/users", include_in_schema=False)
def users_create(
    user: PageUser,
    csrf: FormCsrf,
    render: Render,
    factory: Factory,
    settings: SettingsDep,
    username: Annotated[str, Form(max_length=64)],
    role: Annotated[str, Form(max_length=32)],
    csrf_token: Annotated[str, Form()],
    district: Annotated[str, Form(max_length=16)] = "",
    circle_id: Annotated[str, Form(max_length=32)] = "",
    display_name: Annotated[str, Form(max_length=128)] = "",
    password: Annotated[str, Form(max_length=256)] = "",
) -> Response:
    csrf.check(csrf_token)
    generated = auth.generate_password() if not password else None
    form = {"username": username, "role": role, "district": district, "circle_id": circle_id}
    form["display_name"] = display_name
    return user_change(
        render,
        factory,
        user,
        lambda s: service.create_account(
            s,
            user,
            settings,
            username=username.strip(),
            password=password or generated or "",
            role=role,
            district=district or None,
            circle_id=circle_id.strip() or None,
            display_name=display_name.strip(),
        ),
        ("账号已创建", "account created"),
        target=None,
        form=form,
        shown_password=generated,
    )


@router.post("/users/{user_id}/active", include_in_schema=False)
def users_active(
    user_id: DbId,
    user: PageUser,
    csrf: FormCsrf,
    render: Render,
    factory: Factory,
    active: Annotated[bool, Form()],
    csrf_token: Annotated[str, Form()],
) -> Response:
    csrf.check(csrf_token)
    return user_change(
        render,
        factory,
        user,
        lambda s: service.set_user_active(s, user, user_id, active),
        ("账号已启用", "account reactivated") if active else ("账号已停用", "account deactivated"),
        target=user_id,
    )


@router.post("/users/{user_id}/password", include_in_schema=False)
def users_password(
    user_id: DbId,
    user: PageUser,
    csrf: FormCsrf,
    render: Render,
    factory: Factory,
    settings: SettingsDep,
    csrf_token: Annotated[str, Form()],
    password: Annotated[str, Form(max_length=256)] = "",
) -> Response:
    csrf.check(csrf_token)
    generated = auth.generate_password() if not password else None
    return user_change(
        render,
        factory,
        user,
        lambda s: service.reset_password(s, user, settings, user_id, password or generated or ""),
        ("密码已重置", "password reset"),
        target=user_id,
        shown_password=generated,
    )


@router.post("/users/{user_id}/role", include_in_schema=False)
def users_role(
    user_id: DbId,
    user: PageUser,
    csrf: FormCsrf,
    render: Render,
    factory: Factory,
    role: Annotated[str, Form(max_length=32)],
    csrf_token: Annotated[str, Form()],
    district: Annotated[str, Form(max_length=16)] = "",
    circle_id: Annotated[str, Form(max_length=32)] = "",
) -> Response:
    csrf.check(csrf_token)
    return user_change(
        render,
        factory,
        user,
        lambda s: service.change_user_role(s, user, user_id, role, district or None, circle_id.strip() or None),
        ("角色已更新", "role updated"),
        target=user_id,
    )
