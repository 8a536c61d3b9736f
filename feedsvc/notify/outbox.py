"""The outbox: the one writer of deliveries, claiming due ones and recording each attempt.

A claim moves ``next_at`` forward by a lease inside one transaction (``FOR UPDATE SKIP
LOCKED`` on PostgreSQL; SQLite's write transaction serialises claimers), so no two processes
send the same attempt. A process killed mid-send leaves the row pending: when the lease
runs out another process sends it again, with the same ``webhook-id`` (at-least-once).

Claims are fair: each target (a webhook endpoint, or a WebSub callback's or hub's origin) has
at most FEEDSVC_NOTIFY_PER_ENDPOINT deliveries in flight in the whole cluster, and free slots
go round-robin over the targets with due work, so a slow or dead target holds only its own
slots. Ordinary changes come before bursts (``priority``), and a burst's deliveries leave
each target a slot for them, so an edit made after a mass change overtakes the burst's backlog.
"""

from __future__ import annotations

import email.utils
import json
import logging
import random
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any
from urllib.parse import urlsplit

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from ..config import Settings
from . import schema
from .sender import Result
from .store import is_postgres, now

logger = logging.getLogger(__name__)
MAX_RETRY_AFTER = 86400.0
CLAIM_LOCK = 0x0FEED5D  # pg_advisory_xact_lock key: one claimer at a time keeps the per-target cap exact
LIVE, BULK = 0, 1  # delivery priorities: ordinary changes, then bursts


class Kind(StrEnum):
    """What a delivery sends; the values are the ones stored in ``deliveries.kind``."""

    WEBHOOK = "webhook"  # a signed event POSTed to a webhook endpoint
    WEBSUB = "websub"  # content distribution to a WebSub subscriber (WebSub 7)
    VERIFY = "verify"  # verification of a subscriber's intent (WebSub 5.3)
    PING = "ping"  # hub.mode=publish to an external hub


class Status(StrEnum):
    """Where a delivery stands; the values are the ones stored in ``deliveries.status``."""

    PENDING = "pending"  # due at next_at (or claimed until then)
    DONE = "done"  # answered 2xx
    FAILED = "failed"  # gave up after the retry schedule or a final answer
    CANCELLED = "cancelled"  # its endpoint was disabled or its subscription ended


@dataclass(frozen=True)
class Delivery:
    """A delivery to add to the outbox (see ``enqueue``)."""

    kind: Kind
    url: str
    event_id: int | None = None
    endpoint_id: str | None = None  # webhook
    subscription_id: int | None = None  # websub
    params: dict[str, Any] | None = None  # verify and ping; may hold a hub.secret: never logged
    priority: int = LIVE

    @property
    def target(self) -> str:
        """What the per-target cap counts: the webhook endpoint, else the URL's origin."""
        return self.endpoint_id or origin(self.url)


