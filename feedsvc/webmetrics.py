"""The Flask side of the metrics: count every answer, and serve ``/metrics`` behind the
admin token (FEEDSVC_ADMIN_TOKEN, as the other admin routes; or use FEEDSVC_METRICS_BIND for
a separate listener without one, see ``server.py``)."""

from __future__ import annotations

from collections.abc import Callable

from flask import Flask, Response, request

from . import metrics
from .service import FeedService
from .views import FEED_ENDPOINTS, PAGE_KINDS
from .web import require_bearer

_ROUTE_OF_BLUEPRINT = {"feedsvc_webhooks": "api", "feedsvc_websub": "websub"}
_ROUTE_OF_ENDPOINT = {"feeds.page_opml_xml": ("page", "opml"), "feeds.healthz": ("health", ""),
                      "metrics": ("metrics", "")}


def route_of(endpoint: str | None) -> tuple[str, str]:
    """(route kind, format) of a request, from the endpoint that answered it."""
    if endpoint is None:
        return "other", ""
    if endpoint in FEED_ENDPOINTS:
        kind, fmt = FEED_ENDPOINTS[endpoint]
        return kind, fmt.name
    if endpoint in PAGE_KINDS:
        return "page", "html"
    if endpoint.startswith("feeds.page_"):  # the stylesheets
        return "asset", ""
    if endpoint in _ROUTE_OF_ENDPOINT:
        return _ROUTE_OF_ENDPOINT[endpoint]
    return _ROUTE_OF_BLUEPRINT.get(endpoint.partition(".")[0], "other"), ""


def store_reader(app: Flask) -> Callable[[], dict[str, float]] | None:
    notifier = app.extensions.get("feedsvc.notify")
    if notifier is None:
        return None
    from .notify.gauges import store_gauges

    return lambda: store_gauges(notifier.engine)


def init_metrics(app: Flask, service: FeedService) -> None:
    notifier = app.extensions.get("feedsvc.notify")
    if notifier is not None:
        notifier.dispatcher.on_finished = metrics.observe_delivery
    service.on_reload(lambda report: metrics.observe_reload(report, service.snapshot))
    if service.status is not None:  # the first build happened before this listener
        metrics.observe_reload(service.status.report, service.snapshot)

    @app.after_request
    def _count(response: Response) -> Response:
        route, fmt = route_of(request.endpoint)
        metrics.observe_request(route, fmt, response.status_code, response.content_length or 0)
        return response

    @app.get("/metrics", endpoint="metrics")
    def metrics_view() -> Response:
        require_bearer(service.settings.admin_token)
        body = metrics.render(store_reader(app))
        return Response(body, content_type=metrics.CONTENT_TYPE, headers={"Cache-Control": "no-store"})
