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


@pytest.mark.parametrize("headers", [
    {"If-Modified-Since": "Thu, 01 Jan 99999999999999999999999 00:00:00 GMT"},
    {"If-Unmodified-Since": "Thu, 01 Jan 2099 00:00:00 +99999999999999999999"},
    {"If-None-Match": "*", "If-Modified-Since": "Thu, 01 Jan 99999999999999999999999 00:00:00 GMT"},
])
def test_an_http_date_too_large_for_a_datetime_is_ignored(push_app: Callable[..., Flask], write_post: Callable[..., Path],
                                                          headers: dict[str, str]) -> None:
    """werkzeug's date parser lets OverflowError through: it was a 500 on every document.
    RFC 9110 13.1.3/13.1.4: a field that is not a valid HTTP-date is ignored."""
    write_post("a.md", title="A")
    client = push_app().test_client()
    for path in ("/rss.xml", "/", "/feed.css"):
        response = client.get(path, headers=headers)
        assert response.status_code == (304 if "If-None-Match" in headers else 200), (path, response.data[:200])


def test_a_lone_surrogate_in_admin_json_is_400(push_app: Callable[..., Flask]) -> None:
    """Valid JSON (RFC 8259 8.2 allows "\\ud800"), but not text the store can keep: was a 500."""
    client = push_app().test_client()
    for body in ('{"url": "http://127.0.0.1:9/h", "description": "\\ud800"}', '{"url": "http://127.0.0.1:9/h", "tags": ["\\udfff"]}'):
        plain_4xx(client.post("/api/webhooks", data=body, content_type="application/json", headers=auth()), 400)


def test_unknown_fields_get_a_short_message(push_app: Callable[..., Flask]) -> None:
    body = {"url": "http://127.0.0.1:9/h", **{f"k{n:05d}": 1 for n in range(60000)}}
    response = push_app().test_client().post("/api/webhooks", json=body, headers=auth())
    plain_4xx(response, 400)
    assert len(response.data) < 300 and b"59995 more" in response.data, response.data[:300]


POST_WEBSUB = b"POST /websub HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\n"


@pytest.mark.parametrize("body", [
    b"Transfer-Encoding: chunked\r\n\r\nzz\r\n",  # not a chunk size
    b"Transfer-Encoding: chunked\r\n\r\n2\r\nab\r\n0\r\nContent-Length: 5\r\n\r\n",  # a forbidden trailer
])
def test_a_body_the_server_cannot_read_is_400(gunicorn_factory: Callable[..., GunicornServer], content_dir: Path,
                                              write_post: Callable[..., Path], body: bytes) -> None:
    """gunicorn raises from its body reader (InvalidChunkSize, InvalidHeaderName) while a view
    parses the form: it was a 500 with a traceback in the log."""
    write_post("a.md")
    server = gunicorn_factory(content_dir)
    answer = raw(server, POST_WEBSUB + b"Connection: close\r\n" + body)
    head, _, text = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 400"), answer[:300]
    assert b"text/plain" in head and text.startswith(b"400 Bad Request: The request body could not be read")
    assert b"Traceback" not in server.log_path.read_bytes()


def test_a_chunked_body_over_the_limit_is_413(gunicorn_factory: Callable[..., GunicornServer], content_dir: Path,
                                              write_post: Callable[..., Path]) -> None:
    """A chunked body has no Content-Length to refuse at once; werkzeug cut it at
    FEEDSVC_MAX_REQUEST_BYTES without a word, and the view parsed the first part."""
    write_post("a.md")
    server = gunicorn_factory(content_dir, env={"FEEDSVC_MAX_REQUEST_BYTES": "4096"})
    chunk = b"hub.mode=subscribe&" + b"x" * 8000
    answer = raw(server, POST_WEBSUB + b"Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
                 + f"{len(chunk):x}".encode() + b"\r\n" + chunk + b"\r\n0\r\n\r\n")
    assert answer.startswith(b"HTTP/1.1 413"), answer[:300]
    exact = b"hub.mode=subscribe&" + b"x" * (4096 - 19)  # exactly the limit: read, and refused on its merits
    answer = raw(server, POST_WEBSUB + b"Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
                 + f"{len(exact):x}".encode() + b"\r\n" + exact + b"\r\n0\r\n\r\n")
    assert answer.startswith(b"HTTP/1.1 400") and b"could not be read" not in answer, answer[:300]


def test_a_body_shorter_than_its_content_length_is_400(gunicorn_factory: Callable[..., GunicornServer], content_dir: Path,
                                                       write_post: Callable[..., Path]) -> None:
    """RFC 9112 6.3: a connection closed before Content-Length bytes is an incomplete message;
    the API created an endpoint from the part it got."""
    write_post("a.md")
    server = gunicorn_factory(content_dir, env={"FEEDSVC_ADMIN_TOKEN": "t0ken", "FEEDSVC_ALLOW_PRIVATE_TARGETS": "1"})
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(b"POST /api/webhooks HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer t0ken\r\nContent-Type: application/json\r\n"
                     b"Content-Length: 500\r\nConnection: close\r\n\r\n" + b'{"url": "http://127.0.0.1:9/h"}')
        sock.shutdown(socket.SHUT_WR)
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    assert answer.startswith(b"HTTP/1.1 400"), answer[:300]
    assert b"text/plain" in answer
