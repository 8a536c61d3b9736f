"""Run the app under gunicorn from ``feedsvc serve``."""

from __future__ import annotations

from typing import Any

from gunicorn.app.base import BaseApplication

from .app import create_app
from .runtime import gunicorn_hooks


class FeedsvcApplication(BaseApplication):  # type: ignore[misc]
    """gunicorn with the app built once in the master (preload) and forked into workers;
    each worker starts its own scheduler after the fork (gunicorn_hooks)."""

    def __init__(self, options: dict[str, Any], overrides: dict[str, Any] | None = None) -> None:
        self.options = options
        self.application = create_app(overrides)
        super().__init__()

    def load_config(self) -> None:
        settings = {"worker_class": "gthread", "preload_app": True, "accesslog": "-", "control_socket_disable": True, **gunicorn_hooks(), **self.options}
        for key, value in settings.items():
            if key in self.cfg.settings and value is not None:
                self.cfg.set(key, value)

    def load(self) -> Any:
        return self.application


def run_gunicorn(options: dict[str, Any], overrides: dict[str, Any] | None = None) -> None:
    FeedsvcApplication(options, overrides).run()
