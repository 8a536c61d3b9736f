"""The durable store: engine set-up for SQLite and PostgreSQL, migrations, small helpers.

SQLite: WAL, foreign keys on, and every transaction opened with ``BEGIN IMMEDIATE`` so that a
claim is a write transaction (one writer at a time; SQLAlchemy's documented pysqlite recipe).
PostgreSQL (psycopg 3): claims use ``SELECT ... FOR UPDATE SKIP LOCKED``.
"""

from __future__ import annotations

import logging
import os
import time
import weakref
from collections.abc import Mapping
from typing import Any

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Connection, Engine

from . import schema

logger = logging.getLogger(__name__)
MIGRATION_LOCK = 0x0FEED5C  # pg_advisory_xact_lock key: one migrating process at a time


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
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def _sqlite_begin(conn: Connection) -> None:
    conn.exec_driver_sql("BEGIN IMMEDIATE")


def is_postgres(engine_or_conn: Engine | Connection) -> bool:
    return engine_or_conn.dialect.name == "postgresql"


def alembic_config() -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", "feedsvc:migrations")
    return cfg


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Run the Alembic migrations up to ``revision``; concurrent starters wait for each other
    (an advisory lock on PostgreSQL, the write transaction on SQLite)."""
    cfg = alembic_config()
    with engine.begin() as conn:
        if is_postgres(conn):
            conn.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK})
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, revision)


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
