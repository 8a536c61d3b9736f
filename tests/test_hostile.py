"""Hostile requests get a short 4xx, never a 500 or a stuck worker (issue 8.5): odd digits,
huge ids, deep JSON, non-ASCII and embedded-IPv4 targets, oversized bodies, gunicorn's own
errors, and a bad outbox row that must fail only its own send."""

from __future__ import annotations

import socket
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import sqlalchemy as sa
from conftest import GunicornServer
from flask import Flask
from notify_fixtures import Receiver, auth, pump

from feedsvc.notify import schema
from feedsvc.notify.outbox import Delivery, Kind, enqueue
from feedsvc.notify.sender import TargetError, resolve

TOPIC = "https://blog.example.org/rss.xml"


@pytest.fixture
def db_url(tmp_path: Path) -> str:
    """SQLite only: these are request checks, not store checks."""
    return f"sqlite:///{tmp_path / 'hostile.sqlite'}"


def plain_4xx(response: object, code: int) -> None:
    assert response.status_code == code, response.data  # type: ignore[attr-defined]
    assert response.content_type.startswith("text/plain")  # type: ignore[attr-defined]
    assert b"Traceback" not in response.data  # type: ignore[attr-defined]


@pytest.mark.parametrize("lease", ["²", "١٢٣", "-5", "1e3", "9" * 40, " 5"])
def test_odd_lease_seconds_are_400(push_app: Callable[..., Flask], write_post: Callable[..., Path], lease: str) -> None:
    write_post("a.md")
    app = push_app()
    response = app.test_client().post("/websub", data={"hub.mode": "subscribe", "hub.topic": TOPIC,
                                                       "hub.callback": "http://127.0.0.1:9/cb", "hub.lease_seconds": lease})
    plain_4xx(response, 400)


@pytest.mark.parametrize("limit", ["²", "١", "0", "1001", "99999999999999999999"])
def test_odd_delivery_log_limits_are_400(push_app: Callable[..., Flask], receiver: Receiver, limit: str) -> None:
    client = push_app().test_client()
    endpoint = client.post("/api/webhooks", json={"url": receiver.url("/h")}, headers=auth()).get_json()
    plain_4xx(client.get(f"/api/webhooks/{endpoint['id']}/deliveries?limit={limit}", headers=auth()), 400)


@pytest.mark.parametrize("delivery", ["99999999999999999999", str(2**63), "-1", "١"])
def test_huge_or_odd_delivery_ids_are_404(push_app: Callable[..., Flask], receiver: Receiver, delivery: str) -> None:
    client = push_app().test_client()
    endpoint = client.post("/api/webhooks", json={"url": receiver.url("/h")}, headers=auth()).get_json()
    plain_4xx(client.post(f"/api/webhooks/{endpoint['id']}/deliveries/{delivery}/redeliver", headers=auth()), 404)


def test_deeply_nested_json_is_400(push_app: Callable[..., Flask]) -> None:
    body = "[" * 100_000 + "]" * 100_000
    response = push_app().test_client().post("/api/webhooks", data=body, content_type="application/json", headers=auth())
    plain_4xx(response, 400)


@pytest.mark.parametrize("callback", ["http://127.0.0.1:9/cb?x=١٢٣", "http://127.0.0.1:9/c b", "http://127.0.0.1:9/cb\r\nX: y",
                                      "http://bücher.example/cb"])
def test_non_ascii_or_control_callbacks_are_refused(push_app: Callable[..., Flask], write_post: Callable[..., Path],
                                                    callback: str) -> None:
    write_post("a.md")
    response = push_app().test_client().post("/websub", data={"hub.mode": "subscribe", "hub.topic": TOPIC,
                                                              "hub.callback": callback})
    plain_4xx(response, 400)
    assert b"ASCII" in response.data


def test_one_bad_outbox_row_fails_only_its_own_send(push_app: Callable[..., Flask], write_post: Callable[..., Path],
                                                    receiver: Receiver) -> None:
    """A row written before the check existed (a non-ASCII callback) must not stop the job:
    the good delivery claimed in the same run is sent, the bad one fails alone."""
    write_post("a.md")
    app = push_app()
    notifier = app.extensions["feedsvc.notify"]
    with notifier.engine.begin() as conn:
        params = {"mode": "subscribe", "topic": TOPIC, "lease_seconds": 600, "secret": None}
        enqueue(conn, [Delivery(Kind.VERIFY, "http://127.0.0.1:9/cb?x=١٢٣", params={**params, "callback": "x"}),
                       Delivery(Kind.VERIFY, receiver.url("/good"), params={**params, "callback": receiver.url("/good")})])
    pump(app, lambda: len(receiver.at("/good")) == 1)
    with notifier.engine.connect() as conn:
        rows = {r.url: r for r in conn.execute(sa.select(schema.deliveries))}
    bad = rows["http://127.0.0.1:9/cb?x=١٢٣"]
    assert bad.tries >= 1 and bad.last_error


