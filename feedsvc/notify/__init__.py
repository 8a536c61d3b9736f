"""Push: signed webhooks and a built-in WebSub hub, delivered durably, once per cluster.

Depends on the core (FeedService's change stream), never the reverse. ``init_app`` runs the
migrations, records or reconciles the content state, mounts /api/webhooks and /websub, and
adds this process's jobs to ``app.extensions["feedsvc.jobs"]`` (runtime.py's scheduler).

Tuning knobs read from the Flask config (FEEDSVC_* env or create_app's dict), not settings:
NOTIFY_CONCURRENCY (32 parallel sends per process), NOTIFY_LEASE_SECONDS (30: a claimed
delivery whose process died is sent again after this), NOTIFY_POLL_SECONDS (1.0),
WEBSUB_RATE_LIMIT (30 subscription requests per minute per client address).
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from datetime import UTC, datetime
from typing import Any

from flask import Flask

from ..changes import ChangeSet
from ..config import ConfigError
from ..service import FeedService
from ..snapshot import Snapshot
from . import endpoints
from .dispatch import Dispatcher, expire_subscriptions
from .events import Recorder
from .store import default_url, make_engine, upgrade
from .websub import RateLimiter

logger = logging.getLogger(__name__)
SEND_JOB, HOUSEKEEPING_JOB = "feedsvc.notify.send", "feedsvc.notify.housekeeping"


class Notifier:
    """One process's view of the push machinery; the store is what the cluster shares."""

    def __init__(self, app: Flask, service: FeedService) -> None:
        self.service = service
        self.settings = service.settings
        self.url = self.settings.database_url or default_url(app.instance_path)
        self.engine = make_engine(self.url)
        config = app.config
        self.poll = float(config.get("NOTIFY_POLL_SECONDS", 1.0))
        self.recorder = Recorder(self.engine, self.settings, service.hubs)
        self.dispatcher = Dispatcher(self.engine, self.settings, service.hubs,
                                     int(config.get("NOTIFY_CONCURRENCY", 32)), float(config.get("NOTIFY_LEASE_SECONDS", 30)))
        self.rate_limiter = RateLimiter(int(config.get("WEBSUB_RATE_LIMIT", 30)))
        self._pending: deque[ChangeSet] = deque()
        self._lock = threading.Lock()
        self._scheduler: Any = None
        self._deletions_pending = False

    def start(self, webhooks: Any) -> None:
        """Migrate, sync the config's endpoints, then record or reconcile the content state."""
        upgrade(self.engine)
        try:
            endpoints.sync_config(self.engine, webhooks, self.settings.allow_private_targets)
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
        scheduler.add_job(self.job, "interval", seconds=self.poll, id=SEND_JOB, replace_existing=True,
                          next_run_time=datetime.now(UTC))
        scheduler.add_job(self.housekeeping, "interval", seconds=300, id=HOUSEKEEPING_JOB, replace_existing=True)

    def close(self) -> None:
        self.dispatcher.shutdown()
        self.engine.dispose()


def init_app(app: Flask, service: FeedService, webhooks: Any = None) -> Notifier:
    """``webhooks``: the config file's ``[[webhooks]]`` tables, if any."""
    notifier = Notifier(app, service)
    notifier.start(webhooks)
    app.extensions["feedsvc.notify"] = notifier
    app.extensions.setdefault("feedsvc.jobs", []).append(notifier.register)
    service.subscribe(notifier.on_changes)

    from . import api, websub

    app.register_blueprint(api.bp)
    app.register_blueprint(websub.bp)
    return notifier


def hub_urls(site_url: str, external: tuple[str, ...]) -> tuple[str, ...]:
    """The hubs every topic advertises: the built-in one first, then FEEDSVC_WEBSUB_HUBS."""
    return (site_url + "/websub",) + tuple(external)


__all__ = ["Notifier", "init_app", "hub_urls"]
