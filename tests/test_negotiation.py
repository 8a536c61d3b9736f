"""RSS and Atom for browsers: a request whose Accept prefers text/html gets the same bytes as
``application/xml`` (which Chromium renders and styles), under an ETag of its own; every answer
says ``Vary: Accept, Accept-Encoding``; conditional requests hold per variant."""

from __future__ import annotations

from typing import Any

import pytest
from flask.testing import FlaskClient

from feedsvc.http import prefers_html

CHROMIUM = "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,image/apng,*/*;q=0.8,application/signed-exchange;v=b3;q=0.7"
FIREFOX = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"
SAFARI = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"
READERS = [
    None, "", "*/*", "application/rss+xml", "application/atom+xml",
    "application/rss+xml, application/rdf+xml;q=0.8, application/atom+xml;q=0.6, application/xml;q=0.4, text/xml;q=0.4",
    "application/atom+xml,application/rss+xml;q=0.9,application/xml;q=0.8,text/xml;q=0.8,*/*;q=0.7",
    "application/rss+xml, application/atom+xml, application/xml;q=0.9, text/html;q=0.5, */*;q=0.1",
    "text/*", "text/xml",
]


@pytest.mark.parametrize(("accept", "browser"), [
    (CHROMIUM, True), (FIREFOX, True), ("TEXT/HTML", True), ("text/html;q=0.5, */*;q=0.1", True),
    *[(accept, False) for accept in READERS],
    ("text/html;q=0", False), ("application/rss+xml, text/html", False),
])
def test_prefers_html(accept: str | None, browser: bool) -> None:
    assert prefers_html(accept, "application/rss+xml") is browser


@pytest.fixture
def http(make_app: Any, write_post: Any) -> FlaskClient:
    write_post("a.md", title="A", tags=["t"])
    return make_app().test_client()


@pytest.mark.parametrize("path", ["/rss.xml", "/atom.xml", "/tags/t/rss.xml", "/tags/t/atom.xml"])
def test_browser_and_reader_variants(http: FlaskClient, path: str) -> None:
    reader = http.get(path, headers={"Accept": "application/rss+xml, */*"})
    browser = http.get(path, headers={"Accept": CHROMIUM})
    assert reader.content_type.startswith(("application/rss+xml", "application/atom+xml"))
    assert browser.content_type == "application/xml; charset=utf-8"
    assert browser.data == reader.data  # same bytes: the stylesheet PI is in both
    assert browser.data.count(b"<?xml-stylesheet ") == 2
    for resp in (reader, browser):
        assert resp.headers["Vary"] == "Accept, Accept-Encoding"
    assert browser.headers["ETag"] == reader.headers["ETag"][:-1] + '.xml"'
    # each variant revalidates against its own tag; the other's tag is a 200
    assert http.get(path, headers={"Accept": CHROMIUM, "If-None-Match": browser.headers["ETag"]}).status_code == 304
    assert http.get(path, headers={"Accept": CHROMIUM, "If-None-Match": reader.headers["ETag"]}).status_code == 200
    assert http.get(path, headers={"If-None-Match": reader.headers["ETag"]}).status_code == 304
    assert http.get(path, headers={"If-None-Match": browser.headers["ETag"]}).status_code == 200
    gz = http.get(path, headers={"Accept": CHROMIUM, "Accept-Encoding": "gzip"})
    assert gz.headers["ETag"] == browser.headers["ETag"][:-1] + '-gzip"' and gz.content_type.startswith("application/xml")
    not_modified = http.get(path, headers={"Accept": CHROMIUM, "Accept-Encoding": "gzip", "If-None-Match": gz.headers["ETag"]})
    assert not_modified.status_code == 304 and not_modified.headers["Vary"] == "Accept, Accept-Encoding"


def test_json_feed_and_pages_are_not_negotiated(http: FlaskClient) -> None:
    for path in ("/feed.json", "/", "/tags/t/", "/opml.xml", "/feed.xsl"):
        resp = http.get(path, headers={"Accept": CHROMIUM})
        assert resp.headers["Vary"] == "Accept-Encoding", path
        assert resp.headers["ETag"] == http.get(path).headers["ETag"], path
