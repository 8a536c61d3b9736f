"""Events from the content state recorded in the store, exactly one per change per cluster.

Every process sees the same change in its own reload. Each tries a compare-and-set on the
stored state (``UPDATE ... WHERE hash = <the hash it saw before>``, or an insert that ignores
conflicts for a new post); only the one whose write lands records the event, under a unique
key (``post:<uid>:<version>``) inserted with ON CONFLICT DO NOTHING. The event and its
deliveries are written in the same transaction (a transactional outbox).
"""

from __future__ import annotations

import hashlib
import json
import logging
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from ..changes import PUBLISHED, REMOVED, ChangeSet
from ..config import Settings
from ..markup import render_body
from ..posts import Post
from ..render import Item, json_item
from ..snapshot import Snapshot
from . import schema
from .outbox import Delivery, Kind, enqueue
from .store import insert_ignore, now, set_meta

logger = logging.getLogger(__name__)
TYPES = {"published": "post.published", "updated": "post.updated", "deleted": "post.deleted"}
TOPIC_CHANGED = "topic.changed"
GONE = ""  # the stored hash/etag of a post or topic that no longer exists


def post_hash(post: Post) -> str:
    """What a post's announcement depends on: its file's bytes and its permalink."""
    return hashlib.sha256(f"{post.digest}\n{post.permalink}".encode()).hexdigest()


def labels(post: Post) -> dict[str, Any]:
    return {"url": post.permalink, "title": post.title, "tags": list(post.tags), "categories": list(post.categories)}


@dataclass(frozen=True)
class PostState:
    uid: str
    old: str | None  # the hash this process saw before (None: unknown or absent)
    new: str  # GONE when removed
    post: Post | None
    labels: dict[str, Any]


def post_states(snapshot: Snapshot) -> dict[str, tuple[str, Post]]:
    return {snapshot.index.ids[s]: (post_hash(p), p) for s, p in snapshot.index.posts.items()}


def topic_states(snapshot: Snapshot, settings: Settings) -> dict[str, tuple[str, Any]]:
    """Topic URL -> (ETag, (feed key, format)) for every feed document (WebSub: each is a topic)."""
    out = {}
    for (key, fmt), doc in snapshot.documents.items():
        out[settings.url(snapshot.index.feeds[key].document_path(fmt))] = (doc.etag, (key, fmt))
    return out


