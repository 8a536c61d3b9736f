"""Feed documents from plain data: RSS 2.0 and Atom 1.0 with feedgen, JSON Feed 1.1 by hand.

No Flask here. feedgen's RFC 822 date formatting switches the process locale, so callers
render under RENDER_LOCK (the snapshot builder does), never from request threads.
"""

from __future__ import annotations

import html
import json
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from xml.sax.saxutils import quoteattr

import nh3
from feedgen.ext.base import BaseEntryExtension, BaseExtension
from feedgen.feed import FeedGenerator
from lxml import etree

from .markup import RenderedBody
from .postmeta import Attachment, Author
from .posts import Post
from .textutil import clean_line

RENDER_LOCK = threading.Lock()
ATOM_NS = "http://www.w3.org/2005/Atom"
HISTORY_NS = "http://purl.org/syndication/history/1.0"  # RFC 5005 fh:
MEDIA_NS = "http://search.yahoo.com/mrss/"  # Media RSS media:
XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)  # `updated` of a feed with no items
GENERATOR = "feedsvc"
JSONFEED_VERSION = "https://jsonfeed.org/version/1.1"


@dataclass(frozen=True, slots=True)
class FeedMeta:
    """What a feed says about itself; every URL comes from the configured site URL."""

    title: str
    description: str
    language: str
    author: str
    home_url: str  # the HTML page the feed belongs to
    self_url: str  # this document's own URL
    feed_id: str  # Atom feed id: stable across formats and restarts
    updated: datetime
    hubs: tuple[str, ...] = ()
    # (type, href) of the xml-stylesheet processing instructions of RSS and Atom, in order
    stylesheets: tuple[tuple[str, str], ...] = ()
    # RFC 5005 section 4: (rel, href) of prev-archive / current links, and whether this
    # document is an archive page (fh:archive); JSON Feed chains to prev-archive by next_url
    history: tuple[tuple[str, str], ...] = ()
    archive: bool = False

    def history_link(self, rel: str) -> str:
        return next((href for r, href in self.history if r == rel), "")


@dataclass(frozen=True, slots=True)
class Item:
    post: Post
    uid: str
    body: RenderedBody
    categories: tuple[tuple[str, str], ...]  # (name, scheme URL)
    modified: datetime | None = None  # when this version was first recorded (versions.py), if not the first

    @property
    def updated(self) -> datetime:
        """The entry's ``updated``: the front matter's, or later when a newer version was recorded."""
        post_updated = self.post.updated
        return post_updated if self.modified is None or self.modified <= post_updated else self.modified

    @property
    def image(self) -> str:
        """The front matter's image/cover/thumbnail, else the body's first image, or ""."""
        return self.post.image or self.body.image


class _RssHubLinks(BaseExtension):  # type: ignore[misc]
    """feedgen writes only the first rel=self atom:link in RSS and drops rel=hub: add the hubs
    (WebSub 4: the publisher advertises hub and self links in the topic)."""

    hubs: tuple[str, ...] = ()

    def extend_rss(self, feed: etree._Element) -> etree._Element:
        channel = feed.find("channel")
        for hub in self.hubs:
            etree.SubElement(channel, f"{{{ATOM_NS}}}link", href=hub, rel="hub")
        return feed


class _History(BaseExtension):  # type: ignore[misc]
    """RFC 5005 archived feeds: fh:archive in archive pages (Atom and RSS), and in RSS the
    prev-archive/current links as atom:link (feedgen writes only rel=self there). Declares
    the Media RSS namespace for the entries' media:thumbnail."""

    history: tuple[tuple[str, str], ...] = ()
    archive = False

    def extend_ns(self) -> dict[str, str]:
        return {"fh": HISTORY_NS, "media": MEDIA_NS}

    def extend_atom(self, feed: etree._Element) -> etree._Element:
        if self.archive:
            etree.SubElement(feed, f"{{{HISTORY_NS}}}archive")
        return feed

    def extend_rss(self, feed: etree._Element) -> etree._Element:
        channel = feed.find("channel")
        for rel, href in self.history:
            etree.SubElement(channel, f"{{{ATOM_NS}}}link", href=href, rel=rel, type="application/rss+xml")
        if self.archive:
            etree.SubElement(channel, f"{{{HISTORY_NS}}}archive")
        return feed


