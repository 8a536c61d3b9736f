"""The durable store: engine set-up for SQLite and PostgreSQL, migrations, small helpers.

SQLite: WAL, foreign keys on, and every transaction opened with ``BEGIN IMMEDIATE`` so that a
claim is a write transaction (one writer at a time; SQLAlchemy's documented pysqlite recipe),
except on ``reader(engine)``: a plain ``BEGIN`` that reads a WAL snapshot and never waits for
the write lock (refreshing versions, metrics, the API's listings). Recording goes first: the
write lock has no queue, so senders wait at a gate while a recorder wants it (``recording``).
PostgreSQL (psycopg 3): claims use ``SELECT ... FOR UPDATE SKIP LOCKED``.

Processes starting together (gunicorn workers without --preload) migrate one at a time: an
advisory lock on PostgreSQL, an OS file lock beside the file on SQLite. WAL mode persists in the
SQLite file, so it is set once, while migrating: ``PRAGMA journal_mode=WAL`` needs the write lock
and fails at once ("database is locked", no busy timeout applies) while another process writes,
so that step, and the migration, retry for a bounded time.
"""

from __future__ import annotations

import fcntl
import logging
import os
import sqlite3
import time
import weakref
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import IO, Any, TypeVar

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import SQLAlchemyError

from . import schema

logger = logging.getLogger(__name__)
MIGRATION_LOCK = 0x0FEED5C  # pg_advisory_xact_lock key: one migrating process at a time
LOCK_WAIT = 120.0  # seconds a starting process waits for a sibling's migration or write lock
BURST_LOCK = 0x0FEED5B  # pg_advisory_lock key: one process records a burst at a time
RECORD_GATE = ".record.lock"  # beside a SQLite file: recorders hold it shared (see recording())
YIELD_WAIT = 2.0  # seconds a sender's transaction waits at most for recorders
BURST_WAIT = 3600.0  # seconds a process waits for another's burst before giving up (it records again later)
T = TypeVar("T")


def now() -> float:
    return time.time()


def default_url(instance_path: str) -> str:
    os.makedirs(instance_path, exist_ok=True)
    return "sqlite:///" + os.path.join(instance_path, "feedsvc.db")


def make_engine(url: str) -> Engine:
    """An engine for ``url``; after a fork the child drops the parent's pooled connections."""
    if url.startswith("sqlite"):
        engine = sa.create_engine(url, connect_args={"timeout": 30, "check_same_thread": False})
        sa.event.listen(engine, "connect", _sqlite_connect)
        sa.event.listen(engine, "begin", _sqlite_begin)
    else:
        engine = sa.create_engine(url, pool_size=8, max_overflow=8, pool_pre_ping=True)
    ref = weakref.ref(engine)

    def _after_fork() -> None:
        child = ref()
        if child is not None:
            child.dispose(close=False)

    os.register_at_fork(after_in_child=_after_fork)
    return engine


def _sqlite_connect(dbapi_connection: Any, _record: Any) -> None:
    dbapi_connection.isolation_level = None  # let the "begin" listener issue BEGIN itself
    cursor = dbapi_connection.cursor()  # journal_mode=WAL is the file's, set by upgrade()
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def _sqlite_begin(conn: Connection) -> None:
    conn.exec_driver_sql("BEGIN" if conn.get_execution_options().get(READ_ONLY) else "BEGIN IMMEDIATE")


READ_ONLY = "feedsvc_read_only"


def reader(engine: Engine) -> Engine:
    """The engine for transactions that only read: on SQLite they do not take the write lock
    (which ``BEGIN IMMEDIATE`` would, and wait behind a burst's recording for it)."""
    return engine.execution_options(**{READ_ONLY: True})


def is_postgres(engine_or_conn: Engine | Connection) -> bool:
    return engine_or_conn.dialect.name == "postgresql"