def origin(url: str) -> str:
    """scheme://host[:port] of a URL: enough to name a target, never its query (tokens)."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc.rpartition('@')[2]}"


def enqueue(conn: Connection, new: Sequence[Delivery]) -> int:
    """The one writer of the outbox: insert ``new`` deliveries, due now; how many."""
    if not new:
        return 0
    stamp = now()
    conn.execute(sa.insert(schema.deliveries), [
        {"kind": d.kind.value, "url": d.url, "event_id": d.event_id, "endpoint_id": d.endpoint_id,
         "subscription_id": d.subscription_id, "params": None if d.params is None else json.dumps(d.params),
         "status": Status.PENDING.value, "tries": 0, "next_at": stamp, "created_at": stamp, "target": d.target,
         "priority": d.priority}
        for d in new])
    return len(new)


@dataclass(frozen=True)
class Job:
    """One claimed delivery with everything needed to send it."""

    id: int
    kind: Kind
    url: str
    tries: int
    msg_id: str
    body: bytes
    content_type: str
    topic: str
    secret: str | None
    params: dict[str, Any]
    endpoint_id: str | None
    subscription_id: int | None
    created_at: float = 0.0  # when the delivery fell due first (metrics: latency to done)


def claim(conn: Connection, limit: int, lease: float, per_target: int = 4) -> list[Job]:
    """Claim up to ``limit`` due deliveries for ``lease`` seconds, round-robin over targets,
    at most ``per_target`` in flight per target across the cluster (in the caller's write
    transaction)."""
    if limit <= 0:
        return []
    d, events, endpoints, subs = schema.deliveries, schema.events, schema.endpoints, schema.subscriptions
    stamp = now()
    ids = _fair_ids(conn, stamp, limit, per_target)
    if not ids:
        return []
    conn.execute(sa.update(d).where(d.c.id.in_(ids)).values(next_at=stamp + lease, claimed_until=stamp + lease))
    rows = conn.execute(
        sa.select(d, events.c.msg_id, events.c.body, events.c.content_type, events.c.subject,
                  endpoints.c.secret.label("endpoint_secret"), endpoints.c.enabled, endpoints.c.url.label("endpoint_url"),
                  subs.c.secret.label("subscription_secret"), subs.c.callback, subs.c.expires_at)
        .select_from(d.outerjoin(events, d.c.event_id == events.c.id)
                     .outerjoin(endpoints, d.c.endpoint_id == endpoints.c.id)
                     .outerjoin(subs, d.c.subscription_id == subs.c.id))
        .where(d.c.id.in_(ids))
    ).all()
    jobs, dropped = [], []
    for row in rows:
        job = _job(row, stamp)
        if job is None:
            dropped.append(row.id)
        else:
            jobs.append(job)
    if dropped:  # the endpoint was disabled or the subscription ended since the row was made
        conn.execute(sa.update(d).where(d.c.id.in_(dropped)).values(status=Status.CANCELLED, finished_at=stamp,
                                                                     claimed_until=None))
    return jobs


def _fair_ids(conn: Connection, stamp: float, limit: int, per_target: int) -> list[int]:
    """The due deliveries to claim: ordinary ones first, then a burst's round-robin over the
    targets (each target's first row, then each one's second ...), oldest first, skipping
    targets at their cap. A burst's deliveries leave each target one slot (with a cap above 1):
    an ordinary change never waits for a target's slots to drain of a burst, which took
    seconds when the process holding them was slow to record that they had finished."""
    d = schema.deliveries
    if is_postgres(conn):
        conn.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": CLAIM_LOCK})
    in_flight = {t: int(n) for t, n in conn.execute(  # finishing a delivery clears claimed_until
        sa.select(d.c.target, sa.func.count()).where(d.c.claimed_until > stamp).group_by(d.c.target))}
    full = [t for t, n in in_flight.items() if n >= per_target]
    query = due_query(stamp, limit * per_target + 64, full)
    if is_postgres(conn):
        query = query.with_for_update(skip_locked=True)
    caps = {LIVE: per_target, BULK: max(1, per_target - 1)}
    ranked = []
    for position, (delivery_id, target, priority) in enumerate(conn.execute(query)):
        rank = in_flight.get(target, 0)
        if rank < caps.get(priority, per_target):
            in_flight[target] = rank + 1
            ranked.append((priority, rank, position, delivery_id))
    return [delivery_id for *_, delivery_id in sorted(ranked)[:limit]]


def due_query(stamp: float, limit: int, full: Sequence[str] = ()) -> sa.Select[Any]:
    """The first ``limit`` due deliveries (id, target, priority), ordinary before bursts, then
    oldest first, skipping the ``full`` targets: read in the order of ix_feedsvc_deliveries_due."""
    d = schema.deliveries
    query = (sa.select(d.c.id, d.c.target, d.c.priority).where(d.c.status == Status.PENDING, d.c.next_at <= stamp)
             .order_by(d.c.priority, d.c.next_at, d.c.id).limit(limit))
    return query.where(d.c.target.not_in(full)) if full else query


def _job(row: Any, stamp: float) -> Job | None:
    """The job for a claimed row, or None when its endpoint or subscription is gone."""
    kind = Kind(row.kind)
    if kind == Kind.WEBHOOK and not row.enabled:
        return None
    if kind == Kind.WEBSUB and (row.callback is None or row.expires_at <= stamp):
        return None
    secret = row.endpoint_secret if kind == Kind.WEBHOOK else row.subscription_secret
    url = row.endpoint_url if kind == Kind.WEBHOOK else row.callback if kind == Kind.WEBSUB else row.url
    return Job(id=row.id, kind=kind, url=url, tries=row.tries, msg_id=row.msg_id or "", body=row.body or b"",
               content_type=row.content_type or "", topic=row.subject or "", secret=secret,
               params=json.loads(row.params) if row.params else {}, endpoint_id=row.endpoint_id,
               subscription_id=row.subscription_id, created_at=row.created_at)


def retry_after(result: Result) -> float | None:
    """RFC 9110 10.2.3: delay-seconds or an HTTP-date, honoured on 429 and 503."""
    if result.status not in (429, 503):
        return None
    value = result.headers.get("retry-after", "").strip()
    if not value:
        return None
    if value.isdigit():
        return min(float(value), MAX_RETRY_AFTER)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return min(max((when - datetime.now(UTC)).total_seconds(), 0.0), MAX_RETRY_AFTER)


def next_delay(settings: Settings, tries: int, result: Result) -> float | None:
    """Seconds until the next attempt after ``tries`` failed ones, or None: give up.
    The schedule is FEEDSVC_RETRY_SCHEDULE with up to 10% jitter; Retry-After wins."""
    if tries > len(settings.retry_schedule):
        return None
    hinted = retry_after(result)
    if hinted is not None:
        return hinted
    base = float(settings.retry_schedule[tries - 1])
    return base + random.uniform(0, base * 0.1)


def record(conn: Connection, job: Job, result: Result, started: float, error: str | None = None) -> str | None:
    """Store one attempt; on success mark the delivery done and return None, otherwise return
    the error (the caller schedules the retry). ``error`` overrides an HTTP success (e.g. a
    WebSub challenge that was not echoed)."""
    d = schema.deliveries
    conn.execute(sa.insert(schema.attempts).values(
        delivery_id=job.id, started_at=started, duration=result.duration, status_code=result.status,
        error=error or result.error, response=result.body[:500].decode("utf-8", "replace")))
    if error is None and result.ok:
        conn.execute(sa.update(d).where(d.c.id == job.id).values(
            status=Status.DONE, tries=job.tries + 1, finished_at=now(), last_code=result.status, last_error=None,
            claimed_until=None))
        return None
    return error or result.error or f"HTTP {result.status}"


def schedule_retry(conn: Connection, settings: Settings, job: Job, result: Result, error: str, final: bool = False) -> Status:
    """After a failed attempt: pending again after the next delay, or failed (``final``: no retry)."""
    d = schema.deliveries
    tries = job.tries + 1
    delay = None if final else next_delay(settings, tries, result)
    values: dict[str, Any] = {"tries": tries, "last_code": result.status, "last_error": error, "claimed_until": None}
    if delay is None:
        values.update(status=Status.FAILED, finished_at=now())
    else:
        values.update(next_at=now() + delay)
    conn.execute(sa.update(d).where(d.c.id == job.id).values(values))
    return Status.FAILED if delay is None else Status.PENDING
