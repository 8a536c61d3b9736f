"""The HTTP layer: look a document up in the current snapshot and answer conditionally."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, current_app, request
from werkzeug.exceptions import HTTPException, NotFound, PreconditionFailed
from werkzeug.http import http_date
from werkzeug.routing import PathConverter
from werkzeug.wrappers import Response as BaseResponse

from .documents import BROTLI, GZIP, IDENTITY, Document
from .formats import FORMATS
from .http import PRECONDITION_FAILED, feed_links, precondition
from .index import KIND, KINDS, SITE, FeedKey
from .service import FeedService
from .textutil import name_key
from .web import json_response, require_bearer

bp = Blueprint("feeds", __name__)
# merge_slashes=KEEP_SLASHES on every rule: werkzeug would answer "//rss.xml" with a redirect to
# an absolute URL built from the Host header, and "/tags/%2F/rss.xml" (the tag "/") arrives as
# "/tags///rss.xml": match paths as they are.
KEEP_SLASHES = False


class NameConverter(PathConverter):
    """A tag or category name: any text, '/' included (it arrives percent-decoded)."""

    regex = ".+?"
    # werkzeug marks a converter whose regex has no "/" as matching one path part only:
    # without this, a name with "/" ("C/C++") never reaches the view
    part_isolating = False


def service() -> FeedService:
    return current_app.extensions["feedsvc"]  # type: ignore[no-any-return]


def choose_encoding() -> str:
    """Brotli when accepted at least as much as gzip, then gzip, else identity (RFC 9110 12.5.3)."""
    accepted = request.accept_encodings
    br, gz = accepted.quality(BROTLI), accepted.quality(GZIP)
    if br > 0 and br >= gz:
        return BROTLI
    return GZIP if gz > 0 else IDENTITY


def conditional(response: BaseResponse) -> BaseResponse:
    """Answer the request's preconditions (``feedsvc.http.precondition``, RFC 9110 13.2.2)
    against the response's validators: 412 as a plain error, or the response as 200 or 304.
    werkzeug drops a 304's body and entity headers (Content-Length, Content-Type,
    Content-Encoding, Last-Modified) when it sends it; ETag, Cache-Control and Vary stay.
    Like ``make_conditional``, the response gets a ``Date`` field."""
    headers = request.headers
    status = precondition(request.method, headers.get("If-Match"), headers.get("If-None-Match"),
                          headers.get("If-Modified-Since"), headers.get("If-Unmodified-Since"),
                          etag=response.headers.get("ETag"), last_modified=response.headers.get("Last-Modified"))
    if status == PRECONDITION_FAILED:
        raise PreconditionFailed("If-Match or If-Unmodified-Since does not hold for the current representation")
    if "Date" not in response.headers:
        response.headers["Date"] = http_date()
    response.status_code = status
    return response


def send_document(doc: Document, max_age: int | None = None, links: tuple[str, ...] = ()) -> BaseResponse:
    """The document in the negotiated encoding, with validators and caching headers, made
    conditional. Header values come precomputed from the document (a polled feed's 304 path
    is mostly this function)."""
    variant = doc.variant(choose_encoding())
    age = service().settings.cache_max_age if max_age is None else max_age
    headers = [("ETag", variant.quoted_etag), ("Cache-Control", f"public, max-age={age}"), ("Vary", "Accept-Encoding")]
    if doc.http_last_modified is not None:
        headers.append(("Last-Modified", doc.http_last_modified))
    if variant.encoding != IDENTITY:
        headers.append(("Content-Encoding", variant.encoding))
    headers += [("Link", link) for link in links]
    headers.append(("X-Content-Type-Options", "nosniff"))
    return conditional(Response(variant.body, headers=headers, content_type=doc.content_type))


def send_feed(kind: str, name: str, fmt: str) -> BaseResponse:
    svc = service()
    snapshot = svc.current()
    key = FeedKey(kind, "" if kind == SITE else name_key(name))
    doc = snapshot.document(key, fmt)
    if doc is None:
        raise NotFound(f"No {KIND[kind].label.lower()} named {name!r}.")
    self_url = svc.settings.url(snapshot.index.feeds[key].document_path(fmt))
    return send_document(doc, links=tuple(feed_links(svc.settings.hubs, self_url)))


def send_archive(kind: str, name: str, page: int, fmt: str) -> BaseResponse:
    """An RFC 5005 archive page, with the long FEEDSVC_ARCHIVE_MAX_AGE: its bytes change only
    when one of its posts does."""
    svc = service()
    doc = svc.current().archive_document(FeedKey(kind, "" if kind == SITE else name_key(name)), page, fmt)
    if doc is None:
        label = "the site feed" if kind == SITE else f"the {KIND[kind].label.lower()} {name!r}"
        raise NotFound(f"No archive page {page} of {label}.")
    return send_document(doc, max_age=svc.settings.archive_max_age)


def _register_feed_routes() -> None:
    """Two tables (FORMATS x KINDS) drive every feed route."""
    for fmt in FORMATS:
        file = fmt.filename
        for kind in KINDS:
            rule = f"{kind.prefix}/<name:name>/{file}" if kind.prefix else f"/{file}"

            def view(name: str = "", _kind: str = kind.name, _fmt: str = fmt.name) -> BaseResponse:
                return send_feed(_kind, name, _fmt)

            bp.add_url_rule(rule, f"{kind.name}_{fmt.name}", view, methods=["GET", "HEAD"], merge_slashes=KEEP_SLASHES)

            # Feed.archive_path: /archive/<n>/rss.xml, /archive/tags/<name>/<n>/rss.xml
            folder = f"/archive{kind.prefix}/<name:name>" if kind.prefix else "/archive"

            def archive(page: int, name: str = "", _kind: str = kind.name, _fmt: str = fmt.name) -> BaseResponse:
                return send_archive(_kind, name, page, _fmt)

            bp.add_url_rule(f"{folder}/<int(min=1):page>/{file}", f"{kind.name}_archive_{fmt.name}", archive,
                            methods=["GET", "HEAD"], merge_slashes=KEEP_SLASHES)


_register_feed_routes()


@bp.get("/", merge_slashes=KEEP_SLASHES)
def index_page() -> BaseResponse:
    return send_document(service().current().pages["/"])


@bp.get("/opml.xml", merge_slashes=KEEP_SLASHES)
def opml_page() -> BaseResponse:
    return send_document(service().current().pages["/opml.xml"])


@bp.get("/healthz", merge_slashes=KEEP_SLASHES)
def healthz() -> Response:
    svc = service()
    svc.current()
    status = svc.status  # one value: every field below comes from the same reload
    assert status is not None
    snapshot = status.snapshot
    body: dict[str, Any] = {
        "status": "degraded" if status.degraded else "ok",
        "posts": len(snapshot.index.posts),
        "feeds": len(snapshot.index.feeds),
        "errors": [{"path": p, "reason": r} for p, r in snapshot.errors],
        "warnings": [{"path": p, "reason": r} for p, r in snapshot.index.warnings],
        "generation": snapshot.generation,
        "last_reload": status.last_reload.isoformat(),
        "reload_seconds": round(status.report.seconds, 4),
        "changed": status.report.changed,
    }
    if status.degraded:
        body["reason"] = status.degraded
    return json_response(body)


def require_admin() -> None:
    """The admin token as a bearer token; without a token the route does not exist."""
    require_bearer(service().settings.admin_token)


@bp.post("/-/reload")
def admin_reload() -> Response:
    """Reload this process now (e.g. from a deploy hook); other processes follow on their schedule."""
    require_admin()
    report = service().reload()
    body = {
        "generation": report.generation,
        "applied": report.applied,
        "seconds": round(report.seconds, 4),
        "reread": report.reread,
        "changed": report.changed,
        "status": "degraded" if service().degraded else "ok",
    }
    return json_response(body)


def plain_error(exc: HTTPException) -> BaseResponse:
    """Every HTTP error is a short plain-text message: no HTML, no stack trace. Headers the
    error carries (Allow on 405, WWW-Authenticate on 401) are kept."""
    code = exc.code or 500
    message = exc.description if code < 500 else "Internal server error."
    response = exc.get_response()
    response.set_data(f"{code} {exc.name}: {message}\n")
    response.content_type = "text/plain; charset=utf-8"
    response.headers["Cache-Control"] = "no-store"
    return response
