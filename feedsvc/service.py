"""The feed service without Flask: load the folder, build a snapshot, publish it by reference."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from .changes import ChangeSet, diff_snapshots
from .config import Settings
from .index import build_index
from .loader import ContentFolderError, ContentLoader, scan
from .parallel import default_workers
from .snapshot import RenderCache, Snapshot, build_snapshot

logger = logging.getLogger(__name__)


def utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class ReloadReport:
    generation: int
    seconds: float
    reread: int
    removed: int
    errors: int


class FeedService:
    """Owns the loader and the render cache; ``snapshot`` is the one reference readers see."""

    def __init__(self, settings: Settings, hubs: tuple[str, ...] = ()) -> None:
        self.settings = settings
        self.hubs = hubs
        self.loader = ContentLoader(settings)
        self.cache = RenderCache()
        self.snapshot: Snapshot | None = None
        self.degraded: str | None = None  # why the last reload kept the old snapshot
        self.last_reload: datetime | None = None
        self.reload_seconds: float | None = None
        self._reload_lock = threading.Lock()
        self._subscribers: list[Callable[[ChangeSet], None]] = []

    def subscribe(self, callback: Callable[[ChangeSet], None]) -> None:
        """Call ``callback(changes)`` after every reload that changed something (never for a
        process's first load). It runs in the reloading thread: it must not block on I/O."""
        self._subscribers.append(callback)

    def _emit(self, changes: ChangeSet) -> None:
        for callback in list(self._subscribers):
            try:
                callback(changes)
            except Exception:  # one subscriber's bug must not stop the others or the reload
                logger.exception("change subscriber %r failed", callback)

    def reload(self) -> ReloadReport | None:
        """Rescan and publish a new snapshot; None when the folder could not be read."""
        with self._reload_lock:
            started = time.perf_counter()
            try:
                files = scan(self.settings.content_dir)
            except ContentFolderError as exc:
                return self._degrade(str(exc))
            # only a process's first build forks helpers: no thread may exist yet then
            workers = self._first_build_workers() if self.snapshot is None else 1
            result = self.loader.load(files, workers)
            now = utcnow()
            index = build_index(result.posts.values(), self.settings, now)
            snapshot = build_snapshot(
                index, self.settings, self.cache, self.snapshot, result.errors, now, self.hubs, workers
            )
            previous, self.snapshot = self.snapshot, snapshot  # the swap: one reference assignment
            self.degraded = None
            self.last_reload = now
            self.reload_seconds = time.perf_counter() - started
            logger.info(
                "reload %d: %d posts, %d re-read, %d removed, %d errors in %.3fs",
                snapshot.generation, len(index.posts), result.reread, result.removed,
                len(result.errors), self.reload_seconds,
            )
            if previous is not None:
                changes = diff_snapshots(previous, snapshot)
                if changes:
                    self._emit(changes)
            return ReloadReport(snapshot.generation, self.reload_seconds, result.reread, result.removed, len(result.errors))

    def _first_build_workers(self) -> int:
        return self.settings.build_workers or default_workers()

    def _degrade(self, reason: str) -> None:
        logger.error("reload skipped, serving the previous state: %s", reason)
        self.degraded = reason
        if self.snapshot is None:  # nothing to keep: serve an empty site rather than fail
            index = build_index((), self.settings, utcnow())
            self.snapshot = build_snapshot(index, self.settings, self.cache, None, (), utcnow(), self.hubs)
        return None

    def current(self) -> Snapshot:
        snapshot = self.snapshot
        if snapshot is None:
            self.reload()
            snapshot = self.snapshot
        assert snapshot is not None
        return snapshot