class _EntryExtras(BaseEntryExtension):  # type: ignore[misc]
    """What feedgen has no API for: media:thumbnail (Media RSS), enclosures (all of them as Atom
    link rel=enclosure; the first as the one RSS <enclosure>), xml:lang on the Atom entry, and
    author e-mails in Atom only (feedgen would also write RSS <author>, beside dc:creator)."""

    def __init__(self) -> None:
        self.thumbnail = ""
        self.attachments: tuple[Attachment, ...] = ()
        self.language = ""
        self.emails: dict[str, str] = {}

    def extend_atom(self, entry: etree._Element) -> etree._Element:
        if self.language:
            entry.set(XML_LANG, self.language)
        # feedgen builds Atom elements without a namespace (xmlns is an attribute of <feed>)
        for author in entry.findall("author"):
            email = self.emails.get(author.findtext("name") or "")
            if email:
                etree.SubElement(author, "email").text = email
        for att in self.attachments:
            link = etree.SubElement(entry, "link", rel="enclosure", href=att.url, type=att.mime_type)
            if att.length is not None:
                link.set("length", str(att.length))
            if att.title:
                link.set("title", att.title)
        self._thumbnail(entry)
        return entry

    def extend_rss(self, item: etree._Element) -> etree._Element:
        if self.attachments:  # RSS 2.0 allows one enclosure, with url, length and type
            att = self.attachments[0]
            length = str(att.length) if att.length is not None else "0"  # RSS Best Practices: 0 when unknown
            etree.SubElement(item, "enclosure", url=att.url, length=length, type=att.mime_type)
        self._thumbnail(item)
        return item

    def _thumbnail(self, element: etree._Element) -> None:
        if self.thumbnail:
            etree.SubElement(element, f"{{{MEDIA_NS}}}thumbnail", url=self.thumbnail)


def _generator(meta: FeedMeta, items: Sequence[Item]) -> FeedGenerator:
    fg = FeedGenerator()
    fg.load_extension("dc", atom=False, rss=True)
    fg.register_extension("websub", _RssHubLinks, None, atom=False, rss=True)
    fg.websub.hubs = meta.hubs
    fg.register_extension("feedsvc", _History, _EntryExtras, atom=True, rss=True)
    fg.feedsvc.history, fg.feedsvc.archive = meta.history, meta.archive
    fg.id(meta.feed_id)
    # settings text (FEEDSVC_TITLE ...) may hold characters XML forbids: lxml would raise
    fg.title(clean_line(meta.title) or "feed")
    fg.subtitle(clean_line(meta.description) or clean_line(meta.title) or "feed")  # the RSS channel description
    fg.language(meta.language)
    fg.author({"name": clean_line(meta.author) or "feed"})  # RFC 4287 4.1.1: a feed author covers every entry
    fg.link(_links(meta))
    fg.updated(meta.updated)  # never now(): same content, same bytes
    fg.lastBuildDate(meta.updated)
    fg.generator(GENERATOR)
    for item in items:  # items come newest first: append keeps that order
        _add_entry(fg, item)
    return fg


def _links(meta: FeedMeta) -> list[dict[str, str]]:
    """Self, hubs, then the alternate last: feedgen's RSS <link> takes the last one."""
    links = [{"href": meta.self_url, "rel": "self"}]
    links += [{"href": hub, "rel": "hub"} for hub in meta.hubs]
    links += [{"href": href, "rel": rel, "type": "application/atom+xml"} for rel, href in meta.history]
    links.append({"href": meta.home_url, "rel": "alternate", "type": "text/html"})
    return links


def _add_entry(fg: FeedGenerator, item: Item) -> None:
    post = item.post
    fe = fg.add_entry(order="append")
    fe.id(item.uid)
    fe.guid(item.uid, permalink=item.uid == post.permalink)
    fe.title(post.title)
    fe.link(href=post.permalink, rel="alternate", type="text/html")
    fe.published(post.published)
    fe.updated(item.updated)
    fe.pubDate(post.published)
    for author in post.authors:  # Atom author; RSS <author> must be an e-mail: dc:creator instead
        fe.author({"name": author.name, **({"uri": author.url} if author.url else {})})
        fe.dc.dc_creator(author.name)
    extras = fe.feedsvc
    extras.emails = {a.name: a.email for a in post.authors if a.email}
    extras.thumbnail, extras.attachments, extras.language = item.image, post.attachments, post.language
    if post.language:
        fe.dc.dc_language(post.language)
    for name, scheme in item.categories:
        fe.category(term=name, scheme=scheme, label=name)
    if item.body.summary:
        fe.summary(item.body.summary, type="html")
    fe.content(item.body.content or item.body.summary or post.title, type="html")


