"""The Flask application: settings, the first snapshot, routes; outside tests, it arms the
process's Runtime (a scheduler here, or in every worker forked from here: runtime.py)."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from flask import Flask, request
from werkzeug.exceptions import BadRequest, HTTPException, InternalServerError, RequestEntityTooLarge

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
    app.before_request(lambda: read_body(settings.max_request_bytes))
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


def read_body(limit: int) -> None:
    """Read a request's body whole before any view uses it (the views then parse the cached
    bytes). What the server cannot read is the client's fault: a malformed chunk or a
    connection that ends early is a 400, no longer a 500 from deep in a view. A chunked
    body over ``limit`` is a 413: werkzeug cuts it at the limit without a word. A body
    shorter than its Content-Length is a 400 (RFC 9112 6.3: an incomplete message)."""
    chunked = "chunked" in request.headers.get("Transfer-Encoding", "").lower()
    length = request.content_length
    if not chunked and not length:
        return
    try:
        data = request.get_data(cache=True)  # 413 at once when Content-Length says more than the limit
        if chunked and len(data) >= limit and request.environ["wsgi.input"].read(1):
            raise RequestEntityTooLarge()
    except HTTPException:
        raise
    except Exception as exc:  # the server's reader: gunicorn's InvalidChunkSize, an OSError ...
        raise BadRequest(f"The request body could not be read ({type(exc).__name__}).") from None
    if length is not None and len(data) < length:
        raise BadRequest("The request body is shorter than its Content-Length.")


def _logged(exc: Exception) -> InternalServerError:
    logger.exception("unhandled error", exc_info=exc)
    return InternalServerError()
