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

    @property
    def mime(self) -> str:
        """The media type without parameters (autodiscovery ``type``, RSS Autodiscovery draft)."""
        return self.content_type.split(";")[0]


RSS = Format("rss", "rss.xml", "application/rss+xml; charset=utf-8", "RSS")
ATOM = Format("atom", "atom.xml", "application/atom+xml; charset=utf-8", "Atom")
JSON = Format("json", "feed.json", "application/feed+json; charset=utf-8", "JSON Feed")
FORMATS: tuple[Format, ...] = (RSS, ATOM, JSON)
_BY_NAME = {f.name: f for f in FORMATS}


def format_named(name: str) -> Format:
    """The format called ``name`` ("rss", "atom" or "json"); KeyError for any other."""
    return _BY_NAME[name]