@pytest.mark.parametrize("url", ["http://[2002:7f00:1::1]/", "http://[2002:a00:1::1]/", "http://[2001:0:7f00:1::1]/",
                                 "http://[64:ff9b:1::808:808]/", "http://[::7f00:1]/", "http://[::ffff:0:7f00:1]/",
                                 "http://[2001:4860::5efe:a00:1]/"])
def test_embedded_ipv4_forms_are_refused(url: str) -> None:
    with pytest.raises(TargetError):
        resolve(url, allow_private=False)


def test_6to4_webhook_url_is_refused_by_the_api(push_app: Callable[..., Flask]) -> None:
    client = push_app(allow_private_targets=False).test_client()
    plain_4xx(client.post("/api/webhooks", json={"url": "http://[2002:7f00:1::1]/"}, headers=auth()), 400)


@pytest.mark.parametrize("url", ["http://[2002:808:808::1]/", "http://[64:ff9b::808:808]/", "http://[::ffff:8.8.8.8]/"])
def test_embedded_public_ipv4_passes(url: str) -> None:
    resolve(url, allow_private=False)


def test_oversized_body_is_413_in_process(push_app: Callable[..., Flask]) -> None:
    client = push_app(max_request_bytes=1000).test_client()
    response = client.post("/websub", data={"hub.mode": "subscribe", "hub.callback": "x" * 5000})
    plain_4xx(response, 413)
    assert response.headers["Connection"] == "close"


def test_x_gzip_gets_gzip(push_app: Callable[..., Flask], write_post: Callable[..., Path]) -> None:
    write_post("a.md")
    response = push_app().test_client().get("/rss.xml", headers={"Accept-Encoding": "x-gzip"})
    assert response.headers["Content-Encoding"] == "gzip" and response.data[:2] == b"\x1f\x8b"


# ---------------------------------------------------------------- under gunicorn


def raw(server: GunicornServer, data: bytes, timeout: float = 10) -> bytes:
    with socket.create_connection(("127.0.0.1", server.port), timeout=timeout) as sock:
        sock.sendall(data)
        chunks = []
        while True:
            try:
                chunk = sock.recv(65536)
            except ConnectionResetError:
                break
            if not chunk:
                break
            chunks.append(chunk)
    return b"".join(chunks)


def test_a_300_mb_body_is_refused_at_once(gunicorn_factory: Callable[..., GunicornServer], content_dir: Path,
                                          write_post: Callable[..., Path]) -> None:
    """The 300 MB unauthenticated POST /websub held a worker for ~150 s at 1 GB RSS: now the
    answer is 413 before any of the body is read, and the connection closes."""
    write_post("a.md")
    server = gunicorn_factory(content_dir, args=("-k", "feedsvc.server.PlainErrorWorker"))
    started = time.monotonic()
    answer = raw(server, b"POST /websub HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\n"
                         b"Content-Length: 300000000\r\n\r\nhub.mode=subscribe&")
    assert answer.startswith(b"HTTP/1.1 413"), answer[:200]
    assert b"text/plain" in answer and time.monotonic() - started < 30  # a bound on a hang, not a speed claim
    assert server.request("GET", "/healthz").status == 200  # the worker is free


@pytest.mark.parametrize(("request_bytes", "code"), [
    (b"GET /" + b"a" * 9000 + b" HTTP/1.1\r\nHost: x\r\n\r\n", b"414"),
    (b"GET / HTTP/1.1\r\nHost: x\r\n" + b"X-Big: " + b"b" * 9000 + b"\r\n\r\n", b"431"),
    (b"GET / HTTP/1.1\r\nHost: x\r\nBad Header: 1\r\n\r\n", b"400"),
])
def test_gunicorn_own_errors_are_plain_text_under_feedsvc_serve(gunicorn_factory: Callable[..., GunicornServer],
                                                                content_dir: Path, request_bytes: bytes, code: bytes) -> None:
    server = gunicorn_factory(content_dir, args=("-k", "feedsvc.server.PlainErrorWorker"))
    answer = raw(server, request_bytes)
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.split(b" ")[1] == code, head
    assert b"Content-Type: text/plain" in head and b"<html" not in body.lower() and body.startswith(code)
