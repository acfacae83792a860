"""The asset browser: pages for people at /ui/, server-rendered by Jinja templates, with
small scripts of our own that call the public JSON API (and nothing else)."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from flask import (
    Blueprint,
    Response,
    current_app,
    redirect,
    render_template,
    request,
    url_for,
)

from stores import Location
from stores.errors import NotFound, StoreError
from stores.model import public_asset

from .. import context
from ..auth import Unauthorized, users
from ..errors import ApiError, store_error_response
from ..media import preview_key, preview_url
from ..model_library import catalog
from ..projects import project_meta, readable_projects

blueprint = Blueprint(
    "ui", __name__, template_folder="templates", static_folder="static", static_url_path="/static"
)

PAGE = 100  # assets per page of the grid


@blueprint.errorhandler(Unauthorized)
def _sign_in_first(_exc: Unauthorized) -> Response:
    """A page asked for without credentials: the sign-in form, then back here."""
    return redirect(url_for("ui.sign_in", next=request.full_path.rstrip("?")))


@blueprint.errorhandler(StoreError)
def _store_error(exc: StoreError) -> tuple[str, int]:
    """A page that cannot be shown: the reason, as a page (the API answers JSON)."""
    status = 404 if isinstance(exc, NotFound) else store_error_response(exc).status_code
    return render_template("error.html", title=exc.title, description=exc.message), status


@blueprint.errorhandler(ApiError)
def _api_error(exc: ApiError) -> tuple[str, int]:
    return render_template("error.html", title=exc.title, description=exc.description), exc.status


@blueprint.get("/sign-in")
def sign_in() -> str:
    return render_template("sign_in.html", next=_safe_next(request.args.get("next")))


@blueprint.get("/")
def home() -> Response | str:
    names = [s.name for s in context.registry() if _may_list(s)]
    if len(names) == 1:
        return redirect(url_for("ui.store_page", store_id=names[0]))
    return render_template("stores.html", stores=names)


@blueprint.get("/s/<store_id>/")
def store_page(store_id: str) -> str:
    store = context.store(store_id)
    actor = context.actor()
    cards = []
    for entry in readable_projects(store, actor):
        project = store.locate(entry.name)
        meta = project_meta(store, actor, project)
        assets = [a.name for a in store.list_folder(actor, project) if a.is_dir]
        cards.append(
            {
                "id": entry.name,
                "name": meta["name"],
                "description": meta["description"],
                "count": len(assets),
                "thumbnail": _first_preview(store, project, assets),
            }
        )
    base = request.host_url.rstrip("/")
    return render_template(
        "store.html",
        store=store.name,
        projects=cards,
        dav_url=f"{base}/{quote(store.name)}/",
        may_write=store.may_write(actor, store.locate("")),
        is_library=store.name == _library_name(),
        may_administer=store.policy.can_administer(actor),
    )


@blueprint.get("/s/<store_id>/<project_id>/")
def project_page(store_id: str, project_id: str) -> str:
    store, project = context.project(store_id, project_id)
    meta = project_meta(store, context.actor(), project)
    return render_template(
        "project.html",
        store=store.name,
        project=project.name,
        meta=meta,
        page=PAGE,
        may_write=store.may_write(context.actor(), project),
    )


@blueprint.get("/s/<store_id>/<project_id>/<asset_id>")
def asset_page(store_id: str, project_id: str, asset_id: str) -> str:
    store, asset = context.asset(store_id, project_id, asset_id)
    actor = context.actor()
    meta = store.read_meta(actor, asset) or {}
    public = public_asset({**meta, "id": asset.name, "project": asset.parts[0]})
    files = meta.get("files") if isinstance(meta.get("files"), dict) else {}
    base = request.host_url.rstrip("/") + quote(asset.url_path())
    versions: dict[int, list[dict[str, Any]]] = {}
    for key in sorted(files):
        head = key.split("/", 1)[0]
        version = int(head) if head.isascii() and head.isdigit() and "/" in key else 0
        record = files[key] if isinstance(files[key], dict) else {}
        versions.setdefault(version, []).append(
            {"name": key, "url": f"{base}/{quote(key)}", "size": record.get("size", 0)}
        )
    metadata = meta.get("metadata") if isinstance(meta.get("metadata"), dict) else {}
    dzi = _dzi_of(store, asset, public)
    return render_template(
        "asset.html",
        store=store.name,
        project=asset.parts[0],
        asset=public,
        versions=sorted(versions.items(), reverse=True),
        metadata=metadata,
        preview=preview_url(store.name, *asset.parts) if preview_key(meta) else None,
        dzi=dzi,
        dav_url=base + "/",
        may_write=store.may_write(actor, asset),
        index_name=public["index_file"].rsplit("/", 1)[-1] if public["version"] else "",
        samples_url=(
            f"/api/{quote(store.name)}/{quote(asset.parts[0])}/samples/{quote(asset.name)}"
        ),
        show_samples=bool(store.samples(asset)) or store.name == _library_name(),
    )


@blueprint.get("/library")
def library_page() -> str:
    """The model library's administration: staged models to import, scan and migration."""
    catalog.require_administrator("administer the model library")
    name = _library_name()
    if not name:
        raise ApiError(404, "No model library", "Set models.store to a store's name first.")
    return render_template("library.html", store=name)


def _library_name() -> str:
    return current_app.config.get("ASSETDAV_MODELS_STORE") or ""


def _may_list(store: Any) -> bool:
    try:
        store.list_folder(context.actor(), store.locate(""))
    except StoreError:
        return False
    return True


def _first_preview(store: Any, project: Location, assets: list[str]) -> str | None:
    """The preview of the first asset (by name) that has one: the project's thumbnail."""
    for name in assets[:20]:
        asset = project.child(name)
        try:
            meta = store.sidecar(asset).read() or {}
        except Exception:  # noqa: BLE001 - an unreadable sidecar: no thumbnail from it
            continue
        if preview_key(meta):
            return preview_url(store.name, *asset.parts)
    return None


def _dzi_of(store: Any, asset: Location, public: dict[str, Any]) -> str | None:
    """The URL of the `.dzi` the dzi worker made of the asset's file, if there is one."""
    filename, version = public.get("index_file", ""), public.get("version", 0)
    if not filename or not version:
        return None
    stem = filename.rsplit("/", 1)[-1].rsplit(".", 1)[0]
    loc = Location(store.name, (*asset.parts, str(version), "dzi", stem, f"{stem}.dzi"))
    return quote(loc.url_path()) if store.stat(loc) is not None else None


def _safe_next(target: str | None) -> str:
    """Only a path on this server (`/ui/...`), never another site."""
    if target and target.startswith("/ui/") and not target.startswith("//"):
        return target
    return "/ui/"


@blueprint.app_context_processor
def _page_context() -> dict[str, Any]:
    return {"with_users": users().has_users()}
