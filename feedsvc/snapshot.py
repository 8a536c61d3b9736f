"""Snapshots: an index and every document it serves, built aside and swapped whole.

Readers take ``service.snapshot`` once per request; a build never mutates a snapshot that
is already published, so a request sees either the old state or the new one.

A build renders no feed. Each feed document is a lazy ``Document`` whose ETag is derived from
what it is rendered from (``FeedInputs.digest``: the feed's ordered item versions, the
settings and the code, see fingerprint.py), so a 304 needs no bytes; the bytes are rendered on
first request into a bounded cache shared by all snapshots (``FeedDocuments``) and are the
same bytes whenever they are rendered again. Memory therefore follows the cache size, not
the number of feeds.
"""

from __future__ import annotations

import dataclasses
import hashlib
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, replace
from datetime import datetime

from .config import Settings
from .documents import (
    GZIP,
    IDENTITY,
    ByteCache,
    Document,
    DocumentCache,
    encode,
    lazy_document,
    make_document,
)
from .fingerprint import code_version, settings_version
from .formats import FORMATS, JSON, PAGE, RSS
from .index import AUTHOR, CATEGORY, KIND, SITE, TAG, Feed, FeedKey, Index
from .markup import RenderedBody, render_body
from .pages import ASSET_PATHS, FeedLink, PostLine, assets, feed_html, home_html, opml, stylesheets
from .parallel import pmap_shared
from .posts import Post
from .render import EPOCH, RENDER_LOCK, FeedMeta, Item, plain_text, render_formats

DocKey = tuple[FeedKey, str]  # (feed, format)
FORMAT_NAMES = frozenset(fmt.name for fmt in FORMATS)
Modified = Callable[[str, Post], datetime | None]  # (entry id, post) -> when this version was first recorded
DocumentModified = Callable[[str, str], datetime | None]  # (document path, etag) -> when first recorded


def no_modified(uid: str, post: Post) -> datetime | None:
    """The dates of the front matter only (see versions.py)."""
    return None


@dataclass(frozen=True, slots=True)
class FeedInputs:
    """Everything a feed's current documents are rendered from, and its digest: the feed's
    name and place, its archive page count, its items (source, entry id, Post, and the date
    the version ledger gives the version) and their newest date; with the code and settings
    fingerprints, the digest changes whenever a byte of the documents could."""

    feed: Feed
    items: tuple[tuple[str, str, Post, datetime | None], ...]  # (source, uid, post, modified)
    updated: datetime  # the feed's `updated`: its newest entry's, EPOCH without entries
    digest: str

    def etag(self, fmt: str) -> str:
        return hashlib.sha256(f"{self.digest}/{fmt}".encode()).hexdigest()[:32]


def feed_inputs(index: Index, feed: Feed, settings: Settings, modified: Modified, fingerprint: str,
                old: FeedInputs | None = None) -> FeedInputs:
    """The feed's inputs; ``old`` (the previous build's) is returned when nothing in them moved,
    which is cheap to tell: unchanged posts are the very same objects from one build to the next."""
    ids, posts = index.ids, index.posts
    items = tuple((s, ids[s], posts[s], modified(ids[s], posts[s])) for s in feed.posts[: settings.feed_limit])
    archived = feed.archive_pages(settings.archive_size)
    if (old is not None and old.items == items and old.feed.name == feed.name and old.feed.path == feed.path
            and old.feed.archive_pages(settings.archive_size) == archived):
        return old
    updated = max((_updated(post, when) for _, _, post, when in items), default=EPOCH)
    lines = [fingerprint, feed.key.kind, feed.key.key, feed.name, feed.path, str(archived)]
    for source, uid, post, when in items:
        lines.append("\t".join((source, uid, post.digest, post.permalink, post.published.isoformat(),
                                post.updated.isoformat(), when.isoformat() if when else "")))
    return FeedInputs(feed, items, updated, hashlib.sha256("\n".join(lines).encode()).hexdigest())


