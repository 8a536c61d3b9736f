"""Snapshots: an index and every rendered document, built aside and swapped whole.

Readers take ``service.snapshot`` once per request; a build never mutates a snapshot that
is already published, so a request sees either the old state or the new one.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime

from .config import Settings
from .documents import Document, make_document
from .formats import FORMATS
from .index import CATEGORY, SITE, TAG, Feed, FeedKey, Index
from .markup import RenderedBody, render_body
from .pages import FeedLink, index_html, opml
from .parallel import pmap, pmap_shared
from .posts import Post
from .render import EPOCH, RENDER_LOCK, FeedMeta, Item, render_formats

DocKey = tuple[FeedKey, str]  # (feed, format)
Signature = tuple[object, ...]


@dataclass(frozen=True)
class Snapshot:
    """Everything a request can read, immutable once published."""

    index: Index
    documents: Mapping[DocKey, Document]
    pages: Mapping[str, Document]  # "/" and "/opml.xml"
    signatures: Mapping[FeedKey, Signature]  # what each feed's documents were rendered from
    errors: tuple[tuple[str, str], ...]  # (path, reason) of posts that failed to load
    generation: int

    def document(self, key: FeedKey, fmt: str) -> Document | None:
        return self.documents.get((key, fmt))


@dataclass
class RenderCache:
    """Rendered post bodies by (content digest, permalink), reused across builds."""

    bodies: dict[tuple[str, str], RenderedBody] = field(default_factory=dict)

    def body(self, post: Post) -> RenderedBody:
        return self.bodies[(post.digest, post.permalink)]

    def fill(self, posts: list[Post], workers: int) -> None:
        """Render the bodies of ``posts`` not cached yet."""
        todo = {(p.digest, p.permalink): p for p in posts if (p.digest, p.permalink) not in self.bodies}
        jobs = [(p.packed_body, p.permalink, p.summary) for p in todo.values()]
        for key, body in zip(todo, pmap(_render_body_job, jobs, workers), strict=True):
            self.bodies[key] = body

    def keep_only(self, keys: set[tuple[str, str]]) -> None:
        for key in [k for k in self.bodies if k not in keys]:
            del self.bodies[key]


def _render_body_job(job: tuple[bytes, str, str]) -> RenderedBody:
    markdown, permalink, summary = job
    return render_body(markdown.decode(), permalink, summary)


FeedJob = tuple[dict[str, FeedMeta], list[Item]]  # one feed's metadata by format, and its items


def _render_feed(job: FeedJob) -> dict[str, bytes]:
    metas, items = job
    return render_formats(metas, items)


def feed_title(settings: Settings, feed: Feed) -> str:
    return settings.title if feed.key.kind == SITE else f"{settings.title}: {feed.name}"


def feed_meta(settings: Settings, feed: Feed, fmt: str, updated: datetime, hubs: tuple[str, ...]) -> FeedMeta:
    kind, name = feed.key.kind, feed.name
    if kind == SITE:
        description, home = settings.description, settings.url("/")
    else:
        description = f"Posts in category {name} on {settings.title}" if kind == CATEGORY else f"Posts tagged {name} on {settings.title}"
        home = settings.url(feed.path + "/")
    return FeedMeta(
        title=feed_title(settings, feed),
        description=description,
        language=settings.language,
        author=settings.feed_author,
        home_url=home,
        self_url=settings.url(feed.document_path(fmt)),
        feed_id=settings.url(f"{feed.path}/"),
        updated=updated,
        hubs=hubs,
    )


def _items(index: Index, feed: Feed, settings: Settings, cache: RenderCache, made: dict[str, Item]) -> list[Item]:
    """The feed's newest posts as Items; ``made`` shares each post's Item across the feeds of
    one build (a post is in several feeds; its body is decompressed once)."""
    items = []
    for source in feed.posts[: settings.feed_limit]:
        item = made.get(source)
        if item is None:
            post = index.posts[source]
            cats = tuple((n, settings.url("/categories/")) for n in post.categories)
            cats += tuple((n, settings.url("/tags/")) for n in post.tags)
            item = made[source] = Item(post=post, uid=index.ids[source], body=cache.body(post), categories=cats)
        items.append(item)
    return items


def _signature(index: Index, feed: Feed, limit: int) -> Signature:
    return (feed.name,) + tuple((s, index.ids[s], index.posts[s].digest) for s in feed.posts[:limit])


def build_snapshot(
    index: Index,
    settings: Settings,
    cache: RenderCache,
    previous: Snapshot | None,
    errors: tuple[tuple[str, str], ...],
    hubs: tuple[str, ...] = (),
    workers: int = 1,
) -> Snapshot:
    """Render every feed whose items changed since ``previous``; reuse the others' documents
    (same bytes, same ETag)."""
    limit = settings.feed_limit
    documents: dict[DocKey, Document] = {}
    signatures: dict[FeedKey, Signature] = {}
    changed: list[Feed] = []
    for feed in index.feed_list():
        sig = signatures[feed.key] = _signature(index, feed, limit)
        if previous is not None and previous.signatures.get(feed.key) == sig:
            for fmt in FORMATS:
                documents[(feed.key, fmt.name)] = previous.documents[(feed.key, fmt.name)]
        else:
            changed.append(feed)
    with RENDER_LOCK:  # feedgen's date formatting changes the process locale
        cache.fill([index.posts[s] for feed in changed for s in feed.posts[:limit]], workers)
        jobs: list[FeedJob] = []
        made: dict[str, Item] = {}
        for feed in changed:
            items = _items(index, feed, settings, cache, made)
            updated = max((i.post.updated for i in items), default=EPOCH)
            metas = {fmt.name: feed_meta(settings, feed, fmt.name, updated, hubs) for fmt in FORMATS}
            jobs.append((metas, items))
        rendered = pmap_shared(_render_feed, jobs, workers, min_items=16)  # ~1 ms each
        for feed, (metas, _), bodies in zip(changed, jobs, rendered, strict=True):
            updated = metas["rss"].updated
            for fmt in FORMATS:
                documents[(feed.key, fmt.name)] = make_document(bodies[fmt.name], fmt.content_type, updated)
    cache.keep_only({(index.posts[s].digest, index.posts[s].permalink) for f in index.feeds.values() for s in f.posts[:limit]})
    newest = documents[(FeedKey(SITE, ""), "rss")].last_modified
    if previous is not None and previous.index.feeds is index.feeds and previous.pages["/"].last_modified == newest:
        pages = previous.pages  # same feeds, names and counts: the same pages
    else:
        links = [_link(settings, feed) for feed in index.feed_list()]
        pages = {
            "/": make_document(index_html(settings, links), "text/html; charset=utf-8", newest),
            "/opml.xml": make_document(opml(settings, links), "text/x-opml; charset=utf-8", newest),
        }
    return Snapshot(
        index=index,
        documents=documents,
        pages=pages,
        signatures=signatures,
        errors=errors,
        generation=(previous.generation + 1) if previous else 1,
    )


def _link(settings: Settings, feed: Feed) -> FeedLink:
    urls = tuple((fmt, settings.url(feed.document_path(fmt.name))) for fmt in FORMATS)
    return FeedLink(kind=feed.key.kind, name=feed.name, title=feed_title(settings, feed), count=len(feed.posts), urls=urls)


__all__ = ["Snapshot", "RenderCache", "build_snapshot", "CATEGORY", "TAG", "SITE"]
