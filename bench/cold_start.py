"""Cold start (issue 2): launch to every feed served once as RSS and Atom, against Hugo.

For each corpus size, alternating in one run (Hugo, feedsvc, Hugo, feedsvc, ...):
- Hugo: a full build of bench/hugo-site (site, category and tag feeds, RSS and Atom) under
  ``/usr/bin/time -v``: wall seconds and peak RSS.
- feedsvc: ``feedsvc serve --workers 2``; the clock runs from the launch until /opml.xml
  answered and every feed it lists (site, each category, each tag) was fetched once as RSS and
  as Atom by a pool of HTTP clients. Then VmHWM (peak RSS) of the gunicorn master (which builds
  the snapshot before the fork) and of each worker.

Usage: .venv/bin/python bench/cold_start.py [--sizes 1000,10000] [--runs 3] [--clients 4]
"""

from __future__ import annotations

import argparse
import http.client
import threading
import time
import xml.etree.ElementTree as ET
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from _common import (
    HOST,
    WORKDIR,
    children,
    corpus,
    free_port,
    get,
    hugo_build,
    hugo_site,
    median,
    print_table,
    proc_status_mb,
    row,
    start_feedsvc,
    stop,
    wait_ready,
)

HUGO_MB_REFERENCE = 918  # issue 2: Hugo's peak on 10k posts, measured once by the issue author
TARGET_MB = 250


@dataclass(frozen=True)
class ServeRun:
    ready: float  # launch -> /opml.xml answered
    seconds: float  # launch -> every feed fetched as RSS and Atom
    fetched: int
    bytes: int
    master_mb: float
    worker_mb: tuple[float, ...]


def feed_paths(opml: bytes) -> list[str]:
    """Every feed's RSS and Atom path from the OPML outline list."""
    paths = []
    for outline in ET.fromstring(opml).iter("outline"):
        rss = urlsplit(outline.attrib["xmlUrl"]).path
        paths += [rss, rss[: -len("rss.xml")] + "atom.xml"]
    return paths


def fetch_all(port: int, paths: list[str], clients: int) -> int:
    """GET every path once with ``clients`` keep-alive connections; returns the bytes read."""
    local = threading.local()

    def fetch(path: str) -> int:
        conn = getattr(local, "conn", None)
        if conn is None:
            conn = local.conn = http.client.HTTPConnection(HOST, port, timeout=60)
        conn.request("GET", path)
        resp = conn.getresponse()
        body = resp.read()
        if resp.status != 200:
            raise RuntimeError(f"{path}: HTTP {resp.status}")
        return len(body)

    with ThreadPoolExecutor(clients) as pool:
        return sum(pool.map(fetch, paths))


def serve_run(content: Path, clients: int) -> ServeRun:
    port = free_port()
    started = time.perf_counter()
    proc = start_feedsvc(content, port, workers=2)
    try:
        wait_ready(port, "/opml.xml", proc)
        ready = time.perf_counter() - started
        paths = feed_paths(get(port, "/opml.xml")[2])
        total = fetch_all(port, paths, clients)
        seconds = time.perf_counter() - started
        workers = tuple(proc_status_mb(pid, "VmHWM") for pid in children(proc.pid))
        return ServeRun(ready, seconds, len(paths), total, proc_status_mb(proc.pid, "VmHWM"), workers)
    finally:
        stop(proc)


def bench_size(n: int, runs: int, clients: int) -> list[str]:
    content = corpus(n)
    site = hugo_site(content)
    hugo_build(site)  # warm the page cache for both sides
    hugo, serve = [], []
    for _ in range(runs):
        hugo.append(hugo_build(site))
        serve.append(serve_run(content, clients))
    h_s, f_s = median(r.seconds for r in hugo), median(r.seconds for r in serve)
    h_mb = median(r.peak_rss_mb for r in hugo)
    w_mb = median(max(r.worker_mb) for r in serve)
    m_mb = median(r.master_mb for r in serve)
    last = serve[-1]
    label = f"{n // 1000}k posts"
    return [
        row(f"cold start, {label}: launch -> {last.fetched} feeds served (s, median of {runs})",
            f"{f_s:.2f} (ready {median(r.ready for r in serve):.2f})", f"Hugo {h_s:.2f} ({hugo[-1].feeds} files)",
            f_s / h_s, "<= 1.0 (10k)", f_s <= h_s if n >= 10000 else None),
        row(f"peak RSS per worker, {label} (MiB, VmHWM)", f"{w_mb:.0f} (master {m_mb:.0f})",
            f"Hugo {h_mb:.0f} here ({HUGO_MB_REFERENCE} in issue)", w_mb / h_mb, f"< {TARGET_MB} MB",
            w_mb < TARGET_MB if n >= 10000 else None),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="1000,10000", help="corpus sizes, comma-separated")
    parser.add_argument("--runs", type=int, default=3, help="runs per side (median)")
    parser.add_argument("--clients", type=int, default=4, help="concurrent HTTP clients")
    args = parser.parse_args()
    WORKDIR.mkdir(parents=True, exist_ok=True)
    rows = []
    for n in (int(s) for s in args.sizes.split(",")):
        rows += bench_size(n, args.runs, args.clients)
    print_table(rows, ["Hugo also writes per-year section feeds; feedsvc's count is site + categories + tags, x2 formats."])


if __name__ == "__main__":
    main()
