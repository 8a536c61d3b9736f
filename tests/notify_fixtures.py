"""Fixtures for the push tests: a real HTTP receiver on loopback (pytest-httpserver), a real
PostgreSQL schema per test (skipped with the reason when the server is unreachable), and
helpers that drive an app's reload and send job in-process.

Loaded as a plugin (``pytest_plugins`` in conftest.py); test modules import only the names
they use (``Receiver``, ``pump`` ...).
"""

from __future__ import annotations

import os
import re
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from flask import Flask
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

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
    """pytest-httpserver's HTTPServer on 127.0.0.1, threaded (a hanging handler holds only its
    own request), recording every request as it arrives. Each path answers from its script
    (a list of replies or callables, the last one repeating); default 200 "ok"."""

    def __init__(self) -> None:
        self.requests: list[Received] = []
        self.scripts: dict[str, list[Reply | Callable[[Received], Reply]]] = {}
        self.cond = threading.Condition()
        self.release = threading.Event()  # unblocks handlers that hang
        self.server = HTTPServer(host="127.0.0.1", port=0, threaded=True)
        self.server.expect_request(re.compile(".*")).respond_with_handler(self._handle)
        self.server.start()

    @property
    def port(self) -> int:
        return self.server.port

    def url(self, path: str) -> str:
        return self.server.url_for(path)

    def script(self, path: str, *replies: Reply | Callable[[Received], Reply]) -> None:
        with self.cond:
            self.scripts[path] = list(replies)

    def _handle(self, request: Request) -> Response:
        req = Received(request.method, request.path, dict(request.args.items()),
                       {k.lower(): v for k, v in request.headers.items()}, request.get_data())
        with self.cond:
            self.requests.append(req)
            self.cond.notify_all()
            script = self.scripts.get(req.path)
            step = (script.pop(0) if len(script) > 1 else script[0]) if script else (200, {}, b"ok")
        status, headers, data = step(req) if callable(step) else step  # outside the lock: it may hang
        return Response(data, status=status, headers=headers)

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
        self.server.stop()
        self.server.check_handler_errors()


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


def add_endpoint(app: Flask, url: str, **fields: Any) -> dict[str, Any]:
    """Register a webhook endpoint through the admin API (``fields``: tags, events ...)."""
    response = app.test_client().post("/api/webhooks", json={"url": url, **fields}, headers=auth())
    assert response.status_code == 201, response.data
    return response.get_json()
