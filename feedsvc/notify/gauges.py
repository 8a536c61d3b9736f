"""Outbox and WebSub figures read at scrape time (``/metrics``): one value for the cluster."""

from __future__ import annotations

import time

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from . import schema
from .store import reader


def store_gauges(engine: Engine) -> dict[str, float]:
    """Deliveries due now, the age of the oldest due one (0 when none), live subscriptions."""
    d, s = schema.deliveries, schema.subscriptions
    stamp = time.time()
    with reader(engine).connect() as conn:
        due, oldest = conn.execute(
            sa.select(sa.func.count(), sa.func.min(d.c.next_at)).where(d.c.status == "pending", d.c.next_at <= stamp)
        ).one()
        subscriptions = conn.execute(sa.select(sa.func.count()).where(s.c.expires_at > stamp)).scalar_one()
    return {"due": float(due), "oldest_age": max(stamp - oldest, 0.0) if oldest is not None else 0.0,
            "subscriptions": float(subscriptions)}