def _updated(post: Post, modified: datetime | None) -> datetime:
    """An entry's `updated` (render.Item.updated): the front matter's, or a later recorded version's."""
    return post.updated if modified is None or modified <= post.updated else modified


@dataclass(frozen=True)
class Snapshot:
    """Everything a request can read, immutable once published."""

    index: Index
    documents: Mapping[DocKey, Document]  # lazy: validators now, bytes on first use (FeedDocuments)
    pages: Mapping[str, Document]  # by site path: "/", each feed's "<folder>/", "/opml.xml", "/feed.xsl", "/feed.css"
    inputs: Mapping[FeedKey, FeedInputs]  # what each feed's documents are rendered from
    errors: tuple[tuple[str, str], ...]  # (path, reason) of posts that failed to load
    generation: int

    renderer: FeedDocuments | None = None  # renders and keeps documents; shared by later snapshots
    modified: Modified = no_modified  # the version ledger's entry dates this snapshot was rendered with

    def document(self, key: FeedKey, fmt: str) -> Document | None:
        return self.documents.get((key, fmt))

    def archive_document(self, key: FeedKey, page: int, fmt: str) -> Document | None:
        """Archive page ``page`` of a feed in ``fmt``, or None if the feed has no such page."""
        feed = self.index.feeds.get(key)
        if feed is None or self.renderer is None:
            return None
        return self.renderer.archives.document(self.index, feed, page, fmt, self.modified)

    def archive_digest(self, key: FeedKey, page: int) -> str | None:
        """A digest of everything archive page ``page`` of a feed is rendered from, the code and
        the settings included: the same digest, the same bytes in every format (feedsvc build
        reuses the files of its previous export by it)."""
        feed = self.index.feeds.get(key)
        if feed is None or self.renderer is None:
            return None
        inputs = self.renderer.archives.key(self.index, feed, page, self.modified)
        if inputs is None:
            return None
        return hashlib.sha256(f"{self.renderer.fingerprint}/{inputs!r}".encode()).hexdigest()[:32]

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


class RenderCache:
    """Rendered post bodies by (content digest, permalink), the least recently used dropped
    first once their text passes ``max_chars``; shared by builds and request threads."""

    def __init__(self, max_chars: int = 4 * 1024 * 1024) -> None:  # ~8 MB of CJK text, ~1,000 bodies
        self.max_chars = max_chars
        self.bodies: OrderedDict[tuple[str, str], RenderedBody] = OrderedDict()
        self._chars = 0
        self._lock = threading.Lock()

    def body(self, post: Post) -> RenderedBody:
        key = (post.digest, post.permalink)
        with self._lock:
            found = self.bodies.get(key)
            if found is not None:
                self.bodies.move_to_end(key)
                return found
        body = render_body(post.body, post.permalink, post.summary)
        with self._lock:
            self._keep({key: body})
        return body

    def fill(self, posts: list[Post], workers: int) -> dict[tuple[str, str], RenderedBody]:
        """The bodies of ``posts`` by (digest, permalink), those not cached rendered in
        ``workers`` processes (a cold start, ``feedsvc build``) and cached as room allows."""
        with self._lock:
            found = {k: b for p in posts if (b := self.bodies.get(k := (p.digest, p.permalink))) is not None}
        todo = {(p.digest, p.permalink): p for p in posts if (p.digest, p.permalink) not in found}
        jobs = [(p.body, p.permalink, p.summary) for p in todo.values()]
        found.update(zip(todo, pmap_shared(_render_body_job, jobs, workers, min_items=64), strict=True))
        with self._lock:
            self._keep({key: found[key] for key in todo})
        return found

    def _keep(self, bodies: Mapping[tuple[str, str], RenderedBody]) -> None:
        """Cache ``bodies`` (those not cached meanwhile by another thread), then drop the least
        recently used past ``max_chars``; call with the lock held."""
        for key, body in bodies.items():
            if key not in self.bodies:
                self.bodies[key] = body
                self._chars += _chars(body)
        while self._chars > self.max_chars and len(self.bodies) > 1:
            _key, dropped = self.bodies.popitem(last=False)
            self._chars -= _chars(dropped)


