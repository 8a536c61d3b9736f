"""Issue 8.3: bursts and slow endpoints must not stall everyone. A change set is recorded in
a few transactions in the reload itself (never behind sending); an edit made after a burst
is recorded at once and sent before the burst's backlog; a hanging endpoint holds at most its
own cap of sends while a fast one gets everything. Real SQLite file and PostgreSQL, real
receiver on loopback."""

from __future__ import annotations

import gc
import json
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from flask import Flask
from notify_fixtures import ADMIN_TOKEN, Received, Receiver, Reply, add_endpoint

from feedsvc.app import create_app
from feedsvc.notify import dispatch, ledger, schema
from feedsvc.notify.outbox import claim


def post_events(app: Flask) -> list[tuple[str, str]]:
    with app.extensions["feedsvc.notify"].engine.connect() as conn:
        rows = conn.execute(sa.select(schema.events).where(schema.events.c.type.like("post.%")).order_by(schema.events.c.id)).all()
    return [(r.type, json.loads(r.body)["data"]["title"]) for r in rows]


def test_a_burst_is_recorded_in_a_few_transactions(push_app: Callable[..., Flask], write_post: Callable[..., Path]) -> None:
    write_post("a.md", title="A")
    app = push_app()
    engine = app.extensions["feedsvc.notify"].engine
    began: list[object] = []

    def count(conn: object) -> None:
        began.append(conn)

    sa.event.listen(engine, "begin", count)
    try:
        for n in range(60):
            write_post(f"p{n:02d}.md", title=f"P{n}", date=f"2024-02-{n % 28 + 1:02d} 10:00:00")
        app.extensions["feedsvc"].reload()
        app.extensions["feedsvc.notify"].run_once()
    finally:
        sa.event.remove(engine, "begin", count)
    assert len(post_events(app)) == 60
    assert len(began) <= 6  # was one per post and one per document


def test_an_edit_after_a_burst_is_recorded_at_once_and_sent_first(push_app: Callable[..., Flask], write_post: Callable[..., Path],
                                                                  receiver: Receiver) -> None:
    write_post("a.md", title="A")
    app = push_app(notify_burst=20)
    add_endpoint(app, receiver.url("/hook"))
    for n in range(50):
        write_post(f"p{n:02d}.md", title=f"P{n}", date=f"2024-02-{n % 28 + 1:02d} 10:00:00")
    app.extensions["feedsvc"].reload()  # the burst: 50 events, nothing sent yet
    write_post("a.md", title="A, edited")
    app.extensions["feedsvc"].reload()
    assert post_events(app)[-1] == ("post.updated", "A, edited")  # recorded by the reload, not by a send job
    notifier = app.extensions["feedsvc.notify"]
    with notifier.engine.begin() as conn:
        [first] = claim(conn, 1, 30.0, 4)  # 50 older deliveries are due, the edit goes first
    assert json.loads(first.body)["type"] == "post.updated"


def hanging_and_fast(push_app: Callable[..., Flask], write_post: Callable[..., Path], receiver: Receiver) -> Flask:
    """An app with 4 send slots, 2 per endpoint, and two endpoints: /hang answers once the
    receiver is released, /fast at once."""
    def hang(req: Received) -> Reply:
        receiver.release.wait(60)
        return 200, {}, b"late"

    write_post("a.md", title="A")
    app = push_app(notify_concurrency=4, notify_per_endpoint=2)
    add_endpoint(app, receiver.url("/hang"))
    add_endpoint(app, receiver.url("/fast"))
    receiver.script("/hang", hang)
    return app


def publish_and_send(app: Flask, write_post: Callable[..., Path]) -> threading.Thread:
    """Publish 8 posts, then run one send job (60 s budget) in a thread, started."""
    for n in range(8):
        write_post(f"p{n}.md", title=f"P{n}", date=f"2024-02-0{n + 1} 10:00:00")
    app.extensions["feedsvc"].reload()
    sending = threading.Thread(target=app.extensions["feedsvc.notify"].run_once, kwargs={"budget": 60}, daemon=True)
    sending.start()
    return sending


