"""``feedsvc db upgrade`` and ``feedsvc backfill``."""

from __future__ import annotations

from typing import Any

from flask import Flask


def db_upgrade(values: dict[str, Any]) -> str:
    """Run the migrations on the configured store; returns the URL (password hidden)."""
    import feedsvc

    from ..config import load_settings
    from .store import default_url, make_engine, upgrade

    settings = load_settings(values)
    url = settings.database_url or default_url(Flask(feedsvc.__name__, instance_relative_config=True).instance_path)
    engine = make_engine(url)
    try:
        upgrade(engine)
        return engine.url.render_as_string(hide_password=True)
    finally:
        engine.dispose()


def backfill() -> int:
    """Queue post.published for every current post (once: a second run adds nothing)."""
    from .. import create_app

    app = create_app()
    notifier = app.extensions.get("feedsvc.notify")
    if notifier is None:
        raise RuntimeError("FEEDSVC_NOTIFY is off")
    try:
        return int(notifier.recorder.backfill(app.extensions["feedsvc"].current()))
    finally:
        notifier.close()
