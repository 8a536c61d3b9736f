"""The feed service without Flask: load the folder, build a snapshot, publish it by reference."""

from __future__ import annotations

import ctypes
import gc
import logging
import os
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from .changes import UPDATED, ChangeSet, PostChange, diff_documents, diff_posts
from .config import Settings
from .index import Index, build_index, placement
from .loader import ContentFolderError, ContentLoader, StatKey, scan
from .parallel import default_workers
from .posts import Post, PostError, read_post
from .snapshot import FeedDocuments, RenderCache, Snapshot, build_snapshot, restamp
from .versions import ContentDates, VersionLedger

logger = logging.getLogger(__name__)


def utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class ReloadReport:
    """What one reload did; ``changed`` counts what the change stream carried."""

    generation: int
    seconds: float
    reread: int
    removed_files: int
    errors: int
    changed: dict[str, int]
    applied: bool  # False when nothing changed, or the safety guard kept the old snapshot


NO_CHANGES = {"published": 0, "updated": 0, "removed": 0, "documents": 0}


@dataclass(frozen=True)
class Status:
    """What ``/healthz`` reports, published as one value after each reload, so that one answer
    never mixes two reloads."""

    snapshot: Snapshot
    degraded: str | None  # why the last reload kept the old snapshot
    last_reload: datetime
    report: ReloadReport