def test_a_hanging_endpoint_only_slows_itself(push_app: Callable[..., Flask], write_post: Callable[..., Path],
                                              receiver: Receiver) -> None:
    app = hanging_and_fast(push_app, write_post, receiver)
    sending = publish_and_send(app, write_post)
    try:
        receiver.wait(lambda: len(receiver.at("/fast")) == 8)
        assert len(receiver.at("/hang")) <= 2  # the hanging endpoint holds its own cap, no more
    finally:
        receiver.release.set()
        sending.join(90)
    assert not sending.is_alive()


def sender_threads() -> int:
    return sum(1 for t in threading.enumerate() if t.name.startswith("feedsvc-push"))


def test_idle_sender_threads_end_while_a_hanging_target_holds_its_sends(push_app: Callable[..., Flask],
                                                                       write_post: Callable[..., Path],
                                                                       receiver: Receiver) -> None:
    """Once nothing is left to claim, the idle sender threads end even while a hanging target
    keeps sends in flight: before, the whole pool stayed up as long as anything was in flight,
    and a burst's sender threads kept their stacks (worker RSS after the backlog was sent)."""
    app = hanging_and_fast(push_app, write_post, receiver)
    before = sender_threads()
    sending = publish_and_send(app, write_post)
    try:
        receiver.wait(lambda: len(receiver.at("/fast")) == 8)
        deadline = time.monotonic() + 10
        while sender_threads() > before + 2 and time.monotonic() < deadline:
            time.sleep(0.02)
        assert sender_threads() == before + 2  # the two sends to /hang, nothing idle
        assert len(receiver.at("/hang")) == 2
    finally:
        receiver.release.set()
        sending.join(90)
    assert not sending.is_alive()
    assert len(receiver.at("/hang")) == 8  # the next claims started threads again


def test_a_send_run_does_not_wait_for_a_hanging_target_at_its_deadline(push_app: Callable[..., Flask],
                                                                       write_post: Callable[..., Path],
                                                                       receiver: Receiver) -> None:
    """The send job's run ends at its budget without waiting for sends still in flight: the
    next run records them. Waiting stopped this process claiming for up to the 10 s send
    timeout whenever a hanging target held a slot, so an edit waited behind it."""
    app = hanging_and_fast(push_app, write_post, receiver)
    notifier = app.extensions["feedsvc.notify"]
    attempts = schema.attempts
    try:
        write_post("b.md", title="B", date="2024-02-01 10:00:00")
        app.extensions["feedsvc"].reload()
        notifier.run_once(budget=1.0)
        receiver.wait(lambda: len(receiver.at("/hang")) == 1 and len(receiver.at("/fast")) == 1)
        with notifier.engine.connect() as conn:  # the hanging send is still open: not waited for
            assert conn.execute(sa.select(sa.func.count()).select_from(attempts)).scalar() == 1
        write_post("c.md", title="C", date="2024-02-02 10:00:00")
        app.extensions["feedsvc"].reload()
        notifier.run_once(budget=1.0)  # claims the edit while the first run's send still hangs
        receiver.wait(lambda: len(receiver.at("/fast")) == 2)
        assert len(receiver.at("/hang")) == 2
    finally:
        receiver.release.set()
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        notifier.run_once(budget=1.0)
        with notifier.engine.connect() as conn:
            if conn.execute(sa.select(sa.func.count()).select_from(attempts)).scalar() == 4:
                break
        time.sleep(0.05)
    d = schema.deliveries
    with notifier.engine.connect() as conn:  # every send recorded once, by a later run
        assert conn.execute(sa.select(sa.func.count()).select_from(attempts)).scalar() == 4
        assert {r.status for r in conn.execute(sa.select(d.c.status).where(d.c.kind == "webhook"))} == {"done"}


def test_an_edit_beside_a_burst_is_committed_and_announced_first(push_app: Callable[..., Flask],
                                                                 write_post: Callable[..., Path]) -> None:
    """One scan sees a burst (50 new posts) and an edit: the edit's own transaction commits,
    and wakes the sender, before any of the burst's is written."""
    write_post("a.md", title="A")
    app = push_app(notify_burst=20)
    recorder = app.extensions["feedsvc.notify"].recorder
    at_first_commit: list[list[tuple[str, str]]] = []
    recorder.on_recorded = lambda: at_first_commit.append(post_events(app)) if not at_first_commit else None
    for n in range(50):
        write_post(f"p{n:02d}.md", title=f"P{n}", date=f"2024-02-{n % 28 + 1:02d} 10:00:00")
    write_post("a.md", title="A, edited")
    app.extensions["feedsvc"].reload()
    assert at_first_commit == [[("post.updated", "A, edited")]]
    assert len(post_events(app)) == 51


