"""Events and their deliveries, written in the transaction that records the change (a
transactional outbox): webhook events for posts, WebSub distribution and hub pings for topics.

Which changes become events is decided by the recorder (ledger.py); this module turns the
applied ones into rows, in bulk: one multi-row insert of events, one of deliveries.
"""

from __future__ import annotations

import hashlib
import json
import logging
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from ..config import Settings
from ..documents import Document
from ..markup import RenderedBody, render_body
from ..posts import Post
from ..render import Item, json_item
from ..snapshot import Snapshot
from . import schema
from .outbox import Delivery, Kind, enqueue
from .store import now

logger = logging.getLogger(__name__)
TYPES = {"published": "post.published", "updated": "post.updated", "deleted": "post.deleted"}
TOPIC_CHANGED = "topic.changed"
GONE = ""  # the stored hash/etag of a post or topic that no longer exists


@lru_cache(maxsize=65536)
def _hash(digest: str, permalink: str) -> str:
    return hashlib.sha256(f"{digest}\n{permalink}".encode()).hexdigest()


def post_hash(post: Post) -> str:
    """What a post's announcement depends on: its file's bytes and its permalink."""
    return _hash(post.digest, post.permalink)


def labels(post: Post) -> dict[str, Any]:
    return {"url": post.permalink, "title": post.title, "tags": list(post.tags), "categories": list(post.categories)}


def topic_states(snapshot: Snapshot, settings: Settings) -> dict[str, tuple[str, Any]]:
    """Topic URL -> (ETag, (feed key, format)) for every feed document (WebSub: each is a topic)."""
    out = {}
    for (key, fmt), doc in snapshot.documents.items():
        out[settings.url(snapshot.index.feeds[key].document_path(fmt))] = (doc.etag, (key, fmt))
    return out


@dataclass(frozen=True)
class PostEvent:
    """An applied change of a post: what its webhook event says."""

    uid: str
    kind: str  # a key of TYPES
    version: int
    recorded: float  # when this version was first recorded
    post: Post | None  # None when deleted
    labels: dict[str, Any]
    body: RenderedBody | None = None  # the post's body, when rendered before the transaction


@dataclass(frozen=True)
class TopicEvent:
    """An applied change of a topic's document."""

    topic: str
    version: int
    recorded: float
    document: Document  # its bytes are read (rendered, if need be) only for a topic with subscribers


def post_data(event: PostEvent) -> dict[str, Any]:
    """The post as a JSON Feed item (render.json_item, with the version's date), plus its categories."""
    post = event.post
    if post is None:
        return {"id": event.uid, **event.labels}
    body = event.body or render_post_body(post)
    modified = datetime.fromtimestamp(event.recorded, UTC) if event.version > 1 else None
    item = json_item(Item(post=post, uid=event.uid, body=body, categories=(), modified=modified))
    item["categories"] = list(post.categories)
    return item


def render_post_body(post: Post) -> RenderedBody:
    return render_body(post.body, post.permalink, post.summary)


def event_body(type_: str, data: dict[str, Any]) -> bytes:
    """Standard Webhooks payload structure: ``{"type", "timestamp", "data"}``."""
    stamp = datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
    return json.dumps({"type": type_, "timestamp": stamp, "data": data}, ensure_ascii=False, separators=(",", ":")).encode()


def _event_row(key: str, type_: str, subject: str, content_type: str, body: bytes, filter_json: str) -> dict[str, Any]:
    return {"key": key, "msg_id": "msg_" + uuid.uuid4().hex, "type": type_, "subject": subject,
            "content_type": content_type, "body": body, "filter": filter_json, "created_at": now()}


def insert_events(conn: Connection, rows: list[dict[str, Any]]) -> list[int]:
    """Insert events (one multi-row statement); their ids, in the order given."""
    if not rows:
        return []
    events = schema.events
    result = conn.execute(sa.insert(events).returning(events.c.id, sort_by_parameter_order=True), rows)
    return [int(i) for i in result.scalars()]


class Subscribers:
    """The enabled webhook endpoints, indexed by their filters: the endpoints an event goes to
    are found from its tags and categories, not by testing every endpoint (100 endpoints x 14k
    events is 1.4M tests)."""

    def __init__(self, conn: Connection) -> None:
        self.everything: list[tuple[Any, set[str]]] = []  # (endpoint, event types; empty: all)
        self.by_name: dict[tuple[str, str], list[tuple[Any, set[str]]]] = {}
        for endpoint in conn.execute(sa.select(schema.endpoints).where(schema.endpoints.c.enabled.is_(True))
                                     .order_by(schema.endpoints.c.created_at, schema.endpoints.c.id)):
            entry = (endpoint, set(json.loads(endpoint.events or "[]")))
            names = [("tags", n) for n in _norm(json.loads(endpoint.tags or "[]"))]
            names += [("categories", n) for n in _norm(json.loads(endpoint.categories or "[]"))]
            if not names:
                self.everything.append(entry)
            for name in names:
                self.by_name.setdefault(name, []).append(entry)

    def of(self, type_: str, post_labels: dict[str, Any]) -> list[Any]:
        """The endpoints whose filters match (see ``matches``), each once."""
        found = {id(e): (e, types) for e, types in self.everything}
        for field in ("tags", "categories"):
            for name in _norm(post_labels.get(field, ())):
                found.update((id(e), (e, types)) for e, types in self.by_name.get((field, name), ()))
        return [e for e, types in found.values() if not types or type_ in types]


