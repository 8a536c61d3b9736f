"""Push: signed webhooks and a built-in WebSub hub, delivered durably, once per cluster.

Depends on the core (FeedService's change stream), never the reverse, and on no web framework:
``Notifier.start`` runs the migrations and makes the store the service's version ledger
(ledger.py: every reload records what it observed, in the reloading thread); its
``register`` adds this process's jobs to the scheduler (runtime.py). The app mounts the HTTP
side (``api.bp``: /api/webhooks, ``websub.bp``: /websub). Tuning comes from Settings
(FEEDSVC_NOTIFY_CONCURRENCY, _PER_ENDPOINT, _BURST, _LEASE_SECONDS, _POLL_SECONDS,
FEEDSVC_RETENTION_DAYS, FEEDSVC_WEBSUB_RATE_LIMIT).
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

from ..changes import ChangeSet
from ..config import ConfigError, Settings
from ..service import FeedService, release_free_memory, resident_mib
from . import endpoints
from .dispatch import Dispatcher, expire_subscriptions
from .ledger import Recorder
from .ratelimit import RateLimiter
from .retention import prune
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
        self._scheduler: Any = None
        self.dispatcher.on_drained = self.release

    def start(self) -> None:
        """Migrate, sync the config's endpoints, then make the store the service's version
        ledger: the rescan that follows compares every post and document with the store (on
        an empty store it records them and announces nothing)."""
        upgrade(self.engine)
        try:
            endpoints.sync_config(self.engine, list(self.settings.webhooks), self.settings.allow_private_targets)
        except ValueError as exc:
            raise ConfigError(f"FEEDSVC_CONFIG: {exc}") from None
        self.recorder.on_recorded = self.wake  # events go out as each transaction commits
        self.service.use_ledger(self.recorder)
        self.service.reload()
        if self.recorder.made:
            logger.info("%d changes made while no process was running recorded", self.recorder.made)

    def on_changes(self, changes: ChangeSet) -> None:
        """FeedService subscriber: the reload recorded the changes already; wake the send job."""
        self.wake()

    def wake(self) -> None:
        scheduler = self._scheduler
        if scheduler is not None and scheduler.running:
            job = scheduler.get_job(SEND_JOB)
            if job is not None:
                job.modify(next_run_time=datetime.now(UTC))

    def run_once(self, budget: float = 30.0) -> int:
        """Send everything due (the scheduler job; tests call it); the attempts made. After a
        run that sent something, freed heap pages go back to the OS (as after a reload)."""
        attempts = self.dispatcher.run(budget)
        if attempts:
            release_free_memory()
        return attempts

    def release(self) -> None:
        """Once a backlog is sent (Dispatcher.on_drained), more goes than a run's trim: the
        pooled store connections close (each SQLite connection's page cache grew to 2 MB in
        the burst) and a full collection frees the cycles that failed sends leave, with their
        buffers, before the trim. Without it a worker kept 5-10% over its fresh RSS after the
        48,000 deliveries of bench/burst.py."""
        before = resident_mib()
        self.engine.dispose()  # connections in use elsewhere close when they are returned
        release_free_memory(collect=True)
        logger.debug("backlog sent: store connections closed, memory released (RSS %.1f -> %.1f MiB)", before, resident_mib())

    def job(self) -> None:
        try:
            self.run_once()
        except Exception:  # keep the job alive; the outbox keeps the work
            logger.exception("push job failed")

    def housekeeping(self) -> None:
        """Expire WebSub leases and prune what is older than FEEDSVC_RETENTION_DAYS."""
        try:
            expired = expire_subscriptions(self.engine)
            if expired:
                logger.info("%d WebSub subscriptions expired", expired)
            prune(self.engine, self.settings.retention_days)
        except Exception:
            logger.exception("push housekeeping failed")

    def register(self, scheduler: Any) -> None:
        """Called by runtime.py when this process's scheduler starts (after any fork)."""
        self._scheduler = scheduler
        scheduler.add_job(self.job, "interval", seconds=self.settings.notify_poll_seconds, id=SEND_JOB, replace_existing=True,
                          next_run_time=datetime.now(UTC))
        scheduler.add_job(self.housekeeping, "interval", seconds=300, id=HOUSEKEEPING_JOB, replace_existing=True,
                          next_run_time=datetime.now(UTC))

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