class BlockedReload:
    """A reload held inside its recording (as a 7,000-post restore holds it for seconds) in a
    thread of its own, until ``release``."""

    def __init__(self, app: Flask) -> None:
        self.service = app.extensions["feedsvc"]
        recorder = self.service.ledger
        self.entered, self.released = threading.Event(), threading.Event()
        real = recorder.observe_posts

        def held(*args: Any) -> None:
            self.entered.set()
            assert self.released.wait(30)
            real(*args)

        recorder.observe_posts = held
        self.thread = threading.Thread(target=self.service.reload)
        self.thread.start()
        assert self.entered.wait(30)

    def release(self) -> None:
        self.released.set()
        self.thread.join(30)
        del self.service.ledger.observe_posts


def test_edits_made_during_a_long_reload_are_pushed_without_waiting_for_it(
        push_app: Callable[..., Flask], write_post: Callable[..., Path], receiver: Receiver) -> None:
    """Issue 8.3: an edit made while a burst's reload still runs is recorded aside (and sent)
    once that reload has run an interval, and published by the next reload, with one event."""
    for name in ("a", "b", "c"):
        write_post(f"{name}.md", title=name.upper(), tags=["x"])
    app = push_app(notify_burst=20, reload_interval=0.01)
    service = app.extensions["feedsvc"]
    add_endpoint(app, receiver.url("/hook"))
    assert service.aside() == 0  # no reload running: nothing to do
    for n in range(50):
        write_post(f"p{n:02d}.md", title=f"P{n}", date=f"2024-02-{n % 28 + 1:02d} 10:00:00")
    write_post("c.md", title="C, in the burst's scan")
    blocked = BlockedReload(app)
    try:
        write_post("a.md", title="A, edited", tags=["x"])  # after the long reload scanned
        write_post("b.md", title="B, retagged", tags=["y"])  # moves to other feeds: waits for the reload
        write_post("c.md", title="C, again")  # the running reload read this file: its business
        time.sleep(0.05)  # the reload has now run longer than its interval (0.01 s)
        assert service.aside() == 1
        assert service.aside() == 0  # seen already
        assert post_events(app) == [("post.updated", "A, edited")]
        assert service.current().index.posts["a.md"].title == "A"  # pushed, not yet published
        app.extensions["feedsvc.notify"].run_once()
        assert [json.loads(r.body)["data"]["title"] for r in receiver.requests] == ["A, edited"]
    finally:
        blocked.release()
    service.reload()
    assert service.current().index.posts["a.md"].title == "A, edited"
    events = post_events(app)
    assert events.count(("post.updated", "A, edited")) == 1  # the reload found it recorded
    assert ("post.updated", "B, retagged") in events and ("post.updated", "C, again") in events
    assert len(events) == 1 + 50 + 1 + 2  # a, the burst, c in the burst's scan, then b and c


def test_no_edit_is_recorded_aside_before_a_reload_has_run_an_interval(
        push_app: Callable[..., Flask], write_post: Callable[..., Path]) -> None:
    write_post("a.md", title="A")
    app = push_app(reload_interval=60)
    write_post("n.md", title="N")
    blocked = BlockedReload(app)
    try:
        write_post("a.md", title="A, edited")
        assert app.extensions["feedsvc"].aside() == 0
    finally:
        blocked.release()
    assert post_events(app) == [("post.published", "N")]


def test_the_scheduler_pushes_an_edit_while_a_long_reload_runs(push_app: Callable[..., Flask], write_post: Callable[..., Path],
                                                               receiver: Receiver) -> None:
    """The same through the real scheduler: its aside job records the edit and wakes the send
    job, and the endpoint gets it while the reload is still held."""
    from feedsvc.app import start_background, stop_background

    write_post("a.md", title="A")
    app = push_app(reload_interval=0.2)
    add_endpoint(app, receiver.url("/hook"))
    write_post("n.md", title="N")
    blocked = BlockedReload(app)
    background = start_background(app)
    try:
        write_post("a.md", title="A, edited")
        deadline = time.monotonic() + 20
        while "A, edited" not in [json.loads(r.body)["data"]["title"] for r in receiver.requests]:
            assert time.monotonic() < deadline, "the edit was not pushed while the reload was held"
            time.sleep(0.05)
        assert app.extensions["feedsvc"].reloading
    finally:
        blocked.release()
        background.scheduler.shutdown(wait=True)  # no reload may outlive the store
        stop_background(app)


