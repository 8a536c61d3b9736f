"""Snapshots: an index and every rendered document, built aside and swapped whole.

Readers take ``service.snapshot`` once per request; a build never mutates a snapshot that
is already published, so a request sees either the old state or the new one.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime

from .config import Settings
from .documents import Document, make_document
from .formats import FORMATS, RSS
from .index import CATEGORY, SITE, TAG, Feed, FeedKey, Index
from .markup import RenderedBody, render_body
from .pages import FeedLink, index_html, opml
from .parallel import pmap, pmap_shared
from .posts import Post
from .render import EPOCH, RENDER_LOCK, FeedMeta, Item, render_formats

DocKey = tuple[FeedKey, str]  # (feed, format)
Signature = tuple[object, ...]
Modified = Callable[[str, Post], datetime | None]  # (entry id, post) -> when this version was first recorded
DocumentModified = Callable[[str, str], datetime | None]  # (document path, etag) -> when first recorded


def no_modified(uid: str, post: Post) -> datetime | None:
    """The dates of the front matter only (see versions.py)."""
    return None


@dataclass(frozen=True)
class Snapshot:
    """Everything a request can read, immutable once published."""

    index: Index
    documents: Mapping[DocKey, Document]
    pages: Mapping[str, Document]  # "/" and "/opml.xml"
    signatures: Mapping[FeedKey, Signature]  # what each feed's documents were rendered from
    updated: Mapping[FeedKey, datetime]  # each feed's `updated`: its newest entry's date
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


def feed_meta(settings: Settings, feed: Feed, fmt: str, updated: datetime) -> FeedMeta:
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
        hubs=settings.hubs,
    )


def _items(index: Index, feed: Feed, settings: Settings, cache: RenderCache, made: dict[str, Item],
           modified: Modified) -> list[Item]:
    """The feed's newest posts as Items; ``made`` shares each post's Item across the feeds of
    one build (a post is in several feeds; its body is decompressed once)."""
    items = []
    for source in feed.posts[: settings.feed_limit]:
        item = made.get(source)
        if item is None:
            post = index.posts[source]
            cats = tuple((n, settings.url("/categories/")) for n in post.categories)
            cats += tuple((n, settings.url("/tags/")) for n in post.tags)
            uid = index.ids[source]
            item = made[source] = Item(post=post, uid=uid, body=cache.body(post), categories=cats, modified=modified(uid, post))
        items.append(item)
    return items


def _signature(index: Index, feed: Feed, limit: int, modified: Modified) -> Signature:
    ids, posts = index.ids, index.posts
    return (feed.name,) + tuple((s, ids[s], posts[s].digest, modified(ids[s], posts[s])) for s in feed.posts[:limit])


def build_snapshot(
    index: Index,
    settings: Settings,
    cache: RenderCache,
    previous: Snapshot | None,
    errors: tuple[tuple[str, str], ...],
    workers: int = 1,
    modified: Modified = no_modified,
) -> Snapshot:
    """Render every feed whose items changed since ``previous``; reuse the others' documents
    (same bytes, same ETag). ``modified`` dates entries whose version is not their post's
    first (versions.py)."""
    limit = settings.feed_limit
    feeds = index.feed_list()
    signatures = {feed.key: _signature(index, feed, limit, modified) for feed in feeds}
    documents, changed = _reuse_documents(feeds, signatures, previous)
    redo = {f.key for f in changed}
    updated = {f.key: previous.updated[f.key] for f in feeds if previous is not None and f.key not in redo}
    with RENDER_LOCK:  # feedgen's date formatting changes the process locale
        documents.update(_render_feeds(index, changed, settings, cache, workers, modified, updated))
    _prune_bodies(index, cache, limit)
    return Snapshot(
        index=index,
        documents=documents,
        pages=_pages(index, settings, documents, previous),
        signatures=signatures,
        updated=updated,
        errors=errors,
        generation=(previous.generation + 1) if previous else 1,
    )


def restamp(snapshot: Snapshot, settings: Settings, document_modified: DocumentModified) -> Snapshot:
    """The snapshot with each document's Last-Modified set to the later of its newest entry
    and the time its bytes were first recorded (versions.py); the same object when none moved."""
    documents = dict(snapshot.documents)
    moved = False
    for (key, fmt), doc in snapshot.documents.items():
        newest = snapshot.updated[key]
        recorded = document_modified(snapshot.index.feeds[key].document_path(fmt), doc.etag)
        when = newest if recorded is None or recorded <= newest else recorded
        if when != doc.last_modified:
            documents[(key, fmt)] = doc.with_last_modified(when)
            moved = True
    if not moved:
        return snapshot
    return replace(snapshot, documents=documents, pages=_pages(snapshot.index, settings, documents, None))


def _reuse_documents(
    feeds: list[Feed], signatures: Mapping[FeedKey, Signature], previous: Snapshot | None
) -> tuple[dict[DocKey, Document], list[Feed]]:
    """The documents of ``previous`` for every feed rendered from the same items, and the
    feeds (in the given order) that must be rendered again."""
    documents: dict[DocKey, Document] = {}
    changed: list[Feed] = []
    for feed in feeds:
        if previous is not None and previous.signatures.get(feed.key) == signatures[feed.key]:
            for fmt in FORMATS:
                documents[(feed.key, fmt.name)] = previous.documents[(feed.key, fmt.name)]
        else:
            changed.append(feed)
    return documents, changed


def _render_feeds(
    index: Index, feeds: list[Feed], settings: Settings, cache: RenderCache, workers: int, modified: Modified,
    updated: dict[FeedKey, datetime],
) -> dict[DocKey, Document]:
    """Every format of ``feeds``, their post bodies rendered into ``cache`` first. Call
    under RENDER_LOCK."""
    cache.fill([index.posts[s] for feed in feeds for s in feed.posts[: settings.feed_limit]], workers)
    jobs = _feed_jobs(index, feeds, settings, cache, modified)
    rendered = pmap_shared(_render_feed, jobs, workers, min_items=16)  # ~1 ms each
    documents: dict[DocKey, Document] = {}
    for feed, (metas, _), bodies in zip(feeds, jobs, rendered, strict=True):
        updated[feed.key] = newest = metas[RSS.name].updated
        for fmt in FORMATS:
            documents[(feed.key, fmt.name)] = make_document(bodies[fmt.name], fmt.content_type, newest)
    return documents


def _feed_jobs(index: Index, feeds: list[Feed], settings: Settings, cache: RenderCache, modified: Modified) -> list[FeedJob]:
    """What rendering each feed needs: its metadata per format and its items."""
    jobs: list[FeedJob] = []
    made: dict[str, Item] = {}
    for feed in feeds:
        items = _items(index, feed, settings, cache, made, modified)
        updated = max((i.updated for i in items), default=EPOCH)
        jobs.append(({fmt.name: feed_meta(settings, feed, fmt.name, updated) for fmt in FORMATS}, items))
    return jobs


def _prune_bodies(index: Index, cache: RenderCache, limit: int) -> None:
    """Drop the cached bodies of posts no feed shows any more."""
    cache.keep_only({(index.posts[s].digest, index.posts[s].permalink) for f in index.feeds.values() for s in f.posts[:limit]})


def _pages(index: Index, settings: Settings, documents: Mapping[DocKey, Document], previous: Snapshot | None) -> Mapping[str, Document]:
    """The HTML index and OPML list; ``previous``'s when the feeds, their names and counts
    and the newest change are all the same."""
    newest = documents[(FeedKey(SITE, ""), RSS.name)].last_modified
    if previous is not None and previous.index.feeds is index.feeds and previous.pages["/"].last_modified == newest:
        return previous.pages
    links = [_link(settings, feed) for feed in index.feed_list()]
    return {
        "/": make_document(index_html(settings, links), "text/html; charset=utf-8", newest),
        "/opml.xml": make_document(opml(settings, links), "text/x-opml; charset=utf-8", newest),
    }


def _link(settings: Settings, feed: Feed) -> FeedLink:
    urls = tuple((fmt, settings.url(feed.document_path(fmt.name))) for fmt in FORMATS)
    return FeedLink(kind=feed.key.kind, name=feed.name, title=feed_title(settings, feed), count=len(feed.posts), urls=urls)


__all__ = ["Snapshot", "RenderCache", "build_snapshot", "CATEGORY", "TAG", "SITE"]