def refresh_statistics(engine: Engine) -> None:
    """PostgreSQL: ANALYZE the outbox's tables after a burst was recorded. Their planner
    statistics dated from before it (autovacuum looks once a minute, if it runs at all), so
    with 36k deliveries due a claim scanned the table for the ones in flight (17 ms; 0.7 ms
    after ANALYZE) and read and sorted every due row (14 ms; 0.09 ms): a send round's
    transaction took ~50 ms instead of ~11 ms (bench/burst.py). SQLite needs nothing: its
    planner keeps to the indexes. A failure (not the tables' owner) is logged, never raised."""
    if not is_postgres(engine):
        return
    try:
        with engine.begin() as conn:
            conn.execute(sa.text(f"ANALYZE {schema.deliveries.name}, {schema.events.name}"))
    except SQLAlchemyError as exc:
        logger.warning("ANALYZE of the outbox failed (claims may be planned on stale statistics): %s", exc)


def alembic_config() -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", "feedsvc:migrations")
    return cfg


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Run the Alembic migrations up to ``revision``; concurrent starters wait for each other
    (an advisory lock on PostgreSQL; on SQLite a file lock, then WAL mode is set once)."""
    cfg = alembic_config()

    def migrate() -> None:
        with engine.begin() as conn:
            if is_postgres(conn):
                conn.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK})
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, revision)

    with _migration_lock(engine):
        if engine.dialect.name == "sqlite":
            retry_locked(lambda: _enable_wal(engine))
        retry_locked(migrate)


def _enable_wal(engine: Engine) -> None:
    """Switch the SQLite file to WAL (it stays so): outside a transaction, on a raw connection."""
    raw = engine.raw_connection()
    try:
        cursor = raw.cursor()
        mode = cursor.execute("PRAGMA journal_mode=WAL").fetchone()[0]
        cursor.close()
    finally:
        raw.close()
    if mode != "wal":  # an in-memory database: nothing to share
        logger.debug("SQLite journal mode stays %s", mode)


def retry_locked(action: Callable[[], T], wait: float = LOCK_WAIT) -> T:
    """``action()``, again after a growing pause (up to ``wait`` seconds in all) while SQLite
    says another process holds the lock."""
    deadline = time.monotonic() + wait
    delay = 0.05
    while True:
        try:
            return action()
        except (sa.exc.OperationalError, sqlite3.OperationalError) as exc:  # wrapped, or from a raw cursor
            cause = exc.orig if isinstance(exc, sa.exc.OperationalError) else exc
            if not (isinstance(cause, sqlite3.OperationalError) and "locked" in str(cause)):
                raise
            if time.monotonic() + delay > deadline:
                raise
            logger.info("SQLite store locked by another process: retrying in %.2fs", delay)
        time.sleep(delay)
        delay = min(delay * 2, 1.0)


@contextmanager
def _migration_lock(engine: Engine) -> Iterator[None]:
    """On a SQLite file, an exclusive ``flock`` on ``<file>.lock``, waited for up to LOCK_WAIT
    (released by the OS if the holder dies); nothing elsewhere."""
    with _file_lock(engine, ".lock", "migrating the store"):
        yield


@contextmanager
def burst_lock(engine: Engine) -> Iterator[None]:
    """One process at a time records a burst: the others, which saw the same burst, wait and
    then find it recorded, instead of rendering the same thousands of events at the same time
    only to drop them. A session advisory lock on PostgreSQL (on a connection of its own, for
    the whole burst); ``flock`` on ``<file>.burst.lock`` beside a SQLite file. Both are
    released if the holder dies."""
    if not is_postgres(engine):
        with _file_lock(engine, ".burst.lock", "recording a burst", wait=BURST_WAIT):
            yield
        return
    with engine.connect() as conn:
        conn.execute(sa.text("SELECT pg_advisory_lock(:key)"), {"key": BURST_LOCK})
        conn.commit()
        try:
            yield
        finally:
            conn.execute(sa.text("SELECT pg_advisory_unlock(:key)"), {"key": BURST_LOCK})
            conn.commit()


@contextmanager
def recording(engine: Engine) -> Iterator[None]:
    """Recording goes before sending on SQLite. Its write lock has no queue: a writer that finds
    it taken sleeps and tries again, up to 100 ms later, so the senders' stream of short
    transactions kept an edit's recording out for seconds. A recorder holds ``flock(LOCK_SH)``
    on ``<file>.record.lock`` while it waits for and holds the write lock; senders wait while
    any recorder does (``yield_to_recorders``). Each use opens the file anew: two threads of one
    process must not release each other's lock. Nothing on PostgreSQL (row locks, no queue
    jumping needed)."""
    fd = _open_gate(engine)
    if fd is None:
        yield
        return
    try:
        fcntl.flock(fd, fcntl.LOCK_SH)  # only ever waits for a sender's instant probe
        yield
    finally:
        os.close(fd)  # releases the lock


def yield_to_recorders(engine: Engine, wait: float = YIELD_WAIT) -> None:
    """Before a sender's write transaction: wait while a recorder waits for or holds SQLite's
    write lock (``recording``), at most ``wait`` seconds, so that sending is never stopped."""
    fd = _open_gate(engine)
    if fd is None:
        return
    try:
        _flock_within(fd, wait, 0.002)  # taken and dropped at once: only the wait matters
    finally:
        os.close(fd)


def _flock_within(fd: int | IO[str], wait: float, pause: float) -> bool:
    """Take ``flock(LOCK_EX)`` on ``fd``, trying every ``pause`` seconds for up to ``wait``;
    whether it was taken."""
    deadline = time.monotonic() + wait
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return True
        except BlockingIOError:
            if time.monotonic() > deadline:
                return False
            time.sleep(pause)


def _open_gate(engine: Engine) -> int | None:
    """A new descriptor of the gate file (read-only: flock needs no more, and a process of
    another user can share a file it did not create); None on PostgreSQL, or when the file
    cannot be opened: the gate orders writers, it must never stop one (logged once)."""
    path = _lock_path(engine, RECORD_GATE)
    if path is None:
        return None
    try:
        return os.open(path, os.O_RDONLY | os.O_CREAT, 0o644)
    except OSError as exc:
        if path not in _GATE_WARNED:
            _GATE_WARNED.add(path)
            logger.warning("cannot open %s (%s): recording and sending take SQLite's write lock in any order", path, exc)
        return None


_GATE_WARNED: set[str] = set()


def _lock_path(engine: Engine, suffix: str) -> str | None:
    """``<file><suffix>`` beside a SQLite file; None for PostgreSQL or an in-memory database."""
    path = engine.url.database if engine.dialect.name == "sqlite" else None
    if not path or path == ":memory:" or path.startswith("file:"):
        return None
    return path + suffix


@contextmanager
def _file_lock(engine: Engine, suffix: str, what: str, wait: float = LOCK_WAIT) -> Iterator[None]:
    path = _lock_path(engine, suffix)
    if path is None:
        yield
        return
    with open(path, "a") as handle:
        if not _flock_within(handle, wait, 0.05):
            raise TimeoutError(f"{path}: another process has been {what} for {wait:.0f}s")
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def insert_ignore(conn: Connection, table: sa.Table, values: Mapping[str, Any] | list[dict[str, Any]]) -> int:
    """INSERT ... ON CONFLICT DO NOTHING; the number of rows inserted."""
    insert = pg_insert if is_postgres(conn) else sqlite_insert
    if isinstance(values, list):  # executemany, batched by SQLAlchemy; no reliable row count
        if values:
            conn.execute(insert(table).on_conflict_do_nothing(), values)
        return 0
    key = next(iter(table.primary_key.columns))  # RETURNING: rowcount is not reliable here
    result = conn.execute(insert(table).values(values).on_conflict_do_nothing().returning(key))
    return len(result.all())


def set_meta(conn: Connection, key: str, value: str) -> bool:
    """Insert a key into the meta table unless present; True when this call inserted it."""
    return insert_ignore(conn, schema.meta, {"key": key, "value": value}) == 1
