"""HTTP behaviour through Flask's test client: conditional GET (RFC 9110 13), HEAD, encodings,
content types, identity from FEEDSVC_SITE_URL only, plain-text errors, hostile paths.
Header details that depend on the server (Date, Content-Length) are in test_gunicorn.py."""

from __future__ import annotations

import gzip
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import brotli
import pytest
from conftest import EDGE_CONTENT, SITE_URL
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.http import http_date, parse_date

from feedsvc.app import create_app

FEED_PATHS = ["/rss.xml", "/atom.xml", "/feed.json", "/tags/python/rss.xml", "/categories/notes/atom.xml",
              "/tags/%E5%8D%97%E5%BC%80%E5%A4%A7%E5%AD%A6/feed.json", "/tags/a%2Fb/rss.xml"]
PAGES = ["/", "/opml.xml"]


@pytest.fixture(scope="module")
def edge_app() -> Flask:
    return create_app({"CONTENT_DIR": str(EDGE_CONTENT), "SITE_URL": SITE_URL, "BUILD_WORKERS": 1,
                       "TESTING": True, "CACHE_MAX_AGE": 123})


@pytest.fixture
def http(edge_app: Flask) -> FlaskClient:
    return edge_app.test_client()


def etag_of(http: FlaskClient, path: str, encoding: str | None = None) -> str:
    headers = {"Accept-Encoding": encoding} if encoding else {}
    return http.get(path, headers=headers).headers["ETag"]


# ---------------------------------------------------------------- conditional GET table

# (name, request headers given the identity ETag E and Last-Modified LM, expected status)
# '{E}' is the quoted strong ETag, '{LM}' Last-Modified, '{BEFORE}'/'{AFTER}' an hour off.
CONDITIONAL = [
    ("strong match", {"If-None-Match": "{E}"}, 304),
    ("weak match (W/ weak comparison, RFC 9110 13.1.2)", {"If-None-Match": "W/{E}"}, 304),
    ("list with a match", {"If-None-Match": '"nope", {E}, "other"'}, 304),
    ("list without a match", {"If-None-Match": '"nope", "other"'}, 200),
    ("star", {"If-None-Match": "*"}, 304),
    ("mismatch", {"If-None-Match": '"0123"'}, 200),
    ("unquoted garbage", {"If-None-Match": "garbage,,,"}, 200),
    ("ETag of another encoding", {"If-None-Match": "{E_GZIP}"}, 200),
    ("If-Modified-Since = Last-Modified", {"If-Modified-Since": "{LM}"}, 304),
    ("If-Modified-Since later", {"If-Modified-Since": "{AFTER}"}, 304),
    ("If-Modified-Since earlier", {"If-Modified-Since": "{BEFORE}"}, 200),
    ("If-Modified-Since invalid", {"If-Modified-Since": "yesterday"}, 200),
    ("INM mismatch wins over a matching IMS (RFC 9110 13.1.3)", {"If-None-Match": '"x"', "If-Modified-Since": "{AFTER}"}, 200),
    ("INM match with an earlier IMS", {"If-None-Match": "{E}", "If-Modified-Since": "{BEFORE}"}, 304),
    ("If-Match * with matching INM (RFC 9110 13.2.2)", {"If-Match": "*", "If-None-Match": "{E}"}, 304),
    ("If-Match * alone", {"If-Match": "*"}, 200),
    ("If-Match strong match with matching INM", {"If-Match": "{E}", "If-None-Match": "{E}"}, 304),
    ("If-Match mismatch", {"If-Match": '"other"'}, 412),
    ("If-Match weak is never a strong match", {"If-Match": "W/{E}"}, 412),
    ("If-Unmodified-Since earlier (RFC 9110 13.1.4)", {"If-Unmodified-Since": "{BEFORE}"}, 412),
    ("If-Unmodified-Since = Last-Modified", {"If-Unmodified-Since": "{LM}"}, 200),
    ("If-Unmodified-Since invalid is ignored", {"If-Unmodified-Since": "soon"}, 200),
    ("If-Match wins over If-Unmodified-Since", {"If-Match": "{E}", "If-Unmodified-Since": "{BEFORE}"}, 200),
]


def _fill(headers: dict[str, str], values: dict[str, str]) -> dict[str, str]:
    return {k: v.format(**values) for k, v in headers.items()}


