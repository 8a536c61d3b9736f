"""The HTTP layer: look a document up in the current snapshot and answer conditionally."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, current_app, request
from werkzeug.exceptions import HTTPException, NotFound, PreconditionFailed
from werkzeug.http import http_date
from werkzeug.routing import PathConverter, RequestRedirect
from werkzeug.wrappers import Response as BaseResponse

from .documents import BROTLI, GZIP, IDENTITY, Document
from .formats import FORMATS, Format
from .http import NOT_MODIFIED, PRECONDITION_FAILED, feed_links, precondition, prefers_html
from .index import KIND, KINDS, SITE, FeedKey
from .pages import ASSET_PATHS
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
    """Brotli when accepted at least as much as gzip, then gzip, else identity (RFC 9110 12.5.3;
    "x-gzip" is gzip, 8.4.1.3)."""
    accepted = request.accept_encodings
    br, gz = accepted.quality(BROTLI), max(accepted.quality(GZIP), accepted.quality("x-gzip"))
    if br > 0 and br >= gz:
        return BROTLI
    return GZIP if gz > 0 else IDENTITY


def request_precondition(etag: str | None, last_modified: str | None) -> int:
    """200, 304 or 412 for this request's precondition headers against these validators."""
    headers = request.headers
    return precondition(request.method, headers.get("If-Match"), headers.get("If-None-Match"),
                        headers.get("If-Modified-Since"), headers.get("If-Unmodified-Since"),
                        etag=etag, last_modified=last_modified)


def send_document(doc: Document, max_age: int | None = None, links: tuple[str, ...] = (),
                  vary: str = "Accept-Encoding") -> BaseResponse:
    """The document in the negotiated encoding, with validators and caching headers, made
    conditional. Header values come precomputed from the document (a polled feed's 304 path
    is mostly this function), and a 304 or 412 is decided before the bytes are read: a lazy
    document (snapshot.FeedDocuments) is not rendered for it."""
    encoding = choose_encoding()
    etag = doc.variant_etag(encoding)
    settings = service().settings
    cache_control = settings.cache_control if max_age is None else settings.cache_control_for(max_age)
    headers = [("ETag", etag), ("Cache-Control", cache_control), ("Vary", vary)]
    if doc.http_last_modified is not None:
        headers.append(("Last-Modified", doc.http_last_modified))
    if encoding != IDENTITY:
        headers.append(("Content-Encoding", encoding))
    headers += [("Link", link) for link in links]
    headers.append(("X-Content-Type-Options", "nosniff"))
    status = request_precondition(etag, doc.http_last_modified)
    if status == PRECONDITION_FAILED:
        raise PreconditionFailed("If-Match or If-Unmodified-Since does not hold for the current representation")
    headers.append(("Date", http_date()))
    body = b"" if status == NOT_MODIFIED else doc.variant(encoding).body
    return Response(body, status=status, headers=headers, content_type=doc.content_type)


VARY_BROWSER = "Accept, Accept-Encoding"  # feeds with a browser type are negotiated on Accept too


def feed_document(kind: str, name: str, fmt: Format) -> tuple[Document, tuple[str, ...], str]:
    """A feed's document as this request gets it, its Link values and its Vary, or NotFound.
    A browser (prefers_html) gets the same bytes as ``fmt.browser_type`` under an ETag of their
    own, so that it renders the XML and applies its stylesheet."""
    svc = service()
    snapshot = svc.current()
    key = FeedKey(kind, "" if kind == SITE else name_key(name))
    doc = snapshot.document(key, fmt.name)
    if doc is None:
        raise NotFound(f"No {KIND[kind].label.lower()} named {name!r}.")
    self_url = svc.settings.url(snapshot.index.feeds[key].document_path(fmt.name))
    doc, vary = negotiated(doc, fmt)
    return doc, tuple(feed_links(svc.settings.hubs, self_url)), vary


def negotiated(doc: Document, fmt: Format) -> tuple[Document, str]:
    """The document as this request gets it, and its Vary: a browser (prefers_html) gets the
    same bytes as ``fmt.browser_type`` under an ETag of their own, so that it renders the XML
    and applies its stylesheet."""
    if not fmt.browser_type:
        return doc, "Accept-Encoding"
    if prefers_html(request.headers.get("Accept"), fmt.mime):
        doc = doc.retyped(fmt.browser_type, "xml")
    return doc, VARY_BROWSER


def send_feed(kind: str, name: str, fmt: Format) -> BaseResponse:
    doc, links, vary = feed_document(kind, name, fmt)
    return send_document(doc, links=links, vary=vary)


FEED_ENDPOINTS: dict[str, tuple[str, Format]] = {}  # "feeds.<kind>_<format>" -> (kind, format)


def is_feed_request() -> bool:
    return request.endpoint in FEED_ENDPOINTS