def test_post_bodies_are_rendered_before_the_write_lock_is_taken(push_app: Callable[..., Flask], write_post: Callable[..., Path],
                                                                 monkeypatch: Any) -> None:
    """Rendering a burst's 7,000 bodies inside its transactions held SQLite's write lock (the
    recorders' lock on PostgreSQL) for seconds, and an edit in another process waited for all
    of it. Bodies are rendered before each transaction; the events carry the same content."""
    import feedsvc.notify.events as events_module

    write_post("a.md", title="A")
    app = push_app(notify_burst=20)
    add_endpoint(app, "http://127.0.0.1:9/hook")
    recorder = app.extensions["feedsvc.notify"].recorder
    where: list[str] = []
    inside = threading.local()
    real_render, real_add = events_module.render_body, recorder._add_post_events

    def render(*args: Any) -> Any:
        where.append("in transaction" if getattr(inside, "on", False) else "before")
        return real_render(*args)

    def add(*args: Any) -> int:
        inside.on = True
        try:
            return real_add(*args)  # type: ignore[no-any-return]
        finally:
            inside.on = False

    monkeypatch.setattr(events_module, "render_body", render)
    monkeypatch.setattr(recorder, "_add_post_events", add)
    for n in range(50):
        write_post(f"p{n:02d}.md", title=f"P{n}", body=f"Body *{n}*", date=f"2024-02-{n % 28 + 1:02d} 10:00:00")
    write_post("a.md", title="A, edited", body="Edited **body**")
    app.extensions["feedsvc"].reload()
    assert where == ["before"] * 51
    with app.extensions["feedsvc.notify"].engine.connect() as conn:
        bodies = {json.loads(r.body)["data"]["title"]: json.loads(r.body)["data"]["content_html"]
                  for r in conn.execute(sa.select(schema.events.c.body).where(schema.events.c.type.like("post.%")))}
    assert "<strong>body</strong>" in bodies["A, edited"] and "<em>7</em>" in bodies["P7"]


def test_one_process_records_a_burst_the_others_wait_and_render_nothing(
        push_app: Callable[..., Flask], write_post: Callable[..., Path], monkeypatch: Any) -> None:
    """Two processes (two apps on one store) see the same burst at the same time. Both used to
    render every event body and one dropped them all; the second now waits for the burst lock
    and finds the burst recorded."""
    import feedsvc.notify.events as events_module
    import feedsvc.notify.ledger as ledger_module

    write_post("a.md", title="A")
    first, second = push_app(notify_burst=20), push_app(notify_burst=20)
    add_endpoint(first, "http://127.0.0.1:9/hook")
    monkeypatch.setattr(ledger_module, "CHUNK", 10)  # 5 transactions for the burst
    rendered: list[str] = []
    real_render = events_module.render_body
    monkeypatch.setattr(events_module, "render_body", lambda *a: (rendered.append(threading.current_thread().name), real_render(*a))[1])
    recorder = first.extensions["feedsvc.notify"].recorder
    paused, resume = threading.Event(), threading.Event()
    real_ahead, calls = recorder._render_ahead, []

    def ahead(*args: Any) -> Any:
        calls.append(1)
        if len(calls) == 2:  # the first chunk is committed, the burst lock held
            paused.set()
            assert resume.wait(30)
        return real_ahead(*args)

    monkeypatch.setattr(recorder, "_render_ahead", ahead)
    for n in range(50):
        write_post(f"p{n:02d}.md", title=f"P{n}", date=f"2024-02-{n % 28 + 1:02d} 10:00:00")
    one = threading.Thread(target=first.extensions["feedsvc"].reload, name="first")
    one.start()
    assert paused.wait(30)
    two = threading.Thread(target=second.extensions["feedsvc"].reload, name="second")
    two.start()
    two.join(1.0)
    assert two.is_alive()  # waiting for the burst lock
    resume.set()
    one.join(30)
    two.join(30)
    assert rendered.count("first") == 50 and rendered.count("second") == 0
    assert len(post_events(first)) == 50
    assert second.extensions["feedsvc"].current().index.posts.keys() == first.extensions["feedsvc"].current().index.posts.keys()


