"""The Flask application: settings, the first snapshot, routes; outside tests, it arms the
process's Runtime (a scheduler here, or in every worker forked from here: runtime.py)."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from flask import Flask
from werkzeug.exceptions import HTTPException, InternalServerError

from .config import SETTINGS, load_settings
from .runtime import Runtime, runtime_of
from .service import FeedService

logger = logging.getLogger(__name__)
_SETTING_KEYS = {f.name.upper() for f in SETTINGS}


def create_app(test_config: Mapping[str, Any] | None = None) -> Flask:
    """The app factory. ``test_config`` overrides every other source of settings; its keys
    that are not settings (``TESTING``) go to Flask's config."""
    overrides = {k.upper(): v for k, v in (test_config or {}).items()}
    settings = load_settings(overrides)
    app = Flask(__name__, instance_path=settings.instance_dir)
    app.config.update({k: v for k, v in overrides.items() if k not in _SETTING_KEYS})
    app.config["SETTINGS"] = settings
    app.config["MAX_CONTENT_LENGTH"] = settings.max_request_bytes  # 413 before a body is read

    service = FeedService(settings)
    service.reload()
    app.extensions["feedsvc"] = service
    jobs, release = [], []
    if settings.notify:  # webhooks and the WebSub hub (feedsvc/notify): store, routes, jobs
        from .notify import api, start_notifier, websub

        notifier = start_notifier(service)
        app.extensions["feedsvc.notify"] = notifier
        jobs.append(notifier.register)
        release.append(notifier.engine.dispose)  # a pre-fork master's pooled connections
        app.register_blueprint(api.bp)
        app.register_blueprint(websub.bp)
    runtime = app.extensions["feedsvc.runtime"] = Runtime(service, jobs, release)

    from . import views

    app.url_map.converters["name"] = views.NameConverter
    app.register_blueprint(views.bp)
    from .throttle import init_rate_limit, trust_proxies
    from .webmetrics import init_metrics

    init_metrics(app, service)

    trust_proxies(app, settings)
    app.extensions["feedsvc.limiter"] = init_rate_limit(app, settings)
    app.register_error_handler(HTTPException, views.plain_error)
    app.register_error_handler(Exception, lambda exc: views.plain_error(_logged(exc)))

    if not app.testing:  # tests start and drive the runtime themselves
        runtime.arm()

        @app.before_request
        def _start_background() -> None:
            # A fallback for a process forked, by a server we do not recognise, from one that
            # already ran a scheduler (arm cannot start one safely there): the first request.
            runtime.start()

    return app


def start_background(app: Flask) -> Any:
    """Start this process's scheduler (once per process); returns its Background."""
    runtime = runtime_of(app)
    assert runtime is not None, "not a feedsvc app"
    return runtime.start()


def stop_background(app: Flask) -> None:
    runtime = runtime_of(app)
    if runtime is not None:
        runtime.stop()


def _logged(exc: Exception) -> InternalServerError:
    logger.exception("unhandled error", exc_info=exc)
    return InternalServerError()
