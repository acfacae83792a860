"""WebDAV SEARCH (RFC 5323 basicsearch) over the index: the same search as /api/assets,
for WebDAV clients. It runs as a WsgiDAV middleware after authentication, since WsgiDAV's
request server does not know the method."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from wsgidav import util, xml_tools
from wsgidav.dav_error import (
    HTTP_BAD_REQUEST,
    HTTP_REQUEST_ENTITY_TOO_LARGE,
    HTTP_SERVICE_UNAVAILABLE,
    HTTP_UNPROCESSABLE_ENTITY,
    DAVError,
)
from wsgidav.mw.base_mw import BaseMiddleware

from index.queries import AssetFilter
from index.service import IndexBehind

from . import live_props
from .dav_errors import dav_errors

DAV = "{DAV:}"
MAX_BODY = 1 << 20
SORTS = {
    f"{DAV}displayname": "name",
    f"{DAV}getlastmodified": "updated",
    f"{DAV}creationdate": "created",
    f"{DAV}getcontentlength": "size",
}
NAME_PROPS = {f"{DAV}displayname", f"{{{live_props.NS}}}name"}


class Unsupported(Exception):
    """A basicsearch construct this server cannot answer (422)."""


@dataclass
class SearchRequest:
    select: list[str] | None  # None: allprop
    scope: str
    flt: AssetFilter
    sort: str = "name"
    descending: bool = False
    limit: int = 1000


def _literal(element: Any) -> str:
    literal = element.find(f"{DAV}literal")
    if literal is None:
        raise Unsupported("a comparison needs a <literal>")
    return (literal.text or "").strip()


def _prop_name(element: Any) -> str:
    prop = element.find(f"{DAV}prop")
    if prop is None or len(prop) != 1:
        raise Unsupported("a comparison needs one <prop>")
    return prop[0].tag


def _collect(
    where: Any, include: list[str], exclude: list[str], words: list[str], names: list[str]
) -> None:
    """Fold an AND of supported comparisons into the filter's parts."""
    tag = where.tag
    if tag == f"{DAV}and":
        for child in where:
            _collect(child, include, exclude, words, names)
    elif tag == f"{DAV}eq" and _prop_name(where) == live_props.TAGS:
        include.append(_literal(where))
    elif (
        tag == f"{DAV}not"
        and len(where) == 1
        and where[0].tag == f"{DAV}eq"
        and _prop_name(where[0]) == live_props.TAGS
    ):
        exclude.append(_literal(where[0]))
    elif tag == f"{DAV}like" and _prop_name(where) in NAME_PROPS:
        pattern = _literal(where)
        if "%" in pattern.strip("%") or "_" in pattern:
            raise Unsupported("only '%text%' patterns are supported in <like>")
        names.append(pattern.strip("%"))
    elif tag == f"{DAV}contains":
        words.append((where.text or "").strip())
    else:
        raise Unsupported(
            f"the operator {tag} is not supported here; use and, not, eq "
            f"(on tags), like (on displayname) and contains"
        )


def parse_search(root: Any) -> SearchRequest:
    """The search a `<D:searchrequest>` asks for (RFC 5323 basicsearch, an AND subset)."""
    basic = root.find(f"{DAV}basicsearch") if root.tag == f"{DAV}searchrequest" else None
    if basic is None:
        raise Unsupported("only <D:searchrequest><D:basicsearch> is supported")
    select = basic.find(f"{DAV}select")
    props: list[str] | None = None
    if select is not None and select.find(f"{DAV}prop") is not None:
        props = [p.tag for p in select.find(f"{DAV}prop")]
    href = basic.findtext(f"{DAV}from/{DAV}scope/{DAV}href") or "/"
    include: list[str] = []
    exclude: list[str] = []
    words: list[str] = []
    names: list[str] = []
    where = basic.find(f"{DAV}where")
    if where is not None and len(where):
        _collect(where[0], include, exclude, words, names)
    if len(names) > 1:
        raise Unsupported("at most one <like> on the name")
    request = SearchRequest(
        props,
        href,
        AssetFilter(
            include_tags=tuple(include),
            exclude_tags=tuple(exclude),
            name_contains=names[0] if names else None,
            q=" ".join(w for w in words if w) or None,
        ),
    )
    order = basic.find(f"{DAV}orderby/{DAV}order")
    if order is not None:
        request.sort = SORTS.get(_prop_name(order), "")
        if not request.sort:
            raise Unsupported(
                "results can be ordered by displayname, getlastmodified, "
                "creationdate or getcontentlength"
            )
        request.descending = order.find(f"{DAV}descending") is not None
    nresults = basic.findtext(f"{DAV}limit/{DAV}nresults")
    if nresults:
        try:
            request.limit = max(1, min(1000, int(nresults)))
        except ValueError:
            raise DAVError(HTTP_BAD_REQUEST, "nresults must be a number") from None
    return request


