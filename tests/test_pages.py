"""The index page `/` (autodiscovery, counts, escaping) and `/opml.xml` (OPML 2.0)."""

from __future__ import annotations

from typing import Any

import lxml.html
import pytest
from conftest import EDGE_CONTENT, SITE_URL
from flask import Flask
from flask.testing import FlaskClient
from lxml import etree

from feedsvc.app import create_app


@pytest.fixture(scope="module")
def site() -> Flask:
    return create_app({"CONTENT_DIR": str(EDGE_CONTENT), "SITE_URL": SITE_URL, "BUILD_WORKERS": 1,
                       "TITLE": "Site <&> \"quoted\"", "DESCRIPTION": "<script>alert(1)</script>", "TESTING": True})


@pytest.fixture
def http(site: Flask) -> FlaskClient:
    return site.test_client()


def local(url: str) -> str:
    assert url.startswith(SITE_URL + "/"), url
    return url[len(SITE_URL):]


def test_index_autodiscovery_links(http: FlaskClient) -> None:
    page = lxml.html.fromstring(http.get("/").data)
    alternates = page.xpath("//head/link[@rel='alternate']")
    types = {link.get("type"): link.get("href") for link in alternates}
    assert types == {"application/rss+xml": f"{SITE_URL}/rss.xml", "application/atom+xml": f"{SITE_URL}/atom.xml",
                     "application/feed+json": f"{SITE_URL}/feed.json"}
    for link in alternates:
        assert link.get("title") and http.get(local(link.get("href"))).status_code == 200
    assert page.xpath("//head/link[@rel='outline']/@href") == [f"{SITE_URL}/opml.xml"]


def test_index_lists_every_feed_with_its_count_and_working_links(site: Flask, http: FlaskClient) -> None:
    page = lxml.html.fromstring(http.get("/").data)
    rows = page.xpath("//tbody/tr")
    snapshot = site.extensions["feedsvc"].current()
    feeds = snapshot.index.feed_list()
    assert len(rows) == len(feeds)
    for row, feed in zip(rows, feeds, strict=True):
        cells = row.xpath("./td")
        if feed.name:
            assert cells[1].text_content() == feed.name
        assert int(cells[2].text_content()) == len(feed.posts)
        hrefs = row.xpath(".//a/@href")
        assert len(hrefs) == 3
        for href in hrefs:
            assert http.get(local(href)).status_code == 200, href
    site_row = rows[0].xpath("./td")
    assert int(site_row[2].text_content()) == len(snapshot.index.posts)


def test_index_escapes_hostile_names(http: FlaskClient) -> None:
    html = http.get("/").data.decode()
    assert "<script>" not in html
    assert "&lt;script&gt;x&lt;/script&gt;" in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    page = lxml.html.fromstring(html)
    assert page.findtext(".//title").startswith('Site <&> "quoted"')


def test_opml_lists_every_feed_once(site: Flask, http: FlaskClient) -> None:
    resp = http.get("/opml.xml")
    root = etree.fromstring(resp.data, etree.XMLParser(recover=False))
    assert root.tag == "opml" and root.get("version") == "2.0"
    assert root.findtext("head/title") == 'Site <&> "quoted"'
    outlines = root.findall("body/outline")
    feeds = site.extensions["feedsvc"].current().index.feed_list()
    assert len(outlines) == len(feeds)
    urls = [o.get("xmlUrl") for o in outlines]
    assert len(set(urls)) == len(urls)
    for outline in outlines:
        assert outline.get("type") == "rss" and outline.get("text")
        feed = http.get(local(outline.get("xmlUrl")))
        assert feed.status_code == 200 and feed.content_type.startswith("application/rss+xml")
        assert http.get(local(outline.get("htmlUrl"))).status_code < 500


def test_opml_names_with_specials(http: FlaskClient) -> None:
    root = etree.fromstring(http.get("/opml.xml").data)
    texts = {o.get("text") for o in root.iter("outline")}
    assert 'Site <&> "quoted": <script>x</script>' in texts
    assert 'Site <&> "quoted": a/b' in texts


def test_empty_site_pages(make_app: Any) -> None:
    client = make_app().test_client()
    assert client.get("/").status_code == 200
    root = etree.fromstring(client.get("/opml.xml").data)
    assert len(root.findall("body/outline")) == 1
