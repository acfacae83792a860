"""Users and groups (OVE's `/api/user`, `/api/user/groups`, `/api/user/info`)."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, jsonify, request

from stores.access import require_admin
from stores.errors import NotFound
from stores.users import User

from .auth import users
from .context import actor, registry
from .models import (
    Names,
    NewUser,
    UserChanged,
    UserEdit,
    UserInfo,
    UserName,
    UserQuery,
    UsersAnswer,
)
from .spec import endpoint

blueprint = Blueprint("users", __name__)


def public(user: User) -> dict[str, Any]:
    return {
        "user": user.name,
        "read_groups": list(user.read_groups),
        "write_groups": list(user.write_groups),
        "admin_access": user.admin,
    }


def _admin_only() -> None:
    require_admin(registry().policy, actor(), "manage users")


def _known(name: str) -> User:
    user = users().get(name)
    if user is None:
        raise NotFound(f"There is no user {name!r}.")
    return user


@blueprint.get("/user")
@endpoint(ok=UsersAnswer, query=UserQuery, tags=["users"])
def list_users() -> Response:
    """All users, or one with `?user=` (administrators only)."""
    _admin_only()
    query: UserQuery = request.context.query
    if query.user:
        return jsonify(public(_known(query.user)))
    return jsonify([public(u) for u in users().all()])


@blueprint.post("/user")
@endpoint(ok=UserChanged, body=NewUser, errors=(400, 409), tags=["users"])
def create_user() -> Response:
    _admin_only()
    body: NewUser = request.context.json
    user = users().add(
        body.user,
        body.password,
        read_groups=body.read_groups,
        write_groups=body.write_groups,
        admin=body.admin_access,
    )
    return jsonify({"result": "OK", "user": public(user)})


@blueprint.patch("/user")
@endpoint(ok=UserChanged, body=UserEdit, errors=(400,), tags=["users"])
def update_user() -> Response:
    """Change a user's password, groups or admin flag (given fields only, falsy included)."""
    _admin_only()
    body: UserEdit = request.context.json
    _known(body.user)
    user = users().update(
        body.user,
        password=body.password,
        read_groups=body.read_groups,
        write_groups=body.write_groups,
        admin=body.admin_access,
    )
    return jsonify({"result": "OK", "user": public(user)})


@blueprint.delete("/user")
@endpoint(ok=UserChanged, body=UserName, errors=(400,), tags=["users"])
def delete_user() -> Response:
    _admin_only()
    body: UserName = request.context.json
    _known(body.user)
    users().remove(body.user)
    return jsonify({"result": "OK"})


@blueprint.get("/user/groups")
@endpoint(ok=Names, errors=(), tags=["users"])
def all_groups() -> Response:
    """Every group any user has."""
    return jsonify(users().all_groups())


@blueprint.get("/user/info")
@endpoint(ok=UserInfo, errors=(), tags=["users"])
def user_info() -> Response:
    """Who the caller is."""
    me = actor()
    return jsonify(
        {
            "user": me.name,
            "read_groups": sorted(me.read_groups),
            "write_groups": sorted(me.write_groups),
            "admin_access": me.admin,
        }
    )
