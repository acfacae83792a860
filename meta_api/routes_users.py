"""Users and groups (OVE's `/api/user`, `/api/user/groups`, `/api/user/info`)."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, jsonify, request

from stores.access import require_admin
from stores.users import User

from .auth import users
from .context import actor, registry
from .errors import ApiError
from .requests import json_object

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


def _name(body: dict[str, Any]) -> str:
    name = body.get("user")
    if not isinstance(name, str) or not name:
        raise ApiError(400, "Missing user", "The user parameter is required.")
    return name


def _groups(body: dict[str, Any], key: str) -> list[str] | None:
    value = body.get(key)
    if value is None:
        return None
    if not isinstance(value, list) or not all(isinstance(g, str) for g in value):
        raise ApiError(400, "Invalid data", f"{key} must be a list of strings.")
    return value


def _admin_flag(body: dict[str, Any]) -> bool | None:
    value = body.get("admin_access")
    if value is not None and not isinstance(value, bool):
        raise ApiError(400, "Invalid data", "admin_access must be true or false.")
    return value


def _known(name: str) -> User:
    user = users().get(name)
    if user is None:
        raise ApiError(400, "Invalid user", f"There is no user {name!r}.")
    return user


@blueprint.get("/user")
def list_users() -> Response:
    _admin_only()
    name = request.args.get("user")
    if name:
        return jsonify(public(_known(name)))
    return jsonify([public(u) for u in users().all()])


@blueprint.post("/user")
def create_user() -> Response:
    _admin_only()
    body = json_object()
    name = _name(body)
    password = body.get("password")
    if not isinstance(password, str) or not password:
        raise ApiError(400, "Missing password", "The password parameter is required.")
    user = users().add(
        name,
        password,
        read_groups=_groups(body, "read_groups") or [],
        write_groups=_groups(body, "write_groups") or [],
        admin=bool(_admin_flag(body)),
    )
    return jsonify({"result": "OK", "user": public(user)})


@blueprint.patch("/user")
def update_user() -> Response:
    _admin_only()
    body = json_object()
    name = _name(body)
    _known(name)
    password = body.get("password")
    if password is not None and (not isinstance(password, str) or not password):
        raise ApiError(400, "Invalid data", "password must be a non-empty string.")
    user = users().update(
        name,
        password=password,
        read_groups=_groups(body, "read_groups"),
        write_groups=_groups(body, "write_groups"),
        admin=_admin_flag(body),
    )
    return jsonify({"result": "OK", "user": public(user)})


@blueprint.delete("/user")
def delete_user() -> Response:
    _admin_only()
    body = json_object()
    name = _name(body)
    _known(name)
    users().remove(name)
    return jsonify({"result": "OK"})


@blueprint.get("/user/groups")
def all_groups() -> Response:
    return jsonify(users().all_groups())


@blueprint.get("/user/info")
def user_info() -> Response:
    me = actor()
    return jsonify(
        {
            "user": me.name,
            "read_groups": sorted(me.read_groups),
            "write_groups": sorted(me.write_groups),
            "admin_access": me.admin,
        }
    )
