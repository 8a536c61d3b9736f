"""The store-backed version ledger: exactly one event per change per cluster, and the dates
of every version (feedsvc/versions.py).

Every process tells the recorder what each of its scans observed: "post <uid> has hash H (or
is gone), seen by a scan that started at T". The store keeps, per post and per topic, the
hash or ETag, a version that only moves forward, ``observed_at`` (the T that set it) and
``updated_at`` (when the version was first recorded). An observation is applied only if it
is newer than the stored one (``T > observed_at``) and says something else; then the version
moves on and the event is written in the same transaction. An older observation is stale and
dropped whatever it says: a late "deleted" from a process that scanned while a file was
briefly away cannot undo a restore that another process saw after it. Observations from
several hosts are ordered by their clocks: keep them synchronised (NTP).

Recording runs in the reloading thread, one transaction per ``CHUNK`` changes (bulk reads,
multi-row writes), serialised between processes (SQLite's write lock; an advisory lock on
PostgreSQL) but never behind sending, which uses its own short transactions and, on SQLite,
lets a waiting recorder in first (store.recording).
"""

from __future__ import annotations

import json
import logging
import math
import time
from collections import Counter
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any, NamedTuple

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import SQLAlchemyError

from ..changes import DocumentChange, PostChange
from ..config import Settings
from ..index import Index
from ..markup import RenderedBody
from ..posts import Post
from ..snapshot import Snapshot
from . import schema
from .events import GONE, PostEvent, TopicEvent, add_post_events, add_topic_events, labels, post_hash, render_post_body
from .outbox import BULK, LIVE
from .store import burst_lock, is_postgres, reader, recording, refresh_statistics, set_meta

logger = logging.getLogger(__name__)
CHUNK = 500  # changes per transaction
RECORD_LOCK = 0x0FEED5E  # pg_advisory_xact_lock key: one recorder at a time
ANALYZE_AFTER = 500  # events since the last refresh_statistics that make PostgreSQL's statistics stale
REFRESH_OVERLAP = 30.0  # seconds: rows recorded this long before the last refresh are read again (commit order)


class Version(NamedTuple):
    value: str  # the post's hash or the document's ETag; GONE
    version: int
    recorded: float  # updated_at: when this version was first recorded


class Observation(NamedTuple):
    key: str  # post uid or topic URL
    value: str  # hash or ETag; GONE
    payload: Any  # the Post or the Document (None when gone)
    body: RenderedBody | None = None  # a post's body, rendered before the transaction


def _recorded_at(stamp: float, previous: float) -> float:
    """Whole seconds (HTTP dates have no finer ones), each version later than the one before."""
    return float(max(math.floor(stamp), math.floor(previous) + 1))


