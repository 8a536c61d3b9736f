"""The outbox: claiming due deliveries and recording what each attempt did.

A claim moves ``next_at`` forward by a lease inside one transaction (``FOR UPDATE SKIP
LOCKED`` on PostgreSQL; SQLite's write transaction serialises claimers), so no two processes
send the same attempt. A process killed mid-send leaves the row pending: when the lease
runs out another process sends it again, with the same ``webhook-id`` (at-least-once).
"""

from __future__ import annotations

import email.utils
import json
import logging
import random
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from ..config import Settings
from . import schema as t
from .sender import Result
from .store import is_postgres, now

logger = logging.getLogger(__name__)
PENDING, DONE, FAILED, CANCELLED = "pending", "done", "failed", "cancelled"
MAX_RETRY_AFTER = 86400.0


@dataclass(frozen=True)
class Job:
    """One claimed delivery with everything needed to send it."""

    id: int
    kind: str  # webhook | websub | verify | ping
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


def claim(engine: Engine, limit: int, lease: float) -> list[Job]:
    """Claim up to ``limit`` due deliveries for ``lease`` seconds."""
    if limit <= 0:
        return []
    d = t.deliveries
    stamp = now()
    with engine.begin() as conn:
        query = sa.select(d.c.id).where(d.c.status == PENDING, d.c.next_at <= stamp).order_by(d.c.next_at, d.c.id).limit(limit)
        if is_postgres(conn):
            query = query.with_for_update(skip_locked=True)
        ids = list(conn.execute(query).scalars())
        if not ids:
            return []
        conn.execute(sa.update(d).where(d.c.id.in_(ids)).values(next_at=stamp + lease))
        rows = conn.execute(
            sa.select(d, t.events.c.msg_id, t.events.c.body, t.events.c.content_type, t.events.c.subject,
                      t.endpoints.c.secret.label("ep_secret"), t.endpoints.c.enabled, t.endpoints.c.url.label("ep_url"),
                      t.subscriptions.c.secret.label("sub_secret"), t.subscriptions.c.callback, t.subscriptions.c.expires_at)
            .select_from(d.outerjoin(t.events, d.c.event_id == t.events.c.id)
                         .outerjoin(t.endpoints, d.c.endpoint_id == t.endpoints.c.id)
                         .outerjoin(t.subscriptions, d.c.subscription_id == t.subscriptions.c.id))
            .where(d.c.id.in_(ids))
        ).all()
        jobs, dropped = [], []
        for row in rows:
            job = _job(row, stamp)
            (jobs.append(job) if job else dropped.append(row.id))
        if dropped:  # the endpoint was disabled or the subscription ended since the row was made
            conn.execute(sa.update(d).where(d.c.id.in_(dropped)).values(status=CANCELLED, finished_at=stamp))
    return jobs


def _job(row: Any, stamp: float) -> Job | None:
    if row.kind == "webhook" and not row.enabled:
        return None
    if row.kind == "websub" and (row.callback is None or row.expires_at <= stamp):
        return None
    secret = row.ep_secret if row.kind == "webhook" else row.sub_secret
    url = row.ep_url if row.kind == "webhook" else row.callback if row.kind == "websub" else row.url
    return Job(id=row.id, kind=row.kind, url=url, tries=row.tries, msg_id=row.msg_id or "", body=row.body or b"",
               content_type=row.content_type or "", topic=row.subject or "", secret=secret,
               params=json.loads(row.params) if row.params else {}, endpoint_id=row.endpoint_id,
               subscription_id=row.subscription_id)


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


def record(conn: Connection, job: Job, result: Result, started: float, outcome: str | None = None) -> str:
    """Store one attempt and move the delivery on: done, retry later, failed.
    ``outcome`` overrides the HTTP verdict (e.g. a WebSub challenge that did not match)."""
    d = t.deliveries
    conn.execute(sa.insert(t.attempts).values(
        delivery_id=job.id, started_at=started, duration=result.duration, status_code=result.status,
        error=outcome or result.error, response=result.body[:500].decode("utf-8", "replace")))
    tries = job.tries + 1
    stamp = now()
    if outcome is None and result.ok:
        conn.execute(sa.update(d).where(d.c.id == job.id).values(
            status=DONE, tries=tries, finished_at=stamp, last_code=result.status, last_error=None))
        return DONE
    error = outcome or result.error or f"HTTP {result.status}"
    return error


def schedule_retry(conn: Connection, settings: Settings, job: Job, result: Result, error: str, final: bool = False) -> str:
    d = t.deliveries
    tries = job.tries + 1
    delay = None if final else next_delay(settings, tries, result)
    values: dict[str, Any] = {"tries": tries, "last_code": result.status, "last_error": error}
    if delay is None:
        values.update(status=FAILED, finished_at=now())
    else:
        values.update(next_at=now() + delay)
    conn.execute(sa.update(d).where(d.c.id == job.id).values(values))
    return FAILED if delay is None else PENDING
