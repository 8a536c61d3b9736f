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
from feedsvc.render import ATOM_NS


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
    rows = page.xpath("//ul[@class='feeds']/li")
    snapshot = site.extensions["feedsvc"].current()
    feeds = snapshot.index.feed_list()
    assert len(rows) == len(feeds)
    limit = site.config["SETTINGS"].feed_limit
    for row, feed in zip(rows, feeds, strict=True):
        name = row.xpath("./a[@class='name']")[0]
        if feed.name:
            assert name.text_content() == feed.name
        assert http.get(local(name.get("href"))).status_code == 200
        count = int(row.xpath("./span[@class='meta']")[0].text_content().split()[0])
        assert count == min(len(feed.posts), limit)  # the items the feed holds
        hrefs = row.xpath("./span[@class='links']/a/@href")
        assert len(hrefs) == 3
        for href in hrefs:
            assert http.get(local(href)).status_code == 200, href
        assert row.xpath(".//button/@data-copy") == [hrefs[0]]
    groups = [g.get("data-group") for g in page.xpath("//section[@data-group]")]
    assert groups == list(dict.fromkeys(feed.key.kind for feed in feeds))  # site, category, tag, author


def test_index_shows_the_newest_posts_in_the_site_time_zone(make_app: Any, write_post: Any) -> None:
    write_post("a.md", title="Late <b>night</b>", date="2024-03-01T23:30:00+00:00", summary="S & <i>t</i>")
    page = lxml.html.fromstring(make_app(timezone="Asia/Shanghai", language="zh-CN").test_client().get("/").data)
    assert page.get("lang") == "zh-CN"
    item = page.xpath("//ol[@class='items']/li")[0]
    assert item.xpath(".//h3/a")[0].text_content() == "Late <b>night</b>"
    assert item.xpath(".//time")[0].text == "2024-03-02"  # 07:30 the next day in Shanghai
    assert item.xpath(".//time/@datetime") == ["2024-03-02T07:30:00+08:00"]


def test_feed_page_at_its_folder_url(http: FlaskClient) -> None:
    for path in ("/tags/a%2Fb/", "/categories/C%2FC%2B%2B/", "/tags/%3Cscript%3Ex%3C%2Fscript%3E/"):
        resp = http.get(path)
        assert resp.status_code == 200 and resp.content_type == "text/html; charset=utf-8", path
        page = lxml.html.fromstring(resp.data)
        alternates = page.xpath("//head/link[@rel='alternate']/@href")
        assert [local(a) for a in alternates] == [f"{path}rss.xml", f"{path}atom.xml", f"{path}feed.json"]
        assert page.xpath("//input[@type='url']/@value") == [f"{SITE_URL}{path}rss.xml"]
        feed = etree.fromstring(http.get(f"{path}rss.xml").data)
        assert [a.text_content() for a in page.xpath("//ol[@class='items']//h3/a")] == [
            t.text for t in feed.iter("title")][1:]
        etag = resp.headers["ETag"]
        assert http.get(path, headers={"If-None-Match": etag}).status_code == 304
    assert http.get("/tags/no-such-tag/").status_code == 404


def test_folder_url_without_slash_redirects_to_the_site_url(http: FlaskClient) -> None:
    resp = http.get("/tags/a%2Fb", headers={"Host": "evil.example"})
    assert resp.status_code == 308 and resp.headers["Location"] == f"{SITE_URL}/tags/a%2Fb/"  # the feed's own path
    assert http.get("/tags/no-such-tag", headers={"Host": "evil.example"}).status_code == 404


def test_stylesheets_are_served_with_etags(http: FlaskClient) -> None:
    xsl = http.get("/feed.xsl")
    assert xsl.status_code == 200 and xsl.content_type == "text/xsl; charset=utf-8"
    etree.XSLT(etree.fromstring(xsl.data))  # a valid XSLT 1.0 stylesheet
    assert http.get("/feed.xsl", headers={"If-None-Match": xsl.headers["ETag"]}).status_code == 304
    css = http.get("/feed.css")
    assert css.status_code == 200 and css.content_type == "text/css; charset=utf-8" and css.headers["ETag"]


@pytest.mark.parametrize("path", ["/rss.xml", "/atom.xml", "/tags/a%2Fb/rss.xml"])
def test_the_stylesheet_turns_a_feed_into_a_page(http: FlaskClient, path: str) -> None:
    """feed.xsl run by lxml (libxslt, as Chromium does): item titles as text, linked; the
    summary as plain text; the other formats and the feed's page linked."""
    transform = etree.XSLT(etree.fromstring(http.get("/feed.xsl").data))
    feed = etree.fromstring(http.get(path).data)
    assert feed.getroottree().docinfo  # parsed with its processing instructions
    page = transform(feed.getroottree())
    html = lxml.html.fromstring(str(page))
    links = html.xpath("//ol[@class='items']//h3/a")
    assert links and all(a.get("href").startswith(("https://", "http://")) for a in links)
    assert [a.text_content() for a in links] == [t.text for t in feed.iter("title", f"{{{ATOM_NS}}}title")][1:]
    for p in html.xpath("//ol[@class='items']//p"):
        assert "<" not in p.text_content() and "&lt;" not in p.text_content()
    folder = path.rsplit("/", 1)[0] + "/"
    hrefs = {local(h) for h in html.xpath("//a/@href") if h.startswith(SITE_URL)}
    assert {folder, folder + "rss.xml", folder + "atom.xml", folder + "feed.json"} <= hrefs
    for time in html.xpath("//time"):
        assert time.text.endswith("UTC") and time.text[:4].isdigit()


def test_index_escapes_hostile_names(http: FlaskClient) -> None:
    html = http.get("/").data.decode()
    assert html.count("<script") == 1 and "<script>x" not in html and "<script>alert" not in html  # only ours
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
        html_url = outline.get("htmlUrl")
        assert html_url == outline.get("xmlUrl").removesuffix("rss.xml")  # the feed's own page
        assert http.get(local(html_url)).status_code == 200


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
