"""The store: migrations, events derived from the recorded content state (one per change per
cluster), no re-announcement on restart, backfill as an opt-in. SQLite file and PostgreSQL."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from notify_fixtures import pump

from feedsvc.notify import schema


def events(app: Flask) -> list[tuple[str, str]]:
    """(type, title or subject) of every post event, in order."""
    with app.extensions["feedsvc.notify"].engine.connect() as conn:
        rows = conn.execute(sa.select(schema.events).where(schema.events.c.type.like("post.%")).order_by(schema.events.c.id)).all()
    return [(r.type, json.loads(r.body)["data"].get("title", r.subject)) for r in rows]


def count(app: Flask, table: sa.Table) -> int:
    with app.extensions["feedsvc.notify"].engine.connect() as conn:
        return int(conn.execute(sa.select(sa.func.count()).select_from(table)).scalar_one())


def test_first_start_records_and_announces_nothing(push_app: Callable[..., Flask], write_post: Callable[..., Path]) -> None:
    write_post("a.md", title="A")
    write_post("b.md", title="B")
    app = push_app()
    assert count(app, schema.content_state) == 2
    assert count(app, schema.topic_state) == 3  # the site feed in three formats
    assert events(app) == []


def test_restart_never_reannounces_but_catches_up(push_app: Callable[..., Flask], write_post: Callable[..., Path]) -> None:
    write_post("a.md", title="A")
    first = push_app()
    write_post("b.md", title="B")
    pump(first, lambda: len(events(first)) == 1)
    first.extensions["feedsvc.notify"].close()
    second = push_app()  # same store, same content: nothing new
    assert events(second) == [("post.published", "B")]
    write_post("c.md", title="C")  # changed while no process ran
    (Path(second.config["SETTINGS"].content_dir) / "a.md").unlink()
    third = push_app()
    assert events(third)[1:] == [("post.published", "C"), ("post.deleted", "A")]


def test_one_event_per_change_across_processes(push_app: Callable[..., Flask], write_post: Callable[..., Path]) -> None:
    """Two apps on one store both observe the same edit: one event, whoever records first."""
    write_post("a.md", title="A")
    apps = [push_app(), push_app()]
    write_post("a.md", title="A, edited")
    write_post("n.md", title="New")
    for app in apps:
        app.extensions["feedsvc"].reload()
    for app in reversed(apps):
        app.extensions["feedsvc.notify"].run_once()
    assert sorted(events(apps[0])) == [("post.published", "New"), ("post.updated", "A, edited")]
    # a change back to the earlier content is a new change, and announced again
    write_post("a.md", title="A")
    for app in apps:
        pump(app, lambda: True)
    assert events(apps[0])[-1] == ("post.updated", "A")
    assert len(events(apps[0])) == 3


def test_a_removed_post_coming_back_is_published(push_app: Callable[..., Flask], write_post: Callable[..., Path]) -> None:
    path = write_post("a.md", title="A")
    write_post("keep.md", title="Keep")
    app = push_app()
    text = path.read_text()
    path.unlink()
    pump(app, lambda: len(events(app)) == 1)
    path.write_text(text)
    pump(app, lambda: len(events(app)) == 2)
    assert [e[0] for e in events(app)] == ["post.deleted", "post.published"]


def test_backfill_opts_in_once(cli: Callable[..., Any], content_dir: Path, write_post: Callable[..., Path], db_url: str,
                               push_app: Callable[..., Flask]) -> None:
    write_post("a.md", title="A")
    write_post("b.md", title="B")
    env = {"FEEDSVC_CONTENT_DIR": str(content_dir), "FEEDSVC_DATABASE_URL": db_url, "FEEDSVC_BUILD_WORKERS": "1",
           "FEEDSVC_ALLOW_PRIVATE_TARGETS": "1", "FEEDSVC_SITE_URL": "https://blog.example.org"}
    result = cli("db", "upgrade", env=env)
    assert result.exit_code == 0 and "database up to date" in result.output
    result = cli("backfill", env=env)
    assert result.exit_code == 0 and "2 post.published events queued" in result.output
    assert cli("backfill", env=env).output.startswith("0 post.published")
    assert sorted(events(push_app())) == [("post.published", "A"), ("post.published", "B")]


def test_migrations_are_at_head(push_app: Callable[..., Flask]) -> None:
    from alembic.script import ScriptDirectory

    from feedsvc.notify.store import alembic_config

    app = push_app()
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    with app.extensions["feedsvc.notify"].engine.connect() as conn:
        assert conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalar_one() == head


def _sqlite_default_differs(context: Any, inspected_column: Any, metadata_column: Any, inspected_default: str | None,
                            metadata_default: Any, rendered_metadata_default: str | None) -> bool | None:
    """SQLite reflects the empty-string default as ``('')``, which Alembic's own comparison
    reports as a change: compare the bare literals there; other dialects keep Alembic's."""
    if context.dialect.name != "sqlite" or inspected_default is None:
        return None
    return inspected_default.strip("()").strip("'") != (rendered_metadata_default or "").strip("'")


