"""Push: signed webhooks and a built-in WebSub hub, delivered durably, once per cluster.

Depends on the core (FeedService's change stream), never the reverse, and on no web framework:
``Notifier.start`` runs the migrations and records or reconciles the content state; its
``register`` adds this process's jobs to the scheduler (runtime.py). The app mounts the HTTP
side (``api.bp``: /api/webhooks, ``websub.bp``: /websub). Tuning comes from Settings
(FEEDSVC_NOTIFY_CONCURRENCY, _LEASE_SECONDS, _POLL_SECONDS, FEEDSVC_WEBSUB_RATE_LIMIT).
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from datetime import UTC, datetime
from typing import Any

from ..changes import ChangeSet
from ..config import ConfigError, Settings
from ..service import FeedService
from ..snapshot import Snapshot
from . import endpoints
from .dispatch import Dispatcher, expire_subscriptions
from .events import Recorder
from .ratelimit import RateLimiter
from .store import default_url, make_engine, upgrade

logger = logging.getLogger(__name__)
SEND_JOB, HOUSEKEEPING_JOB = "feedsvc.notify.send", "feedsvc.notify.housekeeping"


class Notifier:
    """One process's view of the push machinery; the store is what the cluster shares."""

    def __init__(self, service: FeedService) -> None:
        self.service = service
        self.settings = settings = service.settings
        self.engine = make_engine(database_url(settings))
        self.recorder = Recorder(self.engine, settings)
        self.dispatcher = Dispatcher(self.engine, settings)
        self.rate_limiter = RateLimiter(settings.websub_rate_limit)
        self._pending: deque[ChangeSet] = deque()
        self._lock = threading.Lock()
        self._scheduler: Any = None
        self._deletions_pending = False

    def start(self) -> None:
        """Migrate, sync the config's endpoints, then record or reconcile the content state."""
        upgrade(self.engine)
        try:
            endpoints.sync_config(self.engine, list(self.settings.webhooks), self.settings.allow_private_targets)
        except ValueError as exc:
            raise ConfigError(f"FEEDSVC_CONFIG: {exc}") from None
        made = self.recorder.start(self.fresh_snapshot)
        # With posts failing to load, a post missing from the snapshot may be unreadable rather
        # than deleted: deletions are announced once a load is clean (run_once checks).
        self._deletions_pending = bool(self.service.current().errors)
        if self._deletions_pending:
            logger.warning("%d posts failed to load: deletions made while stopped wait for a clean load", len(self.service.current().errors))
        if made:
            logger.info("%d changes made while no process was running recorded", made)

    def fresh_snapshot(self) -> Snapshot:
        """A rescan now: newer than any stored state read before this call."""
        self.service.reload()
        return self.service.current()

    def on_changes(self, changes: ChangeSet) -> None:
        """FeedService subscriber: no I/O here, only queue and wake the send job."""
        self._pending.append(changes)
        self.wake()

    def wake(self) -> None:
        scheduler = self._scheduler
        if scheduler is not None and scheduler.running:
            job = scheduler.get_job(SEND_JOB)
            if job is not None:
                job.modify(next_run_time=datetime.now(UTC))

    def run_once(self, budget: float = 30.0) -> int:
        """Record queued changes, then send everything due. The scheduler job; tests call it."""
        with self._lock:
            while self._pending:
                self.recorder.apply(self._pending.popleft())
            snapshot = self.service.snapshot
            if self._deletions_pending and snapshot is not None and not snapshot.errors:
                self.recorder.reconcile(self.fresh_snapshot)
                self._deletions_pending = bool(self.service.current().errors)
            return self.dispatcher.run(budget)

    def job(self) -> None:
        try:
            self.run_once()
        except Exception:  # keep the job alive; the outbox keeps the work
            logger.exception("push job failed")

    def housekeeping(self) -> None:
        try:
            expired = expire_subscriptions(self.engine)
            if expired:
                logger.info("%d WebSub subscriptions expired", expired)
        except Exception:
            logger.exception("push housekeeping failed")

    def register(self, scheduler: Any) -> None:
        """Called by runtime.py when this process's scheduler starts (after any fork)."""
        self._scheduler = scheduler
        scheduler.add_job(self.job, "interval", seconds=self.settings.notify_poll_seconds, id=SEND_JOB, replace_existing=True,
                          next_run_time=datetime.now(UTC))
        scheduler.add_job(self.housekeeping, "interval", seconds=300, id=HOUSEKEEPING_JOB, replace_existing=True)

    def close(self) -> None:
        self.dispatcher.shutdown()
        self.engine.dispose()


def start_notifier(service: FeedService) -> Notifier:
    """A started Notifier, subscribed to the service's change stream."""
    notifier = Notifier(service)
    notifier.start()
    service.subscribe(notifier.on_changes)
    return notifier


def database_url(settings: Settings) -> str:
    """FEEDSVC_DATABASE_URL, or a SQLite file in the instance folder."""
    return settings.database_url or default_url(settings.instance_dir)


__all__ = ["Notifier", "start_notifier", "database_url"]
