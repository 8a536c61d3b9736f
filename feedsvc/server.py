"""Run the app under gunicorn from ``feedsvc serve``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from gunicorn import util as gunicorn_util
from gunicorn.app.base import BaseApplication
from gunicorn.workers.gthread import ThreadWorker

from .app import create_app
from .runtime import gunicorn_hooks


class FeedsvcApplication(BaseApplication):  # type: ignore[misc]
    """gunicorn with the app built once in the master (preload) and forked into workers;
    each worker rescans and starts its own scheduler right after the fork (Runtime.arm), so
    a worker forked later (SIGHUP, a crash, max_requests) never serves the master's old
    snapshot. gunicorn calls ``load`` in its arbiter, which is how the app knows it is in a
    pre-fork master."""

    def __init__(self, options: dict[str, Any], overrides: dict[str, Any] | None = None) -> None:
        self.options = options
        self.overrides = overrides
        super().__init__()

    def load_config(self) -> None:
        settings = {"worker_class": "feedsvc.server.PlainErrorWorker", "preload_app": True, "accesslog": "-",
                    "control_socket_disable": True, **gunicorn_hooks(), **metrics_hooks(self.wsgi), **self.options}
        for key, value in settings.items():
            if key in self.cfg.settings and value is not None:
                self.cfg.set(key, value)

    def load(self) -> Any:
        return create_app(self.overrides)


def metrics_hooks(wsgi: Callable[[], Any]) -> dict[str, Any]:
    """A dead worker's samples stop counting as live (multiprocess mode); with
    FEEDSVC_METRICS_BIND, the master serves /metrics on that address too, without a token.
    ``wsgi()`` is the app (built in the master by then: when_ready runs after preload)."""
    from . import metrics
    from .webmetrics import store_reader

    def child_exit(server: Any, worker: Any) -> None:
        metrics.worker_exited(worker.pid)

    def when_ready(server: Any) -> None:
        app = wsgi()
        bind = app.config["SETTINGS"].metrics_bind
        if bind:
            host, _, port = bind.rpartition(":")
            metrics.serve_separately(host.strip("[]") or "127.0.0.1", int(port), store_reader(app))
            server.log.info("metrics on http://%s/metrics", bind)

    return {"child_exit": child_exit, "when_ready": when_ready}


def run_gunicorn(options: dict[str, Any], overrides: dict[str, Any] | None = None) -> None:
    FeedsvcApplication(options, overrides).run()


def write_plain_error(sock: Any, status_int: int, reason: str, mesg: str) -> None:
    """gunicorn's own answer to a request it cannot parse (400, 414 line too long, 431 headers
    too large), as short plain text like every feedsvc error instead of gunicorn's HTML page."""
    message = "".join(c if " " <= c < "\x7f" else "?" for c in str(mesg))[:200]
    body = f"{status_int} {reason}: {message}\n".encode("latin-1", "replace")
    head = (f"HTTP/1.1 {status_int} {reason}\r\nConnection: close\r\nContent-Type: text/plain; charset=utf-8\r\n"
            f"Cache-Control: no-store\r\nContent-Length: {len(body)}\r\n\r\n").encode("latin-1", "replace")
    gunicorn_util.write_nonblock(sock, head + body)


class PlainErrorWorker(ThreadWorker):  # type: ignore[misc]
    """gunicorn's gthread worker whose own error pages are plain text (``feedsvc serve``)."""

    def init_process(self) -> None:
        gunicorn_util.write_error = write_plain_error  # this worker process only
        super().init_process()
