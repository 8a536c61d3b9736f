"""Push under a burst (issue 8.3): a 70% delete/restore of 10k posts with 100 webhook
endpoints registered (one of them hanging), then ordinary edits.

`feedsvc serve --workers 2` (reload interval --interval, SQLite store) serves a scratch copy
of the 10k corpus. One receiver process stands behind all endpoints on loopback:
- /hook/hang (every event) answers only after 30 s, longer than the sender's 10 s timeout;
- /hook/probe (every event) answers at once: the healthy endpoint that is measured;
- /hook/tag-N (98 endpoints) filter on one tag each (tags ranked 3 to 100 by use), so the
  burst's backlog is tens of thousands of deliveries, as in the issue's soak.

Steps: warm up (one edit delivered), note worker RSS (fresh); rename 70% of the post files to
hidden names (the mass-removal guard applies it one interval later) and back, which records
about 14k events; right after the restore, edit one post every 0.5 s until both workers serve
the restored site (edits made while the restore is read and recorded), then make --edits
ordinary edits one second apart; time each from the file write to its arrival at
/hook/probe; wait until every delivery
except the hanging endpoint's is sent, then note worker RSS again.

Run:  .venv/bin/python bench/burst.py [--posts 10000] [--interval 1.0] [--edits 10] [--database-url URL]
      [--log FILE] [--log-level DEBUG]
"""

from __future__ import annotations

import argparse
import http.client
import json
import multiprocessing as mp
import os
import shutil
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import sqlalchemy as sa  # noqa: E402
from _common import (  # noqa: E402
    HOST,
    PG_DEFAULT,
    Receiver,
    children,
    copy_corpus,
    corpus,
    free_port,
    get,
    pg_schema,
    proc_status_mb,
    start_feedsvc,
    stop,
    wait_ready,
)

TOKEN = "bench-admin-token"
HANG_SECONDS = 30.0
MARK = "bench-edit-"
MAX_EARLY = 60  # edits made while the restore is read and recorded, at most


def receiver(port_out: Any, arrivals: Any) -> None:
    """Every POST answered (the hang path late); edits arriving at the probe are reported."""

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:  # noqa: N802
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            if self.path == "/hook/hang":
                time.sleep(HANG_SECONDS)
            elif self.path == "/hook/probe":
                title = json.loads(body).get("data", {}).get("title", "")
                if title.startswith(MARK):
                    arrivals.put((title, time.time()))
            try:
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.send_header("Connection", "close")
                self.end_headers()
            except OSError:  # the sender gave up (its timeout) before the answer
                pass

        def log_message(self, *args: Any) -> None:
            pass

    server = Receiver((HOST, 0), Handler)
    port_out.put(server.server_address[1])
    server.serve_forever()


