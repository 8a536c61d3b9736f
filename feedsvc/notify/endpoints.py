"""Webhook endpoints and their deliveries: the data behind /api/webhooks and the TOML
``[[webhooks]]`` tables. Inputs are validated here; errors are ValueError with a reason."""

from __future__ import annotations

import hashlib
import json
import logging
import secrets
from collections.abc import Mapping
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from . import schema
from .events import TYPES
from .outbox import Status
from .sender import TargetError, resolve
from .signing import check_secret, new_secret
from .store import insert_ignore, now, reader

logger = logging.getLogger(__name__)
EVENT_TYPES = tuple(TYPES.values())
FIELDS = ("url", "secret", "events", "tags", "categories", "description", "enabled")


def _names(value: Any, field: str) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
        raise ValueError(f"{field} must be a list of non-empty strings")
    return [v.strip() for v in value]


def validate(data: Mapping[str, Any], allow_private: bool, partial: bool) -> dict[str, Any]:
    """The columns to write for a create (``partial=False``) or an update."""
    unknown = set(data) - set(FIELDS)
    if unknown:
        named = sorted(unknown)[:5]  # a short message, however many keys were sent
        more = f" and {len(unknown) - len(named)} more" if len(unknown) > len(named) else ""
        raise ValueError(f"unknown field(s): {', '.join(named)}{more}; known: {', '.join(FIELDS)}")
    out: dict[str, Any] = {}
    if "url" in data or not partial:
        url = data.get("url")
        if not isinstance(url, str) or not url:
            raise ValueError("url is required")
        try:
            resolve(url, allow_private)
        except TargetError as exc:
            raise ValueError(f"url refused: {exc}") from None
        out["url"] = url
    if data.get("secret") is not None:
        secret = data["secret"]
        reason = check_secret(secret) if isinstance(secret, str) else "secret must be a string"
        if reason:
            raise ValueError(reason)
        out["secret"] = secret
    elif not partial:
        out["secret"] = new_secret()
    if "events" in data:
        events = _names(data["events"], "events")
        bad = [e for e in events if e not in EVENT_TYPES]
        if bad:
            raise ValueError(f"unknown event type(s) {', '.join(bad)}; known: {', '.join(EVENT_TYPES)}")
        out["events"] = json.dumps(events)
    for field in ("tags", "categories"):
        if field in data:
            out[field] = json.dumps(_names(data[field], field), ensure_ascii=False)
    if "description" in data:
        if not isinstance(data["description"], str):
            raise ValueError("description must be a string")
        out["description"] = data["description"]
    if "enabled" in data:
        if not isinstance(data["enabled"], bool):
            raise ValueError("enabled must be true or false")
        out["enabled"] = data["enabled"]
        if data["enabled"]:
            out.update(disabled_reason=None, failing_since=None)
    return out


def as_json(row: Any, with_secret: bool = False) -> dict[str, Any]:
    out = {
        "id": row.id, "url": row.url, "events": json.loads(row.events), "tags": json.loads(row.tags),
        "categories": json.loads(row.categories), "description": row.description, "enabled": row.enabled,
        "disabled_reason": row.disabled_reason, "source": row.source, "failing_since": row.failing_since,
        "created_at": row.created_at, "updated_at": row.updated_at,
    }
    if with_secret:
        out["secret"] = row.secret
    return out


def create(engine: Engine, values: dict[str, Any], source: str = "api", endpoint_id: str | None = None) -> dict[str, Any]:
    """Insert an endpoint; with a fixed ``endpoint_id`` (config endpoints) concurrent starters
    insert it once (ON CONFLICT DO NOTHING) and the first one's secret stays."""
    stamp = now()
    row = {"id": endpoint_id or "ep_" + secrets.token_hex(8), "source": source, "created_at": stamp, "updated_at": stamp,
           "events": "[]", "tags": "[]", "categories": "[]", "description": "", "enabled": True, **values}
    with engine.begin() as conn:
        insert_ignore(conn, schema.endpoints, row)
        return as_json(_get(conn, row["id"]), with_secret=True)


def _get(conn: Connection, endpoint_id: str) -> Any:
    return conn.execute(sa.select(schema.endpoints).where(schema.endpoints.c.id == endpoint_id)).first()


def get(engine: Engine, endpoint_id: str) -> dict[str, Any] | None:
    with reader(engine).connect() as conn:
        row = _get(conn, endpoint_id)
    return as_json(row, with_secret=True) if row else None


def listing(engine: Engine) -> list[dict[str, Any]]:
    with reader(engine).connect() as conn:
        return [as_json(r) for r in conn.execute(sa.select(schema.endpoints).order_by(schema.endpoints.c.created_at, schema.endpoints.c.id))]