def _chars(body: RenderedBody) -> int:
    return len(body.content) + len(body.summary) + len(body.image) + 64


def _render_body_job(job: tuple[str, str, str]) -> RenderedBody:
    return render_body(*job)


class ArchivePages:
    """Archive pages (RFC 5005 section 4), rendered on their first request and kept by what
    they show (feed, page, name, each post's source, id, content digest and updated date): a
    page whose posts did not change keeps its bytes and ETag across reloads and is never
    rendered again while it stays in the cache. Rendering them all up front would cost a
    10k-post site ~3,000 pages of 20 full posts in three formats (about a GB)."""

    def __init__(self, settings: Settings, cache: RenderCache) -> None:
        self.settings = settings
        self.bodies = cache
        self.cache = DocumentCache(settings.archive_cache_mb * 1024 * 1024)

    def key(self, index: Index, feed: Feed, page: int, modified: Modified) -> tuple[object, ...] | None:
        """What archive page ``page`` of ``feed`` is rendered from (with the code and settings,
        which a process does not change), or None if the feed has no such page."""
        size = self.settings.archive_size
        if not 1 <= page <= feed.archive_pages(size):
            return None
        posts, ids = index.posts, index.ids
        return (feed.key, page, feed.name) + tuple(
            (s, ids[s], posts[s].digest, posts[s].updated, modified(ids[s], posts[s])) for s in feed.archive_page(page, size))

    def document(self, index: Index, feed: Feed, page: int, fmt: str, modified: Modified) -> Document | None:
        key = self.key(index, feed, page, modified)
        if key is None or fmt not in FORMAT_NAMES:
            return None
        sources = feed.archive_page(page, self.settings.archive_size)
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
        items = [_item(index, s, settings, self.bodies.body(index.posts[s]), modified) for s in sources]
        updated = max(i.updated for i in items)
        metas = {fmt.name: feed_meta(settings, feed, fmt.name, updated, archive_page=page) for fmt in FORMATS}
        bodies = render_formats(metas, items)
        return {fmt.name: make_document(bodies[fmt.name], fmt.content_type, updated) for fmt in FORMATS}


