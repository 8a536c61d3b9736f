"""The webhooks admin API, ``/api/webhooks`` (bearer FEEDSVC_ADMIN_TOKEN, RFC 6750 2.1;
the API answers 404 while no token is set). JSON in and out; errors are plain text."""

from __future__ import annotations

import json
from typing import Any

from flask import Blueprint, Response, current_app, request
from werkzeug.exceptions import BadRequest, NotFound

from ..web import json_response, require_bearer
from . import endpoints
from .sender import ascii_digits

bp = Blueprint("feedsvc_webhooks", __name__, url_prefix="/api/webhooks")


def _notifier() -> Any:
    return current_app.extensions["feedsvc.notify"]


@bp.before_request
def _authenticate() -> None:
    require_bearer(_notifier().settings.admin_token)


def _input(partial: bool) -> dict[str, Any]:
    try:
        data = request.get_json(silent=True)
    except RecursionError:  # json's decoder gives up on very deep nesting: not a ValueError
        raise BadRequest("The JSON body is nested too deeply.") from None
    if not isinstance(data, dict):
        raise BadRequest("The body must be a JSON object (Content-Type: application/json).")
    try:
        json.dumps(data, ensure_ascii=False).encode()
    except UnicodeEncodeError:  # "\ud800": valid JSON (RFC 8259 8.2), not storable text
        raise BadRequest("The JSON body has a lone surrogate (\\uD800-\\uDFFF) in a string.") from None
    try:
        return endpoints.validate(data, _notifier().settings.allow_private_targets, partial)
    except ValueError as exc:
        raise BadRequest(str(exc)) from None


def _found(value: Any) -> Any:
    if not value:
        raise NotFound("No such webhook endpoint or delivery.")
    return value


@bp.post("")
def create() -> Response:
    endpoint = endpoints.create(_notifier().engine, _input(partial=False))
    response = json_response(endpoint, 201)
    response.headers["Location"] = f"/api/webhooks/{endpoint['id']}"
    return response


@bp.get("")
def listing() -> Response:
    return json_response({"webhooks": endpoints.listing(_notifier().engine)})


@bp.get("/<endpoint_id>")
def show(endpoint_id: str) -> Response:
    return json_response(_found(endpoints.get(_notifier().engine, endpoint_id)))


@bp.patch("/<endpoint_id>")
def update(endpoint_id: str) -> Response:
    return json_response(_found(endpoints.update(_notifier().engine, endpoint_id, _input(partial=True))))


@bp.delete("/<endpoint_id>")
def delete(endpoint_id: str) -> Response:
    _found(endpoints.delete(_notifier().engine, endpoint_id))
    return Response(status=204)


@bp.get("/<endpoint_id>/deliveries")
def deliveries(endpoint_id: str) -> Response:
    engine = _notifier().engine
    _found(endpoints.get(engine, endpoint_id))
    limit = request.args.get("limit", "50")
    if not ascii_digits(limit, 4) or not 1 <= int(limit) <= 1000:
        raise BadRequest("limit must be an integer from 1 to 1000")
    status = request.args.get("status") or None
    return json_response({"deliveries": endpoints.deliveries(engine, endpoint_id, int(limit), status)})


@bp.post("/<endpoint_id>/deliveries/<int(max=9223372036854775807):delivery_id>/redeliver")  # larger: 404, not a DB overflow
def redeliver(endpoint_id: str, delivery_id: int) -> Response:
    _found(endpoints.redeliver(_notifier().engine, endpoint_id, delivery_id))
    _notifier().wake()
    return json_response({"id": delivery_id, "status": "pending"}, 202)