def update(engine: Engine, endpoint_id: str, values: dict[str, Any]) -> dict[str, Any] | None:
    with engine.begin() as conn:
        if _get(conn, endpoint_id) is None:
            return None
        conn.execute(sa.update(schema.endpoints).where(schema.endpoints.c.id == endpoint_id).values(updated_at=now(), **values))
        if "url" in values:  # pending deliveries follow the endpoint to its new URL
            conn.execute(sa.update(schema.deliveries).where(schema.deliveries.c.endpoint_id == endpoint_id).values(url=values["url"]))
        return as_json(_get(conn, endpoint_id), with_secret="secret" in values)


def delete(engine: Engine, endpoint_id: str) -> bool:
    with engine.begin() as conn:
        ids = sa.select(schema.deliveries.c.id).where(schema.deliveries.c.endpoint_id == endpoint_id)
        conn.execute(sa.delete(schema.attempts).where(schema.attempts.c.delivery_id.in_(ids)))
        conn.execute(sa.delete(schema.deliveries).where(schema.deliveries.c.endpoint_id == endpoint_id))
        return bool(conn.execute(sa.delete(schema.endpoints).where(schema.endpoints.c.id == endpoint_id)).rowcount)


def deliveries(engine: Engine, endpoint_id: str, limit: int = 50, status: str | None = None) -> list[dict[str, Any]]:
    """An endpoint's deliveries, newest first, each with its attempts."""
    d, events, attempts = schema.deliveries, schema.events, schema.attempts
    query = (sa.select(d, events.c.msg_id, events.c.type, events.c.subject).select_from(d.join(events, d.c.event_id == events.c.id))
             .where(d.c.endpoint_id == endpoint_id).order_by(d.c.id.desc()).limit(limit))
    if status:
        query = query.where(d.c.status == status)
    with reader(engine).connect() as conn:
        rows = conn.execute(query).all()
        tries: dict[int, list[dict[str, Any]]] = {r.id: [] for r in rows}
        for attempt in conn.execute(sa.select(attempts).where(attempts.c.delivery_id.in_(list(tries))).order_by(attempts.c.id)):
            tries[attempt.delivery_id].append({"at": attempt.started_at, "duration": round(attempt.duration, 4),
                                               "status_code": attempt.status_code, "error": attempt.error,
                                               "response": attempt.response})
    return [{"id": r.id, "message_id": r.msg_id, "type": r.type, "post_id": r.subject, "status": r.status,
             "tries": r.tries, "next_at": r.next_at if r.status == Status.PENDING else None, "created_at": r.created_at,
             "finished_at": r.finished_at, "last_code": r.last_code, "last_error": r.last_error,
             "attempts": tries[r.id]} for r in rows]


def redeliver(engine: Engine, endpoint_id: str, delivery_id: int) -> bool:
    """Send a delivery again now, with a fresh retry schedule and the same webhook-id."""
    d = schema.deliveries
    with engine.begin() as conn:
        result = conn.execute(sa.update(d).where(d.c.id == delivery_id, d.c.endpoint_id == endpoint_id).values(
            status=Status.PENDING, tries=0, next_at=now(), finished_at=None, claimed_until=None))
        return bool(result.rowcount)


def sync_config(engine: Engine, tables: Any, allow_private: bool) -> None:
    """Endpoints declared in the TOML config (``[[webhooks]]`` with url, secret, events,
    tags, categories, description): kept in the store keyed by URL, with source "config";
    ones no longer declared are deleted."""
    if tables is None:
        tables = []
    if not isinstance(tables, list) or not all(isinstance(x, dict) for x in tables):
        raise ValueError("webhooks in the config file must be an array of tables ([[webhooks]])")
    declared = {}
    for n, table in enumerate(tables):
        try:
            values = validate(table, allow_private, partial=True)
            if "url" not in values:
                raise ValueError("url is required")
        except ValueError as exc:
            raise ValueError(f"[[webhooks]] #{n + 1}: {exc}") from None
        declared[values["url"]] = values
    with reader(engine).connect() as conn:
        existing = {r.url: r.id for r in conn.execute(sa.select(schema.endpoints).where(schema.endpoints.c.source == "config"))}
    for url, values in declared.items():
        if url in existing:
            update(engine, existing[url], {"events": "[]", "tags": "[]", "categories": "[]", **values})
        else:
            fixed = "ep_cfg_" + hashlib.sha256(url.encode()).hexdigest()[:16]
            create(engine, {"secret": new_secret(), **values}, source="config", endpoint_id=fixed)
    for url, endpoint_id in existing.items():
        if url not in declared:
            delete(engine, endpoint_id)
