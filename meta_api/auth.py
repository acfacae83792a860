"""Who is calling the API: HTTP Basic, or a token from `POST /api/auth` (in the
`Authorization: Bearer` header, the `AUTH_TOKEN` header, query parameter or cookie)."""

from __future__ import annotations

import base64
import binascii

from flask import Blueprint, Response, current_app, jsonify, request

from stores import ANONYMOUS, GUEST, Actor
from stores.tokens import TokenInvalid, TokenSigner
from stores.users import UserDirectory

from .errors import ApiError
from .models import Credentials, Token
from .spec import endpoint

blueprint = Blueprint("auth", __name__)

READ_METHODS = ("GET", "HEAD")  # what a guest may do, with allow_anonymous_read
PUBLIC_ENDPOINTS = {
    ("POST", "/api/auth"),
    ("DELETE", "/api/auth"),
    ("GET", "/api/openapi.json"),
}
COOKIE = "AUTH_TOKEN"
PUBLIC_PREFIXES = (
    ("GET", "/api/doc/"),  # the API's own documentation pages
    ("GET", "/ui/sign-in"),  # the asset browser's sign-in form and its files
    ("GET", "/ui/static/"),
    ("PUT", "/api/uploads/presigned/"),  # presigned URLs carry their own authority
    ("GET", "/api/downloads/presigned/"),
    ("HEAD", "/api/downloads/presigned/"),
)


class Unauthorized(ApiError):
    def __init__(self, description: str) -> None:
        super().__init__(401, "Authentication required", description)


def users() -> UserDirectory:
    return current_app.config["ASSETDAV_USERS"]


def signer() -> TokenSigner:
    return current_app.config["ASSETDAV_TOKENS"]


def _address() -> str:
    return request.remote_addr or "-"


def _token() -> str | None:
    header = request.headers.get("Authorization", "")
    if header[:7].lower() == "bearer ":
        return header[7:].strip()
    return (
        request.headers.get("AUTH_TOKEN")
        or request.headers.get("Auth-Token")
        or request.args.get("AUTH_TOKEN")
        or request.cookies.get(COOKIE)
    )


def _from_token(token: str) -> Actor:
    try:
        name = signer().verify(token)
    except TokenInvalid as exc:
        raise Unauthorized(
            f"The token is not valid ({exc}); get a new one from POST /api/auth."
        ) from None
    user = users().get(name)
    if user is None:
        raise Unauthorized("The token's user no longer exists.")
    return user.actor()


def _from_basic(header: str) -> Actor:
    try:
        decoded = base64.b64decode(header[6:].strip(), validate=True).decode("utf-8")
        name, password = decoded.split(":", 1)
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise Unauthorized("The Basic credentials are malformed.") from None
    actor = users().authenticate(name, password, _address())
    if actor is None:
        raise Unauthorized("Unknown user or wrong password.")
    return actor


def resolve_actor() -> None:
    """Runs before every API request; the acting user lands in the WSGI environ."""
    if not users().has_users():
        request.environ["assetdav.actor"] = ANONYMOUS
        return
    if (request.method, request.path) in PUBLIC_ENDPOINTS or any(
        request.method == method and request.path.startswith(prefix)
        for method, prefix in PUBLIC_PREFIXES
    ):
        return
    token = _token()
    header = request.headers.get("Authorization", "")
    if token:
        request.environ["assetdav.actor"] = _from_token(token)
    elif header[:6].lower() == "basic ":
        request.environ["assetdav.actor"] = _from_basic(header)
    elif request.method in READ_METHODS and current_app.config.get("ASSETDAV_ANONYMOUS_READ"):
        request.environ["assetdav.actor"] = GUEST  # reads public projects only
    else:
        raise Unauthorized("Send HTTP Basic credentials or a token from POST /api/auth.")


@blueprint.post("/auth")
@endpoint(ok=Token, body=Credentials, errors=(400,), tags=["users"])
def issue_token() -> Response:
    """A signed token for the user, valid for the configured time (token_ttl)."""
    body: Credentials = request.context.json
    if users().authenticate(body.user, body.password, _address()) is None:
        raise Unauthorized("Unknown user or wrong password.")
    token = signer().issue(body.user)
    response = jsonify({"token": token})
    if body.cookie:
        response.set_cookie(
            COOKIE,
            token,
            max_age=signer().ttl_seconds,
            path="/",
            httponly=True,
            samesite="Strict",
            secure=request.is_secure,
        )
    return response


@blueprint.delete("/auth")
@endpoint(ok_status=204, errors=(), tags=["users"])
def forget_token() -> Response:
    """Sign out of the pages: the token cookie is cleared (a token itself stays valid until
    it expires)."""
    response = Response(status=204)
    response.delete_cookie(COOKIE, path="/", httponly=True, samesite="Strict")
    return response
