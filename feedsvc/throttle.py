"""Polite to hammering readers: a per-client rate limit on unconditional feed GETs
(flask-limiter; off unless FEEDSVC_RATE_LIMIT is set).

Only feed documents are limited, and only answers that send the document count (a 200):
a conditional request whose validators still hold (a 304) is never limited nor counted, so
a reader that polls properly is never refused. Over the limit: 429 with ``Retry-After``.
The client is the socket's address, or the ``X-Forwarded-For`` entry that
FEEDSVC_TRUSTED_PROXIES hops of proxies vouch for (werkzeug's ``ProxyFix``, ``x_for`` only:
links and ids still come from FEEDSVC_SITE_URL, never from forwarded headers).
"""

from __future__ import annotations

from flask import Flask
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from werkzeug.middleware.proxy_fix import ProxyFix

from .config import Settings
from .views import is_feed_request, would_be_not_modified


def trust_proxies(app: Flask, settings: Settings) -> None:
    """Read the client address from X-Forwarded-For behind FEEDSVC_TRUSTED_PROXIES hops."""
    if settings.trusted_proxies:
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=settings.trusted_proxies, x_proto=0, x_host=0,  # type: ignore[method-assign]
                                x_port=0, x_prefix=0)


def _exempt() -> bool:
    return not is_feed_request() or would_be_not_modified()


def init_rate_limit(app: Flask, settings: Settings) -> Limiter | None:
    if not settings.rate_limit:
        return None
    return Limiter(
        get_remote_address,
        app=app,
        application_limits=[settings.rate_limit],  # one budget per client across every feed
        application_limits_exempt_when=_exempt,
        application_limits_deduct_when=lambda response: response.status_code == 200,
        storage_uri=settings.rate_limit_storage,
        strategy="moving-window",
        headers_enabled=True,
        key_prefix="feedsvc",
    )