def render_formats(metas: Mapping[str, FeedMeta], items: Sequence[Item]) -> dict[str, bytes]:
    """Every format of one feed in ``metas`` (by ``Format.name``, see formats.FORMATS; JSON Feed
    may be left out): Atom 1.0 (RFC 4287); RSS 2.0 with content:encoded, atom:link self/hub
    and dc:creator; JSON Feed 1.1. RSS and Atom share one FeedGenerator, so the entries are
    built once; only the self link differs between them."""
    fg = _generator(metas["atom"], items)
    out = {"atom": bytes(fg.atom_str(pretty=False, encoding="UTF-8", xml_declaration=True))}
    fg.link(_links(metas["rss"]), replace=True)
    fg.feedsvc.history = metas["rss"].history  # RSS writes its history links itself (atom:link)
    out["rss"] = bytes(fg.rss_str(pretty=False, encoding="UTF-8", xml_declaration=True))
    for fmt in ("atom", "rss"):
        out[fmt] = with_stylesheets(out[fmt], metas[fmt].stylesheets)
    if "json" in metas:
        out["json"] = render_json(metas["json"], items)
    return out


def with_stylesheets(document: bytes, stylesheets: Sequence[tuple[str, str]]) -> bytes:
    """``document`` with an ``<?xml-stylesheet type="..." href="..."?>`` line (Associating Style
    Sheets with XML documents 1.0) per stylesheet right after its XML declaration; the
    pseudo-attribute values are escaped as XML attribute values."""
    if not stylesheets:
        return document
    declaration, newline, rest = document.partition(b"\n")
    assert declaration.startswith(b"<?xml ") and newline, "feedgen writes the XML declaration on its own line"
    lines = [declaration]
    for kind, href in stylesheets:
        attrs = f"type={quoteattr(kind)} href={quoteattr(href)}"
        lines.append(f"<?xml-stylesheet {attrs}?>".encode())
    return b"\n".join(lines) + b"\n" + rest


def _rfc3339(value: datetime) -> str:
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def render_json(meta: FeedMeta, items: Sequence[Item]) -> bytes:
    """JSON Feed 1.1 (https://jsonfeed.org/version/1.1); categories and tags both go in
    ``tags``, and separately in the ``_feedsvc`` extension object."""
    feed: dict[str, Any] = {
        "version": JSONFEED_VERSION,
        "title": meta.title,
        "home_page_url": meta.home_url,
        "feed_url": meta.self_url,
        "description": meta.description,
        "language": meta.language,
        "authors": [{"name": meta.author}],
    }
    if meta.history_link("prev-archive"):  # JSON Feed 1.1 pagination: older items
        feed["next_url"] = meta.history_link("prev-archive")
    if meta.hubs:
        feed["hubs"] = [{"type": "WebSub", "url": hub} for hub in meta.hubs]
    feed["items"] = [json_item(item) for item in items]
    return json.dumps(feed, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def json_item(item: Item) -> dict[str, Any]:
    """One post as a JSON Feed 1.1 item (also the ``data`` of webhook events)."""
    post = item.post
    out: dict[str, Any] = {
        "id": item.uid,
        "url": post.permalink,
        "title": post.title,
        "content_html": item.body.content or item.body.summary or post.title,
    }
    if item.body.summary:
        out["summary"] = plain_text(item.body.summary)  # JSON Feed 1.1: summary is plain text
    out["date_published"] = _rfc3339(post.published)
    out["date_modified"] = _rfc3339(item.updated)
    if item.image:
        out["image"] = item.image
    if post.authors:
        out["authors"] = [_json_author(a) for a in post.authors]
    if post.language:
        out["language"] = post.language
    if post.attachments:
        out["attachments"] = [_json_attachment(a) for a in post.attachments]
    names = list(dict.fromkeys(post.categories + post.tags))
    if names:
        out["tags"] = names
    out["_feedsvc"] = {"categories": list(post.categories), "tags": list(post.tags)}
    return out


def _json_author(author: Author) -> dict[str, str]:
    """JSON Feed 1.1 author: name, and url (a mailto: link when only an e-mail is known)."""
    url = author.url or (f"mailto:{author.email}" if author.email else "")
    return {"name": author.name, "url": url} if url else {"name": author.name}


def _json_attachment(att: Attachment) -> dict[str, Any]:
    out: dict[str, Any] = {"url": att.url, "mime_type": att.mime_type}
    if att.title:
        out["title"] = att.title
    if att.length is not None:
        out["size_in_bytes"] = att.length
    if att.duration is not None:
        out["duration_in_seconds"] = att.duration
    return out


def plain_text(fragment: str) -> str:
    """The text of a sanitized HTML fragment, on one line."""
    return " ".join(html.unescape(nh3.clean(fragment, tags=set())).split())