class Recorder:
    """Turns observed changes into stored events and their due deliveries."""

    def __init__(self, engine: Engine, settings: Settings) -> None:
        self.engine = engine
        self.settings = settings

    def start(self, fresh: Callable[[], Snapshot]) -> int:
        """At process start: on an empty store record the state and announce nothing;
        otherwise announce what changed while no process was watching. Returns events made."""
        with self.engine.begin() as conn:
            if set_meta(conn, "initialized", datetime.now(UTC).isoformat()):
                snapshot = fresh()
                self._record_all(conn, snapshot)
                logger.info("notification store initialised: %d posts recorded, nothing announced", len(snapshot.index.posts))
                return 0
        return self.reconcile(fresh)

    def _record_all(self, conn: Connection, snapshot: Snapshot) -> None:
        stamp = now()
        rows = [{"uid": uid, "hash": h, "version": 1, "labels": json.dumps(labels(p)), "updated_at": stamp}
                for uid, (h, p) in post_states(snapshot).items()]
        insert_ignore(conn, schema.content_state, rows)
        topics = [{"topic": topic, "etag": etag, "version": 1, "updated_at": stamp}
                  for topic, (etag, _) in topic_states(snapshot, self.settings).items()]
        insert_ignore(conn, schema.topic_state, topics)

    def reconcile(self, fresh: Callable[[], Snapshot]) -> int:
        """Compare the stored state with a snapshot taken *after* reading it (``fresh()``
        rescans): other processes may have recorded posts that an older snapshot of this one
        has not seen yet, which must not read as deleted (nor an edit as reverted).

        While posts fail to load, stored posts missing from the snapshot are left alone: a
        fresh process has no last good version of a file that is broken (or half-written)
        right now, so "missing" may mean "unreadable", not "deleted"."""
        with self.engine.connect() as conn:
            stored = {r.uid: (r.hash, r.labels) for r in conn.execute(sa.select(schema.content_state))}
            topics = {r.topic: r.etag for r in conn.execute(sa.select(schema.topic_state))}
        snapshot = fresh()
        deletions = not snapshot.errors
        current = post_states(snapshot)
        states = [PostState(uid, stored[uid][0] if uid in stored else None, h, p, labels(p))
                  for uid, (h, p) in current.items() if stored.get(uid, (None,))[0] != h]
        if deletions:
            states += [PostState(uid, h, GONE, None, json.loads(stored_labels or "{}"))
                       for uid, (h, stored_labels) in stored.items() if h != GONE and uid not in current]
        docs = topic_states(snapshot, self.settings)
        changed: list[tuple[str, str | None, str, Any]] = [
            (topic, topics.get(topic), etag, snapshot.documents[doc_key]) for topic, (etag, doc_key) in docs.items() if topics.get(topic) != etag]
        changed += [(topic, etag, GONE, None) for topic, etag in topics.items() if etag != GONE and topic not in docs]
        return self._apply(states, changed)

    def apply(self, changes: ChangeSet) -> int:
        """Record the changes one process observed in one reload."""
        states = []
        for change in changes.posts:
            old = None if change.action == PUBLISHED else post_hash(change.previous) if change.previous else None
            post = None if change.action == REMOVED else change.post
            shown = post or change.previous
            shown_labels = labels(shown) if shown is not None else {}
            states.append(PostState(change.uid, old, post_hash(post) if post else GONE, post, shown_labels))
        topics = []
        for doc in changes.documents:
            topic = self.settings.url(doc.path)
            document = changes.snapshot.documents.get((doc.key, doc.fmt))
            topics.append((topic, doc.old_etag, doc.new_etag or GONE, document))
        return self._apply(states, topics)

    def _apply(self, states: list[PostState], topics: list[tuple[str, str | None, str, Any]]) -> int:
        made = 0
        for state in states:
            with self.engine.begin() as conn:
                made += self._post_transition(conn, state)
        for topic, old, new, document in topics:
            with self.engine.begin() as conn:
                made += self._topic_transition(conn, topic, old, new, document)
        return made

    def _post_transition(self, conn: Connection, state: PostState) -> int:
        version = _compare_and_set(conn, schema.content_state, schema.content_state.c.uid, "hash", state.uid, state.old, state.new,
                                   {"labels": json.dumps(state.labels)})
        if version is None:
            return 0
        kind = "deleted" if state.new == GONE else "published" if state.old in (None, GONE) else "updated"
        body = event_body(TYPES[kind], self.data(state))
        return self.add_event(conn, f"post:{state.uid}:{version}", TYPES[kind], state.uid, body, state.labels)

    def data(self, state: PostState) -> dict[str, Any]:
        """The post as a JSON Feed item (render.json_item), plus its categories."""
        if state.post is None:
            return {"id": state.uid, **state.labels}
        post = state.post
        body = render_body(post.body, post.permalink, post.summary)
        item = json_item(Item(post=post, uid=state.uid, body=body, categories=()))
        item["categories"] = list(post.categories)
        return item

    def add_event(self, conn: Connection, key: str, type_: str, subject: str, body: bytes,
                  post_labels: dict[str, Any]) -> int:
        """Insert the event (ignoring a duplicate key) and its webhook deliveries."""
        event_id = _insert_event(conn, key, type_, subject, "application/json", body, json.dumps(post_labels))
        if event_id is None:
            return 0
        endpoints = schema.endpoints
        due = [Delivery(Kind.WEBHOOK, endpoint.url, event_id=event_id, endpoint_id=endpoint.id)
               for endpoint in conn.execute(sa.select(endpoints).where(endpoints.c.enabled.is_(True)))
               if matches(endpoint, type_, post_labels)]
        enqueue(conn, due)
        logger.debug("event %s %s: %d webhook deliveries due", type_, subject, len(due))
        return 1

    def _topic_transition(self, conn: Connection, topic: str, old: str | None, new: str, document: Any) -> int:
        version = _compare_and_set(conn, schema.topic_state, schema.topic_state.c.topic, "etag", topic, old, new, {})
        if version is None or new == GONE or document is None:
            return 0
        event_id = _insert_event(conn, f"topic:{topic}:{version}", TOPIC_CHANGED, topic, document.content_type,
                                 document.body, "{}")
        if event_id is None:
            return 0
        subs = schema.subscriptions
        subscribers = conn.execute(sa.select(subs.c.id, subs.c.callback).where(
            subs.c.topic == topic, subs.c.expires_at > now())).all()
        due = [Delivery(Kind.WEBSUB, s.callback, event_id=event_id, subscription_id=s.id) for s in subscribers]
        due += [Delivery(Kind.PING, hub, event_id=event_id, params={"hub.mode": "publish", "hub.url": topic})
                for hub in self.settings.websub_hubs]
        enqueue(conn, due)
        logger.debug("topic %s changed: %d WebSub deliveries, %d hub pings", topic, len(subscribers), len(self.settings.websub_hubs))
        return 1

    def backfill(self, snapshot: Snapshot) -> int:
        """Announce every current post as post.published once (``feedsvc backfill``)."""
        made = 0
        for uid, (h, post) in post_states(snapshot).items():
            state = PostState(uid, None, h, post, labels(post))
            with self.engine.begin() as conn:
                body = event_body(TYPES["published"], self.data(state))
                made += self.add_event(conn, f"backfill:{uid}:{h}", TYPES["published"], uid, body, state.labels)
        return made


