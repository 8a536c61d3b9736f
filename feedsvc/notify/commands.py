"""``feedsvc db upgrade`` and ``feedsvc backfill``: the store without the web app."""

from __future__ import annotations

from ..config import Settings
from ..service import FeedService
from . import database_url, start_notifier
from .events import backfill as backfill_events
from .store import make_engine, upgrade


def db_upgrade(settings: Settings) -> str:
    """Run the migrations on the configured store; returns the URL (password hidden)."""
    engine = make_engine(database_url(settings))
    try:
        upgrade(engine)
        return engine.url.render_as_string(hide_password=True)
    finally:
        engine.dispose()


def backfill(settings: Settings) -> int:
    """Queue post.published for every current post (once: a second run adds nothing)."""
    if not settings.notify:
        raise RuntimeError("FEEDSVC_NOTIFY is off")
    service = FeedService(settings)
    notifier = start_notifier(service)
    try:
        snapshot = service.current()
        with notifier.engine.begin() as conn:
            return backfill_events(conn, ((snapshot.index.ids[s], p) for s, p in snapshot.index.posts.items()))
    finally:
        notifier.close()
