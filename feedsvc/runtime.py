"""Process life cycle: start the background work of a serving process after the fork."""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from typing import Any

from flask import Flask

logger = logging.getLogger(__name__)


def start_background(app: Flask) -> None:
    """Start this process's scheduler once (idempotent per process id)."""
    state = app.extensions.get("feedsvc.runtime")
    if state is not None and state.get("pid") == os.getpid():
        return
    app.extensions["feedsvc.runtime"] = {"pid": os.getpid()}


def stop_background(app: Flask) -> None:
    app.extensions.pop("feedsvc.runtime", None)


def gunicorn_hooks() -> dict[str, Callable[..., Any]]:
    """post_worker_init starts the worker's scheduler; worker_exit stops it."""

    def post_worker_init(worker: Any) -> None:
        start_background(worker.wsgi)

    def worker_exit(server: Any, worker: Any) -> None:
        wsgi = getattr(worker, "wsgi", None)
        if isinstance(wsgi, Flask):
            stop_background(wsgi)

    return {"post_worker_init": post_worker_init, "worker_exit": worker_exit}
