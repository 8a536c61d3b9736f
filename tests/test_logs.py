"""Quiet, useful logs (issue 8.8): nothing per idle tick; one line per reload that changed
something; FEEDSVC_LOG_LEVEL=DEBUG shows the scheduler's own lines."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from flask import Flask

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
    caplog.clear()
    run_idle(app, 1.5)
    assert [r.getMessage() for r in caplog.records] == []


def test_one_line_per_reload_that_changed_something(make_app: Callable[..., Flask], write_post: Callable[..., Path],
                                                    caplog: pytest.LogCaptureFixture) -> None:
    write_post("a.md", title="A")
    app = make_app(reload_interval=0.1, notify_poll_seconds=0.1)
    caplog.set_level(logging.INFO)
    caplog.clear()
    write_post("a.md", title="A, edited")
    app.extensions["feedsvc"].reload()
    app.extensions["feedsvc"].reload()  # nothing changed: nothing logged
    lines = [r.getMessage() for r in caplog.records if r.name.startswith("feedsvc.service")]
    assert len(lines) == 1 and lines[0].startswith("reload 2:")


def test_debug_shows_the_scheduler(make_app: Callable[..., Flask], write_post: Callable[..., Path],
                                   caplog: pytest.LogCaptureFixture) -> None:
    write_post("a.md", title="A")
    app = make_app(reload_interval=0.1, log_level="DEBUG")
    caplog.set_level(logging.DEBUG)
    run_idle(app, 0.6)
    assert any(r.name.startswith("apscheduler") for r in caplog.records)
