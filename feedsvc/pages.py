"""The HTML index of feeds (with autodiscovery links) and the OPML 2.0 subscription list."""

from __future__ import annotations

from dataclasses import dataclass
from html import escape
from xml.sax.saxutils import quoteattr

from .config import Settings
from .formats import RSS, Format
from .index import KIND
from .textutil import xml_safe


@dataclass(frozen=True, slots=True)
class FeedLink:
    kind: str
    name: str
    title: str
    count: int
    urls: tuple[tuple[Format, str], ...]  # (format, URL of the feed in it), in FORMATS order


def index_html(settings: Settings, links: list[FeedLink]) -> bytes:
    """A small HTML page listing every feed; the site feeds are autodiscoverable
    (<link rel="alternate">, RSS Autodiscovery / Atom Autodiscovery drafts)."""
    head = []
    for fmt, url in links[0].urls if links else ():
        head.append(
            f'<link rel="alternate" type="{fmt.mime}" title="{escape(settings.title)} ({fmt.label})" href="{escape(url)}">'
        )
    rows = []
    for link in links:
        subscribe = " ".join(f'<a href="{escape(url)}">{fmt.label}</a>' for fmt, url in link.urls)
        name = escape(link.name) if link.name else escape(settings.title)
        rows.append(
            f"<tr><td>{KIND[link.kind].label}</td><td>{name}</td><td>{link.count}</td><td>{subscribe}</td></tr>"
        )
    title = escape(settings.title)
    page = (
        "<!doctype html>\n"
        f'<html lang="{escape(settings.language)}"><head><meta charset="utf-8">'
        f'<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{title} feeds</title>{''.join(head)}"
        '<link rel="outline" type="text/x-opml" title="All feeds (OPML)" '
        f'href="{escape(settings.url("/opml.xml"))}">'
        "<style>body{font-family:system-ui,sans-serif;margin:2em auto;max-width:60em;padding:0 1em}"
        "td,th{padding:.2em .6em;text-align:left}tr:nth-child(even){background:#f4f4f4}</style>"
        f"</head><body><h1>{title}</h1><p>{escape(settings.description)}</p>"
        f'<p>{len(links)} feeds. Import them all into a reader with <a href="{escape(settings.url("/opml.xml"))}">OPML</a>.</p>'
        "<table><thead><tr><th>Kind</th><th>Name</th><th>Posts</th><th>Subscribe</th></tr></thead><tbody>"
        + "".join(rows)
        + "</tbody></table></body></html>\n"
    )
    return page.encode("utf-8")


def opml(settings: Settings, links: list[FeedLink]) -> bytes:
    """OPML 2.0 (http://opml.org/spec2.opml): one outline per feed, RSS flavour as xmlUrl."""
    outlines = []
    for link in links:
        rss_url = next(url for fmt, url in link.urls if fmt == RSS)
        outlines.append(
            f"<outline type=\"rss\" text={quoteattr(link.title)} title={quoteattr(link.title)} "
            f"xmlUrl={quoteattr(rss_url)} htmlUrl={quoteattr(settings.site_url + '/')}/>"
        )
    doc = (
        '<?xml version="1.0" encoding="UTF-8"?>\n<opml version="2.0"><head>'
        f"<title>{escape(settings.title)}</title></head><body>" + "".join(outlines) + "</body></opml>\n"
    )
    return xml_safe(doc).encode("utf-8")  # settings text may hold characters XML forbids
