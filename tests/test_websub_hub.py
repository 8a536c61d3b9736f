"""The built-in WebSub hub (W3C WebSub Recommendation) with a real subscriber on loopback:
subscribe, verification of intent, authenticated content distribution, unsubscribe; leases,
410, refused callbacks, rate limiting, external hub pings, and the publisher's links."""

from __future__ import annotations

import hashlib
import hmac
import logging
from collections.abc import Callable
from pathlib import Path
from urllib.parse import parse_qs

import pytest
import sqlalchemy as sa
from flask import Flask
from lxml import etree
from notify_fixtures import Received, Receiver, Reply, echo_challenge, pump

from feedsvc.notify import schema

SITE = "https://blog.example.org"
TOPIC = f"{SITE}/atom.xml"
HUB = f"{SITE}/websub"


def subscriber(req: Received) -> Reply:
    return echo_challenge(req) if req.method == "GET" else (200, {}, b"thanks")


def subscribe(app: Flask, callback: str, mode: str = "subscribe", **extra: str) -> tuple[int, str]:
    form = {"hub.mode": mode, "hub.topic": TOPIC, "hub.callback": callback, **extra}
    response = app.test_client().post("/websub", data=form)
    return response.status_code, response.get_data(as_text=True)


def subscriptions(app: Flask) -> list[tuple[str, str]]:
    with app.extensions["feedsvc.notify"].engine.connect() as conn:
        return [(r.topic, r.callback) for r in conn.execute(sa.select(schema.subscriptions))]