def _insert_event(conn: Connection, key: str, type_: str, subject: str, content_type: str, body: bytes,
                  filter_json: str) -> int | None:
    """Insert an event under its unique ``key``; its id, or None when another process (or an
    earlier run) recorded it already."""
    events = schema.events
    values = {"key": key, "msg_id": "msg_" + uuid.uuid4().hex, "type": type_, "subject": subject,
              "content_type": content_type, "body": body, "filter": filter_json, "created_at": now()}
    if insert_ignore(conn, events, values) == 0:
        return None
    return int(conn.execute(sa.select(events.c.id).where(events.c.key == key)).scalar_one())


def _compare_and_set(conn: Connection, table: sa.Table, pk: sa.Column[Any], column: str, key: str,
                     old: str | None, new: str, extra: dict[str, Any]) -> int | None:
    """Move the stored value from ``old`` to ``new``; the new version, or None when another
    process got there first (or the store disagrees with what this process saw)."""
    stamp = now()
    if old is None:
        if new == GONE:
            return None
        if insert_ignore(conn, table, {pk.name: key, column: new, "version": 1, "updated_at": stamp, **extra}):
            return 1
        old = GONE  # a post that was removed and is back: the tombstone moves
    result = conn.execute(sa.update(table).where(pk == key, table.c[column] == old)
                          .values({column: new, "version": table.c.version + 1, "updated_at": stamp, **extra}))
    if result.rowcount != 1:
        return None
    return int(conn.execute(sa.select(table.c.version).where(pk == key)).scalar_one())


def event_body(type_: str, data: dict[str, Any]) -> bytes:
    """Standard Webhooks payload structure: ``{"type", "timestamp", "data"}``."""
    stamp = datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
    return json.dumps({"type": type_, "timestamp": stamp, "data": data}, ensure_ascii=False, separators=(",", ":")).encode()


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