def add_post_events(conn: Connection, applied: Sequence[PostEvent], priorities: Sequence[int]) -> int:
    """The webhook events of ``applied`` changes and their due deliveries (each event's with its
    priority); how many events."""
    rows = [_event_row(f"post:{e.uid}:{e.version}@{e.recorded:.0f}", TYPES[e.kind], e.uid, "application/json",
                       event_body(TYPES[e.kind], post_data(e)), json.dumps(e.labels)) for e in applied]
    ids = insert_events(conn, rows)
    subscribers = Subscribers(conn)
    due = [Delivery(Kind.WEBHOOK, endpoint.url, event_id=event_id, endpoint_id=endpoint.id, priority=priority)
           for event_id, event, priority in zip(ids, applied, priorities, strict=True)
           for endpoint in subscribers.of(TYPES[event.kind], event.labels)]
    enqueue(conn, due)
    logger.debug("%d post events: %d webhook deliveries due", len(ids), len(due))
    return len(ids)


def add_topic_events(conn: Connection, applied: Sequence[TopicEvent], hubs: Sequence[str], priority: int) -> int:
    """WebSub distribution to the topics' live subscribers and pings to external hubs. A topic
    with neither gets no event; one with pings only stores no body (pings carry none)."""
    if not applied:
        return 0
    subs = schema.subscriptions
    subscribers: dict[str, list[Any]] = {}
    for sub in conn.execute(sa.select(subs.c.id, subs.c.topic, subs.c.callback).where(subs.c.expires_at > now())):
        subscribers.setdefault(sub.topic, []).append(sub)
    wanted = [e for e in applied if subscribers.get(e.topic) or hubs]
    rows = [_event_row(f"topic:{e.topic}:{e.version}@{e.recorded:.0f}", TOPIC_CHANGED, e.topic, e.document.content_type,
                       e.document.body if subscribers.get(e.topic) else b"", "{}") for e in wanted]
    due = []
    for event_id, event in zip(insert_events(conn, rows), wanted, strict=True):
        due += [Delivery(Kind.WEBSUB, s.callback, event_id=event_id, subscription_id=s.id, priority=priority)
                for s in subscribers.get(event.topic, ())]
        due += [Delivery(Kind.PING, hub, event_id=event_id, params={"hub.mode": "publish", "hub.url": event.topic},
                         priority=priority) for hub in hubs]
    enqueue(conn, due)
    logger.debug("%d topics changed: %d events, %d WebSub deliveries and hub pings", len(applied), len(rows), len(due))
    return len(rows)


def backfill(conn: Connection, posts: Iterable[tuple[str, Post]]) -> int:
    """post.published for each (uid, post) not backfilled before (``feedsvc backfill``)."""
    from .store import insert_ignore

    made = 0
    for uid, post in posts:
        event = PostEvent(uid, "published", 1, now(), post, labels(post))
        row = _event_row(f"backfill:{uid}:{post_hash(post)}", TYPES["published"], uid, "application/json",
                         event_body(TYPES["published"], post_data(event)), json.dumps(event.labels))
        if insert_ignore(conn, schema.events, row):
            event_id = conn.execute(sa.select(schema.events.c.id).where(schema.events.c.key == row["key"])).scalar_one()
            enqueue(conn, [Delivery(Kind.WEBHOOK, e.url, event_id=event_id, endpoint_id=e.id)
                           for e in Subscribers(conn).of(TYPES["published"], event.labels)])
            made += 1
    return made


def _norm(values: Iterable[str]) -> set[str]:
    return {v.casefold() for v in values}


def matches(endpoint: Any, type_: str, post_labels: dict[str, Any]) -> bool:
    """An endpoint's filters: event types, then tags or categories (any one matches; empty: all)."""
    types = json.loads(endpoint.events or "[]")
    if types and type_ not in types:
        return False
    tags, cats = _norm(json.loads(endpoint.tags or "[]")), _norm(json.loads(endpoint.categories or "[]"))
    if not tags and not cats:
        return True
    return bool(tags & _norm(post_labels.get("tags", ()))) or bool(cats & _norm(post_labels.get("categories", ())))