def test_subscribe_verify_distribute_unsubscribe(push_app: Callable[..., Flask], write_post: Callable[..., Path],
                                                 receiver: Receiver, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    write_post("a.md", title="First")
    app = push_app()
    callback = receiver.url("/sub?id=7")
    receiver.script("/sub", subscriber)
    assert subscribe(app, callback, **{"hub.secret": "s3cret-value"})[0] == 202
    pump(app, lambda: bool(receiver.at("/sub", "GET")))
    check = receiver.at("/sub", "GET")[0]
    assert check.query["hub.mode"] == "subscribe" and check.query["hub.topic"] == TOPIC
    assert check.query["id"] == "7" and check.query["hub.lease_seconds"] == str(10 * 86400)
    assert subscriptions(app) == [(TOPIC, callback)]

    write_post("b.md", title="Second")
    pump(app, lambda: bool(receiver.at("/sub", "POST")))
    [push] = receiver.at("/sub", "POST")
    snapshot = app.extensions["feedsvc"].current()
    atom = next(doc for (key, fmt), doc in snapshot.documents.items() if key.kind == "site" and fmt == "atom")
    assert push.body == atom.body and push.headers["content-type"] == atom.content_type
    expected = "sha256=" + hmac.new(b"s3cret-value", push.body, hashlib.sha256).hexdigest()
    assert hmac.compare_digest(push.headers["x-hub-signature"], expected)
    assert f'<{HUB}>; rel="hub"' in push.headers["link"] and f'<{TOPIC}>; rel="self"' in push.headers["link"]
    assert b"Second" in push.body

    assert subscribe(app, callback, mode="unsubscribe")[0] == 202
    pump(app, lambda: len(receiver.at("/sub", "GET")) == 2)
    assert receiver.at("/sub", "GET")[1].query["hub.mode"] == "unsubscribe"
    assert subscriptions(app) == []
    write_post("c.md", title="Third")
    pump(app, lambda: True)
    assert len(receiver.at("/sub", "POST")) == 1
    assert "s3cret-value" not in caplog.text


def test_unconfirmed_intent_makes_no_subscription(push_app: Callable[..., Flask], write_post: Callable[..., Path],
                                                  receiver: Receiver) -> None:
    write_post("a.md", title="First")
    app = push_app()
    receiver.script("/liar", (200, {}, b"not the challenge"))
    receiver.script("/refuser", (404, {}, b"no"))
    assert subscribe(app, receiver.url("/liar"))[0] == 202
    assert subscribe(app, receiver.url("/refuser"))[0] == 202
    pump(app, lambda: bool(receiver.at("/liar")) and bool(receiver.at("/refuser")))
    app.extensions["feedsvc.notify"].run_once()
    assert subscriptions(app) == []
    assert len(receiver.at("/refuser")) == 1  # an answered refusal is not retried


def test_410_ends_the_subscription(push_app: Callable[..., Flask], write_post: Callable[..., Path], receiver: Receiver) -> None:
    write_post("a.md", title="First")
    app = push_app()
    receiver.script("/sub", lambda r: echo_challenge(r) if r.method == "GET" else (410, {}, b"gone"))
    subscribe(app, receiver.url("/sub"))
    pump(app, lambda: subscriptions(app) != [])
    write_post("b.md", title="Second")
    pump(app, lambda: bool(receiver.at("/sub", "POST")))
    assert subscriptions(app) == []


def test_failed_distribution_retries(push_app: Callable[..., Flask], write_post: Callable[..., Path], receiver: Receiver) -> None:
    write_post("a.md", title="First")
    app = push_app(retry_schedule="0,0")
    replies = [(500, {}, b"oops"), (200, {}, b"ok")]
    receiver.script("/sub", lambda r: echo_challenge(r) if r.method == "GET" else replies.pop(0) if len(replies) > 1 else replies[0])
    subscribe(app, receiver.url("/sub"))
    pump(app, lambda: subscriptions(app) != [])
    write_post("b.md", title="Second")
    pump(app, lambda: len(receiver.at("/sub", "POST")) == 2)
    first, second = receiver.at("/sub", "POST")
    assert first.body == second.body


def test_expired_leases_get_nothing(push_app: Callable[..., Flask], write_post: Callable[..., Path], receiver: Receiver) -> None:
    write_post("a.md", title="First")
    app = push_app()
    receiver.script("/sub", subscriber)
    subscribe(app, receiver.url("/sub"), **{"hub.lease_seconds": "5"})  # raised to the 60 s minimum
    pump(app, lambda: subscriptions(app) != [])
    assert receiver.at("/sub", "GET")[0].query["hub.lease_seconds"] == "60"
    notifier = app.extensions["feedsvc.notify"]
    with notifier.engine.begin() as conn:
        conn.execute(sa.update(schema.subscriptions).values(expires_at=0))
    write_post("b.md", title="Second")
    pump(app, lambda: True)
    notifier.run_once()
    assert receiver.at("/sub", "POST") == []
    notifier.housekeeping()
    assert subscriptions(app) == []


@pytest.mark.parametrize(("form", "reason"), [
    ({"hub.mode": "subscribe", "hub.topic": f"{SITE}/nope.xml"}, "hub.topic"),
    ({"hub.mode": "subscribe", "hub.topic": "https://elsewhere.example/atom.xml"}, "hub.topic"),
    ({"hub.mode": "watch"}, "hub.mode"),
    ({"hub.mode": "publish", "hub.url": TOPIC}, "publish"),
    ({"hub.mode": "subscribe", "hub.lease_seconds": "-1"}, "lease"),
    ({"hub.mode": "subscribe", "hub.secret": "x" * 200}, "hub.secret"),
    ({"hub.mode": "subscribe", "hub.callback": "ftp://127.0.0.1/x"}, "hub.callback"),
])
def test_bad_requests_get_400(push_app: Callable[..., Flask], receiver: Receiver, form: dict[str, str], reason: str) -> None:
    app = push_app()
    data = {"hub.topic": TOPIC, "hub.callback": receiver.url("/sub"), **form}
    response = app.test_client().post("/websub", data=data)
    assert response.status_code == 400 and reason in response.get_data(as_text=True)
    assert response.content_type.startswith("text/plain")


@pytest.mark.parametrize("callback", ["http://127.0.0.1:9/cb", "http://2130706433/cb", "http://0x7f.1/cb",
                                      "http://[::ffff:127.0.0.1]/cb", "http://10.1.2.3/cb", "http://169.254.169.254/",
                                      "http://100.64.0.1/", "http://[fd00::1]/", "http://localhost/cb"])
def test_private_callbacks_are_refused(push_app: Callable[..., Flask], callback: str) -> None:
    app = push_app(allow_private_targets=False)
    status, text = subscribe(app, callback)
    assert status == 400 and "refused" in text


def test_subscription_requests_are_rate_limited(push_app: Callable[..., Flask], receiver: Receiver) -> None:
    app = push_app(websub_rate_limit=2)
    assert [subscribe(app, receiver.url(f"/s{n}"))[0] for n in range(3)] == [202, 202, 429]
    response = app.test_client().post("/websub", data={"hub.mode": "subscribe"})
    assert response.status_code == 429 and int(response.headers["Retry-After"]) > 0


def test_external_hubs_are_advertised_and_pinged(push_app: Callable[..., Flask], write_post: Callable[..., Path],
                                                 receiver: Receiver) -> None:
    write_post("a.md", title="First")
    external = receiver.url("/hub")
    app = push_app(websub_hubs=external)
    response = app.test_client().get("/rss.xml")
    assert response.headers.getlist("Link") == [f'<{HUB}>; rel="hub"', f'<{external}>; rel="hub"', f'<{SITE}/rss.xml>; rel="self"']
    write_post("b.md", title="Second")
    pump(app, lambda: len(receiver.at("/hub")) >= 3)
    pinged = {parse_qs(r.body.decode())["hub.url"][0] for r in receiver.at("/hub")}
    assert pinged == {f"{SITE}/rss.xml", f"{SITE}/atom.xml", f"{SITE}/feed.json"}
    assert all(parse_qs(r.body.decode())["hub.mode"] == ["publish"] for r in receiver.at("/hub"))


@pytest.mark.parametrize("path", ["/rss.xml", "/atom.xml", "/feed.json"])
def test_feed_responses_and_documents_carry_hub_and_self(push_app: Callable[..., Flask], write_post: Callable[..., Path],
                                                         path: str) -> None:
    write_post("a.md", title="First", tags=["x"])
    client = push_app().test_client()
    for tag_path in (path, f"/tags/x{path}"):
        expected = [f'<{HUB}>; rel="hub"', f'<{SITE}{tag_path}>; rel="self"']
        full = client.get(tag_path)
        assert full.headers.getlist("Link") == expected
        assert client.head(tag_path).headers.getlist("Link") == expected
        cached = client.get(tag_path, headers={"If-None-Match": full.headers["ETag"]})
        assert cached.status_code == 304 and cached.headers.getlist("Link") == expected
        if path == "/feed.json":
            assert full.get_json()["hubs"] == [{"type": "WebSub", "url": HUB}]
        else:
            links = etree.fromstring(full.data).iter("{http://www.w3.org/2005/Atom}link")
            rels = {(link.get("rel"), link.get("href")) for link in links}
            assert ("hub", HUB) in rels and ("self", f"{SITE}{tag_path}") in rels