def _values(http: FlaskClient, path: str) -> dict[str, str]:
    resp = http.get(path)
    lm = parse_date(resp.headers["Last-Modified"])
    assert lm is not None
    return {"E": f'"{resp.headers["ETag"].strip(chr(34))}"', "E_GZIP": etag_of(http, path, "gzip"),
            "LM": resp.headers["Last-Modified"], "BEFORE": http_date(lm - timedelta(hours=1)),
            "AFTER": http_date(lm + timedelta(hours=1))}


@pytest.mark.parametrize("path", ["/rss.xml", "/tags/a%2Fb/atom.xml", "/"])
@pytest.mark.parametrize(("case", "headers", "status"), CONDITIONAL, ids=[c[0] for c in CONDITIONAL])
def test_conditional_get(http: FlaskClient, path: str, case: str, headers: dict[str, str], status: int) -> None:
    full = http.get(path)
    resp = http.get(path, headers=_fill(headers, _values(http, path)))
    assert resp.status_code == status, case
    if status == 304:
        assert resp.data == b""
        for name in ("ETag", "Cache-Control", "Vary"):
            assert resp.headers[name] == full.headers[name], name
    elif status == 200:
        assert resp.data == full.data
    else:
        assert resp.content_type.startswith("text/plain")


def test_conditional_with_encodings(http: FlaskClient) -> None:
    e_gzip = etag_of(http, "/atom.xml", "gzip")
    resp = http.get("/atom.xml", headers={"Accept-Encoding": "gzip", "If-None-Match": e_gzip})
    assert resp.status_code == 304 and resp.headers["ETag"] == e_gzip
    assert resp.headers["Vary"] == "Accept, Accept-Encoding"
    resp = http.get("/atom.xml", headers={"Accept-Encoding": "br", "If-None-Match": e_gzip})
    assert resp.status_code == 200 and resp.headers["Content-Encoding"] == "br"


def test_head_is_get_without_body(http: FlaskClient) -> None:
    for path in FEED_PATHS + PAGES:
        for encoding in ("", "gzip", "br"):
            get = http.get(path, headers={"Accept-Encoding": encoding})
            head = http.head(path, headers={"Accept-Encoding": encoding})
            assert head.status_code == get.status_code == 200
            assert head.data == b""
            drop = {"Date"}
            assert {(k, v) for k, v in head.headers if k not in drop} == {(k, v) for k, v in get.headers if k not in drop}
    head = http.head("/rss.xml", headers={"If-None-Match": etag_of(http, "/rss.xml")})
    assert head.status_code == 304


def test_caching_headers(http: FlaskClient) -> None:
    for path in FEED_PATHS + PAGES:
        resp = http.get(path)
        assert resp.headers["Cache-Control"] == "public, max-age=123, s-maxage=10, stale-while-revalidate=30, stale-if-error=86400"
        assert resp.headers["Vary"] == vary_of(path)
        assert resp.headers["ETag"].startswith('"') and not resp.headers["ETag"].startswith("W/")
        assert parse_date(resp.headers["Last-Modified"]) is not None


def vary_of(path: str) -> str:
    """RSS and Atom are negotiated on Accept (browsers get application/xml), the rest is not."""
    return "Accept, Accept-Encoding" if path.endswith(("rss.xml", "atom.xml")) else "Accept-Encoding"


def test_last_modified_is_the_newest_item(http: FlaskClient) -> None:
    resp = http.get("/tags/python/feed.json")
    newest = max(parse_date_iso(i["date_modified"]) for i in resp.get_json()["items"])
    assert parse_date(resp.headers["Last-Modified"]) == newest.replace(microsecond=0)


def parse_date_iso(text: str) -> Any:
    from datetime import datetime

    return datetime.fromisoformat(text.replace("Z", "+00:00"))


# ---------------------------------------------------------------- encodings

ENCODINGS = [
    ("", None), ("identity", None), ("gzip", "gzip"), ("br", "br"), ("gzip, br", "br"), ("br, gzip", "br"),
    ("gzip;q=1, br;q=0.5", "gzip"), ("br;q=0", None), ("gzip;q=0, br;q=0", None), ("br;q=0, gzip", "gzip"),
    ("*", "br"), ("deflate", None), ("GZIP", "gzip"), ("x-gzip", "gzip"), ("gzip;q=0.001", "gzip"),
    ("gzip;q=bogus", None), (";;;,,,", None),
]


