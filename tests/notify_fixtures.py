"""Fixtures for the push tests: a real HTTP receiver on loopback, a real PostgreSQL schema
per test (skipped with the reason when the server is unreachable), and helpers that drive an
app's reload and send job in-process.

Import from the test modules: ``from notify_fixtures import *`` (pytest fixtures by name).
"""

from __future__ import annotations

import os
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from flask import Flask

from feedsvc.app import create_app

PG_BASE = os.environ.get("TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
ADMIN_TOKEN = "test-admin-token-123"
Reply = tuple[int, dict[str, str], bytes]


@dataclass
class Received:
    method: str
    path: str  # without the query
    query: dict[str, str]
    headers: dict[str, str]  # lower-case names
    body: bytes
    at: float = field(default_factory=time.monotonic)


class Receiver:
    """A threaded HTTP server on 127.0.0.1 that records every request. Each path answers from
    its script (a list of replies or callables, the last one repeating); default 200 "ok"."""

    def __init__(self) -> None:
        self.requests: list[Received] = []
        self.scripts: dict[str, list[Reply | Callable[[Received], Reply]]] = {}
        self.cond = threading.Condition()
        self.release = threading.Event()  # unblocks handlers that hang
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _handle(self) -> None:
                parts = urlsplit(self.path)
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                req = Received(self.command, parts.path, {k: v[0] for k, v in parse_qs(parts.query).items()},
                               {k.lower(): v for k, v in self.headers.items()}, body)
                with receiver.cond:
                    receiver.requests.append(req)
                    receiver.cond.notify_all()
                status, headers, data = receiver._reply(req)
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(data)))
                self.send_header("Connection", "close")
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_PUT = _handle  # noqa: N815

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}{path}"

    def script(self, path: str, *replies: Reply | Callable[[Received], Reply]) -> None:
        self.scripts[path] = list(replies)

    def _reply(self, req: Received) -> Reply:
        script = self.scripts.get(req.path)
        if not script:
            return 200, {}, b"ok"
        step = script.pop(0) if len(script) > 1 else script[0]
        return step(req) if callable(step) else step

    def at(self, path: str, method: str | None = None) -> list[Received]:
        with self.cond:
            return [r for r in self.requests if r.path == path and (method is None or r.method == method)]

    def wait(self, predicate: Callable[[], bool], timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        with self.cond:
            while not predicate():
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"timed out; received {[(r.method, r.path) for r in self.requests]}")
                self.cond.wait(min(left, 0.2))

    def close(self) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()


def echo_challenge(req: Received) -> Reply:
    """A WebSub subscriber confirming intent (5.3): echo hub.challenge."""
    return 200, {"Content-Type": "text/plain"}, req.query.get("hub.challenge", "").encode()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    rec = Receiver()
    yield rec
    rec.close()


def _pg_connect() -> Any:
    import psycopg

    try:
        return psycopg.connect(PG_BASE, connect_timeout=3, autocommit=True)
    except psycopg.OperationalError as exc:
        pytest.skip(f"PostgreSQL not reachable at {PG_BASE} (set TEST_POSTGRES_URL): {exc}".splitlines()[0])


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A SQLAlchemy URL on a fresh schema of the test database, dropped afterwards."""
    conn = _pg_connect()
    schema = "feedsvc_t_" + uuid.uuid4().hex[:12]
    conn.execute(f"CREATE SCHEMA {schema}")
    parts = urlsplit(PG_BASE)
    yield f"postgresql+psycopg://{parts.netloc}{parts.path}?options=-csearch_path%3D{schema}"
    conn.execute(f"DROP SCHEMA {schema} CASCADE")
    conn.close()


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Each store test runs on a real SQLite file and on the real PostgreSQL."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'push.sqlite'}"
    return str(request.getfixturevalue("pg_url"))


@pytest.fixture
def push_config(content_dir: Path, db_url: str) -> dict[str, Any]:
    return {
        "TESTING": True,
        "CONTENT_DIR": str(content_dir),
        "SITE_URL": "https://blog.example.org",
        "TITLE": "Test site",
        "BUILD_WORKERS": 1,
        "DATABASE_URL": db_url,
        "ADMIN_TOKEN": ADMIN_TOKEN,
        "ALLOW_PRIVATE_TARGETS": True,
        "RETRY_SCHEDULE": "0,0,0",
    }


@pytest.fixture
def push_app(push_config: dict[str, Any]) -> Iterator[Callable[..., Flask]]:
    """``push_app(**overrides)`` -> an app with the push machinery; closed at teardown."""
    made: list[Flask] = []

    def make(**overrides: Any) -> Flask:
        app = create_app({**push_config, **{k.upper(): v for k, v in overrides.items()}})
        made.append(app)
        return app

    yield make
    for app in made:
        app.extensions["feedsvc.notify"].close()


def pump(app: Flask, until: Callable[[], bool], timeout: float = 20.0) -> None:
    """Reload and run the send job until ``until()`` holds (a deadline, not a sleep)."""
    deadline = time.monotonic() + timeout
    while True:
        app.extensions["feedsvc"].reload()
        app.extensions["feedsvc.notify"].run_once(budget=5)
        if until():
            return
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached")
        time.sleep(0.05)


def auth() -> dict[str, str]:
    return {"Authorization": f"Bearer {ADMIN_TOKEN}"}