class FeedService:
    """Owns the loader and the render cache; ``snapshot`` is the one reference readers see."""

    def __init__(self, settings: Settings, ledger: VersionLedger | None = None) -> None:
        self.settings = settings
        self.ledger: VersionLedger = ledger or ContentDates()
        self._observe_all = True  # the next applied reload shows the ledger everything
        self.loader = ContentLoader(settings)
        self.cache = RenderCache()
        self.renderer = FeedDocuments(settings, self.cache)  # renders documents on demand, for every snapshot
        self.status: Status | None = None  # the one published value (snapshot + health)
        self._snapshot: Snapshot | None = None  # the newest snapshot, published with the status
        self._degraded: str | None = None
        self._pending_removal: frozenset[str] | None = None
        self._counts: deque[tuple[float, int]] = deque()  # (monotonic time, published posts) per applied load
        self._reload_lock = threading.Lock()
        self._running: tuple[float, frozenset[str]] | None = None  # the running reload's start and files
        self._aside_lock = threading.Lock()
        self._aside_seen: dict[str, StatKey] = {}  # files recorded aside since the running reload scanned
        self._subscribers: list[Callable[[ChangeSet], None]] = []
        self._reload_listeners: list[Callable[[ReloadReport], None]] = []

    def subscribe(self, callback: Callable[[ChangeSet], None]) -> None:
        """Call ``callback(changes)`` after every reload that changed something (never for a
        process's first load). It runs in the reloading thread: it must not block on I/O."""
        self._subscribers.append(callback)

    def use_ledger(self, ledger: VersionLedger) -> None:
        """Take version dates from ``ledger`` (the push store) from the next reload on, which
        rebuilds and shows the ledger every post and document."""
        with self._reload_lock:
            self.ledger = ledger
            self._observe_all = True

    def on_reload(self, callback: Callable[[ReloadReport], None]) -> None:
        """Call ``callback(report)`` after every reload (the scheduler uses it)."""
        self._reload_listeners.append(callback)

    def _emit(self, changes: ChangeSet) -> None:
        for callback in list(self._subscribers):
            try:
                callback(changes)
            except Exception:  # one subscriber's bug must not stop the others or the reload
                logger.exception("change subscriber %r failed", callback)

    @property
    def reloading(self) -> bool:
        """Whether a reload is running; in a forked child, whether one ran in the parent at the
        fork (a build's helper process): a reload there would wait forever for the lock."""
        return self._reload_lock.locked()

    def reload(self) -> ReloadReport:
        """Rescan; parse what changed; build aside; publish by one reference assignment."""
        with self._reload_lock:
            started = time.perf_counter()
            try:
                report = self._reload(started)
            finally:
                self._running = None
            assert self._snapshot is not None
            self.status = Status(self._snapshot, self._degraded, utcnow(), report)  # one assignment
        for listener in list(self._reload_listeners):
            listener(report)
        return report

    def _reload(self, started: float) -> ReloadReport:
        seen_at = time.time()  # observations are ordered by the start of the scan that made them
        try:
            files = self.loader.scan()
        except ContentFolderError as exc:
            return self._keep(started, str(exc))
        todo, gone = self.loader.plan(files)
        self._aside_seen = {}
        self._running = (time.monotonic(), frozenset(todo) | frozenset(gone))
        now = utcnow()
        dates_moved = self.ledger.refresh()
        if (self._snapshot is not None and not todo and not gone and not self._publication_due(now)
                and not dates_moved and not self._observe_all):
            self._degraded = None
            return self._report(started, 0, 0, NO_CHANGES, applied=False)
        refusal = self._removal_guard(gone)
        if refusal:
            return self._keep(started, refusal)
        # only a process's first build forks helpers: no thread may exist yet then
        workers = (self.settings.build_workers or default_workers()) if self._snapshot is None else 1
        before = {rel: self.loader.slots[rel].post for rel in todo if rel in self.loader.slots}
        result = self.loader.load(files, workers, (todo, gone))
        self._remember_count()
        same_files = len(before) == len(todo) and not gone and not self._publication_due(now)
        reused = self._reuse_index(before, result.posts) if same_files else None
        index = reused or build_index(result.posts.values(), self.settings, now)
        previous = self._snapshot
        snapshot, posts_changed = self._build(seen_at, index, previous, result.errors)
        if previous is not None and _same(previous, snapshot):  # e.g. the ledger's dates moved nothing
            self._degraded = None
            return self._report(started, result.reread, result.removed, NO_CHANGES, applied=False)
        if previous is None and workers > 1:
            # a cold start: the feeds readers hit first, rendered now in the forked helpers, as
            # long as they fill at most 3/4 of the document cache (gunicorn workers share them)
            self.renderer.prerender(snapshot, workers)
        self._snapshot = snapshot
        # Hand the pages the old snapshot freed back to the OS (a 1-3 ms trim): before gunicorn
        # forks workers from this process, and after every change, or fragmentation grows RSS.
        release_free_memory(collect=previous is None)
        self._degraded = None
        changed = NO_CHANGES
        if previous is not None:
            changes = ChangeSet(snapshot.generation, posts_changed, diff_documents(previous, snapshot), snapshot)
            changed = _counts(changes)
            if changes:
                self._emit(changes)
        report = self._report(started, result.reread, result.removed, changed, applied=True)
        logger.info(
            "reload %d: %d posts, %d files re-read, %d removed, %d errors, changes %s in %.3fs",
            snapshot.generation, len(index.posts), result.reread, result.removed, len(result.errors),
            changed, report.seconds,
        )
        return report

    def aside(self) -> int:
        """While a reload has run longer than FEEDSVC_RELOAD_INTERVAL (a burst: thousands of
        files to read and record), record the edits made since it scanned, so that push does
        not wait for it; the next reload publishes them. Only edits of published posts that
        keep their place (id, link, dates, labels), at most FEEDSVC_NOTIFY_BURST of them; the
        rest waits for the next reload. Called from another thread (the scheduler's aside job);
        returns how many events it recorded."""
        running, snapshot = self._running, self._snapshot
        if running is None or snapshot is None or time.monotonic() - running[0] < self.settings.reload_interval:
            return 0
        if isinstance(self.ledger, ContentDates):
            return 0  # no store, no push: nothing to record
        if not self._aside_lock.acquire(blocking=False):
            return 0
        try:
            return self._aside(running[1], snapshot)
        finally:
            self._aside_lock.release()

    def _aside(self, running: frozenset[str], snapshot: Snapshot) -> int:
        seen_at = time.time()
        try:
            files = scan(self.loader.root)  # the folder-listing cache belongs to the reload
        except ContentFolderError:
            return 0
        seen, slots, published = self._aside_seen, self.loader.slots, snapshot.index.posts
        todo = [(rel, path, key) for rel, (path, key) in files.items()
                if rel in published and rel not in running and seen.get(rel) != key
                and (slot := slots.get(rel)) is not None and slot.key != key]
        if not todo or len(todo) > self.settings.notify_burst:
            return 0
        changes = []
        for rel, path, key in todo:
            seen[rel] = key
            old = published[rel]
            try:
                post = read_post(path, rel, self.settings, (old,))
            except PostError:
                continue  # the reload reports it
            if post is not old and placement(post) == placement(old):
                changes.append(PostChange(UPDATED, snapshot.index.ids[rel], post, old))
        made = self.ledger.observe_aside(seen_at, changes) if changes else 0
        if made:
            logger.info("%d edits recorded while a long reload runs: pushed now, published by the next reload", made)
        return made

    def _build(self, seen_at: float, index: Index, previous: Snapshot | None,
               errors: tuple[tuple[str, str], ...]) -> tuple[Snapshot, tuple[PostChange, ...]]:
        """Show the ledger what this scan saw, build with its dates, then stamp Last-Modified."""
        everything = self._observe_all or previous is None
        posts_changed = diff_posts(previous.index, index) if previous is not None else ()
        ledger = self.ledger
        ledger.observe_posts(seen_at, None if everything else posts_changed, index, not errors)
        snapshot = build_snapshot(index, self.settings, self.cache, previous, errors, ledger.post_modified, self.renderer)
        ledger.observe_documents(seen_at, None if everything or previous is None else diff_documents(previous, snapshot), snapshot)
        self._observe_all = False
        return restamp(snapshot, self.settings, ledger.document_modified), posts_changed

    def _reuse_index(self, before: dict[str, Post | None], posts: dict[str, Post]) -> Index | None:
        """When known files changed only in content (not dates, names, links or ids), the
        previous index with the new versions; building one from scratch costs ~50 ms at 10k."""
        if self._snapshot is None:
            return None
        for rel, old in before.items():
            new = posts.get(rel)
            if old is None or new is None or placement(old) != placement(new):
                return None
        return self._snapshot.index.with_versions({rel: posts[rel] for rel in before})

    def _publication_due(self, now: datetime) -> bool:
        due = self._snapshot.index.next_publication if self._snapshot else None
        return due is not None and due <= now

    def _removal_guard(self, gone: list[str]) -> str | None:
        """Refuse a rescan that would leave fewer than (1 - FEEDSVC_MAX_REMOVAL_RATIO) of the
        reference count, unless the next scan sees the same removal. The reference is the
        largest count published within FEEDSVC_REMOVAL_WINDOW seconds, so a deletion made in
        stages (three 40% steps) is judged as a whole, not step by step."""
        total = self.loader.published_count()
        remaining = total - self.loader.removed_posts(gone)
        reference = max([total] + [count for _, count in self._recent_counts()])
        if not reference or (reference - remaining) / reference <= self.settings.max_removal_ratio:
            self._pending_removal = None
            return None
        seen = frozenset(gone)
        if self._pending_removal == seen:
            logger.warning("applying a removal to %d of %d posts, seen in two scans", remaining, reference)
            self._pending_removal = None
            self._counts.clear()  # the removal is confirmed: the smaller site is the new reference
            return None
        self._pending_removal = seen
        return (
            f"a rescan would remove {reference - remaining} of {reference} posts (over FEEDSVC_MAX_REMOVAL_RATIO="
            f"{self.settings.max_removal_ratio} within FEEDSVC_REMOVAL_WINDOW={self.settings.removal_window:g}s); "
            "it applies if the next scan sees the same"
        )

    def _recent_counts(self) -> deque[tuple[float, int]]:
        horizon = time.monotonic() - self.settings.removal_window
        while self._counts and self._counts[0][0] < horizon:
            self._counts.popleft()
        return self._counts

    def _remember_count(self) -> None:
        """After an applied load: the count the guard measures later removals against."""
        count = self.loader.published_count()
        counts = self._recent_counts()
        if counts and counts[-1][1] == count:
            counts.pop()  # keep one entry per count change (the latest time)
        counts.append((time.monotonic(), count))

    def _keep(self, started: float, reason: str) -> ReloadReport:
        """Keep serving the previous snapshot and say why (/healthz status: degraded)."""
        logger.error("reload skipped, serving the previous state: %s", reason)
        self._degraded = reason
        if self._snapshot is None:  # nothing to keep: serve an empty site rather than fail
            index = build_index((), self.settings, utcnow())
            self._snapshot = build_snapshot(index, self.settings, self.cache, None, (), renderer=self.renderer)
        return self._report(started, 0, 0, NO_CHANGES, applied=False)

    def _report(self, started: float, reread: int, removed: int, changed: dict[str, int], applied: bool) -> ReloadReport:
        generation = self._snapshot.generation if self._snapshot else 0
        errors = len(self._snapshot.errors) if self._snapshot else 0
        return ReloadReport(generation, time.perf_counter() - started, reread, removed, errors, dict(changed), applied)

    @property
    def snapshot(self) -> Snapshot | None:
        """The published snapshot (None before the first reload)."""
        status = self.status
        return status.snapshot if status is not None else None

    @property
    def degraded(self) -> str | None:
        status = self.status
        return status.degraded if status is not None else None

    def current(self) -> Snapshot:
        status = self.status
        if status is None:
            self.reload()
            status = self.status
        assert status is not None
        return status.snapshot