@pytest.mark.parametrize(("accept", "expected"), ENCODINGS)
def test_accept_encoding(http: FlaskClient, accept: str, expected: str | None) -> None:
    plain = http.get("/rss.xml")
    resp = http.get("/rss.xml", headers={"Accept-Encoding": accept})
    assert resp.status_code == 200
    assert resp.headers.get("Content-Encoding") == expected
    assert resp.headers["Vary"] == "Accept, Accept-Encoding"
    body = resp.data
    if expected == "gzip":
        body = gzip.decompress(body)
    elif expected == "br":
        body = brotli.decompress(body)
    assert body == plain.data
    if expected:
        assert resp.headers["ETag"] != plain.headers["ETag"]


def test_each_encoding_has_its_own_stable_etag(http: FlaskClient) -> None:
    tags = {enc: etag_of(http, "/atom.xml", enc) for enc in ("identity", "gzip", "br")}
    assert len(set(tags.values())) == 3
    assert tags == {enc: etag_of(http, "/atom.xml", enc) for enc in ("identity", "gzip", "br")}
    assert http.get("/atom.xml", headers={"Accept-Encoding": "gzip"}).data == \
        http.get("/atom.xml", headers={"Accept-Encoding": "gzip"}).data


def test_encoded_variants_are_computed_once(edge_app: Flask, http: FlaskClient) -> None:
    http.get("/feed.json", headers={"Accept-Encoding": "br"})
    doc = next(d for (k, fmt), d in edge_app.extensions["feedsvc"].current().documents.items()
               if fmt == "json" and k.kind == "site")
    first = doc.variant("br")
    http.get("/feed.json", headers={"Accept-Encoding": "br"})
    assert doc.variant("br").body is first.body  # the compressed bytes are kept, not made again


# ---------------------------------------------------------------- content types


@pytest.mark.parametrize(("path", "ctype"), [
    ("/rss.xml", "application/rss+xml; charset=utf-8"),
    ("/atom.xml", "application/atom+xml; charset=utf-8"),
    ("/feed.json", "application/feed+json; charset=utf-8"),
    ("/tags/python/rss.xml", "application/rss+xml; charset=utf-8"),
    ("/categories/notes/feed.json", "application/feed+json; charset=utf-8"),
    ("/", "text/html; charset=utf-8"),
    ("/opml.xml", "text/x-opml; charset=utf-8"),
    ("/healthz", "application/json"),
])
def test_content_type(http: FlaskClient, path: str, ctype: str) -> None:
    assert http.get(path).headers["Content-Type"] == ctype


# ---------------------------------------------------------------- identity


FORGED = [
    {"Host": "evil.example"},
    {"X-Forwarded-Host": "evil.example", "X-Forwarded-Proto": "http", "X-Forwarded-Port": "8443"},
    {"Host": "evil.example:666", "X-Forwarded-Host": "evil2.example", "X-Forwarded-Prefix": "/evil",
     "Forwarded": "host=evil3.example;proto=http", "X-Original-URL": "/evil"},
]
# ("//rss.xml" is a network-path reference to werkzeug's test client: see test_gunicorn.py)
ALL_PATHS = FEED_PATHS + PAGES + ["/healthz", "/tags/nope/rss.xml", "/nope", "/tags/python/rss.xml/",
                                  "/tags//rss.xml", "/tags///rss.xml", "/tags/python"]


def _comparable(resp: Any) -> tuple[int, bytes, list[tuple[str, str]]]:
    return resp.status_code, resp.data, sorted((k, v) for k, v in resp.headers if k != "Date")


@pytest.mark.parametrize("forged", FORGED)
def test_forged_host_headers_change_nothing(http: FlaskClient, forged: dict[str, str]) -> None:
    for path in ALL_PATHS:
        for method in ("GET", "HEAD"):
            honest = http.open(path, method=method)
            evil = http.open(path, method=method, headers=forged)
            assert _comparable(evil) == _comparable(honest), path
            assert b"evil" not in evil.data and all("evil" not in v for _, v in evil.headers)


def test_feeds_use_only_the_site_url(http: FlaskClient) -> None:
    for path in FEED_PATHS + PAGES:
        body = http.get(path, base_url="http://localhost:5000").data.decode()
        assert "localhost" not in body and SITE_URL in body


