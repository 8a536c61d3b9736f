"""Keeping the store bounded: finished deliveries, their attempts, events nobody waits for and
old tombstones are deleted after FEEDSVC_RETENTION_DAYS (issue 8.4).

Pending deliveries are never pruned, nor the events they send; the delivery log
(/api/webhooks/<id>/deliveries) therefore shows everything within the retention window.
"""

from __future__ import annotations

import logging

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from . import schema
from .events import GONE
from .outbox import Status
from .store import now

logger = logging.getLogger(__name__)
FINISHED = (Status.DONE.value, Status.FAILED.value, Status.CANCELLED.value)


def prune(engine: Engine, retention_days: float) -> dict[str, int]:
    """Delete what finished before the retention window; the number of rows per table."""
    cutoff = now() - retention_days * 86400
    d, a, e = schema.deliveries, schema.attempts, schema.events
    old = sa.select(d.c.id).where(d.c.status.in_(FINISHED), d.c.finished_at < cutoff)
    counts = {}
    with engine.begin() as conn:
        counts["attempts"] = conn.execute(sa.delete(a).where(a.c.delivery_id.in_(old))).rowcount or 0
        counts["deliveries"] = conn.execute(sa.delete(d).where(d.c.id.in_(old))).rowcount or 0
        waited_for = sa.select(d.c.event_id).where(d.c.event_id.is_not(None))
        counts["events"] = conn.execute(sa.delete(e).where(e.c.created_at < cutoff, e.c.id.not_in(waited_for))).rowcount or 0
        for table in (schema.content_state, schema.topic_state):
            value = table.c.hash if table is schema.content_state else table.c.etag
            counts[table.name] = conn.execute(sa.delete(table).where(value == GONE, table.c.updated_at < cutoff)).rowcount or 0
    if any(counts.values()):
        logger.info("pruned rows older than %g days: %s", retention_days, counts)
    return counts