def release_free_memory(collect: bool = False) -> None:
    """Hand freed heap pages back to the OS (glibc ``malloc_trim``), after a full garbage
    collection when ``collect``.

    A cold build frees about a quarter of its peak; without the trim, glibc keeps those pages
    and every forked worker starts with them resident (about 60 MB on 10k posts). Without it
    after reloads, RSS grew 16% over 100 edits while the Python heap did not.
    """
    if collect:
        gc.collect()
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):  # not glibc: nothing to trim
        pass


def resident_mib() -> float:
    """This process's resident memory in MiB (Linux /proc; 0.0 elsewhere), for DEBUG logs."""
    try:
        with open("/proc/self/statm", "rb") as statm:
            return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
    except (OSError, ValueError, IndexError):
        return 0.0


def _same(old: Snapshot, new: Snapshot) -> bool:
    """Whether ``new`` serves exactly what ``old`` does (same documents, pages and posts)."""
    if old.index.posts != new.index.posts or old.index.ids != new.index.ids or old.errors != new.errors:
        return False
    if old.index.next_publication != new.index.next_publication or old.index.warnings != new.index.warnings:
        return False  # a future post arrived or went: the scheduler's wake-up reads it
    if len(old.documents) != len(new.documents) or any(new.documents.get(k) is not d for k, d in old.documents.items()):
        return False
    return all(new.pages.get(k) is d for k, d in old.pages.items())


def _counts(changes: ChangeSet) -> dict[str, int]:
    counts = dict.fromkeys(("published", "updated", "removed"), 0)
    for change in changes.posts:
        counts[change.action] += 1
    counts["documents"] = len(changes.documents)
    return counts
