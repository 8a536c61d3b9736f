"""Sending: claim due deliveries, send them on a bounded thread pool, record the outcomes.

Runs from a scheduler job (never on the request path). Sending is pipelined: as soon as
requests finish, their outcomes are recorded and the free slots take the next due deliveries,
in one write transaction. A slow or dead target holds at most
FEEDSVC_NOTIFY_PER_ENDPOINT slots of the cluster (outbox.claim), each for at most the 10 s
timeout, so it only slows itself.
"""

from __future__ import annotations

import logging
import os
import secrets
import time
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from urllib.parse import urlencode

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from ..config import Settings
from ..http import feed_links
from . import schema
from .outbox import Job, Kind, Status, claim, origin, record, schedule_retry
from .sender import Result, send
from .signing import hub_signature, webhook_headers
from .store import insert_ignore, now, yield_to_recorders

logger = logging.getLogger(__name__)
RELEASE_AFTER = 256  # attempts that make a backlog worth a release once it is sent (Notifier.release)
RELEASE_QUIET = 1.0  # seconds without a claim that say a backlog is sent, not just its targets at their caps


@dataclass(frozen=True)
class Sent:
    job: Job
    result: Result
    started: float
    challenge: str | None = None


class Dispatcher:
    """One per process: a thread pool of ``concurrency`` senders over the shared outbox."""

    def __init__(self, engine: Engine, settings: Settings) -> None:
        self.engine = engine
        self.settings = settings
        self.concurrency = settings.notify_concurrency
        self.lease = settings.notify_lease_seconds
        self.per_target = settings.notify_per_endpoint
        self.on_finished: Callable[[str, str, float], None] | None = None  # (kind, status, due since)
        self._pool: ThreadPoolExecutor | None = None
        self._pid = 0
        self._running: dict[Future[Sent], Job] = {}  # sends in flight, carried from one run to the next
        self.on_drained: Callable[[], None] | None = None  # a backlog was sent (see run)
        self._attempts = 0  # finished since on_drained was last called
        self._quiet_since: float | None = None  # since when claims with free slots found nothing

    def pool(self) -> ThreadPoolExecutor:
        """The sender threads, started on first use (again after ``_idle``)."""
        self._in_flight()
        if self._pool is None:
            self._pool = ThreadPoolExecutor(self.concurrency, thread_name_prefix="feedsvc-push")
        return self._pool

    def _in_flight(self) -> dict[Future[Sent], Job]:
        """This process's sends in flight: none in a forked child, whose threads (and the
        parent's pool with them) did not survive the fork."""
        if self._pid != os.getpid():
            self._pid, self._pool, self._running = os.getpid(), None, {}
        return self._running

    def _idle(self) -> None:
        """Nothing left to claim: let the idle sender threads end, and each busy one once its
        send is done (the sends in flight still finish and are recorded). A burst starts all
        ``concurrency`` of them; idle they kept their stacks (worker RSS once a backlog was
        sent, while a hanging target kept a few sends in flight). The next claim starts a pool
        that grows only to what it sends."""
        if self._pool is not None and self._pid == os.getpid():
            self._pool.shutdown(wait=False)
            self._pool = None

    def _claimed(self, some: bool) -> None:
        """After a claim with free slots. When it found nothing, the idle threads end; once
        claims have found nothing for RELEASE_QUIET seconds after a backlog (RELEASE_AFTER
        attempts since the last time), ``on_drained`` releases what the backlog left. A
        moment with every target at its cap is not the end of a backlog: without the quiet
        time a burst released (a full collection) every 256 sends."""
        if some:
            self._quiet_since = None
            return
        self._idle()
        stamp = time.monotonic()
        if self._quiet_since is None:
            self._quiet_since = stamp
        if stamp - self._quiet_since >= RELEASE_QUIET and self._attempts >= RELEASE_AFTER and self.on_drained is not None:
            self._attempts = 0
            self.on_drained()

    def shutdown(self) -> None:
        if self._pool is not None and self._pid == os.getpid():
            self._pool.shutdown(wait=False, cancel_futures=True)
        self._pool = None
        self._running = {}

    def run(self, budget: float = 30.0) -> int:
        """Send what is due until nothing is, or for ``budget`` seconds; the number of attempts
        finished. Sends still in flight at the deadline are not waited for: the next run (the
        job's next tick) records them. Waiting would stop this process claiming for up to the
        send timeout whenever a hanging target holds a slot, and an edit would wait behind it.

        Outcomes are recorded, and free slots refilled, in one write transaction per round;
        on SQLite each waits while a recorder wants the write lock (store.yield_to_recorders):
        the senders' stream of short transactions kept an edit's recording out for seconds."""
        deadline = time.monotonic() + budget
        running = self._in_flight()
        finished: list[Sent] = []
        count = 0
        while True:
            free = self.concurrency - len(running) if time.monotonic() < deadline else 0
            if finished or free > 0:
                jobs = self.exchange(finished, free)
                self._attempts += len(finished)
                if free > 0:
                    self._claimed(bool(jobs))
                for job in jobs:
                    running[self.pool().submit(self.attempt, job)] = job
                count += len(finished)
                finished = []
            left = deadline - time.monotonic()
            if not running:
                self._idle()
                return count
            if left <= 0:
                return count
            wait(running, timeout=min(1.0, left), return_when=FIRST_COMPLETED)
            for future in [f for f in running if f.done()]:
                del running[future]
                finished.append(future.result())

    def exchange(self, finished: list[Sent], free: int) -> list[Job]:
        """Record ``finished`` sends and claim up to ``free`` due deliveries, in one transaction."""
        began = time.monotonic()
        yield_to_recorders(self.engine)
        with self.engine.begin() as conn:
            locked = time.monotonic()
            outcomes = [self._finish_one(conn, sent) for sent in finished]
            jobs = claim(conn, free, self.lease, self.per_target)
        logger.debug("%d outcomes recorded, %d of %d slots filled: write lock after %.3f s, held %.3f s",
                     len(finished), len(jobs), free, locked - began, time.monotonic() - locked)
        for sent, status in zip(finished, outcomes, strict=True):
            if self.on_finished is not None:  # metrics (webmetrics.py): outcome and latency
                self.on_finished(str(sent.job.kind), str(status), sent.job.created_at)
            # one line per delivery that failed for good; attempts and successes at DEBUG
            logger.log(logging.WARNING if status == Status.FAILED else logging.DEBUG,
                       "delivery %d (%s to %s) attempt %d: %s -> %s", sent.job.id, sent.job.kind,
                       origin(sent.job.url), sent.job.tries + 1, sent.result.status or sent.result.error, status)
        return jobs

    def attempt(self, job: Job) -> Sent:
        """One HTTP request for ``job`` (runs in a pool thread). Whatever goes wrong with one
        delivery (a bad row, a bug) fails that attempt only, never the job or the others."""
        started = now()
        try:
            return self._attempt(job, started)
        except Exception as exc:
            logger.exception("delivery %d (%s) could not be sent", job.id, job.kind)
            return Sent(job, Result(None, b"", {}, f"internal error: {type(exc).__name__}", now() - started), started)

    def _attempt(self, job: Job, started: float) -> Sent:
        allow_private = self.settings.allow_private_targets
        if job.kind == Kind.WEBHOOK:
            headers = {"Content-Type": "application/json", **webhook_headers(job.msg_id, int(time.time()), job.body, job.secret or "")}
            return Sent(job, send("POST", job.url, job.body, headers, allow_private), started)
        if job.kind == Kind.WEBSUB:
            headers = {"Content-Type": job.content_type, "Link": self.link_header(job.topic)}
            if job.secret:
                headers["X-Hub-Signature"] = hub_signature(job.secret, job.body)
            return Sent(job, send("POST", job.url, job.body, headers, allow_private), started)
        if job.kind == Kind.VERIFY:
            challenge = secrets.token_urlsafe(24)
            query = {"hub.mode": job.params["mode"], "hub.topic": job.params["topic"], "hub.challenge": challenge}
            if job.params["mode"] == "subscribe":
                query["hub.lease_seconds"] = str(job.params["lease_seconds"])
            url = job.url + ("&" if "?" in job.url else "?") + urlencode(query)
            return Sent(job, send("GET", url, None, {}, allow_private), started, challenge)
        body = urlencode(job.params).encode()  # Kind.PING: WebSub publish to an external hub (trusted config)
        return Sent(job, send("POST", job.url, body, {"Content-Type": "application/x-www-form-urlencoded"}, True), started)

    def link_header(self, topic: str) -> str:
        """WebSub 7: distribution carries the hub and self links."""
        return ", ".join(feed_links(self.settings.hubs, topic))

    def _finish_one(self, conn: Connection, sent: Sent) -> Status:
        job, result = sent.job, sent.result
        not_echoed = None
        if job.kind == Kind.VERIFY and result.ok and result.body.strip() != (sent.challenge or "").encode():
            not_echoed = "challenge not echoed"
        error = record(conn, job, result, sent.started, not_echoed)
        if error is None:
            self._succeeded(conn, job)
            return Status.DONE
        if result.status == 410:
            self._gone(conn, job)
            return schedule_retry(conn, self.settings, job, result, error, final=True)
        if job.kind == Kind.VERIFY and result.status is not None:  # answered, but no: intent not verified
            return schedule_retry(conn, self.settings, job, result, error, final=True)
        status = schedule_retry(conn, self.settings, job, result, error)
        if job.kind == Kind.WEBHOOK:
            self._failing(conn, job)
        return status

    def _succeeded(self, conn: Connection, job: Job) -> None:
        endpoints = schema.endpoints
        if job.kind == Kind.WEBHOOK:
            conn.execute(sa.update(endpoints).where(endpoints.c.id == job.endpoint_id, endpoints.c.failing_since.is_not(None))
                         .values(failing_since=None))
        elif job.kind == Kind.VERIFY:
            apply_verified(conn, job.params)

    def _gone(self, conn: Connection, job: Job) -> None:
        """410 Gone: the webhook endpoint is disabled / the WebSub subscription ends."""
        if job.kind == Kind.WEBHOOK:
            disable_endpoint(conn, job.endpoint_id or "", "410 Gone")
        elif job.kind == Kind.WEBSUB and job.subscription_id is not None:
            conn.execute(sa.delete(schema.subscriptions).where(schema.subscriptions.c.id == job.subscription_id))
            logger.info("WebSub subscription %d ended by 410 from its callback", job.subscription_id)

    def _failing(self, conn: Connection, job: Job) -> None:
        """Disable an endpoint that has been failing for FEEDSVC_DISABLE_AFTER_DAYS."""
        endpoints = schema.endpoints
        stamp = now()
        conn.execute(sa.update(endpoints).where(endpoints.c.id == job.endpoint_id, endpoints.c.failing_since.is_(None))
                     .values(failing_since=stamp))
        since = conn.execute(sa.select(endpoints.c.failing_since).where(endpoints.c.id == job.endpoint_id)).scalar()
        if since is not None and stamp - since >= self.settings.disable_after_days * 86400:
            disable_endpoint(conn, job.endpoint_id or "", f"failing for {self.settings.disable_after_days:g} days")


