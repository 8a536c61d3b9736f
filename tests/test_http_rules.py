"""The HTTP rules of feedsvc.http as plain functions, without an app: the conditional-request
table (RFC 9110 13.2.2), the bearer check (RFC 6750 2.1), Link values and JSON bodies.
test_http.py runs the conditional table through Flask, test_gunicorn.py under gunicorn.
That feedsvc.http imports no Flask is an import-linter contract (pyproject.toml)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from werkzeug.http import http_date

from feedsvc.http import JSON_HEADERS, bearer_ok, feed_links, json_body, precondition

E = '"abc"'
LM_DT = datetime(2015, 10, 21, 7, 28, tzinfo=UTC)
LM = http_date(LM_DT)
BEFORE = http_date(LM_DT - timedelta(hours=1))
AFTER = http_date(LM_DT + timedelta(hours=1))
SUBSECOND = LM_DT + timedelta(milliseconds=500)  # stored time with a fraction the HTTP date drops

# (name, method, request headers, current ETag, current Last-Modified, expected status)
CASES: list[tuple[str, str, dict[str, str], str | None, Any, int]] = [
    ("no preconditions", "GET", {}, E, LM, 200),
    # If-None-Match: weak comparison (RFC 9110 13.1.2)
    ("INM strong match", "GET", {"if_none_match": E}, E, LM, 304),
    ("INM weak tag matches weakly", "GET", {"if_none_match": f"W/{E}"}, E, LM, 304),
    ("INM matches a weak current ETag", "GET", {"if_none_match": E}, f"W/{E}", LM, 304),
    ("INM list with a match", "GET", {"if_none_match": f'"x", {E}, "y"'}, E, LM, 304),
    ("INM list without a match", "GET", {"if_none_match": '"x", "y"'}, E, LM, 200),
    ("INM star", "GET", {"if_none_match": "*"}, E, LM, 304),
    ("INM mismatch", "GET", {"if_none_match": '"0123"'}, E, LM, 200),
    ("INM unquoted garbage", "GET", {"if_none_match": "garbage,,,"}, E, LM, 200),
    ("INM on HEAD", "HEAD", {"if_none_match": E}, E, LM, 304),
    # If-Modified-Since (RFC 9110 13.1.3)
    ("IMS = Last-Modified", "GET", {"if_modified_since": LM}, E, LM, 304),
    ("IMS later", "GET", {"if_modified_since": AFTER}, E, LM, 304),
    ("IMS earlier", "GET", {"if_modified_since": BEFORE}, E, LM, 200),
    ("IMS invalid is ignored", "GET", {"if_modified_since": "yesterday"}, E, LM, 200),
    ("IMS = Last-Modified with a sub-second part", "GET", {"if_modified_since": LM}, E, SUBSECOND, 304),
    ("IMS with a datetime Last-Modified", "GET", {"if_modified_since": LM}, E, LM_DT, 304),
    ("IMS without Last-Modified", "GET", {"if_modified_since": AFTER}, E, None, 200),
    ("INM mismatch wins over a matching IMS", "GET", {"if_none_match": '"x"', "if_modified_since": AFTER}, E, LM, 200),
    ("INM match with an earlier IMS", "GET", {"if_none_match": E, "if_modified_since": BEFORE}, E, LM, 304),
    # If-Match: strong comparison, evaluated first (RFC 9110 13.1.1, 13.2.2 step 1)
    ("IM star alone", "GET", {"if_match": "*"}, E, LM, 200),
    ("IM star with matching INM", "GET", {"if_match": "*", "if_none_match": E}, E, LM, 304),
    ("IM strong match", "GET", {"if_match": E}, E, LM, 200),
    ("IM strong match with matching INM", "GET", {"if_match": E, "if_none_match": E}, E, LM, 304),
    ("IM list with a match", "GET", {"if_match": f'"x", {E}'}, E, LM, 200),
    ("IM mismatch", "GET", {"if_match": '"other"'}, E, LM, 412),
    ("IM weak tag never matches strongly", "GET", {"if_match": f"W/{E}"}, E, LM, 412),
    ("IM never matches a weak current ETag", "GET", {"if_match": E}, f"W/{E}", LM, 412),
    ("IM star without an ETag", "GET", {"if_match": "*"}, None, LM, 200),
    ("IM tag without an ETag", "GET", {"if_match": E}, None, LM, 412),
    ("IM empty", "GET", {"if_match": ""}, E, LM, 412),
    # If-Unmodified-Since, only without If-Match (RFC 9110 13.1.4, 13.2.2 step 2)
    ("IUS earlier", "GET", {"if_unmodified_since": BEFORE}, E, LM, 412),
    ("IUS = Last-Modified", "GET", {"if_unmodified_since": LM}, E, LM, 200),
    ("IUS later", "GET", {"if_unmodified_since": AFTER}, E, LM, 200),
    ("IUS invalid is ignored", "GET", {"if_unmodified_since": "soon"}, E, LM, 200),
    ("IUS without Last-Modified is ignored", "GET", {"if_unmodified_since": BEFORE}, E, None, 200),
    ("IUS = Last-Modified with a sub-second part", "GET", {"if_unmodified_since": LM}, E, SUBSECOND, 200),
    ("IUS passes, INM decides", "GET", {"if_unmodified_since": AFTER, "if_none_match": E}, E, LM, 304),
    ("IM wins over IUS", "GET", {"if_match": E, "if_unmodified_since": BEFORE}, E, LM, 200),
    ("IM fails before IUS", "GET", {"if_match": '"x"', "if_unmodified_since": AFTER}, E, LM, 412),
    # other methods: a matching If-None-Match is 412, If-Modified-Since is ignored (13.1.2, 13.1.3)
    ("POST INM match", "POST", {"if_none_match": E}, E, LM, 412),
    ("POST INM star", "POST", {"if_none_match": "*"}, E, LM, 412),
    ("POST INM mismatch", "POST", {"if_none_match": '"x"'}, E, LM, 200),
    ("POST IMS is ignored", "POST", {"if_modified_since": AFTER}, E, LM, 200),
    ("PUT IM mismatch", "PUT", {"if_match": '"x"'}, E, LM, 412),
    ("PUT IM match", "PUT", {"if_match": E}, E, LM, 200),
    ("DELETE IUS earlier", "DELETE", {"if_unmodified_since": BEFORE}, E, LM, 412),
]


@pytest.mark.parametrize(("case", "method", "headers", "etag", "last_modified", "status"), CASES,
                         ids=[c[0] for c in CASES])
def test_precondition(case: str, method: str, headers: dict[str, str], etag: str | None, last_modified: Any,
                      status: int) -> None:
    assert precondition(method, etag=etag, last_modified=last_modified, **headers) == status, case


BEARER = [
    ("exact", "Bearer s3cret", "s3cret", True),
    ("scheme is case-insensitive", "bearer s3cret", "s3cret", True),
    ("upper-case scheme", "BEARER s3cret", "s3cret", True),
    ("surrounding spaces", "Bearer  s3cret ", "s3cret", True),
    ("non-ASCII token", "Bearer 南开", "南开", True),
    ("wrong token", "Bearer nope", "s3cret", False),
    ("prefix of the token", "Bearer s3cre", "s3cret", False),
    ("token with a suffix", "Bearer s3cretX", "s3cret", False),
    ("token case matters", "Bearer S3CRET", "s3cret", False),
    ("Basic scheme", "Basic s3cret", "s3cret", False),
    ("scheme only", "Bearer", "s3cret", False),
    ("token without a scheme", "s3cret", "s3cret", False),
    ("no header", None, "s3cret", False),
    ("empty header", "", "s3cret", False),
    ("no token configured", "Bearer ", "", False),
    ("no token configured, no header", None, "", False),
]


@pytest.mark.parametrize(("case", "header", "token", "ok"), BEARER, ids=[c[0] for c in BEARER])
def test_bearer_ok(case: str, header: str | None, token: str, ok: bool) -> None:
    assert bearer_ok(header, token) is ok, case


def test_feed_links() -> None:
    hubs = ("https://hub.example/", "https://other.example/hub")
    assert feed_links(hubs, "https://feeds.example/rss.xml") == [
        '<https://hub.example/>; rel="hub"',
        '<https://other.example/hub>; rel="hub"',
        '<https://feeds.example/rss.xml>; rel="self"',
    ]
    assert feed_links((), "https://feeds.example/atom.xml") == ['<https://feeds.example/atom.xml>; rel="self"']


def test_json_body() -> None:
    body = json_body({"name": "南开", "n": [1]})
    assert body.endswith(b"\n") and "南开".encode() in body
    assert json.loads(body) == {"name": "南开", "n": [1]}
    assert dict(JSON_HEADERS) == {"Content-Type": "application/json", "Cache-Control": "no-store"}

