"""Issue 8.4: the store stays bounded. A topic's document is stored only when a subscriber
will get it; delivered, failed and cancelled rows are pruned after FEEDSVC_RETENTION_DAYS,
and the delivery log keeps answering for the rows within that window."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import sqlalchemy as sa
from flask import Flask
from notify_fixtures import Receiver, auth, echo_challenge, pump

from feedsvc.notify import schema

TOPIC = "https://blog.example.org/atom.xml"


def topic_bodies(app: Flask) -> dict[str, int]:
    events = schema.events
    with app.extensions["feedsvc.notify"].engine.connect() as conn:
        rows = conn.execute(sa.select(events.c.subject, events.c.body).where(events.c.type == "topic.changed")).all()
    return {r.subject: len(r.body) for r in rows}


def test_topic_bodies_only_for_subscribers(push_app: Callable[..., Flask], write_post: Callable[..., Path],
                                           receiver: Receiver) -> None:
    write_post("a.md", title="A")
    app = push_app()
    for n in range(3):
        write_post("a.md", title=f"A, edit {n}")
        app.extensions["feedsvc"].reload()
    assert topic_bodies(app) == {}  # nobody subscribed: no document stored
    receiver.script("/sub", lambda req: echo_challenge(req) if req.method == "GET" else (200, {}, b"ok"))
    form = {"hub.mode": "subscribe", "hub.topic": TOPIC, "hub.callback": receiver.url("/sub")}
    assert app.test_client().post("/websub", data=form).status_code == 202
    pump(app, lambda: bool(receiver.at("/sub", "GET")))
    write_post("a.md", title="A, subscribed")
    pump(app, lambda: bool(receiver.at("/sub", "POST")))
    bodies = topic_bodies(app)
    assert list(bodies) == [TOPIC] and bodies[TOPIC] > 0


def test_old_rows_are_pruned_and_recent_ones_kept(push_app: Callable[..., Flask], write_post: Callable[..., Path],
                                                  receiver: Receiver) -> None:
    path = write_post("a.md", title="A")
    write_post("k.md", title="Keep")
    app = push_app(retention_days=2)
    notifier = app.extensions["feedsvc.notify"]
    endpoint = app.test_client().post("/api/webhooks", json={"url": receiver.url("/hook")}, headers=auth()).get_json()
    write_post("b.md", title="B")
    pump(app, lambda: len(receiver.at("/hook")) == 1)
    path.unlink()
    pump(app, lambda: len(receiver.at("/hook")) == 2)
    d, e, cs = schema.deliveries, schema.events, schema.content_state
    with notifier.engine.begin() as conn:
        old_delivery, recent_delivery = conn.execute(sa.select(d.c.id, d.c.event_id).order_by(d.c.id)).all()
        three_days_ago = time.time() - 3 * 86400
        conn.execute(sa.update(d).where(d.c.id == old_delivery.id).values(finished_at=three_days_ago, created_at=three_days_ago))
        conn.execute(sa.update(e).where(e.c.id == old_delivery.event_id).values(created_at=three_days_ago))
        conn.execute(sa.update(cs).where(cs.c.hash == "").values(updated_at=three_days_ago))  # A's tombstone
    notifier.housekeeping()
    with notifier.engine.connect() as conn:
        assert conn.execute(sa.select(d.c.id)).scalars().all() == [recent_delivery.id]
        assert conn.execute(sa.select(e.c.id).where(e.c.type.like("post.%"))).scalars().all() == [recent_delivery.event_id]
        assert conn.execute(sa.select(sa.func.count()).select_from(schema.attempts)).scalar_one() == 1
        assert conn.execute(sa.select(sa.func.count()).select_from(cs).where(cs.c.hash == "")).scalar_one() == 0
    log = app.test_client().get(f"/api/webhooks/{endpoint['id']}/deliveries", headers=auth()).get_json()["deliveries"]
    assert [(x["id"], x["type"], x["status"]) for x in log] == [(recent_delivery.id, "post.deleted", "done")]
