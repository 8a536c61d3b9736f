"""Incremental reload (issue 3), on a gen_corpus.py corpus (default 10k posts).

(a) A rescan that finds nothing changed (``FeedService.reload()``), against a plain loop that
    ``os.stat``s the same files, interleaved in one run.
(b) Edit one post (the newest, so the site feed changes) under a running ``feedsvc serve`` with a
    small ``FEEDSVC_RELOAD_INTERVAL``: seconds from the write to the first response of /rss.xml
    carrying the edit, and until 30 fresh connections in a row all carry it (every worker). Also
    the in-process work of a one-edit reload. Against Hugo rebuilding the same feeds.
(c) Memory of a FeedService after 100 reloads with changes, against after the first one
    (in a fresh process).

Usage: .venv/bin/python bench/reload.py [--posts 10000] [--interval 1.0] [--edits 5] [--reloads 100]
"""

from __future__ import annotations

import argparse
import gc
import http.client
import json
import os
import random
import shutil
import subprocess
import sys
import time
from pathlib import Path

from _common import (
    HOST,
    WORKDIR,
    copy_corpus,
    corpus,
    free_port,
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

RUNS = 15


def service(content: Path):  # type: ignore[no-untyped-def]
    from feedsvc.config import load_settings
    from feedsvc.service import FeedService

    return FeedService(load_settings({"CONTENT_DIR": str(content), "NOTIFY": False}))


def newest_posts(content: Path, count: int) -> list[Path]:
    """gen_corpus.py names files <year>/<YYYY-MM-DD>-<slug>.md: the last names are the newest posts."""
    return sorted(content.rglob("*.md"), key=lambda p: p.name)[-count:]


def edit(path: Path, marker: str) -> None:
    """Append a marker paragraph to the post body (an in-place write, as an editor would save)."""
    with open(path, "a", encoding="utf-8") as fh:
        fh.write(f"\n\n{marker}\n")


def stat_loop(paths: list[str]) -> float:
    started = time.perf_counter()
    for path in paths:
        os.stat(path)
    return time.perf_counter() - started


def bench_rescan(content: Path) -> tuple[list[str], float]:
    from feedsvc.loader import scan

    svc = service(content)
    started = time.perf_counter()
    svc.reload()
    cold = time.perf_counter() - started
    paths = [path for path, _key in scan(str(content)).values()]
    floor, rescan, scans = [], [], []
    for _ in range(RUNS):
        floor.append(stat_loop(paths))
        started = time.perf_counter()
        report = svc.reload()
        rescan.append(time.perf_counter() - started)
        assert report.reread == 0, report
        started = time.perf_counter()
        scan(str(content))
        scans.append(time.perf_counter() - started)
    f, r, s = median(floor), median(rescan), median(scans)
    # the work of one edit (parse 1 post, re-render its feeds), same service, same run
    target = newest_posts(content, 1)[0]
    original = target.read_bytes()
    work = []
    for n in range(5):
        edit(target, f"bench-work-{n}")
        started = time.perf_counter()
        svc.reload()
        work.append(time.perf_counter() - started)
    target.write_bytes(original)
    svc.reload()
    rows = [
        row(f"no-change rescan, {len(paths)} files (ms, median of {RUNS})", f"{r * 1e3:.1f} (scan() alone {s * 1e3:.1f})",
            f"os.stat loop {f * 1e3:.1f}", r / f, "<= 3x", r / f <= 3),
        row("work of a one-post-edit reload, in-process (ms, median of 5)", f"{median(work) * 1e3:.1f}", "", None,
            "< 100 ms", median(work) < 0.1),
    ]
    return rows, cold


def poll_until(port: int, marker: bytes, started: float, timeout: float, streak: int) -> tuple[float, float]:
    """(first, all): seconds since ``started`` until a response carried ``marker``, and until
    ``streak`` responses in a row on fresh connections (spread over the workers) all did."""
    first = None
    run = 0
    deadline = started + timeout
    while time.perf_counter() < deadline:
        conn = http.client.HTTPConnection(HOST, port, timeout=10)
        conn.request("GET", "/rss.xml", headers={"Connection": "close"})
        body = conn.getresponse().read()
        conn.close()
        now = time.perf_counter() - started
        if marker in body:
            first = now if first is None else first
            run += 1
            if run >= streak:
                return first, now
        else:
            run = 0
        time.sleep(0.002)
    raise TimeoutError(f"edit not served within {timeout}s (is the reload scheduler running?)")


def bench_edit(content: Path, interval: float, edits: int, hugo_runs: int) -> list[str]:
    port = free_port()
    proc = start_feedsvc(content, port, workers=2, FEEDSVC_RELOAD_INTERVAL=str(interval))
    firsts, alls, timeout = [], [], interval * 10 + 10
    failed = None
    try:
        wait_ready(port, "/healthz", proc)
        time.sleep(interval * 2)  # schedulers started in both workers
        targets = newest_posts(content, edits)
        for n, path in enumerate(reversed(targets)):
            marker = f"bench-edit-{n}-{random.randrange(1 << 30)}"
            time.sleep(random.uniform(0, interval))  # a random phase against the reload timer
            edit(path, marker)
            written = time.perf_counter()
            try:
                first, every = poll_until(port, marker.encode(), written, timeout, streak=30)
            except TimeoutError as exc:
                failed = str(exc)
                break
            firsts.append(first)
            alls.append(every)
    finally:
        stop(proc)
    site = hugo_site(content)
    hugo = median(hugo_build(site).seconds for _ in range(hugo_runs))
    limit = interval + 0.1
    if failed:
        return [row(f"edit -> served (interval {interval}s)", f"not served: {failed}", f"Hugo rebuild {hugo:.2f}",
                    None, f"<= {limit:.2f}", False)]
    return [
        row(f"edit -> first served, interval {interval}s (s, median/max of {len(firsts)})",
            f"{median(firsts):.3f} / {max(firsts):.3f}", f"Hugo full rebuild {hugo:.2f}", median(firsts) / hugo,
            f"<= interval + 0.1 = {limit:.2f}", max(firsts) <= limit),
        row("edit -> served by every worker (30 fresh connections in a row)",
            f"{median(alls):.3f} / {max(alls):.3f}", f"Hugo full rebuild {hugo:.2f}", median(alls) / hugo,
            f"<= {limit:.2f} (+ poll time)", max(alls) <= limit + 0.1),
    ]


def memory_child(content: Path, reloads: int) -> None:
    """Run in a fresh process: print JSON with RSS after the first and the last changed reload."""
    svc = service(content)
    svc.reload()
    targets = newest_posts(content, 40)
    extra = content / "2024" / "9999-bench-extra.md"
    marks = {}
    for n in range(reloads):
        edit(targets[n % len(targets)], f"bench-memory-{n}")
        if n % 10 == 5:  # a post published, then removed again on the next reload
            extra.write_text(f"---\ntitle: extra {n}\ndate: 2024-12-31 12:00:00\ntags: [bench-{n}]\n---\nbody {n}\n", encoding="utf-8")
        elif extra.exists():
            extra.unlink()
        report = svc.reload()
        assert report.reread >= 1, report
        if n in (0, reloads - 1):
            gc.collect()
            marks[n] = {"rss": proc_status_mb(os.getpid(), "VmRSS"), "blocks": sys.getallocatedblocks()}
    print(json.dumps({"first": marks[0], "last": marks[reloads - 1], "hwm": proc_status_mb(os.getpid(), "VmHWM")}))


def bench_memory(content: Path, reloads: int) -> list[str]:
    out = subprocess.run([sys.executable, __file__, "--memory-child", str(content), "--reloads", str(reloads)],
                         capture_output=True, text=True, check=True).stdout
    m = json.loads(out.strip().splitlines()[-1])
    first, last = m["first"], m["last"]
    growth = last["rss"] / first["rss"]
    return [
        row(f"RSS after {reloads} reloads with changes vs after the first (MiB)", f"{last['rss']:.1f}",
            f"{first['rss']:.1f}", growth, "<= 1.05", growth <= 1.05),
        row(f"Python heap blocks after {reloads} vs after the first", f"{last['blocks']:,}", f"{first['blocks']:,}",
            last["blocks"] / first["blocks"], "(diagnostic)", None),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--posts", type=int, default=10000)
    parser.add_argument("--interval", type=float, default=1.0, help="FEEDSVC_RELOAD_INTERVAL for (b)")
    parser.add_argument("--edits", type=int, default=5, help="edits timed in (b)")
    parser.add_argument("--hugo-runs", type=int, default=3)
    parser.add_argument("--reloads", type=int, default=100, help="reloads with changes in (c)")
    parser.add_argument("--parts", default="abc", help="which parts to run")
    parser.add_argument("--memory-child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.memory_child:
        return memory_child(Path(args.memory_child), args.reloads)
    WORKDIR.mkdir(parents=True, exist_ok=True)
    source = corpus(args.posts)
    rows, notes = [], []
    scratch = []
    try:
        if "a" in args.parts:
            scratch.append(copy_corpus(source))
            part, cold = bench_rescan(scratch[-1])
            rows += part
            notes.append(f"(a) cold in-process build of the same service: {cold:.2f}s.")
        if "b" in args.parts:
            scratch.append(copy_corpus(source))
            rows += bench_edit(scratch[-1], args.interval, args.edits, args.hugo_runs)
        if "c" in args.parts:
            scratch.append(copy_corpus(source))
            rows += bench_memory(scratch[-1], args.reloads)
    finally:
        for folder in scratch:
            shutil.rmtree(folder.parent, ignore_errors=True)
    print_table(rows, notes)


if __name__ == "__main__":
    main()