def test_sender_threads_end_once_nothing_is_due(push_app: Callable[..., Flask], write_post: Callable[..., Path],
                                                receiver: Receiver) -> None:
    """A burst starts every sender thread (FEEDSVC_NOTIFY_CONCURRENCY); once nothing is due or
    in flight they end, instead of idling with their stacks and buffers (worker RSS after a
    backlog), and the next send starts what it needs."""
    write_post("a.md", title="A")
    app = push_app(notify_concurrency=6)
    add_endpoint(app, receiver.url("/hook"))
    for n in range(12):
        write_post(f"p{n:02d}.md", title=f"P{n}", date=f"2024-02-{n + 1:02d} 10:00:00")
    app.extensions["feedsvc"].reload()
    before = sender_threads()
    app.extensions["feedsvc.notify"].run_once()
    assert len(receiver.at("/hook")) == 12
    deadline = time.monotonic() + 10
    while sender_threads() > before and time.monotonic() < deadline:
        time.sleep(0.02)
    assert sender_threads() == before
    write_post("a.md", title="A, edited")
    app.extensions["feedsvc"].reload()
    app.extensions["feedsvc.notify"].run_once()
    assert len(receiver.at("/hook")) == 13


def test_once_a_backlog_is_sent_its_connections_and_garbage_are_released(push_app: Callable[..., Flask],
                                                                        write_post: Callable[..., Path],
                                                                        receiver: Receiver,
                                                                        monkeypatch: Any) -> None:
    """Worker RSS after a backlog (issue 8.3): once RELEASE_AFTER attempts were made and claims
    found nothing due for RELEASE_QUIET, the pooled store connections close (their page caches)
    and a full collection frees what failed sends left in cycles, before the trim; a small run,
    or a moment with nothing to claim, keeps them."""
    monkeypatch.setattr(dispatch, "RELEASE_AFTER", 30)
    full: list[int] = []

    def on_gc(phase: str, info: dict[str, int]) -> None:
        if phase == "stop" and info["generation"] == 2:
            full.append(info["collected"])

    write_post("a.md", title="A")
    app = push_app()
    add_endpoint(app, receiver.url("/hook"))
    notifier = app.extensions["feedsvc.notify"]
    gc.callbacks.append(on_gc)
    try:
        for n in range(10):
            write_post(f"p{n:02d}.md", title=f"P{n}", date=f"2024-02-{n + 1:02d} 10:00:00")
        app.extensions["feedsvc"].reload()
        pool = notifier.engine.pool
        assert notifier.run_once() == 10
        assert notifier.engine.pool is pool and not full  # 10 attempts: the connections are kept
        for n in range(10, 35):
            write_post(f"p{n:02d}.md", title=f"P{n}", date=f"2024-03-{n - 9:02d} 10:00:00")
        app.extensions["feedsvc"].reload()
        assert notifier.run_once() == 25
        assert notifier.engine.pool is pool and not full  # nothing due for less than RELEASE_QUIET: kept
        time.sleep(dispatch.RELEASE_QUIET)
        assert notifier.run_once() == 0
    finally:
        gc.callbacks.remove(on_gc)
    assert len(receiver.at("/hook")) == 35
    assert notifier.engine.pool is not pool  # 35 attempts, then nothing due for a while: disposed of
    assert full  # and a full collection ran
    write_post("a.md", title="A, edited")
    app.extensions["feedsvc"].reload()
    assert notifier.run_once() == 1  # the store reconnects on the next use
    assert len(receiver.at("/hook")) == 36