class FeedDocuments:
    """Renders the current documents of feeds (and their preview pages) on first use, into
    one bounded cache (FEEDSVC_DOCUMENT_CACHE_MB) shared by every snapshot of a service; a
    document dropped from it is rendered again, to the same bytes, when next asked for.
    Also owns the archive pages."""

    def __init__(self, settings: Settings, bodies: RenderCache) -> None:
        self.settings = settings
        self.bodies = bodies
        self.cache = ByteCache(settings.document_cache_mb * 1024 * 1024)
        self.archives = ArchivePages(settings, bodies)
        self.fingerprint = hashlib.sha256(f"{code_version()}/{settings_version(settings)}".encode()).hexdigest()
        self.rendered = 0  # feeds rendered (each in every format)
        self._pages_lock = threading.Lock()

    def documents(self, inputs: FeedInputs) -> dict[str, Document]:
        """The feed's documents by format name, lazy: nothing is rendered here."""
        etags = {fmt.name: inputs.etag(fmt.name) for fmt in FORMATS}
        return {fmt.name: lazy_document(etags[fmt.name], fmt.content_type, inputs.updated, self.cache,
                                        _Render(self, inputs, etags, fmt.name)) for fmt in FORMATS}

    def render(self, inputs: FeedInputs, etags: Mapping[str, str], fmt: str) -> bytes:
        """Every format of the feed, kept in the cache; the bytes of ``fmt``."""
        with RENDER_LOCK:  # feedgen's date formatting changes the process locale
            found = self.cache.get((etags[fmt], IDENTITY))  # another thread may have rendered it meanwhile
            if found is not None:
                return found
            bodies = render_formats(*self.job(inputs))
            self.rendered += 1
        for name, body in bodies.items():  # the gzip variant is what stays longest (ByteCache)
            self.cache.put((etags[name], GZIP), encode(body, GZIP))
            self.cache.put((etags[name], IDENTITY), body)
        return bodies[fmt]

    def job(self, inputs: FeedInputs, bodies: Mapping[tuple[str, str], RenderedBody] | None = None) -> FeedJob:
        """What rendering the feed needs: its metadata per format and its items (their bodies
        from ``bodies`` when given, else from the body cache)."""
        settings = self.settings
        items = [_item_of(settings, uid, post, bodies[(post.digest, post.permalink)] if bodies else self.bodies.body(post), when)
                 for _, uid, post, when in inputs.items]
        return {fmt.name: feed_meta(settings, inputs.feed, fmt.name, inputs.updated) for fmt in FORMATS}, items

    def prerender(self, snapshot: Snapshot, workers: int) -> int:
        """Render the FEEDSVC_PRERENDER_FEEDS feeds with the most posts (the site, then categories
        and tags by size) in ``workers`` processes, and keep their gzip variants (as many as the
        cache's compressed share holds); the number of feeds rendered. For a cold start, before
        any thread exists: forked gunicorn workers then share them."""
        feeds = sorted(snapshot.index.feed_list(), key=lambda f: (f.key.kind != SITE, -len(f.posts)))[:self.settings.prerender_feeds]
        inputs = [snapshot.inputs[feed.key] for feed in feeds]
        bodies = self.bodies.fill([post for i in inputs for _, _, post, _ in i.items], workers)
        jobs = [self.job(i, bodies) for i in reversed(inputs)]  # the largest last: most recently used
        with RENDER_LOCK:
            packed = pmap_shared(_gzip_feed_job, jobs, workers, min_items=8)
        for i, formats in zip(reversed(inputs), packed, strict=True):
            for name, body in formats.items():
                self.cache.put((i.etag(name), GZIP), body)
        return len(jobs)

    def page(self, inputs: FeedInputs, last_modified: datetime | None) -> Document:
        """The feed's preview page (pages.feed_html), lazy like its documents: it shows the
        feed's items and its Last-Modified date."""
        when = last_modified.isoformat() if last_modified else ""
        etag = hashlib.sha256(f"{inputs.digest}/page/{when}".encode()).hexdigest()[:32]
        settings = self.settings

        def render() -> bytes:
            return feed_html(settings, _link(settings, inputs.feed, inputs, last_modified, self.bodies, with_posts=True))

        return lazy_document(etag, PAGE.content_type, last_modified, self.cache, self._once(etag, render))

    def home_and_opml(self, feeds: list[Feed], inputs: Mapping[FeedKey, FeedInputs],
                      modified: Mapping[FeedKey, datetime | None]) -> dict[str, Document]:
        """``/`` and ``/opml.xml``, lazy: they list every feed (with its Last-Modified date) and
        the site feed's items, so their ETags come from every feed's digest and date."""
        digest = hashlib.sha256("\n".join(
            f"{inputs[f.key].digest}/{when.isoformat() if (when := modified[f.key]) else ''}" for f in feeds).encode()).hexdigest()
        newest = modified.get(FeedKey(SITE, ""))
        settings, bodies = self.settings, self.bodies
        home_etag = hashlib.sha256(f"{digest}/home".encode()).hexdigest()[:32]
        opml_etag = hashlib.sha256(f"{digest}/opml".encode()).hexdigest()[:32]

        def links(site_posts: bool) -> list[FeedLink]:
            return [_link(settings, f, inputs[f.key], modified[f.key], bodies, with_posts=site_posts and f.key.kind == SITE)
                    for f in feeds]

        def home() -> bytes:
            made = links(True)
            return home_html(settings, made[0], made)

        return {"/": lazy_document(home_etag, PAGE.content_type, newest, self.cache, self._once(home_etag, home)),
                "/opml.xml": lazy_document(opml_etag, "text/x-opml; charset=utf-8", newest, self.cache,
                                           self._once(opml_etag, lambda: opml(settings, links(False))))}

    def _once(self, etag: str, make: Callable[[], bytes]) -> Callable[[], bytes]:
        """``make``, run by one thread at a time and its result cached: concurrent first
        requests of a page wait for one rendering (a home page listing 5,000 feeds takes ~0.5 s)."""

        def render() -> bytes:
            with self._pages_lock:
                found = self.cache.get((etag, IDENTITY))
                if found is None:
                    found = make()
                    self.cache.put((etag, IDENTITY), found)
                return found

        return render