def test_site_url_with_a_path_prefix(make_app: Any, write_post: Any) -> None:
    write_post("p.md", title="P", tags=["t t"])
    client = make_app(site_url="https://example.net/blog/").test_client()
    rss = client.get("/tags/t%20t/rss.xml").data.decode()
    assert "https://example.net/blog/tags/t%20t/rss.xml" in rss
    assert "https://example.net/blog/2024/01/01/p/" in rss
    assert "example.net/blog//" not in rss


# ---------------------------------------------------------------- names in URLs


@pytest.mark.parametrize("path", [
    "/tags/PYTHON/rss.xml", "/tags/Python/rss.xml",
    "/tags/%EF%BC%B0%EF%BC%B9%EF%BC%B4%EF%BC%A8%EF%BC%AF%EF%BC%AE/rss.xml",  # fullwidth (NFKC)
    "/tags/py%74hon/rss.xml",
])
def test_name_matching_ignores_case_and_width(http: FlaskClient, path: str) -> None:
    assert http.get(path).data == http.get("/tags/python/rss.xml").data


@pytest.mark.parametrize("name", ["a/b", "what?", "c#", "with space", "<script>x</script>", "a&b", "..", "南开大学",
                                  "100%"])
def test_hostile_names_have_working_urls(http: FlaskClient, name: str) -> None:
    from feedsvc.textutil import url_segment

    for filename in ("rss.xml", "atom.xml", "feed.json"):
        resp = http.get(f"/tags/{url_segment(name)}/{filename}")
        assert resp.status_code == 200, (name, resp.data[:100])
        assert f"/tags/{url_segment(name)}/{filename}".encode() in resp.data


def test_unknown_name_is_a_plain_404(http: FlaskClient) -> None:
    for path in ("/tags/nope/rss.xml", "/categories/nope/atom.xml", "/tags/%3Cscript%3E/feed.json"):
        resp = http.get(path)
        assert resp.status_code == 404
        assert resp.content_type == "text/plain; charset=utf-8"
        assert b"<" not in resp.data.replace(b"<script>", b"") or b"<html" not in resp.data.lower()
        assert len(resp.data) < 300


def test_method_not_allowed_is_plain_text(http: FlaskClient) -> None:
    for method in ("POST", "PUT", "DELETE", "PATCH"):
        resp = http.open("/rss.xml", method=method, data=b"x")
        assert resp.status_code == 405
        assert resp.content_type == "text/plain; charset=utf-8"
        assert set(resp.headers["Allow"].replace(" ", "").split(",")) >= {"GET", "HEAD"}
    assert http.open("/tags/python/rss.xml", method="OPTIONS").status_code in (200, 204)


WEIRD = [
    "/tags/%FF/rss.xml", "/tags/%C3%28/rss.xml", "/tags/%ED%A0%80/rss.xml", "/tags/%/rss.xml", "/tags/%zz/rss.xml",
    "/tags/%00/rss.xml", "/tags/%0A/rss.xml", "/tags/%EF%BF%BE/rss.xml", "/tags/%E2%80%AE/rss.xml",
    "/tags/" + "a" * 10_000 + "/rss.xml", "/tags/" + "%E5%8D%97" * 3000 + "/atom.xml", "/" + "x/" * 2000,
    "/tags/%2F/rss.xml", "/tags/%2F%2F/rss.xml", "/tags//rss.xml", "/tags///rss.xml", "/../rss.xml",
    "/tags/%2e%2e/rss.xml", "/tags/./rss.xml", "/tags/../../etc/passwd", "/tags/a/b/c/d/rss.xml",
    "/rss.xml?<script>=1", "/rss.xml;x", "/RSS.XML", "/tags/python/RSS.xml", "/tags/python/rss.xml/",
    "/tags/python", "/tags/", "/tags", "/categories/%C0%AF/feed.json", "/tags/%u0041/rss.xml",
    "/tags/rss.xml/rss.xml", "/tags/%20/rss.xml", "/tags/%09/rss.xml", "/%E2%80%8B/rss.xml",
]


@pytest.mark.parametrize("path", WEIRD)
def test_weird_paths_never_500(http: FlaskClient, path: str) -> None:
    for method in ("GET", "HEAD"):
        resp = http.open(path, method=method)
        assert resp.status_code < 500, (path, resp.data[:200])
        if resp.status_code >= 400:
            assert resp.content_type.startswith("text/plain")
            assert b"Traceback" not in resp.data


