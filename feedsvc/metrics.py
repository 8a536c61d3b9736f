"""``/metrics`` in the Prometheus text format (prometheus-client), right under several workers.

With ``PROMETHEUS_MULTIPROC_DIR`` set before the first import of prometheus_client in every
process (``feedsvc serve`` manages the folder: emptied at start, ``mark_process_dead`` when a
worker exits), each worker writes its samples to files there and a scrape of any worker adds
up all of them. Without it, a process reports its own counts (one process: right as is).

What is counted:
- requests by route kind (site, category, tag, page, health, api, websub, other), format and
  status; bytes sent; the 304 share is ``rate(...{status="304"}) / rate(...)``;
- reloads: duration, posts, bad posts, snapshot generation (from the service's reload reports);
- push: deliveries sent and failed, delivery latency (due -> done), and, read from the store at
  scrape time, deliveries due, the age of the oldest due delivery and WebSub subscriptions.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest, multiprocess
from prometheus_client.core import GaugeMetricFamily

from .metrics_dir import MULTIPROC_ENV

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

REQUESTS = Counter("feedsvc_http_requests_total", "HTTP requests answered.", ["route", "format", "status"])
BYTES = Counter("feedsvc_http_response_bytes_total", "Body bytes sent.", ["route"])
RELOAD_SECONDS = Histogram("feedsvc_reload_duration_seconds", "Reloads that changed something, seconds.",
                           buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30))
POSTS = Gauge("feedsvc_posts", "Published posts in the served snapshot.", multiprocess_mode="livemax")
BAD_POSTS = Gauge("feedsvc_bad_posts", "Post files that failed to load.", multiprocess_mode="livemax")
GENERATION = Gauge("feedsvc_snapshot_generation", "Generation of the served snapshot (per process).",
                   multiprocess_mode="livemax")
DELIVERIES = Counter("feedsvc_deliveries_total", "Delivery attempts finished, by kind and outcome.", ["kind", "outcome"])
DELIVERY_LATENCY = Histogram("feedsvc_delivery_latency_seconds", "From a delivery falling due to its success.",
                             ["kind"], buckets=(0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 1800, 7200))


def observe_reload(report: Any, snapshot: Any) -> None:
    """A FeedService reload listener (``on_reload``)."""
    if report.applied:
        RELOAD_SECONDS.observe(report.seconds)
    if snapshot is not None:
        POSTS.set(len(snapshot.index.posts))
        BAD_POSTS.set(len(snapshot.errors))
        GENERATION.set(snapshot.generation)


def observe_request(route: str, fmt: str, status: int, size: int) -> None:
    REQUESTS.labels(route, fmt, str(status)).inc()
    if size:
        BYTES.labels(route).inc(size)


def observe_delivery(kind: str, outcome: str, due_at: float | None = None) -> None:
    """One finished attempt: ``outcome`` is the delivery's status after it (done, pending: a
    retry is scheduled, failed, cancelled)."""
    DELIVERIES.labels(kind, outcome).inc()
    if outcome == "done" and due_at:
        DELIVERY_LATENCY.labels(kind).observe(max(time.time() - due_at, 0.0))


class StoreCollector:
    """Gauges read from the shared store at scrape time: one value for the whole cluster."""

    def __init__(self, read: Callable[[], dict[str, float]]) -> None:
        self.read = read

    def collect(self) -> Iterator[GaugeMetricFamily]:
        try:
            values = self.read()
        except Exception:  # a scrape must not fail because the store is briefly unreachable
            return
        for name, (help_text, key) in {
            "feedsvc_deliveries_due": ("Deliveries pending and due now.", "due"),
            "feedsvc_oldest_due_delivery_age_seconds": ("Age of the oldest due delivery (0: none).", "oldest_age"),
            "feedsvc_websub_subscriptions": ("Live WebSub subscriptions.", "subscriptions"),
        }.items():
            yield GaugeMetricFamily(name, help_text, value=values.get(key, 0.0))


def render(store_reader: Callable[[], dict[str, float]] | None = None) -> bytes:
    """The exposition text: every process's samples (multiprocess mode) or this one's."""
    from prometheus_client import REGISTRY

    registry: Any = REGISTRY
    if os.environ.get(MULTIPROC_ENV):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
    text = generate_latest(registry)
    if store_reader is not None:
        extra = CollectorRegistry()
        extra.register(StoreCollector(store_reader))  # type: ignore[arg-type]
        text += generate_latest(extra)
    return text


def worker_exited(pid: int) -> None:
    if os.environ.get(MULTIPROC_ENV):
        multiprocess.mark_process_dead(pid)


def serve_separately(host: str, port: int, store_reader: Callable[[], dict[str, float]] | None) -> None:
    """A small HTTP listener answering every GET with the exposition text, in a child process
    of the gunicorn master (it reads the workers' sample files; it serves no feeds). A process,
    not a thread: the master forks workers later, and a fork must not copy a busy thread's locks."""
    import multiprocessing

    child = multiprocessing.get_context("fork").Process(
        target=_listen, args=(host, port, store_reader), name="feedsvc-metrics", daemon=True)
    child.start()


def _listen(host: str, port: int, store_reader: Callable[[], dict[str, float]] | None) -> None:
    import signal
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    signal.signal(signal.SIGTERM, signal.SIG_DFL)  # not gunicorn's master handlers
    signal.signal(signal.SIGINT, signal.SIG_DFL)

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 (http.server's name)
            body = render(store_reader)
            self.send_response(200)
            self.send_header("Content-Type", CONTENT_TYPE)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:  # scrapes are not news
            pass

    ThreadingHTTPServer((host, port), Handler).serve_forever()