@dataclass(frozen=True, slots=True)
class _Render:
    """A lazy feed document's renderer: holds only the feed's inputs, never a whole index."""

    owner: FeedDocuments
    inputs: FeedInputs
    etags: Mapping[str, str]
    fmt: str

    def __call__(self) -> bytes:
        return self.owner.render(self.inputs, self.etags, self.fmt)


FeedJob = tuple[dict[str, FeedMeta], list[Item]]  # one feed's metadata by format, and its items


def _gzip_feed_job(job: FeedJob) -> dict[str, bytes]:
    """A feed's RSS and Atom documents, gzip-compressed: what a cold start keeps (readers
    poll those; JSON Feed is rendered on first request)."""
    metas, items = job
    return {name: encode(body, GZIP) for name, body in render_formats({k: v for k, v in metas.items() if k != JSON.name}, items).items()}


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


def _item(index: Index, source: str, settings: Settings, body: RenderedBody, modified: Modified) -> Item:
    post = index.posts[source]
    uid = index.ids[source]
    return _item_of(settings, uid, post, body, modified(uid, post))


def _item_of(settings: Settings, uid: str, post: Post, body: RenderedBody, modified: datetime | None) -> Item:
    cats = tuple((n, settings.url("/categories/")) for n in post.categories)
    cats += tuple((n, settings.url("/tags/")) for n in post.tags)
    return Item(post=post, uid=uid, body=body, categories=cats, modified=modified)


def build_snapshot(
    index: Index,
    settings: Settings,
    cache: RenderCache,
    previous: Snapshot | None,
    errors: tuple[tuple[str, str], ...],
    modified: Modified = no_modified,
    renderer: FeedDocuments | None = None,
) -> Snapshot:
    """The feeds' inputs and lazy documents; a feed whose inputs did not change since
    ``previous`` keeps its document objects (same bytes, same ETag). ``modified`` dates
    entries whose version is not their post's first (versions.py). Renders nothing."""
    renderer = renderer or (previous.renderer if previous is not None else None) or FeedDocuments(settings, cache)
    fingerprint = renderer.fingerprint
    inputs: dict[FeedKey, FeedInputs] = {}
    documents: dict[DocKey, Document] = {}
    changed: set[FeedKey] = set()
    for feed in index.feed_list():
        old = previous.inputs.get(feed.key) if previous is not None else None
        found = feed_inputs(index, feed, settings, modified, fingerprint, old)
        if old is not None and old.digest == found.digest:
            inputs[feed.key] = old
            documents.update(((feed.key, fmt.name), previous.documents[(feed.key, fmt.name)]) for fmt in FORMATS)  # type: ignore[union-attr]
        else:
            inputs[feed.key] = found
            changed.add(feed.key)
            documents.update(((feed.key, name), doc) for name, doc in renderer.documents(found).items())
    return Snapshot(
        index=index,
        documents=documents,
        pages=_pages(index, settings, documents, inputs, previous, changed, renderer),
        inputs=inputs,
        errors=errors,
        generation=(previous.generation + 1) if previous else 1,
        renderer=renderer,
        modified=modified,
    )


