"""The Flask side of ``feedsvc.http``: the admin bearer check and JSON responses, shared by
the feed views and the webhooks API."""

from __future__ import annotations

from typing import Any

from flask import Response, request
from werkzeug.datastructures import WWWAuthenticate
from werkzeug.exceptions import NotFound, Unauthorized

from .http import JSON_HEADERS, bearer_ok, json_body


def require_bearer(token: str) -> None:
    """The request must carry ``Authorization: Bearer <token>`` (RFC 6750 2.1), else 401 with a
    ``WWW-Authenticate`` challenge (RFC 6750 3); without a token the route does not exist (404)."""
    if not token:
        raise NotFound()
    if not bearer_ok(request.headers.get("Authorization"), token):
        raise Unauthorized("A valid bearer token is required.", www_authenticate=WWWAuthenticate("Bearer", {"realm": "feedsvc"}))


def json_response(obj: Any, status: int = 200) -> Response:
    """``obj`` as a JSON body that no cache keeps (``Cache-Control: no-store``)."""
    return Response(json_body(obj), status=status, headers=JSON_HEADERS)