def disable_endpoint(conn: Connection, endpoint_id: str, reason: str) -> None:
    endpoints, d = schema.endpoints, schema.deliveries
    conn.execute(sa.update(endpoints).where(endpoints.c.id == endpoint_id)
                 .values(enabled=False, disabled_reason=reason, updated_at=now()))
    conn.execute(sa.update(d).where(d.c.endpoint_id == endpoint_id, d.c.status == Status.PENDING, d.c.kind == Kind.WEBHOOK)
                 .values(status=Status.CANCELLED, finished_at=now(), last_error=f"endpoint disabled: {reason}",
                         claimed_until=None))
    logger.warning("webhook endpoint %s disabled: %s", endpoint_id, reason)


def apply_verified(conn: Connection, params: dict[str, object]) -> None:
    """WebSub 5.3: once the subscriber confirmed, the (un)subscription takes effect."""
    subs = schema.subscriptions
    topic, callback = str(params["topic"]), str(params["callback"])
    where = (subs.c.topic == topic) & (subs.c.callback == callback)
    if params["mode"] == "unsubscribe":
        conn.execute(sa.delete(subs).where(where))
        logger.info("WebSub unsubscribe verified for %s", topic)
        return
    lease = int(str(params["lease_seconds"]))
    values = {"secret": params.get("secret") or None, "lease_seconds": lease, "expires_at": now() + lease}
    if conn.execute(sa.update(subs).where(where).values(values)).rowcount == 0:
        insert_ignore(conn, subs, {"topic": topic, "callback": callback, "created_at": now(), **values})
    logger.info("WebSub subscription verified for %s (lease %ds)", topic, lease)


def expire_subscriptions(engine: Engine) -> int:
    """Leases end (WebSub 5.1): drop subscriptions past their expiry."""
    with engine.begin() as conn:
        subs = schema.subscriptions
        return int(conn.execute(sa.delete(subs).where(subs.c.expires_at <= now())).rowcount or 0)
