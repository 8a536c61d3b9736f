"""The feed formats: one table (``FORMATS``) drives rendering, paths, routes and pages."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Format:
    """Everything feedsvc knows about one feed format."""

    name: str  # the key of documents and renderings: "rss", "atom", "json"
    filename: str  # the document's file name in a feed folder, e.g. "rss.xml"
    content_type: str  # the Content-Type header of the document
    label: str  # shown to people: page links and autodiscovery titles
    # The Content-Type a browser gets (a request whose Accept prefers text/html), where it differs:
    # Chromium shows application/rss+xml and application/atom+xml as plain text and applies no
    # xml-stylesheet to them, but renders application/xml. The bytes are the same.
    browser_type: str = ""

    @property
    def mime(self) -> str:
        """The media type without parameters (autodiscovery ``type``, RSS Autodiscovery draft)."""
        return self.content_type.split(";")[0]


XML_FOR_BROWSERS = "application/xml; charset=utf-8"
RSS = Format("rss", "rss.xml", "application/rss+xml; charset=utf-8", "RSS", XML_FOR_BROWSERS)
ATOM = Format("atom", "atom.xml", "application/atom+xml; charset=utf-8", "Atom", XML_FOR_BROWSERS)
JSON = Format("json", "feed.json", "application/feed+json; charset=utf-8", "JSON Feed")
FORMATS: tuple[Format, ...] = (RSS, ATOM, JSON)
# A feed's preview page: HTML at the feed's folder URL (/tags/<name>/; the site's is /). Not a
# feed format (not in FORMATS): no feed document, no WebSub topic.
PAGE = Format("page", "", "text/html; charset=utf-8", "Web page")
_BY_NAME = {f.name: f for f in FORMATS}


def format_named(name: str) -> Format:
    """The format called ``name`` ("rss", "atom" or "json"); KeyError for any other."""
    return _BY_NAME[name]