class Recorder:
    """A VersionLedger on the shared store (see the module docstring)."""

    def __init__(self, engine: Engine, settings: Settings) -> None:
        self.engine = engine
        self.reader = reader(engine)  # reads that never wait for SQLite's write lock
        self.settings = settings
        self.posts: dict[str, Version] = {}  # this process's copy of the stored versions
        self.topics: dict[str, Version] = {}
        self.made = 0  # events this process recorded
        self.transactions = 0
        self._loaded = False
        self._refreshed = 0.0
        self._wait_clean = False  # deletions wait for a load without errors: compare all posts then
        self._retry_posts = self._retry_topics = False  # a write failed: compare everything at the next reload
        self._lane = LIVE
        self.on_recorded: Callable[[], None] | None = None  # called after a transaction that made events
        self._unanalyzed = 0  # events recorded since the planner statistics were refreshed

    # ------------------------------------------------------------------ VersionLedger

    def refresh(self) -> bool:
        if self._retry_posts or self._retry_topics:
            return True  # rebuild and record again
        if not self._loaded:
            return False
        started = time.time()
        since = self._refreshed - REFRESH_OVERLAP
        cs, ts = schema.content_state, schema.topic_state
        try:
            with self.reader.connect() as conn:
                posts = conn.execute(sa.select(cs.c.uid, cs.c.hash, cs.c.version, cs.c.updated_at).where(cs.c.updated_at > since)).all()
                topics = conn.execute(sa.select(ts.c.topic, ts.c.etag, ts.c.version, ts.c.updated_at).where(ts.c.updated_at > since)).all()
        except SQLAlchemyError:
            logger.exception("reading versions from the store failed")
            return False
        self._refreshed = started
        moved = _merge(self.posts, posts)
        return _merge(self.topics, topics) or moved

    def observe_posts(self, seen_at: float, changes: Sequence[PostChange] | None, index: Index, clean: bool) -> None:
        current = {index.ids[source]: post for source, post in index.posts.items()}
        self._lane = LIVE
        try:
            if changes is None or self._retry_posts or self._wait_clean or not self._loaded:
                self._observe_all_posts(seen_at, current, clean)
            else:
                self._observe_changes(seen_at, changes, current)
            self._retry_posts = False
        except (SQLAlchemyError, TimeoutError):  # TimeoutError: another process held the burst lock for an hour
            logger.exception("recording post changes failed; all posts are compared again at the next reload")
            self._retry_posts = True

    def _observe_changes(self, seen_at: float, changes: Sequence[PostChange], current: dict[str, Post]) -> None:
        """Ordinary changes first, in transactions of their own, so that an edit seen beside a
        burst (a folder moved away or back) is committed, and the sender woken, before the
        burst is: a burst is more than FEEDSVC_NOTIFY_BURST changes of one kind in the set."""
        kinds = Counter(c.action for c in changes)
        bursts = {kind for kind, n in kinds.items() if n > self.settings.notify_burst}
        ordinary: list[Observation] = []
        burst: list[Observation] = []
        for c in changes:
            (burst if c.action in bursts else ordinary).append(
                Observation(c.uid, post_hash(p) if (p := current.get(c.uid)) else GONE, p))
        self._record(schema.content_state, seen_at, ordinary, self._post_events, whole=False)
        if burst:
            self._lane = BULK  # the documents these change go after ordinary ones too
            with burst_lock(self.engine):
                self._record(schema.content_state, seen_at, burst, self._burst_events, whole=False)

    def observe_aside(self, seen_at: float, changes: Sequence[PostChange]) -> int:
        """Edits seen while a long reload runs, from another thread (FeedService.aside): record
        them now in transactions of their own, between the long reload's. The reload that later
        sees them too finds them recorded (same hash): nothing twice."""
        if not self._loaded or self._retry_posts or self._wait_clean:
            return 0  # a catch-up is due: the reload compares everything
        seen = [Observation(c.uid, post_hash(c.post), c.post) for c in changes if c.post is not None]
        try:
            return self._record(schema.content_state, seen_at, seen, self._post_events, whole=False)
        except SQLAlchemyError:
            logger.exception("recording edits aside failed; the next reload records them")
            return 0

    def post_modified(self, uid: str, post: Post) -> datetime | None:
        stored = self.posts.get(uid)
        if stored is None or stored.version <= 1 or stored.value != post_hash(post):
            return None
        return datetime.fromtimestamp(stored.recorded, UTC)

    def observe_documents(self, seen_at: float, changes: Sequence[DocumentChange] | None, snapshot: Snapshot) -> None:
        url = self.settings.url
        try:
            if changes is None or self._retry_topics:
                self._observe_all_topics(seen_at, snapshot)
            else:
                seen = [Observation(url(c.path), c.new_etag or GONE, snapshot.documents.get((c.key, c.fmt))) for c in changes]
                self._record(schema.topic_state, seen_at, seen, self._topic_events, whole=False)
            self._retry_topics = False
        except SQLAlchemyError:
            logger.exception("recording document changes failed; all documents are compared again at the next reload")
            self._retry_topics = True

    def document_modified(self, path: str, etag: str) -> datetime | None:
        stored = self.topics.get(self.settings.url(path))
        if stored is None or stored.version <= 1 or stored.value != etag:
            return None
        return datetime.fromtimestamp(stored.recorded, UTC)

    # ------------------------------------------------------------------ observing everything

    def _observe_all_posts(self, seen_at: float, current: dict[str, Post], clean: bool) -> None:
        """A process's first observation (or a catch-up): compare every post with the store.
        While posts fail to load, a stored post missing here may be unreadable rather than
        deleted: deletions wait for a clean load."""
        stored = self._read_all(schema.content_state, self.posts)
        hashes = {uid: post_hash(post) for uid, post in current.items()}
        seen = [Observation(uid, hashes[uid], post) for uid, post in sorted(current.items())
                if (found := stored.get(uid)) is None or found.value != hashes[uid]]
        missing = sorted(uid for uid, row in stored.items() if row.value != GONE and uid not in current)
        self._wait_clean = bool(missing) and not clean
        if missing and not clean:
            logger.warning("%d posts failed to load: deletions wait for a clean load", len(missing))
        else:
            seen += [Observation(uid, GONE, None) for uid in missing]
        self._record(schema.content_state, seen_at, seen, self._post_events, whole=True, initialise="initialized")
        self._loaded = True

    def _observe_all_topics(self, seen_at: float, snapshot: Snapshot) -> None:
        url = self.settings.url
        stored = self._read_all(schema.topic_state, self.topics)
        docs = {url(snapshot.index.feeds[key].document_path(fmt)): doc for (key, fmt), doc in snapshot.documents.items()}
        seen = [Observation(topic, doc.etag, doc) for topic, doc in sorted(docs.items())
                if (found := stored.get(topic)) is None or found.value != doc.etag]
        if not snapshot.errors:
            seen += [Observation(t, GONE, None) for t, row in sorted(stored.items()) if row.value != GONE and t not in docs]
        self._record(schema.topic_state, seen_at, seen, self._topic_events, whole=True, initialise="topics_initialized")

    def _read_all(self, table: sa.Table, cache: dict[str, Version]) -> dict[str, Version]:
        key, value = table.c[table.primary_key.columns.keys()[0]], table.c[_value_column(table)]
        started = time.time()
        with self.reader.connect() as conn:
            rows = conn.execute(sa.select(key, value, table.c.version, table.c.updated_at)).all()
        self._refreshed = self._refreshed or started
        _merge(cache, rows)
        return {row[0]: Version(row[1], row[2], row[3]) for row in rows}

    # ------------------------------------------------------------------ recording

    def _record(self, table: sa.Table, seen_at: float, seen: Sequence[Observation],
                make_events: Callable[[Connection, list[tuple[Observation, int, float, Any]]], int],
                whole: bool, initialise: str | None = None) -> int:
        """Apply ``seen`` in transactions of CHUNK (all in one for a whole observation, so that
        initialising a store is one step: a process starting beside it finds all or nothing);
        how many events that made."""
        if not seen and initialise is None:
            return 0
        step = (len(seen) or 1) if whole else CHUNK
        total = 0
        for start in range(0, max(len(seen), 1), step):
            chunk = seen[start:start + step]
            if not whole and table is schema.content_state:
                chunk = self._render_ahead(seen_at, chunk)
            began = time.monotonic()
            with recording(self.engine), self.engine.begin() as conn:
                locked = time.monotonic()
                self.transactions += 1
                if is_postgres(conn):
                    conn.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": RECORD_LOCK})
                quiet = initialise is not None and set_meta(conn, initialise, datetime.now(UTC).isoformat())
                applied, known = self._apply(conn, table, seen_at, chunk)
                made = make_events(conn, applied) if applied and not quiet else 0
            logger.debug("%s: %d observations, %d events: write lock after %.3f s, held %.3f s", table.name, len(chunk),
                         made, locked - began, time.monotonic() - locked)
            cache = self.posts if table is schema.content_state else self.topics
            cache.update(known)
            self.made += made
            total += made
            if made and self.on_recorded is not None:
                self.on_recorded()  # the sender need not wait for the rest of the reload
            self._unanalyzed += made
            if self._unanalyzed >= ANALYZE_AFTER and (start == 0 or start + step >= len(seen)):
                self._unanalyzed = 0  # once when a burst's first deliveries are due, once when all are
                refresh_statistics(self.engine)
            if quiet:
                logger.info("notification store initialised: %d %s recorded, nothing announced", len(chunk), table.name)
        return total

    def _render_ahead(self, seen_at: float, chunk: Sequence[Observation]) -> list[Observation]:
        """Render the bodies of the posts this chunk will likely record before taking the write
        lock (SQLite's; the recorders' advisory lock on PostgreSQL), so that a burst holds it
        for its SQL only and other recorders (an edit in another process) get in between its
        transactions. Likely: the store, read without a lock, has an older observation of
        something else. A post that turns out otherwise is rendered in the transaction."""
        cs = schema.content_state
        keys = [o.key for o in chunk if o.payload is not None]
        if not keys:
            return list(chunk)
        with self.reader.connect() as conn:
            stored = {row[0]: row for row in conn.execute(sa.select(cs.c.uid, cs.c.hash, cs.c.observed_at).where(cs.c.uid.in_(keys)))}
        ahead = []
        for seen in chunk:
            row = stored.get(seen.key)
            if seen.payload is not None and (row is None or (row[1] != seen.value and seen_at > row[2])):
                seen = seen._replace(body=render_post_body(seen.payload))
            ahead.append(seen)
        return ahead

    def _apply(self, conn: Connection, table: sa.Table, seen_at: float, chunk: Sequence[Observation]
               ) -> tuple[list[tuple[Observation, int, float, Any]], dict[str, Version]]:
        """Compare-and-set under the recorders' lock: the applied observations (with their new
        version, its date and the stored row), and every row's version as it now stands."""
        pk = table.c[table.primary_key.columns.keys()[0]]
        column = _value_column(table)
        query = sa.select(table)
        if len(chunk) <= CHUNK:
            query = query.where(pk.in_([o.key for o in chunk]))
        stored = {row[0]: row for row in conn.execute(query)}
        stamp = time.time()
        applied: list[tuple[Observation, int, float, Any]] = []
        known: dict[str, Version] = {}
        inserts: list[dict[str, Any]] = []
        updates: list[dict[str, Any]] = []
        for seen in chunk:
            row = stored.get(seen.key)
            if row is None and seen.value == GONE:
                continue
            if row is not None and (getattr(row, column) == seen.value or seen_at <= row.observed_at):
                known[seen.key] = Version(getattr(row, column), row.version, row.updated_at)  # same, or stale: dropped
                continue
            version = row.version + 1 if row is not None else 1
            recorded = _recorded_at(stamp, row.updated_at if row is not None else 0.0)
            values = {"k": seen.key, column: seen.value, "version": version, "updated_at": recorded, "observed_at": seen_at}
            if table is schema.content_state:  # a deleted post keeps its last labels (its event shows them)
                values["labels"] = json.dumps(labels(seen.payload)) if seen.payload is not None else getattr(row, "labels", "{}")
            (updates if row is not None else inserts).append(values)
            applied.append((seen, version, recorded, row))
            known[seen.key] = Version(seen.value, version, recorded)
        if inserts:
            conn.execute(sa.insert(table), [{pk.name: v.pop("k"), **v} for v in inserts])
        if updates:
            names = [n for n in updates[0] if n != "k"]
            conn.execute(sa.update(table).where(pk == sa.bindparam("k")).values({n: sa.bindparam(f"v_{n}") for n in names}),
                         [{"k": v["k"], **{f"v_{n}": v[n] for n in names}} for v in updates])
        return applied, known

    def _post_events(self, conn: Connection, applied: list[tuple[Observation, int, float, Any]]) -> int:
        return self._add_post_events(conn, applied, LIVE)

    def _burst_events(self, conn: Connection, applied: list[tuple[Observation, int, float, Any]]) -> int:
        return self._add_post_events(conn, applied, BULK)

    def _add_post_events(self, conn: Connection, applied: list[tuple[Observation, int, float, Any]], lane: int) -> int:
        events = []
        for seen, version, recorded, row in applied:
            post = seen.payload
            if post is None:
                kind, shown = "deleted", json.loads(row.labels or "{}")
            else:
                kind, shown = ("published" if row is None or row.hash == GONE else "updated"), labels(post)
            events.append(PostEvent(seen.key, kind, version, recorded, post, shown, seen.body))
        lanes = [lane] * len(events)
        if lane == LIVE:  # a whole observation holds bursts too (changes made while no process ran)
            kinds = Counter(e.kind for e in events)
            burst = {kind for kind, n in kinds.items() if n > self.settings.notify_burst}
            if burst:
                self._lane = BULK
                lanes = [BULK if e.kind in burst else LIVE for e in events]
        return add_post_events(conn, events, lanes)

    def _topic_events(self, conn: Connection, applied: list[tuple[Observation, int, float, Any]]) -> int:
        events = [TopicEvent(seen.key, version, recorded, seen.payload)
                  for seen, version, recorded, _ in applied if seen.payload is not None]
        return add_topic_events(conn, events, self.settings.websub_hubs, self._lane)


def _value_column(table: sa.Table) -> str:
    return "hash" if table is schema.content_state else "etag"


def _merge(cache: dict[str, Version], rows: Sequence[Any]) -> bool:
    """Take stored rows (key, value, version, updated_at) into ``cache``; True when any differed."""
    moved = False
    for key, value, version, recorded in rows:
        found = Version(value, version, recorded)
        if cache.get(key) != found:
            cache[key] = found
            moved = True
    return moved