def api(port: int, path: str, body: dict[str, Any]) -> dict[str, Any]:
    conn = http.client.HTTPConnection(HOST, port, timeout=30)
    try:
        conn.request("POST", path, json.dumps(body), {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"})
        response = conn.getresponse()
        data = response.read()
        assert response.status == 201, data
        return json.loads(data)  # type: ignore[no-any-return]
    finally:
        conn.close()


def popular_tags(files: list[Path]) -> list[str]:
    """Tag names by number of posts, most used first (gen_corpus writes ``tags:`` as a list)."""
    counts: dict[str, int] = {}
    for path in files:
        lines = path.read_text(encoding="utf-8").split("\n---", 1)[0].splitlines()
        inside = False
        for line in lines:
            if line.startswith("tags:"):
                inside = True
            elif inside and line.startswith("- "):
                counts[line[2:].strip()] = counts.get(line[2:].strip(), 0) + 1
            else:
                inside = False
    return sorted(counts, key=lambda t: (-counts[t], t))


def worker_rss(master: int) -> list[float]:
    return [proc_status_mb(pid, "VmRSS") for pid in children(master)]


def pending(store: sa.Engine, hang_id: str) -> int:
    return count(store, "SELECT count(*) FROM feedsvc_deliveries WHERE status = 'pending' AND target != :hang", hang=hang_id)


def count(store: sa.Engine, sql: str, **params: str) -> int:
    with store.connect() as conn:
        return int(conn.execute(sa.text(sql), params).scalar_one())


def recorded_at(store: sa.Engine, probe_id: str) -> tuple[dict[str, float], dict[str, float]]:
    """Edit title -> when its event was recorded (the first, if more than one), and -> when the
    first attempt to send it to the probe started (the claim)."""
    body = "convert_from(e.body, 'UTF8')" if store.dialect.name == "postgresql" else "CAST(e.body AS TEXT)"
    with store.connect() as conn:
        rows = conn.execute(sa.text(
            "SELECT e.created_at, e.body, (SELECT min(a.started_at) FROM feedsvc_deliveries d JOIN feedsvc_attempts a "
            "ON a.delivery_id = d.id WHERE d.event_id = e.id AND d.endpoint_id = :probe) FROM feedsvc_events e "
            f"WHERE e.type = 'post.updated' AND {body} LIKE :mark"), {"probe": probe_id, "mark": f"%{MARK}%"}).all()
    recorded: dict[str, float] = {}
    claimed: dict[str, float] = {}
    for created, data, started in rows:
        title = json.loads(bytes(data))["data"]["title"]
        recorded[title] = min(created, recorded.get(title, created))
        if started is not None:
            claimed[title] = min(started, claimed.get(title, started))
    return recorded, claimed


def split(titles: dict[str, float], marks: list[tuple[str, dict[str, float]]], got: dict[str, float]) -> str:
    """Median and max of each step: write -> recorded -> claimed -> arrival."""
    steps = []
    previous: dict[str, float] = titles
    for name, stamps in [*marks, ("arrival", got)]:
        gaps = sorted(stamps[t] - previous[t] for t in titles if t in stamps and t in previous)
        if gaps:
            steps.append(f"-> {name} median {gaps[len(gaps) // 2]:.1f} s, max {gaps[-1]:.1f} s")
        previous = stamps
    return "write " + " ".join(steps) if steps else "no split"


def posts_served(port: int) -> int:
    return int(json.loads(get(port, "/healthz")[2])["posts"])


def wait_posts(port: int, want: Any, timeout: float = 300) -> None:
    """Until several answers in a row (both workers) satisfy ``want``."""
    deadline, good = time.monotonic() + timeout, 0
    while good < 8:
        if time.monotonic() > deadline:
            raise TimeoutError("the workers did not reach the expected post count")
        good = good + 1 if want(posts_served(port)) else 0
        time.sleep(0.05)


def edit(path: Path, title: str) -> float:
    text = path.read_text(encoding="utf-8")
    head, sep, rest = text.partition("\ntitle:")
    line_end = rest.index("\n")
    tmp = path.with_name("." + path.name + ".tmp")
    tmp.write_text(f"{head}{sep} {title}{rest[line_end:]}", encoding="utf-8")
    stamp = time.time()
    os.replace(tmp, path)
    return stamp


def wait_arrivals(arrivals: Any, titles: set[str], timeout: float) -> dict[str, float]:
    got: dict[str, float] = {}
    deadline = time.monotonic() + timeout
    while titles - got.keys():
        left = deadline - time.monotonic()
        if left <= 0:
            break
        try:
            title, at = arrivals.get(timeout=min(left, 1.0))
        except Exception:  # noqa: BLE001 - queue.Empty from a multiprocessing queue
            continue
        got.setdefault(title, at)
    return got


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--posts", type=int, default=10000)
    parser.add_argument("--interval", type=float, default=1.0)
    parser.add_argument("--edits", type=int, default=10)
    parser.add_argument("--drain-timeout", type=float, default=900.0)
    parser.add_argument("--database-url", default="", help=f"the store (default: a SQLite file); PostgreSQL: {PG_DEFAULT}")
    parser.add_argument("--log", type=Path, help="write the service's log here")
    parser.add_argument("--log-level", default="INFO", help="FEEDSVC_LOG_LEVEL for --log (DEBUG shows each transaction)")
    args = parser.parse_args()

    ctx = mp.get_context("spawn")
    port_q, arrivals = ctx.Queue(), ctx.Queue()
    rec = ctx.Process(target=receiver, args=(port_q, arrivals), daemon=True)
    rec.start()
    rport = port_q.get(timeout=30)
    content = copy_corpus(corpus(args.posts))
    db = content.parent / "push.sqlite"
    schema = pg_schema(args.database_url, "burst") if args.database_url.startswith("postgresql") else None
    url = f"{args.database_url}?options=-csearch_path%3D{schema}" if schema else f"sqlite:///{db}"
    store = sa.create_engine(url if schema else f"sqlite:///file:{db}?mode=ro&uri=true")
    port = free_port()
    server = start_feedsvc(content, port, workers=2, FEEDSVC_NOTIFY="1", FEEDSVC_DATABASE_URL=url,
                           FEEDSVC_ALLOW_PRIVATE_TARGETS="1", FEEDSVC_RELOAD_INTERVAL=str(args.interval),
                           FEEDSVC_ADMIN_TOKEN=TOKEN, FEEDSVC_LOG_LEVEL=args.log_level, log=args.log)
    try:
        wait_ready(port, "/healthz", server)
        hook = f"http://{HOST}:{rport}/hook"
        hang_id = api(port, "/api/webhooks", {"url": f"{hook}/hang"})["id"]
        probe_id = api(port, "/api/webhooks", {"url": f"{hook}/probe"})["id"]
        files = sorted(content.rglob("*.md"))
        for n, tag in enumerate(popular_tags(files)[2:100]):
            api(port, "/api/webhooks", {"url": f"{hook}/tag-{n}", "tags": [tag]})
        edited = files[len(files) // 2 + 1::29][: args.edits + 1 + MAX_EARLY]  # posts that stay in place
        warm = edit(edited[0], f"{MARK}warm")
        assert wait_arrivals(arrivals, {f"{MARK}warm"}, 120), "warm-up edit not delivered"
        print(f"warm-up edit delivered in {time.time() - warm:.2f} s", file=sys.stderr)
        time.sleep(2 * args.interval)
        fresh = worker_rss(server.pid)

        moved = [p for i, p in enumerate(files) if i % 10 < 7 and p not in edited]
        for path in moved:
            os.replace(path, path.with_name("." + path.name))
        wait_posts(port, lambda n: n <= args.posts - len(moved))
        deleted_at = time.time()
        for path in moved:
            os.replace(path.with_name("." + path.name), path)
        restored_at = time.time()
        served = threading.Event()
        watcher = threading.Thread(target=lambda: (wait_posts(port, lambda n: n == args.posts), served.set()), daemon=True)
        watcher.start()
        early = {}  # edits made while the burst is being read and recorded, every 0.5 s until it is served
        for k, path in enumerate(edited[1:1 + MAX_EARLY]):
            early[f"{MARK}early-{k}"] = edit(path, f"{MARK}early-{k}")
            if served.wait(0.5):
                break
        watcher.join()
        applied_at = time.time()
        written = {}  # edits made once both workers serve the restored site, its backlog unsent
        for k, path in enumerate(edited[1 + MAX_EARLY:]):
            written[f"{MARK}{k}"] = edit(path, f"{MARK}{k}")
            time.sleep(1.0)
        got = wait_arrivals(arrivals, set(written) | set(early), 300)
        latencies = sorted(got[t] - written[t] for t in written if t in got)
        early_latencies = sorted(got[t] - early[t] for t in early if t in got)
        backlog = pending(store, hang_id)
        drain_started = time.time()
        while pending(store, hang_id) and time.time() - drain_started < args.drain_timeout:
            time.sleep(1.0)
        drained = time.time() - drain_started
        left = pending(store, hang_id)
        time.sleep(2 * args.interval)
        after = worker_rss(server.pid)
        events = count(store, "SELECT count(*) FROM feedsvc_events WHERE type LIKE 'post.%'")
        deliveries = count(store, "SELECT count(*) FROM feedsvc_deliveries")
        recorded, claimed = recorded_at(store, probe_id)
        hang_pending = count(store, "SELECT count(*) FROM feedsvc_deliveries WHERE status = 'pending' AND target = :hang", hang=hang_id)
    finally:
        stop(server)
        rec.terminate()
        store.dispose()
        if schema:
            pg_schema(args.database_url, "burst", drop=schema)
    size = f"{db.stat().st_size / 2**20:.0f} MiB" if not schema else "PostgreSQL"
    shutil.rmtree(content.parent, ignore_errors=True)  # the scratch copy and its store
    p99 = latencies[min(len(latencies) - 1, int(round(0.99 * (len(latencies) - 1))))] if latencies else float("nan")
    target = args.interval + 5
    ratio = max(after) / max(fresh)
    early_p99 = early_latencies[min(len(early_latencies) - 1, int(round(0.99 * (len(early_latencies) - 1))))] if early_latencies else float("nan")
    print(f"restore applied by both workers {applied_at - restored_at:.1f} s after the files were back; edits made "
          f"meanwhile (every 0.5 s), sorted: {', '.join(f'{x:.1f}' for x in early_latencies)} s to the probe "
          f"({len(early_latencies)} of {len(early)}); {backlog} deliveries still pending when the last edit arrived")
    marks = [("recorded", recorded), ("claimed", claimed)]
    print(f"edits made during the restore: {split(early, marks, got)}; after: {split(written, marks, got)}")
    print(f"burst: {len(moved)} posts deleted then restored ({restored_at - deleted_at:.1f} s apart), {events} post events, "
          f"{deliveries} deliveries; backlog (all but the hanging endpoint) sent {drained:.0f} s after the last edit was "
          f"served, {left} left; hanging endpoint still pending: {hang_pending}; store {size}")
    print("| figure | value | target | met |")
    print("|---|---|---|---|")
    print(f"| edit right after the burst (once served, its backlog unsent) -> healthy endpoint, p99 (median, max) of {len(latencies)} of {len(written)} | "
          f"{p99:.2f} s ({latencies[len(latencies) // 2]:.2f} s, {latencies[-1]:.2f} s) | <= interval + 5 s = {target:g} s | "
          f"{'yes' if len(latencies) == len(written) and p99 <= target else 'no'} |")
    print(f"| edit made while the workers still read and record the restore -> healthy endpoint, p99 (median, max) of "
          f"{len(early_latencies)} of {len(early)} | {early_p99:.2f} s ({early_latencies[len(early_latencies) // 2]:.2f} s, "
          f"{early_latencies[-1]:.2f} s) | <= {target:g} s | {'yes' if len(early_latencies) == len(early) and early_p99 <= target else 'no'} |")
    print(f"| worker RSS after the backlog was sent vs fresh (max of 2 workers) | {max(after):.0f} MiB vs {max(fresh):.0f} MiB: "
          f"{ratio:.2f} | <= 1.10 | {'yes' if ratio <= 1.10 and not left else 'no'} |")


if __name__ == "__main__":
    main()
