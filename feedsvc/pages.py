"""The pages people open in a browser, and the OPML list, rendered when a snapshot is built.

- ``/``: the site's home (newest posts, every feed grouped by kind); also the site feed's
  preview page.
- one preview page per feed at its folder URL (``/tags/<name>/``): the feed's items and how
  to subscribe, without XSLT.
- ``/feed.xsl`` and ``/feed.css``: what RSS and Atom documents name in their
  ``xml-stylesheet`` processing instructions (an XSLT view, and a CSS fallback for browsers
  without XSLT).
- ``/opml.xml``: OPML 2.0.

Jinja2 templates in ``feedsvc/templates`` with autoescape on; jinja2 is not Flask, so this
stays in the core. Every URL comes from the settings, every date from the posts: the same
content gives the same bytes.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from html import escape
from itertools import groupby
from urllib.parse import urlsplit
from xml.sax.saxutils import quoteattr

from jinja2 import Environment, PackageLoader, StrictUndefined

from .config import Settings
from .formats import FORMATS, PAGE, RSS, Format
from .index import AUTHOR, CATEGORY, SITE, TAG
from .textutil import xml_safe

# Headings of the groups on the home page; a kind not listed here is shown as its name.
KIND_HEADING = {SITE: "Site", CATEGORY: "Categories", TAG: "Tags", AUTHOR: "Authors"}
SUMMARY_CHARS = 280  # longer summaries are cut on the pages (the feeds carry them whole)
XSL_PATH, CSS_PATH = "/feed.xsl", "/feed.css"
XSL_TYPE, CSS_TYPE = "text/xsl; charset=utf-8", "text/css; charset=utf-8"
ASSET_PATHS = (XSL_PATH, CSS_PATH)


@dataclass(frozen=True, slots=True)
class PostLine:
    """One item as a page lists it."""

    title: str
    url: str  # the permalink
    date: str  # YYYY-MM-DD in the site's time zone
    datetime: str  # RFC 3339, for <time datetime>
    summary: str  # plain text


@dataclass(frozen=True, slots=True)
class FeedLink:
    """One feed as the pages show it."""

    kind: str
    name: str  # "" for the site
    title: str
    description: str
    page_url: str  # the preview page: the feed's folder URL
    count: int  # items the feed holds (at most FEEDSVC_FEED_LIMIT)
    updated: str  # YYYY-MM-DD of the newest item, site time zone; "" without items
    urls: tuple[tuple[Format, str], ...]  # (format, URL of the feed in it), in FORMATS order
    posts: tuple[PostLine, ...] = ()  # filled for the feeds whose page is rendered

    @property
    def rss_url(self) -> str:
        return next(url for fmt, url in self.urls if fmt is RSS)


def site_path(settings: Settings, path: str) -> str:
    """A site path as a path-absolute reference, under FEEDSVC_SITE_URL's own path: same
    origin as the document that names it, whatever host the browser used."""
    return urlsplit(settings.site_url).path + path


def stylesheets(settings: Settings) -> tuple[tuple[str, str], ...]:
    """The xml-stylesheet processing instructions of RSS and Atom documents: the XSLT view,
    then the CSS that a browser without XSLT applies to the raw XML."""
    return (("text/xsl", site_path(settings, XSL_PATH)), ("text/css", site_path(settings, CSS_PATH)))


def cut(text: str, limit: int = SUMMARY_CHARS) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


@cache
def _environment() -> Environment:
    env = Environment(
        loader=PackageLoader("feedsvc", "templates"),
        autoescape=True,  # every template: names, titles and settings are hostile until escaped
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters["cut"] = cut
    return env


def _render(template: str, **context: object) -> bytes:
    return xml_safe(_environment().get_template(template).render(**context)).encode("utf-8")


def _common(settings: Settings) -> dict[str, object]:
    return {"settings": settings, "home_url": settings.url("/"), "opml_url": settings.url("/opml.xml"),
            "formats": FORMATS, "page_format": PAGE, "summary_chars": SUMMARY_CHARS}


def feed_html(settings: Settings, feed: FeedLink) -> bytes:
    """A feed's preview page: the same items and subscribe help as the XSLT view, no XSLT."""
    return _render("feed.html", feed=feed, **_common(settings))


def home_html(settings: Settings, site: FeedLink, links: Sequence[FeedLink]) -> bytes:
    """``/``: the site feed's items and every feed, grouped by kind in ``links``' order; the
    site feeds are autodiscoverable (<link rel="alternate">, RSS/Atom Autodiscovery)."""
    groups = [(kind, KIND_HEADING.get(kind, kind.title()), list(members))
              for kind, members in groupby(links, key=lambda link: link.kind)]
    return _render("home.html", feed=site, groups=groups, feed_count=len(links), **_common(settings))


def assets(settings: Settings) -> Mapping[str, tuple[bytes, str]]:
    """The stylesheets feeds name, by site path: (bytes, content type)."""
    return {
        XSL_PATH: (_render("feed.xsl", **_common(settings)), XSL_TYPE),
        CSS_PATH: (_render("feed.css"), CSS_TYPE),
    }


def opml(settings: Settings, links: Iterable[FeedLink]) -> bytes:
    """OPML 2.0 (http://opml.org/spec2.opml): one outline per feed, RSS flavour as xmlUrl and
    the feed's own page (its folder URL) as htmlUrl."""
    outlines = []
    for link in links:
        outlines.append(
            f"<outline type=\"rss\" text={quoteattr(link.title)} title={quoteattr(link.title)} "
            f"xmlUrl={quoteattr(link.rss_url)} htmlUrl={quoteattr(link.page_url)}/>"
        )
    doc = (
        '<?xml version="1.0" encoding="UTF-8"?>\n<opml version="2.0"><head>'
        f"<title>{escape(settings.title)}</title></head><body>" + "".join(outlines) + "</body></opml>\n"
    )
    return xml_safe(doc).encode("utf-8")  # settings text may hold characters XML forbids
