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

import nh3
from feedgen.ext.base import BaseExtension
from feedgen.feed import FeedGenerator
from lxml import etree

from .markup import RenderedBody
from .posts import Post
from .textutil import clean_line

RENDER_LOCK = threading.Lock()
ATOM_NS = "http://www.w3.org/2005/Atom"
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


class _RssHubLinks(BaseExtension):  # type: ignore[misc]
    """feedgen writes only the first rel=self atom:link in RSS and drops rel=hub: add the hubs
    (WebSub 4: the publisher advertises hub and self links in the topic)."""

    hubs: tuple[str, ...] = ()

    def extend_rss(self, feed: etree._Element) -> etree._Element:
        channel = feed.find("channel")
        for hub in self.hubs:
            etree.SubElement(channel, f"{{{ATOM_NS}}}link", href=hub, rel="hub")
        return feed


def _generator(meta: FeedMeta, items: Sequence[Item]) -> FeedGenerator:
    fg = FeedGenerator()
    fg.load_extension("dc", atom=False, rss=True)
    fg.register_extension("websub", _RssHubLinks, None, atom=False, rss=True)
    fg.websub.hubs = meta.hubs
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
    if post.author:
        fe.author({"name": post.author})  # Atom; RSS <author> must be an e-mail: dc:creator instead
        fe.dc.dc_creator(post.author)
    for name, scheme in item.categories:
        fe.category(term=name, scheme=scheme, label=name)
    if item.body.summary:
        fe.summary(item.body.summary, type="html")
    fe.content(item.body.content or item.body.summary or post.title, type="html")


def render_formats(metas: Mapping[str, FeedMeta], items: Sequence[Item]) -> dict[str, bytes]:
    """Every format of one feed (by ``Format.name``, see formats.FORMATS): Atom 1.0 (RFC 4287); RSS 2.0 with
    content:encoded, atom:link self/hub and dc:creator; JSON Feed 1.1. RSS and Atom share one
    FeedGenerator, so the entries are built once; only the self link differs between them."""
    fg = _generator(metas["atom"], items)
    out = {"atom": bytes(fg.atom_str(pretty=False, encoding="UTF-8", xml_declaration=True))}
    fg.link(_links(metas["rss"]), replace=True)
    out["rss"] = bytes(fg.rss_str(pretty=False, encoding="UTF-8", xml_declaration=True))
    out["json"] = render_json(metas["json"], items)
    return out


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
    if post.author:
        out["authors"] = [{"name": post.author}]
    names = list(dict.fromkeys(post.categories + post.tags))
    if names:
        out["tags"] = names
    out["_feedsvc"] = {"categories": list(post.categories), "tags": list(post.tags)}
    return out


def plain_text(fragment: str) -> str:
    """The text of a sanitized HTML fragment, on one line."""
    return " ".join(html.unescape(nh3.clean(fragment, tags=set())).split())

