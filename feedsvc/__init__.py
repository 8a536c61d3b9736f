"""feedsvc: RSS 2.0, Atom and JSON Feed from a folder of Markdown posts."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from flask import Flask
from werkzeug.exceptions import HTTPException, InternalServerError

from .config import PREFIX, SETTINGS, Settings, load_settings, raw_string_env, read_toml_config
from .runtime import start_background
from .service import FeedService

__version__ = "0.1.0"
logger = logging.getLogger(__name__)


def gather_config(app_config: Mapping[str, Any], test_config: Mapping[str, Any] | None) -> dict[str, Any]:
    """Defaults < TOML file (FEEDSVC_CONFIG) < FEEDSVC_* environment < test_config."""
    names = {f.name.upper() for f in SETTINGS}
    test = {k.upper(): v for k, v in (test_config or {}).items()}
    merged: dict[str, Any] = {}
    toml_path = test.get("CONFIG", app_config.get("CONFIG"))
    if toml_path:
        merged.update(read_toml_config(str(toml_path)))
    merged.update({k: v for k, v in app_config.items() if k in names})
    merged.update(raw_string_env())
    merged.update(test)
    return merged


def create_app(test_config: Mapping[str, Any] | None = None) -> Flask:
    """The app factory: settings, the first snapshot, routes. Starts no threads."""
    app = Flask(__name__, instance_relative_config=True)
    app.config.from_prefixed_env(PREFIX)  # FEEDSVC_SITE_URL -> app.config["SITE_URL"]
    values = gather_config(app.config, test_config)
    settings = load_settings(values)
    app.config.update({f.name.upper(): getattr(settings, f.name) for f in SETTINGS})
    names = {f.name.upper() for f in SETTINGS}
    # other keys (tuning knobs such as NOTIFY_CONCURRENCY) from the TOML file or test_config
    app.config.update({k: v for k, v in values.items() if k not in names})
    app.config["SETTINGS"] = settings

    hubs: tuple[str, ...] = ()
    if settings.notify:
        from .notify import hub_urls

        hubs = hub_urls(settings.site_url, settings.websub_hubs)
    service = FeedService(settings, hubs=hubs)
    service.reload()
    app.extensions["feedsvc"] = service
    if settings.notify:  # webhooks and the WebSub hub (feedsvc/notify): store, routes, jobs
        from .notify import init_app as init_notify

        init_notify(app, service, values.get("WEBHOOKS"))

    from . import views

    app.url_map.converters["name"] = views.NameConverter
    app.register_blueprint(views.bp)
    app.register_error_handler(HTTPException, views.plain_error)
    app.register_error_handler(Exception, lambda exc: views.plain_error(_logged(exc)))

    @app.before_request
    def _start_background() -> None:
        # Any WSGI server: the first request in a process starts its scheduler (after any
        # fork). feedsvc serve starts it earlier, in gunicorn's post_worker_init.
        if not app.testing:
            start_background(app)

    return app


def _logged(exc: Exception) -> InternalServerError:
    logger.exception("unhandled error", exc_info=exc)
    return InternalServerError()


__all__ = ["create_app", "Settings", "FeedService", "__version__"]
