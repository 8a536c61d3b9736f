"""Snapshots: an index and every rendered document, built aside and swapped whole.

Readers take ``service.snapshot`` once per request; a build never mutates a snapshot that
is already published, so a request sees either the old state or the new one.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime

from .config import Settings
from .documents import Document, DocumentCache, make_document
from .formats import FORMATS, JSON, PAGE, RSS
from .index import AUTHOR, CATEGORY, KIND, SITE, TAG, Feed, FeedKey, Index
from .markup import RenderedBody, render_body
from .pages import ASSET_PATHS, FeedLink, PostLine, assets, feed_html, home_html, opml, stylesheets
from .parallel import pmap, pmap_shared
from .posts import Post
from .render import EPOCH, RENDER_LOCK, FeedMeta, Item, plain_text, render_formats

DocKey = tuple[FeedKey, str]  # (feed, format)
FORMAT_NAMES = frozenset(fmt.name for fmt in FORMATS)
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
    pages: Mapping[str, Document]  # by site path: "/", each feed's "<folder>/", "/opml.xml", "/feed.xsl", "/feed.css"
    signatures: Mapping[FeedKey, Signature]  # what each feed's documents were rendered from
    updated: Mapping[FeedKey, datetime]  # each feed's `updated`: its newest entry's date
    errors: tuple[tuple[str, str], ...]  # (path, reason) of posts that failed to load
    generation: int

    archives: ArchivePages | None = None  # renders and keeps archive pages; shared by later snapshots
    modified: Modified = no_modified  # the version ledger's entry dates this snapshot was rendered with

    def document(self, key: FeedKey, fmt: str) -> Document | None:
        return self.documents.get((key, fmt))

    def archive_document(self, key: FeedKey, page: int, fmt: str) -> Document | None:
        """Archive page ``page`` of a feed in ``fmt``, or None if the feed has no such page."""
        feed = self.index.feeds.get(key)
        if feed is None or self.archives is None:
            return None
        return self.archives.document(self.index, feed, page, fmt, self.modified)

    def by_path(self, archive_size: int = 0) -> Iterator[tuple[str, Document]]:
        """Every document this snapshot serves, with its site path (percent-encoded), in a
        stable order: pages, then each feed's formats, then (``archive_size`` > 0) each of its
        RFC 5005 archive pages, rendered here if not cached (``feedsvc build`` writes these)."""
        yield from sorted(self.pages.items())
        for feed in self.index.feed_list():
            for fmt in FORMATS:
                doc = self.documents.get((feed.key, fmt.name))
                if doc is not None:
                    yield feed.document_path(fmt.name), doc
            for page in range(1, feed.archive_pages(archive_size) + 1 if archive_size else 1):
                for fmt in FORMATS:
                    archived = self.archive_document(feed.key, page, fmt.name)
                    if archived is not None:
                        yield feed.archive_path(page, fmt.name), archived


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


class ArchivePages:
    """Archive pages (RFC 5005 section 4), rendered on their first request and kept by what
    they show (feed, page, name, each post's source, id, content digest and updated date): a
    page whose posts did not change keeps its bytes and ETag across reloads and is never
    rendered again while it stays in the cache. Rendering them all up front would cost a
    10k-post site ~3,000 pages of 20 full posts in three formats (about a GB)."""

    def __init__(self, settings: Settings, cache: RenderCache) -> None:
        self.settings = settings
        self.bodies = cache  # read only here: bodies the current documents already rendered
        self.cache = DocumentCache(settings.archive_cache_mb * 1024 * 1024)

    def document(self, index: Index, feed: Feed, page: int, fmt: str, modified: Modified) -> Document | None:
        size = self.settings.archive_size
        if not 1 <= page <= feed.archive_pages(size) or fmt not in FORMAT_NAMES:
            return None
        sources = feed.archive_page(page, size)
        posts, ids = index.posts, index.ids
        key = (feed.key, page, feed.name) + tuple(
            (s, ids[s], posts[s].digest, posts[s].updated, modified(ids[s], posts[s])) for s in sources)
        group = self.cache.get(key)
        if group is None:
            with RENDER_LOCK:  # feedgen's date formatting changes the process locale
                group = self.cache.get(key)  # another request may have rendered it meanwhile
                if group is None:
                    group = self._render(index, feed, page, sources, modified)
                    self.cache.put(key, group)
        return group[fmt]

    def _render(self, index: Index, feed: Feed, page: int, sources: tuple[str, ...],
                modified: Modified) -> dict[str, Document]:
        settings = self.settings
        items = [_item(index, s, settings, self._body(index.posts[s]), modified) for s in sources]
        updated = max(i.updated for i in items)
        metas = {fmt.name: feed_meta(settings, feed, fmt.name, updated, archive_page=page) for fmt in FORMATS}
        bodies = render_formats(metas, items)
        return {fmt.name: make_document(bodies[fmt.name], fmt.content_type, updated) for fmt in FORMATS}

    def _body(self, post: Post) -> RenderedBody:
        body = self.bodies.bodies.get((post.digest, post.permalink))
        return body if body is not None else render_body(post.body, post.permalink, post.summary)


FeedJob = tuple[dict[str, FeedMeta], list[Item]]  # one feed's metadata by format, and its items


def _render_feed(job: FeedJob) -> dict[str, bytes]:
    metas, items = job
    return render_formats(metas, items)


def feed_title(settings: Settings, feed: Feed) -> str:
    return settings.title if feed.key.kind == SITE else f"{settings.title}: {feed.name}"


def feed_meta(settings: Settings, feed: Feed, fmt: str, updated: datetime, archive_page: int = 0) -> FeedMeta:
    """What the feed says about itself in one format: its current document, or with
    ``archive_page`` one of its archive pages (RFC 5005 section 4)."""
    if feed.key.kind == SITE:
        description, home = settings.description, settings.url("/")
    else:
        description = KIND[feed.key.kind].description.format(name=feed.name, site=settings.title)
        home = settings.url(feed.path + "/")
    meta = FeedMeta(
        title=feed_title(settings, feed),
        description=description,
        language=settings.language,
        author=feed.name if feed.key.kind == AUTHOR else settings.feed_author,
        home_url=home,
        self_url=settings.url(feed.document_path(fmt)),
        feed_id=settings.url(f"{feed.path}/"),
        updated=updated,
        hubs=settings.hubs,
        stylesheets=stylesheets(settings),
        history=_history(settings, feed, fmt, feed.archive_pages(settings.archive_size)),
    )
    return _archive_meta(settings, feed, fmt, meta, archive_page) if archive_page else meta


def _history(settings: Settings, feed: Feed, fmt: str, prev_archive: int) -> tuple[tuple[str, str], ...]:
    """The prev-archive link: to the newest archive page from a current document."""
    return (("prev-archive", settings.url(feed.archive_path(prev_archive, fmt))),) if prev_archive else ()


def _archive_meta(settings: Settings, feed: Feed, fmt: str, current: FeedMeta, page: int) -> FeedMeta:
    """An archive page: the same feed (Atom id, title), its own self URL (in JSON Feed,
    feed_url stays the current feed's: it identifies the feed), rel=current, prev-archive to
    the page before, fh:archive, no hubs (not a WebSub topic). No next-archive link: it
    would change the newest page's bytes each time a page is added (RFC 5005 makes it optional)."""
    self_url = current.self_url if fmt == JSON.name else settings.url(feed.archive_path(page, fmt))
    history = (("current", current.self_url),) + _history(settings, feed, fmt, page - 1)
    return dataclasses.replace(current, self_url=self_url, hubs=(), history=history, archive=True)


def _items(index: Index, feed: Feed, settings: Settings, cache: RenderCache, made: dict[str, Item],
           modified: Modified) -> list[Item]:
    """The feed's newest posts as Items; ``made`` shares each post's Item across the feeds of
    one build (a post is in several feeds; its body is decompressed once)."""
    items = []
    for source in feed.posts[: settings.feed_limit]:
        item = made.get(source)
        if item is None:
            item = made[source] = _item(index, source, settings, cache.body(index.posts[source]), modified)
        items.append(item)
    return items


def _item(index: Index, source: str, settings: Settings, body: RenderedBody, modified: Modified) -> Item:
    post = index.posts[source]
    uid = index.ids[source]
    cats = tuple((n, settings.url("/categories/")) for n in post.categories)
    cats += tuple((n, settings.url("/tags/")) for n in post.tags)
    return Item(post=post, uid=uid, body=body, categories=cats, modified=modified(uid, post))


def _signature(index: Index, feed: Feed, limit: int, archive_size: int, modified: Modified) -> Signature:
    """What a feed's current documents show: its name, the prev-archive page, its items
    (with the dates the version ledger gives them)."""
    ids, posts = index.ids, index.posts
    head = (feed.name, feed.archive_pages(archive_size))
    return head + tuple((s, ids[s], posts[s].digest, modified(ids[s], posts[s])) for s in feed.posts[:limit])


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
    signatures = {feed.key: _signature(index, feed, limit, settings.archive_size, modified) for feed in feeds}
    documents, changed = _reuse_documents(feeds, signatures, previous)
    redo = {f.key for f in changed}
    updated = {f.key: previous.updated[f.key] for f in feeds if previous is not None and f.key not in redo}
    with RENDER_LOCK:  # feedgen's date formatting changes the process locale
        documents.update(_render_feeds(index, changed, settings, cache, workers, modified, updated))
    _prune_bodies(index, cache, limit)
    return Snapshot(
        index=index,
        documents=documents,
        pages=_pages(index, settings, documents, previous, {feed.key for feed in changed}, cache),
        signatures=signatures,
        updated=updated,
        errors=errors,
        generation=(previous.generation + 1) if previous else 1,
        archives=previous.archives if previous else ArchivePages(settings, cache),
        modified=modified,
    )


def restamp(snapshot: Snapshot, settings: Settings, document_modified: DocumentModified, cache: RenderCache) -> Snapshot:
    """The snapshot with each document's Last-Modified set to the later of its newest entry
    and the time its bytes were first recorded (versions.py); the same object when none moved."""
    documents = dict(snapshot.documents)
    moved: set[FeedKey] = set()
    for (key, fmt), doc in snapshot.documents.items():
        newest = snapshot.updated[key]
        recorded = document_modified(snapshot.index.feeds[key].document_path(fmt), doc.etag)
        when = newest if recorded is None or recorded <= newest else recorded
        if when != doc.last_modified:
            documents[(key, fmt)] = doc.with_last_modified(when)
            moved.add(key)
    if not moved:
        return snapshot
    # the pages show each feed's Last-Modified: those of the feeds that moved are made again
    return replace(snapshot, documents=documents, pages=_pages(snapshot.index, settings, documents, snapshot, moved, cache))


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


def _pages(
    index: Index, settings: Settings, documents: Mapping[DocKey, Document], previous: Snapshot | None,
    changed: set[FeedKey], cache: RenderCache,
) -> Mapping[str, Document]:
    """The pages by site path (feedsvc.pages). A feed's preview page is rendered again only
    with its feed; the home page and OPML list whenever a feed changed, appeared or went;
    the stylesheets once. Call after the feeds' post bodies are in ``cache``."""
    old = previous.pages if previous is not None else {}
    if previous is not None and not changed and previous.index.feeds.keys() == index.feeds.keys():
        return old
    pages: dict[str, Document] = {}
    lines: dict[str, PostLine] = {}  # a post's line, shared by the pages of one build
    links = []
    for feed in index.feed_list():
        path = feed.path + "/"
        fresh = feed.key in changed or path not in old or feed.key.kind == SITE  # the home lists the site's posts
        link = _link(index, settings, feed, documents, cache, lines if fresh else None)
        links.append(link)
        if feed.key.kind != SITE:
            modified = documents[(feed.key, RSS.name)].last_modified
            pages[path] = make_document(feed_html(settings, link), PAGE.content_type, modified) if fresh else old[path]
    newest = documents[(FeedKey(SITE, ""), RSS.name)].last_modified
    pages["/"] = make_document(home_html(settings, links[0], links), PAGE.content_type, newest)
    pages["/opml.xml"] = make_document(opml(settings, links), "text/x-opml; charset=utf-8", newest)
    if all(path in old for path in ASSET_PATHS):  # they depend on the settings only
        pages.update((path, old[path]) for path in ASSET_PATHS)
    else:
        pages.update((path, make_document(body, ctype, None)) for path, (body, ctype) in assets(settings).items())
    return pages


def _link(index: Index, settings: Settings, feed: Feed, documents: Mapping[DocKey, Document], cache: RenderCache,
          lines: dict[str, PostLine] | None) -> FeedLink:
    """The feed as the pages show it; with its items when ``lines`` is given."""
    count = min(len(feed.posts), settings.feed_limit)
    updated = documents[(feed.key, RSS.name)].last_modified or EPOCH
    meta = feed_meta(settings, feed, RSS.name, updated)
    posts = () if lines is None else tuple(_line(index, settings, cache, s, lines) for s in feed.posts[:count])
    return FeedLink(
        kind=feed.key.kind, name=feed.name, title=meta.title, description=meta.description, page_url=meta.home_url,
        count=count, updated=updated.astimezone(settings.tz).date().isoformat() if count else "",
        urls=tuple((fmt, settings.url(feed.document_path(fmt.name))) for fmt in FORMATS), posts=posts,
    )


def _line(index: Index, settings: Settings, cache: RenderCache, source: str, lines: dict[str, PostLine]) -> PostLine:
    line = lines.get(source)
    if line is None:
        post = index.posts[source]
        local = post.published.astimezone(settings.tz).replace(microsecond=0)
        summary = plain_text(cache.body(post).summary) if cache.body(post).summary else ""
        line = lines[source] = PostLine(post.title, post.permalink, local.date().isoformat(), local.isoformat(), summary)
    return line


__all__ = ["Snapshot", "RenderCache", "build_snapshot", "CATEGORY", "TAG", "SITE", "AUTHOR"]