def test_migrations_match_the_schema(db_url: str) -> None:
    """The database migrated to head has exactly the tables, columns, types, server defaults
    and indexes of notify/schema.py: the migration cannot drift from the code."""
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from feedsvc.notify.store import make_engine, upgrade

    engine = make_engine(db_url)
    try:
        upgrade(engine)
        with engine.connect() as conn:
            context = MigrationContext.configure(conn, opts={"compare_type": True,
                                                             "compare_server_default": _sqlite_default_differs})
            assert compare_metadata(context, schema.metadata) == []
    finally:
        engine.dispose()


def test_unreadable_at_start_is_not_deleted(push_app: Callable[..., Flask], write_post: Callable[..., Path]) -> None:
    """A post whose file is broken (or mid-write) when a process starts is not announced as
    deleted; a deletion made while stopped is announced once the folder loads cleanly."""
    write_post("a.md", title="A")
    broken = write_post("b.md", title="B")
    write_post("c.md", title="C")
    first = push_app()
    first.extensions["feedsvc.notify"].close()
    good = broken.read_text()
    broken.write_text(good[: len(good) // 3])  # a half-written file when the next process starts
    (Path(first.config["SETTINGS"].content_dir) / "a.md").unlink()  # deleted while stopped
    second = push_app()
    assert second.extensions["feedsvc"].current().errors
    second.extensions["feedsvc.notify"].run_once()
    assert events(second) == []  # neither B (unreadable) nor A (wait for a clean load)
    broken.write_text(good)
    pump(second, lambda: len(events(second)) == 1)
    assert events(second) == [("post.deleted", "A")]


def test_a_process_behind_the_store_never_announces_a_deletion(push_app: Callable[..., Flask], write_post: Callable[..., Path]) -> None:
    """A worker whose snapshot is older than the store (booting while others run, or slow to
    record) compares it with the store: a post others recorded from a later scan is not
    'deleted' (seen as a deleted + published pair for one edit under 4 gunicorn workers)."""
    write_post("a.md", title="A")
    first, second = push_app(), push_app()
    behind = time.time()  # every scan of second started before this
    write_post("n.md", title="N")
    pump(first, lambda: len(events(first)) == 1)  # first records N; second has not rescanned
    stale = second.extensions["feedsvc"].current().index
    assert "n.md" not in stale.posts
    second.extensions["feedsvc.notify"].recorder.observe_posts(behind, None, stale, True)  # N looks deleted to it
    assert events(second) == [("post.published", "N")]


def test_sqlite_reads_do_not_wait_for_a_writer(tmp_path: Path) -> None:
    """Every SQLite transaction began with BEGIN IMMEDIATE, reads too: refreshing versions, the
    metrics' gauges and the API's listings queued behind a burst's recording for the write
    lock. ``reader()`` transactions read the WAL snapshot while a writer holds the lock."""
    import sqlite3
    import threading

    from feedsvc.notify.endpoints import listing
    from feedsvc.notify.gauges import store_gauges
    from feedsvc.notify.store import make_engine, upgrade

    path = tmp_path / "store.sqlite"
    engine = make_engine(f"sqlite:///{path}")
    upgrade(engine)
    writer = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    writer.execute("BEGIN IMMEDIATE")  # another process recording a burst
    results: list[object] = []
    reads = threading.Thread(target=lambda: results.extend([store_gauges(engine), listing(engine)]), daemon=True)
    reads.start()
    reads.join(10)  # the busy timeout is 30 s: a read waiting for the lock would still be blocked
    try:
        assert not reads.is_alive() and results == [{"due": 0.0, "oldest_age": 0.0, "subscriptions": 0.0}, []]
        threading.Timer(0.2, lambda: writer.execute("COMMIT")).start()
        with engine.begin() as conn:  # a write still waits for the lock, and gets it once released
            conn.execute(sa.insert(schema.meta).values(key="k", value="v"))
    finally:
        writer.close()
        engine.dispose()


def test_sending_waits_while_a_recorder_wants_the_sqlite_write_lock(tmp_path: Path) -> None:
    """SQLite's write lock has no queue: a writer that finds it taken sleeps up to 100 ms and
    tries again, so the senders' stream of short transactions kept an edit's recording out for
    seconds (bench/burst.py: 3.9 s). While a recorder waits for or holds the lock
    (``recording``), a sender's transaction does not begin; it does once the recorder is done,
    and after ``YIELD_WAIT`` at the latest, so that sending is never stopped."""
    import threading

    from feedsvc.config import load_settings
    from feedsvc.notify.dispatch import Dispatcher
    from feedsvc.notify.store import make_engine, recording, upgrade, yield_to_recorders

    engine = make_engine(f"sqlite:///{tmp_path / 'store.sqlite'}")
    upgrade(engine)
    began: list[float] = []
    sa.event.listen(engine, "begin", lambda conn: began.append(time.monotonic()))
    dispatcher = Dispatcher(engine, load_settings({"SITE_URL": "https://example.org"}, environ={}))
    try:
        with recording(engine), recording(engine):  # two recorders (threads of one process, or two processes)
            sending = threading.Thread(target=dispatcher.exchange, args=([], 4), daemon=True)
            sending.start()
            sending.join(0.5)
            assert sending.is_alive() and not began  # waits at the gate, no transaction begun
            released = time.monotonic()
        sending.join(10)
        assert not sending.is_alive() and len(began) == 1 and began[0] >= released
        with recording(engine):  # a recorder that stays: the sender goes ahead after its wait
            yield_to_recorders(engine, wait=0.2)
    finally:
        dispatcher.shutdown()
        engine.dispose()


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_every_recording_transaction_holds_the_gate(push_app: Callable[..., Flask], write_post: Callable[..., Path],
                                                    db_url: str) -> None:
    """Each transaction of the ledger, ordinary and burst, holds the recorders' gate, so that
    senders let it in first (on SQLite; PostgreSQL has no gate to hold)."""
    import fcntl

    from feedsvc.notify.store import READ_ONLY, RECORD_GATE

    write_post("a.md", title="A")
    app = push_app(notify_burst=5)
    engine = app.extensions["feedsvc.notify"].engine
    gate = engine.url.database + RECORD_GATE
    held: list[bool] = []

    def check(conn: Any) -> None:
        if conn.get_execution_options().get(READ_ONLY):
            return
        with open(gate, "a") as handle:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                held.append(False)
            except BlockingIOError:
                held.append(True)

    sa.event.listen(engine, "begin", check)
    try:
        for n in range(12):  # a burst of 12 publications and an edit
            write_post(f"p{n:02d}.md", title=f"P{n}", date=f"2024-02-{n + 1:02d} 10:00:00")
        write_post("a.md", title="A, edited")
        app.extensions["feedsvc"].reload()
    finally:
        sa.event.remove(engine, "begin", check)
    assert len(held) >= 3 and all(held), held


def test_a_gate_file_that_cannot_be_opened_orders_nothing_and_stops_nothing(tmp_path: Path,
                                                                         caplog: pytest.LogCaptureFixture) -> None:
    """The gate beside the SQLite file may belong to another user or sit where this process
    cannot create it: recording and sending go on without it, with one warning."""
    import logging

    from feedsvc.notify.store import RECORD_GATE, make_engine, recording, upgrade, yield_to_recorders

    engine = make_engine(f"sqlite:///{tmp_path / 'store.sqlite'}")
    upgrade(engine)
    gate = tmp_path / ("store.sqlite" + RECORD_GATE)
    gate.mkdir()  # opening it as a file fails (EISDIR), as a file of another user's would (EACCES)
    caplog.set_level(logging.WARNING, logger="feedsvc")
    try:
        for _ in range(2):
            with recording(engine), engine.begin() as conn:
                conn.execute(sa.insert(schema.meta).values(key=f"k{time.monotonic()}", value="v"))
            yield_to_recorders(engine, wait=0.1)
    finally:
        engine.dispose()
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and RECORD_GATE in warnings[0]


def test_a_claim_reads_the_first_due_deliveries_from_the_index_unsorted(db_url: str) -> None:
    """With tens of thousands of deliveries due (a burst), a claim read every due row and
    sorted them, under the claimers' lock (the query took 12 ms on PostgreSQL at 56k rows due,
    0.2 ms from the index). ix_feedsvc_deliveries_due is in the claim's
    order, so the plan reads the first rows from it and sorts nothing."""
    from feedsvc.notify.outbox import due_query
    from feedsvc.notify.store import make_engine, refresh_statistics, upgrade

    engine = make_engine(db_url)
    try:
        upgrade(engine)
        stamp = time.time()
        with engine.begin() as conn:
            conn.execute(sa.insert(schema.deliveries), [
                {"kind": "webhook", "url": "http://x/", "status": "pending" if n % 3 else "done", "tries": 0,
                 "next_at": stamp - n % 50, "created_at": stamp, "target": f"t{n % 100}", "priority": n % 2}
                for n in range(20000)])
        refresh_statistics(engine)  # as the recorder does after a burst (PostgreSQL only)
        with engine.begin() as conn:
            query = due_query(stamp, 192, ["t1", "t2"])
            sql = str(query.compile(conn, compile_kwargs={"literal_binds": True}))
            if conn.dialect.name == "postgresql":
                plan = "\n".join(row[0] for row in conn.execute(sa.text(f"EXPLAIN {sql} FOR UPDATE SKIP LOCKED")))
                assert "Sort" not in plan and "ix_feedsvc_deliveries_due" in plan, plan
            else:
                plan = "\n".join(str(row[-1]) for row in conn.execute(sa.text(f"EXPLAIN QUERY PLAN {sql}")))
                assert "TEMP B-TREE" not in plan and "ix_feedsvc_deliveries_due" in plan, plan
            assert len(conn.execute(query).all()) == 192
    finally:
        engine.dispose()