def test_postgres_planner_statistics_are_refreshed_once_a_burst_is_recorded(pg_url: str, content_dir: Path,
                                                                            write_post: Callable[..., Path],
                                                                            monkeypatch: Any) -> None:
    """PostgreSQL plans a claim from the outbox's statistics, which dated from before a burst:
    planned for a few due rows, each claim read and sorted all of them (a send round ~50 ms
    instead of ~11 ms in bench/burst.py). The recorder runs ANALYZE after a burst; PostgreSQL
    only (SQLite's planner keeps to the index without statistics)."""
    monkeypatch.setattr(ledger, "ANALYZE_AFTER", 20)
    write_post("a.md", title="A")
    app = create_app({"TESTING": True, "CONTENT_DIR": str(content_dir), "SITE_URL": "https://blog.example.org",
                      "BUILD_WORKERS": 1, "DATABASE_URL": pg_url, "ADMIN_TOKEN": ADMIN_TOKEN, "ALLOW_PRIVATE_TARGETS": True})
    try:
        add_endpoint(app, "http://127.0.0.1:9/hook")
        engine = app.extensions["feedsvc.notify"].engine

        def estimated() -> float:
            with engine.connect() as conn:
                return float(conn.execute(sa.text("SELECT reltuples FROM pg_class WHERE oid = 'feedsvc_deliveries'::regclass")).scalar())

        assert estimated() <= 0  # never analyzed (-1), or empty when its indexes were made
        for n in range(30):
            write_post(f"p{n:02d}.md", title=f"P{n}", date=f"2024-02-{n % 28 + 1:02d} 10:00:00")
        app.extensions["feedsvc"].reload()
        assert estimated() == 30  # the 30 deliveries the burst made
    finally:
        app.extensions["feedsvc.notify"].close()


def claimed(app: Flask, limit: int, per_target: int) -> list[tuple[str, str]]:
    """(endpoint id, event type) of the deliveries one claim takes."""
    with app.extensions["feedsvc.notify"].engine.begin() as conn:
        return [(job.endpoint_id or "", json.loads(job.body)["type"]) for job in claim(conn, limit, 30.0, per_target)]


def test_an_edit_is_claimed_before_a_burst_even_where_its_endpoint_has_sends_in_flight(
        push_app: Callable[..., Flask], write_post: Callable[..., Path]) -> None:
    """Ordinary changes before bursts, also when the edit's endpoint already has sends in
    flight: the claim ranked round-robin first, so a burst's deliveries to idle endpoints went
    before an edit to a busy one, round after round (edits claimed up to 4.9 s after they were
    recorded in bench/burst.py)."""
    write_post("a.md", title="A")
    app = push_app(notify_burst=5)
    busy = [add_endpoint(app, f"http://127.0.0.1:9/all-{n}")["id"] for n in range(3)]
    idle = add_endpoint(app, "http://127.0.0.1:9/bursty", tags=["bursty"])["id"]
    for n in range(10):
        write_post(f"p{n:02d}.md", title=f"P{n}", date=f"2024-02-{n + 1:02d} 10:00:00", tags=["bursty"])
    app.extensions["feedsvc"].reload()  # the burst: 10 events to each of the four endpoints
    first = claimed(app, 3, 4)
    assert sorted(e for e, _ in first) == sorted(busy)  # one each, the oldest event's: idle has none in flight
    write_post("a.md", title="A, edited")  # no tag: the three busy endpoints only
    app.extensions["feedsvc"].reload()
    assert claimed(app, 1, 4) == [(busy[0], "post.updated")]  # not the idle endpoint's burst delivery
    assert sorted(claimed(app, 3, 4)) == sorted([(busy[1], "post.updated"), (busy[2], "post.updated"),
                                                 (idle, "post.published")])


def test_a_burst_leaves_each_endpoint_a_slot_for_ordinary_changes(push_app: Callable[..., Flask],
                                                                  write_post: Callable[..., Path]) -> None:
    """With FEEDSVC_NOTIFY_PER_ENDPOINT 2, a burst's deliveries hold at most one of an
    endpoint's slots: an edit gets the other at once, not once the burst's sends are recorded
    as finished (the sending process may be slow to, on a busy SQLite store)."""
    write_post("a.md", title="A")
    app = push_app(notify_burst=5)
    hook = add_endpoint(app, "http://127.0.0.1:9/hook")["id"]
    for n in range(10):
        write_post(f"p{n:02d}.md", title=f"P{n}", date=f"2024-02-{n + 1:02d} 10:00:00")
    app.extensions["feedsvc"].reload()
    assert claimed(app, 10, 2) == [(hook, "post.published")]  # one of two slots
    assert claimed(app, 10, 2) == []
    write_post("a.md", title="A, edited")
    app.extensions["feedsvc"].reload()
    assert claimed(app, 10, 2) == [(hook, "post.updated")]  # the slot left for it
    assert claimed(app, 10, 2) == []  # the cap (2) holds
