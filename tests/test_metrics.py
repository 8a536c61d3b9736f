"""/metrics (issue 10.3): the Prometheus text format, right across several gunicorn workers
(prometheus-client's multiprocess mode), scraped and parsed with prometheus_client.parser;
behind the admin token, or on FEEDSVC_METRICS_BIND without one."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from conftest import ROOT, SITE_URL, GunicornServer, free_port
from flask import Flask
from notify_fixtures import Receiver, auth, pump
from prometheus_client.parser import text_string_to_metric_families

TOKEN = "metrics-token-123"


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    out = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            out[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return out


def requests_count(values: dict[tuple[str, tuple[tuple[str, str], ...]], float], route: str, fmt: str, status: str) -> float:
    key = ("feedsvc_http_requests_total", (("format", fmt), ("route", route), ("status", status)))
    return values.get(key, 0.0)


def test_metrics_in_process(make_app: Callable[..., Flask], write_post: Callable[..., Path]) -> None:
    write_post("a.md", title="A", tags=["t"])
    app = make_app(admin_token=TOKEN)
    client = app.test_client()
    auth = {"Authorization": f"Bearer {TOKEN}"}
    before = samples(client.get("/metrics", headers=auth).get_data(as_text=True))
    etag = client.get("/rss.xml").headers["ETag"]
    client.get("/rss.xml", headers={"If-None-Match": etag})
    client.get("/tags/t/atom.xml")
    client.get("/tags/nope/atom.xml")
    response = client.get("/metrics", headers=auth)
    assert response.status_code == 200 and response.content_type.startswith("text/plain")
    after = samples(response.get_data(as_text=True))
    for route, fmt, status in (("site", "rss", "200"), ("site", "rss", "304"), ("tag", "atom", "200"), ("tag", "atom", "404")):
        assert requests_count(after, route, fmt, status) - requests_count(before, route, fmt, status) == 1
    assert after[("feedsvc_posts", ())] == 1 and after[("feedsvc_bad_posts", ())] == 0
    assert after[("feedsvc_snapshot_generation", ())] >= 1
    assert ("feedsvc_deliveries_due", ()) in after and ("feedsvc_websub_subscriptions", ()) in after
    assert client.get("/metrics").status_code == 401
    assert make_app(notify=False).test_client().get("/metrics").status_code == 404  # no token: no route


def test_metrics_add_up_across_three_gunicorn_workers(gunicorn_factory: Callable[..., GunicornServer],
                                                      content_dir: Path, write_post: Callable[..., Path],
                                                      tmp_path: Path) -> None:
    write_post("a.md", title="A")
    folder = tmp_path / "prom"
    folder.mkdir()
    server = gunicorn_factory(content_dir, workers=3, threads=1,
                              env={"PROMETHEUS_MULTIPROC_DIR": str(folder), "FEEDSVC_ADMIN_TOKEN": TOKEN})
    for _ in range(60):  # fresh connections: the kernel spreads them over the workers
        assert server.request("GET", "/rss.xml").status == 200
    pids = {p.name.split("_")[-1] for p in folder.glob("counter_*.db")}
    assert len(pids) >= 2, "the requests should have reached several workers"
    for _ in range(3):  # any worker answers the scrape with the sum over all of them
        scrape = server.request("GET", "/metrics", {"Authorization": f"Bearer {TOKEN}"})
        assert scrape.status == 200
        assert requests_count(samples(scrape.body.decode()), "site", "rss", "200") == 60


def test_feedsvc_serve_metrics_on_a_separate_bind(tmp_path: Path, content_dir: Path, write_post: Callable[..., Path]) -> None:
    exe = ROOT / ".venv" / "bin" / "feedsvc"
    if not exe.exists():
        pytest.skip("the feedsvc console script is not installed in .venv")
    write_post("a.md", title="A")
    port, metrics_port = free_port(), free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FEEDSVC_", "PROMETHEUS_"))}
    env.update(FEEDSVC_SITE_URL=SITE_URL, FEEDSVC_BUILD_WORKERS="1", FEEDSVC_METRICS_BIND=f"127.0.0.1:{metrics_port}",
               FEEDSVC_DATABASE_URL=f"sqlite:///{tmp_path / 'serve.sqlite'}")
    log_path = tmp_path / "serve.log"
    with open(log_path, "wb") as log:
        proc = subprocess.Popen([str(exe), "serve", "--bind", f"127.0.0.1:{port}", "--workers", "3", "--threads", "1",
                                 "--content", str(content_dir)], cwd=tmp_path, env=env, stdout=log,
                                stderr=subprocess.STDOUT, start_new_session=True)
    try:
        server, metrics = GunicornServer(content_dir, tmp_path), GunicornServer(content_dir, tmp_path)
        server.port, metrics.port = port, metrics_port
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if server.request("GET", "/healthz", timeout=2).status == 200:
                    break
            except OSError:
                time.sleep(0.05)
        for _ in range(30):
            assert server.request("GET", "/atom.xml").status == 200
        assert server.request("GET", "/metrics").status == 404  # no admin token: not on the public port
        values = samples(metrics.request("GET", "/metrics").body.decode())
        assert requests_count(values, "site", "atom", "200") == 30, log_path.read_text(errors="replace")[-2000:]
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=5)


def test_delivery_metrics(push_app: Callable[..., Flask], write_post: Callable[..., Path], receiver: Receiver) -> None:
    """Sent and failed deliveries and their latency are counted by the process that sent them."""
    write_post("a.md", title="A")
    app = push_app()
    client = app.test_client()
    assert client.post("/api/webhooks", json={"url": receiver.url("/hook")}, headers=auth()).status_code == 201
    before = samples(client.get("/metrics", headers=auth()).get_data(as_text=True))
    write_post("b.md", title="B")
    pump(app, lambda: len(receiver.at("/hook")) == 1)
    after = samples(client.get("/metrics", headers=auth()).get_data(as_text=True))
    done = ("feedsvc_deliveries_total", (("kind", "webhook"), ("outcome", "done")))
    latency = ("feedsvc_delivery_latency_seconds_count", (("kind", "webhook"),))
    assert after[done] - before.get(done, 0) == 1
    assert after[latency] - before.get(latency, 0) == 1
    assert after[("feedsvc_deliveries_due", ())] == 0
