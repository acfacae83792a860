"""One place that validates requests with the pydantic models and documents every route:
spectree reads the same models for checking and for /api/openapi.json."""

from __future__ import annotations

import copy
import functools
import json
import re
from collections.abc import Callable, Iterable
from types import SimpleNamespace
from typing import Any

from flask import Blueprint, Flask, Response, current_app, jsonify, render_template, request
from spectree import Response as Responses
from spectree import SpecTree

from .models import Error
from .requests import parse_body, parse_query, treat_body_as_json

REASONS = {
    400: "Bad request, or a store, project, asset or object that does not exist",
    401: "Missing or bad credentials",
    403: "Authenticated, but not allowed",
    404: "Does not exist",
    409: "Already exists, or conflicts with the current state",
    413: "Too large",
    415: "Content type not allowed",
    507: "The disk is full",
}

NOT_API = ("/ui/", "/ui", "/api/doc/")  # paths of pages for people, left out of the spec
# Routes that take a raw body (documented by hand; spectree knows JSON bodies only).
RAW_BODIES: dict[tuple[str, str], str] = {}
# Routes that answer with raw bytes: spectree would read the whole answer to check it, so
# they are not validated, only documented.
BY_HAND: dict[str, dict[str, Any]] = {}


def documented_by_hand(
    path: str,
    method: str,
    tag: str,
    summary: str,
    answers: dict[str, str],
    query: dict[str, dict[str, Any]] | None = None,
    media_type: str = "application/octet-stream",
) -> Callable[[Callable[..., Any]], Any]:
    """Document a route that answers raw bytes (or, with `media_type` application/json, a
    JSON object); `query`: its query parameters' schemas. Errors are JSON."""
    success = (
        {"type": "object"}
        if media_type == "application/json"
        else {"type": "string", "format": "binary"}
    )

    def remember(func: Callable[..., Any]) -> Callable[..., Any]:
        params = [
            {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
            for name in re.findall(r"\{(\w+)\}", path)  # `{base}.webp` too
        ] + [
            {"name": name, "in": "query", "required": False, "schema": schema}
            for name, schema in (query or {}).items()
        ]
        BY_HAND.setdefault(path, {})[method] = {
            "summary": summary,
            "tags": [tag],
            "parameters": params,
            "security": [{}],
            "responses": {
                status: {"description": text}  # a HEAD answer has no body to describe
                if method == "head"
                else {
                    "description": text,
                    "content": {
                        media_type if status.startswith("2") else "application/json": {
                            "schema": success
                            if status.startswith("2")
                            else {"$ref": "#/components/schemas/ErrorByHand"}
                        }
                    },
                }
                for status, text in answers.items()
            },
        }
        return func

    return remember


def _rewrite_validation_error(
    req: Any, resp: Any, error: Any, instance: Any, adapter: Any = None
) -> None:
    """spectree answers a failed validation with pydantic's error list; ours is
    `{"title", "description"}` like every other error."""
    if error is None or resp is None:
        return
    problems = []
    for item in error.errors():
        where = ".".join(str(part) for part in item.get("loc", ()) if part != "__root__")
        problems.append(f"{where}: {item.get('msg')}" if where else str(item.get("msg")))
    resp.set_data(json.dumps({"title": "Invalid request", "description": "; ".join(problems)}))
    resp.status_code = 400
    resp.mimetype = "application/json"


spec = SpecTree(
    "flask",
    title="assetdav API",
    version="1",
    description="The OVE Asset Manager API over assetdav stores, with users, tags and search.",
    path="api/doc",
    validation_error_status=400,
    validation_error_model=Error,
    before=_rewrite_validation_error,
)


def endpoint(
    *,
    ok: type | None = None,
    ok_status: int = 200,
    query: type | None = None,
    body: type | None = None,
    errors: Iterable[int] = (400,),
    tags: Iterable[str] = (),
    raw_body: str | None = None,
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Validate a route's query and JSON body and document its answers (401 and 403 are
    possible on every route once users are configured)."""
    statuses = sorted(set(errors) | {401, 403})
    answers: dict[str, Any] = {f"HTTP_{status}": Error for status in statuses}
    if ok is None:
        answers[f"HTTP_{ok_status}"] = None
    else:
        answers[f"HTTP_{ok_status}"] = ok
    decorate = spec.validate(query=query, json=body, resp=Responses(**answers), tags=list(tags))

    def wrap(func: Callable[..., Any]) -> Callable[..., Any]:
        if raw_body is not None:
            RAW_BODIES[(func.__module__, func.__name__)] = raw_body
        validated = decorate(func)

        @functools.wraps(validated)
        def checked(*args: Any, **kwargs: Any) -> Any:
            if request.method == "HEAD":
                return func(*args, **kwargs)  # existence checks answer with a bare status
            if body is not None:
                treat_body_as_json()
                # spectree validates no DELETE body, and takes a falsy body ([], 0, "") for {}
                if request.method == "DELETE" or not request.get_json():
                    request.context = SimpleNamespace(
                        json=parse_body(body), query=parse_query(query) if query else None
                    )
                    return func(*args, **kwargs)
            return validated(*args, **kwargs)

        return checked

    return wrap


def openapi_document(app: Flask) -> dict[str, Any]:
    """spectree's document, plus what it cannot know: raw upload bodies and how to log in."""
    document = copy.deepcopy(spec.spec)
    paths = document.get("paths", {})
    for path in [p for p in paths if p.startswith(NOT_API)]:
        del paths[path]  # spectree lists every route: the pages for people are not the API
    views = {rule.endpoint: rule for rule in app.url_map.iter_rules()}
    for endpoint_name, view in app.view_functions.items():
        media = RAW_BODIES.get((view.__module__, view.__name__))
        rule = views.get(endpoint_name)
        if media is None or rule is None:
            continue
        path = _openapi_path(rule.rule)
        for method, operation in document.get("paths", {}).get(path, {}).items():
            if method.upper() in rule.methods:
                operation["requestBody"] = {
                    "required": False,
                    "content": {media: {"schema": {"type": "string", "format": "binary"}}},
                }
    for path, operations in BY_HAND.items():
        document.setdefault("paths", {}).setdefault(path, {}).update(copy.deepcopy(operations))
    document.setdefault("components", {}).setdefault("schemas", {})["ErrorByHand"] = (
        Error.model_json_schema()
    )
    document.setdefault("components", {})["securitySchemes"] = {
        "basic": {"type": "http", "scheme": "basic"},
        "bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"},
        "authTokenHeader": {"type": "apiKey", "in": "header", "name": "AUTH_TOKEN"},
        "authTokenQuery": {"type": "apiKey", "in": "query", "name": "AUTH_TOKEN"},
        "authTokenCookie": {"type": "apiKey", "in": "cookie", "name": "AUTH_TOKEN"},
    }
    document["security"] = [
        {"basic": []},
        {"bearer": []},
        {"authTokenHeader": []},
        {"authTokenQuery": []},
        {"authTokenCookie": []},
        {},
    ]
    return document