def restamp(snapshot: Snapshot, settings: Settings, document_modified: DocumentModified) -> Snapshot:
    """The snapshot with each document's Last-Modified set to the later of its newest entry
    and the time its ETag was first recorded (versions.py); the same object when none moved."""
    documents = dict(snapshot.documents)
    moved: set[FeedKey] = set()
    for (key, fmt), doc in snapshot.documents.items():
        newest = snapshot.inputs[key].updated
        recorded = document_modified(snapshot.index.feeds[key].document_path(fmt), doc.etag)
        when = newest if recorded is None or recorded <= newest else recorded
        if when != doc.last_modified:
            documents[(key, fmt)] = doc.with_last_modified(when)
            moved.add(key)
    if not moved:
        return snapshot
    # the pages show each feed's Last-Modified: those of the feeds that moved are made again
    assert snapshot.renderer is not None
    pages = _pages(snapshot.index, settings, documents, snapshot.inputs, snapshot, moved, snapshot.renderer)
    return replace(snapshot, documents=documents, pages=pages)


def _pages(
    index: Index, settings: Settings, documents: Mapping[DocKey, Document], inputs: Mapping[FeedKey, FeedInputs],
    previous: Snapshot | None, changed: set[FeedKey], renderer: FeedDocuments,
) -> Mapping[str, Document]:
    """The pages by site path (feedsvc.pages), lazy like the feeds. A feed's preview page is
    made again only with its feed; the home page and OPML list whenever a feed changed,
    appeared or went; the stylesheets once."""
    old = previous.pages if previous is not None else {}
    if previous is not None and not changed and previous.index.feeds.keys() == index.feeds.keys():
        return old
    pages: dict[str, Document] = {}
    feeds = index.feed_list()
    modified = {feed.key: documents[(feed.key, RSS.name)].last_modified for feed in feeds}
    for feed in feeds:
        path = feed.path + "/"
        if feed.key.kind != SITE:
            fresh = feed.key in changed or path not in old
            pages[path] = renderer.page(inputs[feed.key], modified[feed.key]) if fresh else old[path]
    pages.update(renderer.home_and_opml(feeds, inputs, modified))
    if all(path in old for path in ASSET_PATHS):  # they depend on the settings only
        pages.update((path, old[path]) for path in ASSET_PATHS)
    else:
        pages.update((path, make_document(body, ctype, None)) for path, (body, ctype) in assets(settings).items())
    return pages


def _link(settings: Settings, feed: Feed, inputs: FeedInputs, last_modified: datetime | None, cache: RenderCache,
          with_posts: bool) -> FeedLink:
    """The feed as the pages show it; with its items when ``with_posts``."""
    count = len(inputs.items)
    updated = last_modified or EPOCH
    meta = feed_meta(settings, feed, RSS.name, updated)
    posts = tuple(_line(settings, cache, post) for _, _, post, _ in inputs.items) if with_posts else ()
    return FeedLink(
        kind=feed.key.kind, name=feed.name, title=meta.title, description=meta.description, page_url=meta.home_url,
        count=count, updated=updated.astimezone(settings.tz).date().isoformat() if count else "",
        urls=tuple((fmt, settings.url(feed.document_path(fmt.name))) for fmt in FORMATS), posts=posts,
    )


def _line(settings: Settings, cache: RenderCache, post: Post) -> PostLine:
    local = post.published.astimezone(settings.tz).replace(microsecond=0)
    summary = cache.body(post).summary
    return PostLine(post.title, post.permalink, local.date().isoformat(), local.isoformat(),
                    plain_text(summary) if summary else "")


__all__ = ["Snapshot", "RenderCache", "FeedDocuments", "FeedInputs", "build_snapshot", "CATEGORY", "TAG", "SITE", "AUTHOR"]