def would_be_not_modified() -> bool:
    """This feed request's preconditions already hold for the current document (it will be
    a 304): asked before the view runs, e.g. by the rate limit, which never limits those."""
    target = FEED_ENDPOINTS.get(request.endpoint or "")
    if target is None:
        return False
    try:
        doc, _, _ = feed_document(target[0], (request.view_args or {}).get("name", ""), target[1])
    except NotFound:
        return False
    return request_precondition(doc.variant_etag(choose_encoding()), doc.http_last_modified) == NOT_MODIFIED


def send_page(kind: str, name: str) -> BaseResponse:
    """A feed's preview page, at its folder URL (the site's is the home page, /)."""
    snapshot = service().current()
    feed = snapshot.index.feeds.get(FeedKey(kind, "" if kind == SITE else name_key(name)))
    if feed is None:
        raise NotFound(f"No {KIND[kind].label.lower()} named {name!r}.")
    return send_document(snapshot.pages[feed.path + "/"])


def send_archive(kind: str, name: str, page: int, fmt: Format) -> BaseResponse:
    """An RFC 5005 archive page, with the long FEEDSVC_ARCHIVE_MAX_AGE: its bytes change only
    when one of its posts does."""
    svc = service()
    doc = svc.current().archive_document(FeedKey(kind, "" if kind == SITE else name_key(name)), page, fmt.name)
    if doc is None:
        label = "the site feed" if kind == SITE else f"the {KIND[kind].label.lower()} {name!r}"
        raise NotFound(f"No archive page {page} of {label}.")
    doc, vary = negotiated(doc, fmt)
    return send_document(doc, max_age=svc.settings.archive_max_age, vary=vary)


PAGE_KINDS: dict[str, str] = {}  # endpoint of a feed's page -> the feed kind


def _register_feed_routes() -> None:
    """The kinds table (index.KINDS) and the formats table (FORMATS) drive every feed route:
    /<file> and /<prefix>/<name>/<file> for the feeds, the folder URL for the page, and
    /archive[/<prefix>/<name>]/<n>/<file> for the RFC 5005 archive pages (under /archive: a
    name may itself hold "/archive/3")."""
    for kind in KINDS:
        folder = f"{kind.prefix}/<name:name>/" if kind.prefix else "/"

        def page(name: str = "", _kind: str = kind.name) -> BaseResponse:
            return send_page(_kind, name)

        bp.add_url_rule(folder, f"{kind.name}_page", page, methods=["GET", "HEAD"], merge_slashes=KEEP_SLASHES)
        PAGE_KINDS[f"{bp.name}.{kind.name}_page"] = kind.name
        archive_folder = f"/archive{kind.prefix}/<name:name>" if kind.prefix else "/archive"
        for fmt in FORMATS:
            def view(name: str = "", _kind: str = kind.name, _fmt: Format = fmt) -> BaseResponse:
                return send_feed(_kind, name, _fmt)

            bp.add_url_rule(folder + fmt.filename, f"{kind.name}_{fmt.name}", view, methods=["GET", "HEAD"],
                            merge_slashes=KEEP_SLASHES)
            FEED_ENDPOINTS[f"{bp.name}.{kind.name}_{fmt.name}"] = (kind.name, fmt)

            def archive(page: int, name: str = "", _kind: str = kind.name, _fmt: Format = fmt) -> BaseResponse:
                return send_archive(_kind, name, page, _fmt)

            bp.add_url_rule(f"{archive_folder}/<int(min=1):page>/{fmt.filename}", f"{kind.name}_archive_{fmt.name}",
                            archive, methods=["GET", "HEAD"], merge_slashes=KEEP_SLASHES)


def _register_page_routes() -> None:
    """The OPML list and the stylesheets the feeds name: documents of the snapshot."""
    for path in ("/opml.xml", *ASSET_PATHS):
        def view(_path: str = path) -> BaseResponse:
            return send_document(service().current().pages[_path])

        bp.add_url_rule(path, f"page_{path.strip('/').replace('.', '_')}", view, methods=["GET", "HEAD"],
                        merge_slashes=KEEP_SLASHES)


_register_feed_routes()
_register_page_routes()


@bp.before_app_request
def redirect_from_site_url() -> BaseResponse | None:
    """A feed's folder URL without its slash (``/tags/<name>``): werkzeug would redirect to a
    URL built from the request's Host header. Redirect to the feed's page as FEEDSVC_SITE_URL
    spells it instead, and answer 404 when there is no such feed."""
    if not isinstance(request.routing_exception, RequestRedirect):
        return None
    adapter = current_app.url_map.bind_to_environ(request.environ)
    endpoint, args = adapter.match(request.path + "/", method="GET")
    kind = PAGE_KINDS.get(str(endpoint))
    snapshot = service().current()
    feed = snapshot.index.feeds.get(FeedKey(kind, name_key(args.get("name", "")))) if kind else None
    if feed is None:
        raise NotFound("No such feed.")
    location = service().settings.url(feed.path + "/")
    return Response(f"308 Permanent Redirect: {location}\n", 308, {"Location": location, "Cache-Control": "no-store"},
                    content_type="text/plain; charset=utf-8")


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
    if code == 413:  # the body was not read: close, so the server never reads (and drops) the rest
        response.headers["Connection"] = "close"
    return response
