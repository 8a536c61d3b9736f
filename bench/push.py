"""Push fan-out benchmark: one post change delivered to N webhook endpoints on loopback.

One receiver process (a threaded HTTP server) stands behind N URLs (/hook/0 ... /hook/N-1).
The app runs in this process with its real scheduler (reload every --interval seconds, the
push job, 32 parallel senders). We write one post file and measure the time from the write to
the last delivery, and deliveries per second from the first delivery to the last, on a SQLite
file and on PostgreSQL (skipped when unreachable).

Run:  .venv/bin/python bench/push.py [--endpoints 1000] [--interval 1.0] [--pg postgresql://postgres@127.0.0.1:5432/test]
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import sys
import tempfile
import time
import uuid
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import Receiver  # noqa: E402

POST = "---\ntitle: {title}\ndate: 2024-01-0{day} 10:00:00\ntags: [bench]\n---\nBody of {title}.\n"


def receiver(port_out: Any, results: Any, expected: int) -> None:
    """Count POSTs; report (first, last) monotonic times once ``expected`` arrived."""
    state = {"n": 0, "first": 0.0}

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:  # noqa: N802
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.send_header("Connection", "close")
            self.end_headers()
            state["n"] += 1
            if state["n"] == 1:
                state["first"] = time.monotonic()
            if state["n"] == expected:
                results.put((state["first"], time.monotonic()))

        def log_message(self, *args: Any) -> None:
            pass

    server = Receiver(("127.0.0.1", 0), Handler)
    port_out.put(server.server_address[1])
    server.serve_forever()


def run(store: str, url: str, endpoints: int, interval: float) -> dict[str, Any]:
    from feedsvc.app import create_app, start_background, stop_background
    from feedsvc.notify import endpoints as ep

    ctx = mp.get_context("spawn")
    port_q, results = ctx.Queue(), ctx.Queue()
    proc = ctx.Process(target=receiver, args=(port_q, results, endpoints), daemon=True)
    proc.start()
    port = port_q.get(timeout=30)
    with tempfile.TemporaryDirectory() as tmp:
        content = Path(tmp) / "content"
        content.mkdir()
        (content / "first.md").write_text(POST.format(title="First", day=1))
        app = create_app({"CONTENT_DIR": str(content), "DATABASE_URL": url.replace("{tmp}", tmp), "BUILD_WORKERS": 1,
                          "ALLOW_PRIVATE_TARGETS": True, "RELOAD_INTERVAL": interval, "SITE_URL": "https://bench.example"})
        notifier = app.extensions["feedsvc.notify"]
        for n in range(endpoints):
            ep.create(notifier.engine, {"url": f"http://127.0.0.1:{port}/hook/{n}", "secret": ep.new_secret()})
        background = start_background(app)
        time.sleep(interval * 1.5)  # let the scheduler settle; the write below is the clock's zero
        written = time.monotonic()
        tmp_file = content / ".new.tmp"
        tmp_file.write_text(POST.format(title="Fan-out", day=2))
        os.replace(tmp_file, content / "new.md")
        first, last = results.get(timeout=300)
        background.scheduler.shutdown(wait=True)  # let a running job end before the store's folder goes
        stop_background(app)
        notifier.close()
    proc.terminate()
    proc.join()
    return {"store": store, "endpoints": endpoints, "interval": interval, "total": last - written,
            "send": last - first, "rate": endpoints / max(last - first, 1e-9)}


def pg_url(base: str) -> str | None:
    try:
        import psycopg

        conn = psycopg.connect(base, connect_timeout=3, autocommit=True)
    except Exception as exc:  # noqa: BLE001 - any failure means: no PostgreSQL here
        print(f"PostgreSQL skipped: {exc}".splitlines()[0], file=sys.stderr)
        return None
    schema = "bench_" + uuid.uuid4().hex[:8]
    conn.execute(f"CREATE SCHEMA {schema}")
    conn.close()
    netloc_path = base.split("://", 1)[1]
    return f"postgresql+psycopg://{netloc_path}?options=-csearch_path%3D{schema}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--endpoints", type=int, default=1000)
    parser.add_argument("--interval", type=float, default=1.0, help="FEEDSVC_RELOAD_INTERVAL for the run")
    parser.add_argument("--pg", default="postgresql://postgres@127.0.0.1:5432/test")
    args = parser.parse_args()
    runs = [run("SQLite", "sqlite:///{tmp}/push.sqlite", args.endpoints, args.interval)]
    url = pg_url(args.pg)
    if url:
        runs.append(run("PostgreSQL", url, args.endpoints, args.interval))
    print("| store | endpoints | reload interval | file write -> last delivery | first -> last delivery | deliveries/s |")
    print("|---|---:|---:|---:|---:|---:|")
    for r in runs:
        print(f"| {r['store']} | {r['endpoints']} | {r['interval']:g} s | {r['total']:.2f} s | {r['send']:.2f} s | {r['rate']:.0f} |")


if __name__ == "__main__":
    main()
