"""The pages and feeds in real headless Chromium (Debian's ``chromium`` with ``fonts-noto-cjk``,
installed here when missing), served by real gunicorn from the bundled Chinese content plus
every edge case, with the settings ``make run`` uses (feedsvc.toml: zh-CN).

- ``/rss.xml`` and ``/atom.xml`` are transformed by feed.xsl: the DOM holds the item titles as
  text, linked to the permalinks; without XSLT, feed.css styles the raw XML.
- ``/`` and a tag's page at 390 px and 1280 px, light and dark: no horizontal scroll, the
  newest posts' titles, every feed link answering 200, the filter box filtering.

Screenshots go to a temporary folder; with ``UPDATE_SCREENSHOTS=1`` to docs/screenshots (the
README's). The site URL is fixed, so the screenshots do not depend on the port.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from chromium import Chromium, Page, ensure_chromium
from conftest import EDGE_CONTENT, ROOT, GunicornServer
from lxml import etree

SITE = "https://news.example.org"
ATOM = "{http://www.w3.org/2005/Atom}"
PHONE, DESKTOP = (390, 844), (1280, 900)


@pytest.fixture(scope="module")
def shots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if os.environ.get("UPDATE_SCREENSHOTS") == "1":
        return ROOT / "docs" / "screenshots"
    return tmp_path_factory.mktemp("screenshots")


@pytest.fixture(scope="module")
def browser() -> Iterator[Chromium]:
    reason = ensure_chromium()
    if reason:
        pytest.skip(reason)
    chromium = Chromium()
    yield chromium
    chromium.close()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GunicornServer]:
    root = tmp_path_factory.mktemp("browser")
    shutil.copytree(ROOT / "content", root / "site")
    shutil.copytree(EDGE_CONTENT, root / "site" / "edge", symlinks=True)
    env = {"FEEDSVC_CONFIG": str(ROOT / "feedsvc.toml"), "FEEDSVC_NOTIFY": "0"}
    gunicorn = GunicornServer(root / "site", root, env=env, site_url=SITE)
    gunicorn.env.pop("FEEDSVC_TITLE")  # the title from feedsvc.toml
    yield gunicorn.start()
    gunicorn.stop()


@pytest.fixture
def page(browser: Chromium) -> Iterator[Page]:
    tab = browser.new_page()
    yield tab
    tab.close()


def local(server: GunicornServer, url: str) -> str:
    """A site URL (from FEEDSVC_SITE_URL) on the test server."""
    assert url.startswith(SITE + "/"), url
    return server.base_url + url[len(SITE):]


def titles(server: GunicornServer, path: str) -> list[str]:
    root = etree.fromstring(server.request("GET", path).body)
    if root.tag == f"{ATOM}feed":
        return [e.findtext(f"{ATOM}title") for e in root.iter(f"{ATOM}entry")]
    return [i.findtext("title") for i in root.iter("item")]


@pytest.mark.parametrize("path", ["/rss.xml", "/atom.xml"])
def test_feed_is_a_page_through_xslt(server: GunicornServer, page: Page, shots: Path, path: str) -> None:
    expected = titles(server, path)
    assert len(expected) == 20 and any("南开" in t for t in expected)
    page.emulate(*PHONE)
    page.goto(server.base_url + path)
    assert page.evaluate("document.contentType") == "text/html"  # the XSLT result, not the XML
    shown = page.evaluate("[...document.querySelectorAll('ol.items h3 a')].map(a => [a.textContent, a.href])")
    assert [text for text, _ in shown] == expected  # as text: no escaped markup
    assert all(href.startswith(SITE + "/") for _, href in shown)
    text = page.evaluate("document.body.innerText")
    assert "<rss" not in text and "<entry" not in text and "&lt;" not in text
    assert page.evaluate("document.querySelector('input[type=url]').value") == SITE + path
    assert page.evaluate("document.documentElement.lang") == "zh-CN"
    assert page.evaluate("document.documentElement.scrollWidth <= innerWidth")
    page.screenshot(shots / f"feed-xslt{path.replace('/', '-').replace('.xml', '')}-390.png")


def test_without_xslt_the_css_stylesheet_applies(server: GunicornServer, browser: Chromium, shots: Path) -> None:
    """A browser without XSLT (Chromium with the XSLT feature off) styles the raw XML with
    feed.css: titles shown, the raw <link>/<guid> noise hidden."""
    import subprocess

    out = shots / "feed-css-fallback-390.png"
    subprocess.run(["chromium", "--headless", "--no-sandbox", "--disable-gpu", "--disable-features=XSLT",
                    "--hide-scrollbars", f"--window-size={PHONE[0]},{PHONE[1]}", f"--screenshot={out}",
                    server.base_url + "/rss.xml"], capture_output=True, timeout=60, check=True)
    assert out.stat().st_size > 10_000
    dom = subprocess.run(["chromium", "--headless", "--no-sandbox", "--disable-gpu", "--disable-features=XSLT",
                          "--dump-dom", server.base_url + "/rss.xml"], capture_output=True, timeout=60, check=True,
                         text=True).stdout
    assert dom.lstrip().startswith("<rss")  # not transformed: the CSS fallback is what shows


@pytest.mark.parametrize(("size", "dark"), [(PHONE, False), (PHONE, True), (DESKTOP, False), (DESKTOP, True)])
def test_home_page(server: GunicornServer, page: Page, shots: Path, size: tuple[int, int], dark: bool) -> None:
    page.emulate(*size, dark=dark, mobile=size == PHONE)
    page.goto(server.base_url + "/")
    assert page.evaluate("document.documentElement.scrollWidth <= innerWidth"), "horizontal scroll"
    newest = page.evaluate("[...document.querySelectorAll('ol.items h3 a')].map(a => a.textContent)")
    assert newest == titles(server, "/rss.xml")
    assert page.evaluate("document.documentElement.lang") == "zh-CN"
    background = page.evaluate("getComputedStyle(document.body).backgroundColor")
    assert (background == "rgb(18, 19, 23)") == dark
    page.screenshot(shots / f"home-{size[0]}-{'dark' if dark else 'light'}.png")


def test_every_link_on_the_home_page_answers(server: GunicornServer, page: Page) -> None:
    page.emulate(*DESKTOP)
    page.goto(server.base_url + "/")
    hrefs = page.evaluate("[...document.querySelectorAll('.feeds a, .subscribe a, footer a')].map(a => a.href)")
    feeds = [h for h in hrefs if h.endswith(("/rss.xml", "/atom.xml", "/feed.json"))]
    assert len(feeds) >= 3 * 50
    for href in sorted(set(hrefs)):
        assert urlsplit(href).netloc == urlsplit(SITE).netloc
        resp = server.request("GET", local(server, href)[len(server.base_url):])
        assert resp.status == 200, href


def test_filter_box_filters_feeds(server: GunicornServer, page: Page) -> None:
    page.emulate(*PHONE, mobile=True)
    page.goto(server.base_url + "/")
    assert page.evaluate("document.querySelector('.filter').hidden") is False  # shown once scripts run
    total = page.evaluate("document.querySelectorAll('li[data-name]').length")
    page.evaluate("(f => { f.value = '南开'; f.dispatchEvent(new Event('input')); })(document.getElementById('feed-filter'))")
    shown = page.evaluate("[...document.querySelectorAll('li[data-name]')].filter(li => !li.hidden).map(li => li.dataset.name)")
    assert 0 < len(shown) < total and all("南开" in name for name in shown)


def test_tag_page(server: GunicornServer, page: Page, shots: Path) -> None:
    path = "/tags/%E5%8D%97%E5%BC%80%E5%A4%A7%E5%AD%A6/"  # 南开大学
    page.emulate(*PHONE, mobile=True)
    page.goto(server.base_url + path)
    assert page.evaluate("document.documentElement.scrollWidth <= innerWidth")
    shown = page.evaluate("[...document.querySelectorAll('ol.items h3 a')].map(a => a.textContent)")
    assert shown == titles(server, path + "rss.xml")
    assert page.evaluate("document.querySelector('input[type=url]').value") == f"{SITE}{path}rss.xml"
    page.screenshot(shots / "tag-390-light.png")