def test_redirects_are_relative(http: FlaskClient) -> None:
    for path in ("/tags//rss.xml", "/tags///rss.xml", "/tags/python/", "/categories//notes//rss.xml"):
        resp = http.get(path, headers={"Host": "evil.example"})
        assert not 300 <= resp.status_code < 400, (path, resp.headers.get("Location"))


# ---------------------------------------------------------------- healthz


def test_healthz_lists_bad_posts(http: FlaskClient) -> None:
    resp = http.get("/healthz")
    body = resp.get_json()
    assert resp.headers["Cache-Control"] == "no-store"
    assert body["status"] == "ok"
    errors = {e["path"]: e["reason"] for e in body["errors"]}
    assert "bad-not-utf8.md" in errors and "not UTF-8" in errors["bad-not-utf8.md"]
    assert len(errors) == len(list(EDGE_CONTENT.glob("bad-*")))
    assert all(e.keys() >= {"path", "reason"} for e in body["errors"])
    assert body["posts"] > 30 and body["last_reload"]
    assert any(w["path"] == "duplicate-id-b.md" for w in body["warnings"])


def test_missing_content_folder_is_degraded_not_500(make_app: Any, tmp_path: Any) -> None:
    client = make_app(content_dir=str(tmp_path / "missing")).test_client()
    assert client.get("/rss.xml").status_code == 200
    body = client.get("/healthz").get_json()
    assert body["status"] == "degraded" and "missing" in body["reason"]


def iter_feed_paths(app: Flask) -> Iterator[str]:
    snapshot = app.extensions["feedsvc"].current()
    for feed in snapshot.index.feed_list():
        for filename in ("rss.xml", "atom.xml", "feed.json"):
            yield f"{feed.path}/{filename}"


def test_every_feed_of_the_edge_folder_is_served(edge_app: Flask, http: FlaskClient) -> None:
    paths = list(iter_feed_paths(edge_app))
    assert len(paths) > 60
    for path in paths:
        assert http.get(path).status_code == 200, path


def test_names_made_of_slashes_and_dots_have_working_urls(make_app: Any, write_post: Any) -> None:
    from feedsvc.textutil import url_segment

    names = ["/", "a//b", "x/", "/y", ".", "...", "rss.xml", "%2F", "?#", " lead and trail "]
    write_post("p.md", title="P", tags=names)
    client = make_app().test_client()
    snapshot = client.application.extensions["feedsvc"].current()
    served = {f.name for f in snapshot.index.feeds.values()}
    for name in names:
        name = " ".join(name.split())
        assert name in served
        resp = client.get(f"/tags/{url_segment(name)}/atom.xml")
        assert resp.status_code == 200, (name, resp.data[:120])
        assert f"<title>Test site: {name}</title>".replace("&", "&amp;").encode() in resp.data


def test_if_modified_since_with_a_microsecond_newest_date(make_app: Any, write_post: Any) -> None:
    """The seed's dates carry microseconds; Last-Modified has whole seconds (RFC 9110 5.6.7)."""
    write_post("seed.md", title="Seed", date="2022-04-01 01:22:35.323881")
    client = make_app().test_client()
    first = client.get("/rss.xml")
    assert first.headers["Last-Modified"] == "Fri, 01 Apr 2022 01:22:35 GMT"
    again = client.get("/rss.xml", headers={"If-Modified-Since": first.headers["Last-Modified"]})
    assert again.status_code == 304


def test_category_hierarchy_setting(make_app: Any, write_post: Any) -> None:
    write_post("a.md", title="A", categories=["nankai.info", "南开大学"])
    flat = make_app().test_client()
    assert flat.get("/categories/nankai.info/rss.xml").status_code == 200
    assert flat.get("/categories/%E5%8D%97%E5%BC%80%E5%A4%A7%E5%AD%A6/rss.xml").status_code == 200
    tree = make_app(category_hierarchy=True).test_client()
    assert tree.get("/categories/nankai.info/rss.xml").status_code == 200
    nested = tree.get("/categories/nankai.info%2F%E5%8D%97%E5%BC%80%E5%A4%A7%E5%AD%A6/atom.xml")
    assert nested.status_code == 200
    assert b"/categories/nankai.info%2F%E5%8D%97%E5%BC%80%E5%A4%A7%E5%AD%A6/atom.xml" in nested.data
    assert tree.get("/categories/%E5%8D%97%E5%BC%80%E5%A4%A7%E5%AD%A6/rss.xml").status_code == 404
