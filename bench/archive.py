"""Archive pages on the cached path (issue 9): requests/s for an RFC 5005 archive page against
the current document of the same feed, same server, same size class (20 full posts each).

One ``gunicorn -k gthread -w 2 --threads 4`` serves ``wsgi:app`` on a corpus; every archive
page is requested once first in each worker (rendered on first request, then cached), then
``wrk -t2 -c50 -dDs`` loads ``/rss.xml`` and ``/archive/<n>/rss.xml`` in turn, alternating the
order between repeats, as a 200 and as a 304 (``If-None-Match``). The figure is the ratio
archive/current: 1.0 means an archive page costs nothing more than the current document.

A second part (``--part cpu``) measures the same four cases in-process with Flask's test client
as CPU time per request (``time.process_time``, alternating blocks of requests): it is not
disturbed by other processes on a busy machine, where wrk's figures swing by 2x.

Usage: .venv/bin/python bench/archive.py [--posts 1000] [--duration 10] [--repeats 3] [--part wrk,cpu]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from _common import (
    WORKDIR,
    corpus,
    feedsvc_env,
    free_port,
    get,
    median,
    print_table,
    row,
    start_gunicorn,
    stop,
    wait_ready,
)
from throughput import spread, wrk

CURRENT = "/rss.xml"


def cpu_per_request(content: Path, posts: int, blocks: int = 7, per_block: int = 2000) -> None:
    """Microseconds of CPU per request, archive page vs current document, in-process."""
    from feedsvc.app import create_app

    app = create_app({"CONTENT_DIR": str(content), "BUILD_WORKERS": 1, "NOTIFY": False, "TESTING": True})
    client = app.test_client()
    page = f"/archive/{posts // 2 // 20}/rss.xml"
    cases = []
    for path in (CURRENT, page):
        for encoding in ("identity", "gzip"):
            resp = client.get(path, headers={"Accept-Encoding": encoding})
            cases.append((path, f"200 {encoding}", {"Accept-Encoding": encoding}))
            cases.append((path, f"304 {encoding}", {"Accept-Encoding": encoding, "If-None-Match": resp.headers["ETag"]}))
    spent: dict[tuple[str, str], list[float]] = {}
    for block in range(blocks):
        for path, name, headers in cases if block % 2 == 0 else cases[::-1]:
            started = time.process_time()
            for _ in range(per_block):
                client.get(path, headers=headers)
            spent.setdefault((path, name), []).append((time.process_time() - started) / per_block * 1e6)
    rows = []
    for name in ("200 identity", "200 gzip", "304 identity", "304 gzip"):
        cur, arc = median(spent[(CURRENT, name)]), median(spent[(page, name)])
        rows.append(row(f"CPU us/request {name}, {page} vs {CURRENT} (in-process)", f"{arc:.0f}", f"{cur:.0f}",
                        arc / cur, "<= 1.05", arc / cur <= 1.05))
    print_table(rows, [f"Flask test client, median of {blocks} alternating blocks of {per_block} requests, process CPU time."])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--posts", type=int, default=1000)
    parser.add_argument("--duration", type=int, default=10, help="wrk -d seconds per measurement")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2, help="wrk -t")
    parser.add_argument("--connections", type=int, default=50, help="wrk -c")
    parser.add_argument("--part", default="wrk,cpu")
    args = parser.parse_args()
    WORKDIR.mkdir(parents=True, exist_ok=True)
    if "cpu" in args.part:
        cpu_per_request(corpus(args.posts), args.posts)
    if "wrk" not in args.part:
        return
    port = free_port()
    server = start_gunicorn("wsgi:app", port, feedsvc_env(corpus(args.posts), port))
    try:
        wait_ready(port, CURRENT, server)
        page = f"/archive/{args.posts // 2 // 20}/rss.xml"  # a page in the middle of the history
        for _ in range(20):  # both workers render and cache it
            assert get(port, page)[0] == 200
        cases = []
        for path in (CURRENT, page):
            for encoding in ("identity", "gzip"):
                status, hdrs, body = get(port, path, {"Accept-Encoding": encoding})
                assert status == 200
                cases.append((path, f"200 {encoding}", {"Accept-Encoding": encoding}, len(body)))
                cases.append((path, f"304 {encoding}", {"Accept-Encoding": encoding, "If-None-Match": hdrs["etag"]}, 0))
        wrk(port, {}, 2, args.threads, args.connections)  # warm-up
        wrk(port, {}, 2, args.threads, args.connections, path=page)
        results: dict[tuple[str, str], list[float]] = {}
        for rep in range(args.repeats):
            for path, name, headers, _size in cases if rep % 2 == 0 else cases[::-1]:
                results.setdefault((path, name), []).append(wrk(port, headers, args.duration, args.threads, args.connections, path))
        rows = []
        for name in ("200 identity", "200 gzip", "304 identity", "304 gzip"):
            cur, arc = results[(CURRENT, name)], results[(page, name)]
            size = next(s for p, n, _h, s in cases if p == page and n == name)
            ratio = max(arc) / max(cur)
            rows.append(row(f"req/s {name}, archive page {page} ({size} B) vs {CURRENT}",
                            f"{max(arc):,.0f} (median {median(arc):,.0f}, {spread(arc)})",
                            f"{max(cur):,.0f} (median {median(cur):,.0f}, {spread(cur)})", ratio, ">= 0.95", ratio >= 0.95))
        print_table(rows, [f"gunicorn -k gthread -w 2 --threads 4; wrk -t{args.threads} -c{args.connections} "
                           f"-d{args.duration}s, best of {args.repeats} (median, min-max), alternating order."])
    finally:
        stop(server)


if __name__ == "__main__":
    main()
