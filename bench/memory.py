"""Memory that does not grow with the tag count (issue 10.5): documents rendered on demand.

Runs, in one invocation, feedsvc as it is ("new") and feedsvc at a baseline commit ("old",
default 3598a5e: every document rendered up front and held), both as ``feedsvc serve
--workers 2`` on the same corpus, plus a Hugo build of the same feeds:

- ``longtail``: the 10k corpus with two extra tags per post from 5,000 names
  (bench/longtail.py), about 5,100 feeds. Start (launch -> ``/healthz`` ok and ``/rss.xml``
  servable), first response of never-requested feeds (``--sample`` random feed documents, one
  fresh connection each, in a random order: p50/p99), then a crawl of every feed in every
  format (gzip, 4 clients) and each worker's RSS after it.
- ``plain``: the 10k corpus (221 feeds): start, the crawl and RSS, then ``wrk`` on a cached
  ``/rss.xml``, 200 and 304 (``If-None-Match``), new and old alternating, median of repeats.
- ``large``: 100k posts (220 feeds): start against Hugo, RSS after the crawl (new only).

The baseline code is ``git archive <ref>`` unpacked into bench/out/baseline-<ref> and put first
on PYTHONPATH; it runs with the same virtualenv. Needs git, hugo, wrk.

Usage: .venv/bin/python bench/memory.py [--parts longtail,plain,large] [--baseline 3598a5e]
       [--sample 300] [--runs 3] [--duration 5]
"""

from __future__ import annotations

import argparse
import http.client
import json
import random
import subprocess
import sys
import tarfile
import time
import xml.etree.ElementTree as ET
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import longtail
from _common import (
    HOST,
    REPO,
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
)
from throughput import wrk  # wrk -t2 -c50 on /rss.xml, its req/s

FORMAT_FILES = ("rss.xml", "atom.xml", "feed.json")


def baseline_code(ref: str) -> Path:
    """The package at ``ref``, unpacked once (git archive), for PYTHONPATH."""
    out = WORKDIR / f"baseline-{ref}"
    if not (out / "feedsvc" / "__init__.py").exists():
        out.mkdir(parents=True, exist_ok=True)
        archive = subprocess.run(["git", "-C", str(REPO), "archive", "--format=tar", ref, "feedsvc", "wsgi.py"],
                                 check=True, capture_output=True).stdout
        archive_path = out / "code.tar"
        archive_path.write_bytes(archive)
        with tarfile.open(archive_path) as tar:
            tar.extractall(out, filter="data")
    return out


def longtail_corpus(n: int) -> Path:
    out = WORKDIR / f"longtail-{n}"
    stamp = out / ".complete"
    if not stamp.exists():
        longtail.build(corpus(n), out)
        stamp.touch()
    return out


@dataclass
class Run:
    start: float = 0.0
    first: list[float] = field(default_factory=list)  # never-requested feed documents, seconds each
    crawl: float = 0.0
    fetched: int = 0
    worker_mb: list[float] = field(default_factory=list)  # VmRSS after the crawl
    worker_hwm: list[float] = field(default_factory=list)
    master_mb: float = 0.0


def feed_paths(port: int) -> list[str]:
    opml = get(port, "/opml.xml")[2]
    return [urlsplit(o.attrib["xmlUrl"]).path.rsplit("/", 1)[0] + "/" for o in ET.fromstring(opml).iter("outline")]


def fetch(port: int, path: str, headers: dict[str, str] | None = None) -> float:
    started = time.perf_counter()
    conn = http.client.HTTPConnection(HOST, port, timeout=60)
    try:
        conn.request("GET", path, headers=headers or {})
        resp = conn.getresponse()
        resp.read()
        if resp.status != 200:
            raise RuntimeError(f"{path}: {resp.status}")
    finally:
        conn.close()
    return time.perf_counter() - started


