"""HTTP rules without Flask: conditional requests, the ``Link`` header, the bearer-token check
and JSON bodies, each defined once. Plain functions on header strings and validators, in the
way werkzeug splits ``sansio/http.py`` from its WSGI layer; the Flask views only adapt them."""

from __future__ import annotations

import hmac
import json
from collections.abc import Iterable
from datetime import datetime
from functools import lru_cache
from typing import Any

from werkzeug.datastructures import MIMEAccept
from werkzeug.http import parse_accept_header, parse_date, parse_etags, unquote_etag
from werkzeug.sansio.http import is_resource_modified

OK, NOT_MODIFIED, PRECONDITION_FAILED = 200, 304, 412
SAFE_METHODS = frozenset({"GET", "HEAD"})

# A JSON answer that no cache may keep (admin and health data changes on every call).
JSON_CONTENT_TYPE = "application/json"
NO_STORE = "no-store"
JSON_HEADERS = (("Content-Type", JSON_CONTENT_TYPE), ("Cache-Control", NO_STORE))


def if_match_passes(if_match: str, etag: str | None) -> bool:
    """RFC 9110 13.1.1: ``*`` matches any current representation; otherwise the current
    ETag must be in the list under the strong comparison (13.1.2: weak tags never match)."""
    tags = parse_etags(if_match)
    if tags.star_tag:
        return True
    if etag is None:
        return False
    value, weak = unquote_etag(etag)
    return not weak and tags.is_strong(value)


def http_date(value: str | None) -> datetime | None:
    """An HTTP-date field value (RFC 9110 5.6.7), or None when it is not one. werkzeug's
    ``parse_date`` lets OverflowError through (a year or offset of 20 digits): a 500 before."""
    try:
        return parse_date(value)
    except OverflowError:
        return None


def unmodified_since_passes(if_unmodified_since: str, last_modified: datetime | str | None) -> bool:
    """RFC 9110 13.1.4: true unless the resource changed after the date. An invalid date, or a
    resource without a modification date, makes the recipient ignore the field (true).
    HTTP dates have whole seconds, so the sub-second part of ``last_modified`` is dropped."""
    since = http_date(if_unmodified_since)
    modified = http_date(last_modified) if isinstance(last_modified, str) else last_modified
    if since is None or modified is None:
        return True
    return modified.replace(microsecond=0) <= since


def precondition(method: str, if_match: str | None = None, if_none_match: str | None = None,
                 if_modified_since: str | None = None, if_unmodified_since: str | None = None,
                 etag: str | None = None, last_modified: datetime | str | None = None) -> int:
    """The status that the preconditions of a request call for: 200 (go on), 304 or 412.

    RFC 9110 13.2.2, in its order: (1) If-Match, strong comparison, 412 when false; (2) only
    without If-Match, If-Unmodified-Since, 412 when false; (3) If-None-Match, weak comparison,
    and (4) only for GET/HEAD, If-Modified-Since (13.1.3: ignored when If-None-Match is
    present or for other methods), both via werkzeug's ``is_resource_modified``; when they say
    "not modified" the answer is 304 to GET/HEAD and 412 to any other method. ``etag`` is the
    ETag field value (quoted), ``last_modified`` a datetime or an HTTP date. werkzeug alone
    would answer 412 to ``If-Match: *`` with a matching If-None-Match (13.1.1 says ``*``
    matches), so If-Match never reaches it.
    """
    if if_match is not None:
        if not if_match_passes(if_match, etag):
            return PRECONDITION_FAILED
    elif if_unmodified_since is not None and not unmodified_since_passes(if_unmodified_since, last_modified):
        return PRECONDITION_FAILED
    safe = method in SAFE_METHODS  # method names are case-sensitive (RFC 9110 9.1)
    if if_modified_since is not None and http_date(if_modified_since) is None:
        if_modified_since = None  # 13.1.3: not a valid HTTP-date, ignored
    modified = is_resource_modified(
        http_if_none_match=if_none_match,
        http_if_modified_since=if_modified_since if safe else None,
        etag=etag,
        last_modified=last_modified,
    )
    if modified:
        return OK
    return NOT_MODIFIED if safe else PRECONDITION_FAILED


def feed_links(hubs: Iterable[str], self_url: str) -> list[str]:
    """The ``Link`` field values (RFC 8288 3) for WebSub discovery and content distribution
    (WebSub 4 and 7): one ``rel="hub"`` per hub, then ``rel="self"``. Send them as separate
    field lines, or joined with ", " into one (RFC 9110 5.3)."""
    return [f'<{hub}>; rel="hub"' for hub in hubs] + [f'<{self_url}>; rel="self"']


def bearer_ok(authorization: str | None, token: str) -> bool:
    """Whether an ``Authorization`` field carries the bearer token (RFC 6750 2.1; the scheme is
    case-insensitive, RFC 9110 11.1). Constant-time in the token's content; an empty token
    never matches."""
    scheme, _, given = (authorization or "").partition(" ")
    if not token or scheme.lower() != "bearer":
        return False
    return hmac.compare_digest(given.strip().encode(), token.encode())


def json_body(obj: Any) -> bytes:
    """A JSON body (RFC 8259: UTF-8, not ASCII-escaped), indented by one, ending in a newline."""
    return (json.dumps(obj, ensure_ascii=False, indent=1) + "\n").encode()


@lru_cache(maxsize=512)  # a few distinct browser headers; parsing one takes ~30 us
def prefers_html(accept: str | None, media_type: str) -> bool:
    """Whether a feed request comes from a browser window: its ``Accept`` names ``text/html``
    itself with a higher weight than the feed's own media type (RFC 9110 12.5.1). Wildcards
    do not count, so a reader sending ``*/*`` or nothing gets the feed's type. A wrong guess
    costs only the type: both answers carry the same bytes."""
    if not accept or "text/html" not in accept.lower():  # the common reader request: no parsing
        return False
    html = own = 0.0
    for value, quality in parse_accept_header(accept, MIMEAccept):
        value = value.lower()
        if value == "text/html":
            html = max(html, quality)
        elif value == media_type:
            own = max(own, quality)
    return html > own