class SearchMiddleware(BaseMiddleware):
    """Answers SEARCH requests; adds the DASL header to OPTIONS answers."""

    def __init__(self, wsgidav_app: Any, next_app: Any, config: dict[str, Any]) -> None:
        super().__init__(wsgidav_app, next_app, config)
        self.provider = config["assetdav_provider"]
        self.search_index = config["assetdav_index"]

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        method = environ.get("REQUEST_METHOD")
        if method == "OPTIONS":

            def with_dasl(status: str, headers: list[tuple[str, str]], *exc: Any) -> Any:
                headers = [
                    (k, f"{v}, SEARCH" if k.lower() == "allow" else v) for k, v in headers
                ] + [("DASL", "<DAV:basicsearch>")]
                return start_response(status, headers, *exc)

            return self.next_app(environ, with_dasl)
        if method != "SEARCH":
            return self.next_app(environ, start_response)
        return self._search(environ, start_response)

    def _search(self, environ: dict[str, Any], start_response: Any) -> Any:
        environ["wsgidav.provider"] = self.provider
        if util.get_content_length(environ) > MAX_BODY:
            raise DAVError(HTTP_REQUEST_ENTITY_TOO_LARGE, "The SEARCH body is too large.")
        root = util.parse_xml_body(environ)  # defusedxml when installed; 400 on bad XML
        if root is None:
            raise DAVError(HTTP_BAD_REQUEST, "SEARCH needs a <D:searchrequest> body.")
        try:
            request = parse_search(root)
        except Unsupported as exc:
            raise DAVError(HTTP_UNPROCESSABLE_ENTITY, str(exc)) from None
        actor = environ["assetdav.actor"]
        store, scope = None, None
        if request.scope.strip("/"):
            with dav_errors():
                store, scope = self.provider.locate(_path_of(request.scope))
        flt = request.flt
        if store is not None:
            flt = AssetFilter(
                store=store.name,
                project=scope.project,
                **{
                    k: getattr(flt, k)
                    for k in ("include_tags", "exclude_tags", "name_contains", "q")
                },
            )
        readable = self.provider.registry.readable(actor)
        try:
            reader = self.search_index.fresh_reader()
        except IndexBehind as exc:
            raise DAVError(
                HTTP_SERVICE_UNAVAILABLE, str(exc), add_headers=[("Retry-After", "1")]
            ) from None
        hits, _total = reader.search(
            flt, readable, sort=request.sort, descending=request.descending, limit=request.limit
        )
        multistatus = xml_tools.make_multistatus_el()
        for hit in hits:
            path = f"/{hit.store}/{hit.project}/{hit.asset}/"
            resource = self.provider.get_resource_inst(path, environ)
            if resource is None:
                continue
            if request.select is None:
                props = resource.get_properties("allprop")
            else:
                props = resource.get_properties("named", name_list=request.select)
            util.add_property_response(multistatus, resource.get_href(), props)
        return util.send_multi_status_response(environ, start_response, multistatus)


def _path_of(href: str) -> str:
    """The path of a scope href, absolute or not (`http://host/demo/p/` -> `/demo/p/`)."""
    from urllib.parse import unquote, urlsplit

    return unquote(urlsplit(href).path) or "/"