def _openapi_path(rule: str) -> str:
    """Flask's `/<store_id>/x` as OpenAPI's `/{store_id}/x`."""
    out = []
    for part in rule.split("/"):
        if part.startswith("<") and part.endswith(">"):
            part = "{" + part[1:-1].split(":")[-1] + "}"
        out.append(part)
    return "/".join(out)


blueprint = Blueprint("openapi", __name__)


COMPAT = "/compat/"  # the other systems' faces: their own part of the documentation
PARTS = ("native", "compat")


@blueprint.get("/openapi.json")
def openapi() -> Response | tuple[Response, int]:
    """The whole document, or `?part=native` (assetdav's own API) or `?part=compat` (the
    faces of the systems it replaces): the pages show one part at a time, as Swagger UI
    stops rendering operations past about 130 in one document."""
    document = openapi_document(current_app)
    part = request.args.get("part")
    if part is None:
        return jsonify(document)
    if part not in PARTS:
        return jsonify({"title": "Bad parameter", "description": "part is native or compat."}), 400
    compat = part == "compat"
    document["paths"] = {
        path: ops for path, ops in document["paths"].items() if path.startswith(COMPAT) == compat
    }
    used = {
        tag
        for ops in document["paths"].values()
        for op in ops.values()
        for tag in op.get("tags", [])
    }
    document["tags"] = [t for t in document.get("tags", []) if t["name"] in used]
    return jsonify(document)


@blueprint.get("/doc/")
def documentation() -> str:
    """The API's documentation, rendered by the Swagger UI copy assetdav serves itself
    (the pages spectree adds under /api/doc/ load theirs from a CDN)."""
    return render_template("api_doc.html")
