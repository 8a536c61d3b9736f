"""Quiet, useful logs (issue 8.8): nothing per idle tick; one line per reload that changed
something; FEEDSVC_LOG_LEVEL=DEBUG shows the scheduler's own lines."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from flask import Flask
from notify_fixtures import Receiver, auth, pump

from feedsvc.app import start_background, stop_background


def run_idle(app: Flask, seconds: float) -> None:
    start_background(app)
    try:
        time.sleep(seconds)  # idle on purpose: the scheduler ticks (reload 0.1 s, push 0.1 s)
    finally:
        stop_background(app)


def test_idle_ticks_write_nothing(make_app: Callable[..., Flask], write_post: Callable[..., Path],
                                  caplog: pytest.LogCaptureFixture) -> None:
    write_post("a.md", title="A")
    app = make_app(reload_interval=0.1, notify_poll_seconds=0.1)
    caplog.set_level(logging.INFO)
    caplog.set_level(logging.INFO, logger="feedsvc")
    caplog.clear()
    run_idle(app, 1.5)
    assert [r.getMessage() for r in caplog.records] == []


def test_one_line_per_reload_that_changed_something(make_app: Callable[..., Flask], write_post: Callable[..., Path],
                                                    caplog: pytest.LogCaptureFixture) -> None:
    write_post("a.md", title="A")
    app = make_app(reload_interval=0.1, notify_poll_seconds=0.1)
    caplog.set_level(logging.INFO)
    caplog.set_level(logging.INFO, logger="feedsvc")  # `feedsvc check` (another test) raises it to ERROR
    caplog.clear()
    write_post("a.md", title="A, edited")
    app.extensions["feedsvc"].reload()
    app.extensions["feedsvc"].reload()  # nothing changed: nothing logged
    here = threading.get_ident()  # other tests' schedulers may still be winding down
    lines = [r.getMessage() for r in caplog.records if r.name.startswith("feedsvc.service") and r.thread == here]
    assert len(lines) == 1 and lines[0].startswith("reload 2:")


def test_debug_shows_the_scheduler(make_app: Callable[..., Flask], write_post: Callable[..., Path],
                                   caplog: pytest.LogCaptureFixture) -> None:
    write_post("a.md", title="A")
    app = make_app(reload_interval=0.1, log_level="DEBUG")
    caplog.set_level(logging.DEBUG)
    run_idle(app, 0.6)
    assert any(r.name.startswith("apscheduler") for r in caplog.records)


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_push_logs_only_failures(push_app: Callable[..., Flask], write_post: Callable[..., Path],
                                 receiver: Receiver, caplog: pytest.LogCaptureFixture) -> None:
    """A delivered webhook writes nothing at INFO; a delivery that fails for good writes one
    WARNING naming the endpoint's origin (never its query, which may hold a token)."""
    write_post("a.md", title="A")
    app = push_app(retry_schedule="0")
    client = app.test_client()
    for path in ("/ok", "/broken?token=s3cret"):
        assert client.post("/api/webhooks", json={"url": receiver.url(path)}, headers=auth()).status_code == 201
    receiver.script("/broken", (500, {}, b"no"))
    caplog.set_level(logging.INFO)
    caplog.set_level(logging.INFO, logger="feedsvc")
    caplog.clear()
    write_post("b.md", title="B")
    pump(app, lambda: len(receiver.at("/ok")) == 1 and len(receiver.at("/broken")) == 2)
    app.extensions["feedsvc.notify"].run_once(budget=2)
    notify_lines = [r for r in caplog.records if r.name.startswith("feedsvc.notify")]
    assert [r.levelno for r in notify_lines] == [logging.WARNING], [r.getMessage() for r in notify_lines]
    assert "s3cret" not in notify_lines[0].getMessage() and "-> failed" in notify_lines[0].getMessage()
