"""The built-in WebSub hub at ``/websub`` (W3C WebSub Recommendation, 2018-01-23).

5.1 Subscriber sends a form-encoded subscription request; the hub answers 202 Accepted and
verifies the intent asynchronously (5.3: a GET to the callback with ``hub.challenge`` that
must be echoed). Content distribution (7) and authenticated distribution (8) are sent from
the outbox (dispatch.py) whenever a topic's document changes.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, current_app, request
from werkzeug.exceptions import BadRequest, TooManyRequests

from .outbox import Delivery, Kind, enqueue
from .sender import TargetError, ascii_digits, resolve

bp = Blueprint("feedsvc_websub", __name__)
DEFAULT_LEASE = 10 * 86400  # 10 days
MIN_LEASE, MAX_LEASE = 60, 30 * 86400
MAX_SECRET = 200  # bytes (WebSub 5.1: hub.secret MUST be less than 200 bytes)


def _notifier() -> Any:
    return current_app.extensions["feedsvc.notify"]


def _topics() -> set[str]:
    from .events import topic_states

    notifier = _notifier()
    return set(topic_states(notifier.service.current(), notifier.settings))


def validate(form: Any, topics: set[str], allow_private: bool) -> dict[str, Any]:
    """The subscription request's parameters, or BadRequest naming the problem (5.1)."""
    mode = form.get("hub.mode", "")
    if mode not in ("subscribe", "unsubscribe"):
        raise BadRequest("hub.mode must be subscribe or unsubscribe")
    topic, callback = form.get("hub.topic", ""), form.get("hub.callback", "")
    if topic not in topics:
        raise BadRequest("hub.topic is not a feed of this site")
    try:
        resolve(callback, allow_private)
    except TargetError as exc:
        raise BadRequest(f"hub.callback refused: {exc}") from None
    lease_text = form.get("hub.lease_seconds", "")
    if lease_text and not ascii_digits(lease_text, 12):
        raise BadRequest("hub.lease_seconds must be a positive integer")
    lease = min(max(int(lease_text), MIN_LEASE), MAX_LEASE) if lease_text else DEFAULT_LEASE
    secret = form.get("hub.secret")
    if secret is not None and (not secret or len(secret.encode()) >= MAX_SECRET):
        raise BadRequest("hub.secret must be 1 to 199 bytes")
    return {"mode": mode, "topic": topic, "callback": callback, "lease_seconds": lease, "secret": secret}


@bp.post("/websub")
def hub() -> Response:
    notifier = _notifier()
    wait = notifier.rate_limiter.retry_after(request.remote_addr or "")
    if wait:
        raise TooManyRequests("Too many subscription requests from this address; try later.", retry_after=wait)
    if request.form.get("hub.mode") == "publish":
        raise BadRequest("this hub publishes its own topics; hub.mode=publish is not accepted")
    params = validate(request.form, _topics(), notifier.settings.allow_private_targets)
    with notifier.engine.begin() as conn:
        enqueue(conn, [Delivery(Kind.VERIFY, params["callback"], params=params)])
    notifier.wake()
    return Response("202 Accepted: verification of intent will follow.\n", status=202, content_type="text/plain; charset=utf-8")