def wait_started(port: int, proc: subprocess.Popen[bytes], timeout: float = 900) -> None:
    """Until /healthz says ok and /rss.xml answers 200."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}")
        try:
            status, _, body = get(port, "/healthz", timeout=5)
            if status == 200 and json.loads(body).get("status") == "ok" and get(port, "/rss.xml", timeout=5)[0] == 200:
                return
        except (OSError, ValueError):
            pass
        time.sleep(0.01)
    raise TimeoutError("not started")


def serve(content: Path, code: Path | None, sample: int, crawl: bool, seed: int = 1) -> Run:
    port = free_port()
    extra = {"PYTHONPATH": str(code)} if code is not None else {}
    started = time.perf_counter()
    proc = start_feedsvc(content, port, workers=2, **extra)
    run = Run()
    try:
        wait_started(port, proc)
        run.start = time.perf_counter() - started
        feeds = feed_paths(port)
        docs = [f + name for f in feeds for name in FORMAT_FILES]
        rng = random.Random(seed)
        picked = rng.sample(docs, min(sample, len(docs)))
        run.first = [fetch(port, p) for p in picked]
        if crawl:
            t0 = time.perf_counter()
            with ThreadPoolExecutor(4) as pool:
                run.fetched = sum(1 for _ in pool.map(lambda p: fetch(port, p, {"Accept-Encoding": "gzip"}), docs))
            run.crawl = time.perf_counter() - t0
        workers = children(proc.pid)
        run.worker_mb = [proc_status_mb(pid, "VmRSS") for pid in workers]
        run.worker_hwm = [proc_status_mb(pid, "VmHWM") for pid in workers]
        run.master_mb = proc_status_mb(proc.pid, "VmRSS")
        return run
    finally:
        stop(proc)


def throughput(content: Path, code: Path | None, duration: int) -> dict[str, float]:
    port = free_port()
    extra = {"PYTHONPATH": str(code)} if code is not None else {}
    proc = start_feedsvc(content, port, workers=2, **extra)
    try:
        wait_started(port, proc)
        etag = get(port, "/rss.xml")[1]["etag"]
        wrk(port, {}, 2, 2, 50)  # warm-up
        return {"200": wrk(port, {}, duration, 2, 50), "304": wrk(port, {"If-None-Match": etag}, duration, 2, 50)}
    finally:
        stop(proc)


def hugo_seconds(content: Path, runs: int) -> tuple[float, float, int]:
    site = hugo_site(content)
    hugo_build(site)  # page cache
    builds = [hugo_build(site) for _ in range(runs)]
    return median(b.seconds for b in builds), median(b.peak_rss_mb for b in builds), builds[-1].feeds


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def part_longtail(args: argparse.Namespace, old_code: Path) -> list[str]:
    content = longtail_corpus(10000)
    hugo_s, hugo_mb, hugo_files = hugo_seconds(content, args.runs)
    new, old = [], []
    for _ in range(args.runs):
        new.append(serve(content, None, args.sample, crawl=True))
        old.append(serve(content, old_code, args.sample, crawl=False))
    start_new, start_old = median(r.start for r in new), median(r.start for r in old)
    firsts_new = [t for r in new for t in r.first]
    firsts_old = [t for r in old for t in r.first]
    rss_new = median(max(r.worker_mb) for r in new)
    rss_old = median(max(r.worker_mb) for r in old)
    feeds = new[0].fetched // len(FORMAT_FILES)
    return [
        row(f"long tail, 10k posts, {feeds} feeds: start, launch -> /healthz ok and /rss.xml served (s, median of {args.runs})",
            f"{start_new:.2f} (old code {start_old:.2f})", f"Hugo {hugo_s:.2f} ({hugo_files} files)", start_new / hugo_s,
            "<= 0.5", start_new / hugo_s <= 0.5),
        row(f"long tail: first response of a never-requested feed document ({len(firsts_new)} random, fresh connection; ms p50 / p99)",
            f"{pct(firsts_new, .5) * 1e3:.1f} / {pct(firsts_new, .99) * 1e3:.1f}",
            f"old code (all held): {pct(firsts_old, .5) * 1e3:.1f} / {pct(firsts_old, .99) * 1e3:.1f}", None,
            "< 100 ms p99", pct(firsts_new, .99) < 0.1),
        row(f"long tail: worker RSS after a crawl of all {new[0].fetched} feed documents (gzip) (MiB, largest worker, median)",
            f"{rss_new:.0f} (peak {median(max(r.worker_hwm) for r in new):.0f}; crawl {median(r.crawl for r in new):.1f} s)",
            f"old code after start: {rss_old:.0f}; Hugo peak {hugo_mb:.0f}", rss_new / rss_old, "< 300 MB", rss_new < 300),
    ]


def part_plain(args: argparse.Namespace, old_code: Path) -> list[str]:
    content = corpus(10000)
    new, old = [], []
    for _ in range(args.runs):
        new.append(serve(content, None, args.sample, crawl=True))
        old.append(serve(content, old_code, args.sample, crawl=True))
    rss_new = median(max(r.worker_mb) for r in new)
    rss_old = median(max(r.worker_mb) for r in old)
    rows = [
        row(f"10k posts, 221 feeds: worker RSS after a crawl of all {new[0].fetched} feed documents (gzip) (MiB, median of {args.runs})",
            f"{rss_new:.0f} (start {median(r.start for r in new):.2f} s)",
            f"old code: {rss_old:.0f} (start {median(r.start for r in old):.2f} s)", rss_new / rss_old, "< 200 MB", rss_new < 200),
    ]
    ratios: dict[str, list[float]] = {"200": [], "304": []}
    values: dict[str, dict[str, list[float]]] = {"new": {"200": [], "304": []}, "old": {"200": [], "304": []}}
    for i in range(args.runs):
        order = [("new", None), ("old", old_code)] if i % 2 == 0 else [("old", old_code), ("new", None)]
        got = {name: throughput(content, code, args.duration) for name, code in order}
        for case in ratios:
            ratios[case].append(got["new"][case] / got["old"][case])
            for name in got:
                values[name][case].append(got[name][case])
    for case in ("200", "304"):
        rows.append(row(f"10k posts: req/s, cached /rss.xml {case}, identity (`wrk -t2 -c50 -d{args.duration}s`, {args.runs} alternating repeats, median ratio)",
                        f"{median(values['new'][case]):,.0f}", f"old code: {median(values['old'][case]):,.0f}",
                        median(ratios[case]), ">= 0.95", median(ratios[case]) >= 0.95))
    return rows


def part_large(args: argparse.Namespace) -> list[str]:
    content = corpus(100000)
    hugo_s, hugo_mb, hugo_files = hugo_seconds(content, 1)
    run = serve(content, None, args.sample, crawl=True)
    return [
        row("100k posts, 220 feeds: start, launch -> /healthz ok and /rss.xml served (s, one run)", f"{run.start:.2f}",
            f"Hugo {hugo_s:.2f} ({hugo_files} files)", run.start / hugo_s, "<= 1.0", run.start / hugo_s <= 1.0),
        row("100k posts: worker RSS after a crawl of every feed document (MiB)",
            f"{max(run.worker_mb):.0f} (master {run.master_mb:.0f})", f"Hugo peak {hugo_mb:.0f}", None, "reported", None),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--parts", default="longtail,plain,large")
    parser.add_argument("--baseline", default="3598a5e", help="git ref of the code to compare with")
    parser.add_argument("--sample", type=int, default=300, help="never-requested feed documents timed per run")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--duration", type=int, default=5, help="wrk -d seconds")
    args = parser.parse_args()
    old_code = baseline_code(args.baseline)
    rows: list[str] = []
    parts = args.parts.split(",")
    if "longtail" in parts:
        rows += part_longtail(args, old_code)
    if "plain" in parts:
        rows += part_plain(args, old_code)
    if "large" in parts:
        rows += part_large(args)
    print_table(rows, [f"Baseline: feedsvc at {args.baseline} (`git archive`), same virtualenv. "
                       f"Python {sys.version.split()[0]}, load average before: {Path('/proc/loadavg').read_text().split()[:3]}"])


if __name__ == "__main__":
    main()
