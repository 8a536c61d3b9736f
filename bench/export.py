"""Static export (issue 10.2): `feedsvc build OUTDIR` against Hugo building the same feeds.

For each corpus size, alternating in one run (Hugo, feedsvc, [current,] [base,] Hugo, ...):
- Hugo: a full build of bench/hugo-site (site, category and tag feeds, RSS and Atom).
- feedsvc: `feedsvc build OUT` in a fresh process (every feed in RSS, Atom and JSON Feed, every
  RFC 5005 archive page, the index and preview pages, OPML and the stylesheets, each with .gz
  and .br siblings), FEEDSVC_NOTIFY=0 (no store needed), FEEDSVC_BUILD_WORKERS unset (one
  process per CPU).
- current only (``--current``): the same process and export, but of the pages and current
  documents alone, without the archive pages (the documents Hugo builds, plus JSON Feed, the
  pages and the siblings); no `feedsvc build` option does this, so a short script runs it.
- base (``--base CHECKOUT``, e.g. ``git worktree add --detach ../base <commit>``): the same
  command with that checkout's code (``PYTHONPATH=<checkout>``, this virtualenv).
Wall seconds from launch to exit, and CPU seconds (user + system of the process and its
children); the ratio is feedsvc / Hugo in wall seconds (target <= 1.0 at 10k posts). The load
average before and after is printed: other work on the machine stretches every figure.

- rebuild (``--rebuild``): `feedsvc build OUT` into its own previous export after one post's
  title was edited, which reuses the files of every document whose inputs did not move.
- floor (``--floor``): gzip and brotli, at the service's levels, of every identity file of
  one `feedsvc build`, one process per CPU, files already in the page cache: no export that
  writes the required .gz and .br siblings can take less.
Usage: .venv/bin/python bench/export.py [--sizes 10000] [--runs 3] [--current] [--rebuild] [--floor] [--base ../base]
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from _common import REPO, WORKDIR, copy_corpus, corpus, hugo_build, hugo_site, median, print_table, row

T = TypeVar("T")


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def timed(run: Callable[..., T], *args: object) -> tuple[T, float, float]:
    """``run(*args)``, its wall seconds and the CPU seconds of the processes it waited for."""
    cpu, started = children_cpu(), time.perf_counter()
    result = run(*args)
    return result, time.perf_counter() - started, children_cpu() - cpu


# `feedsvc build OUT` without the archive pages (for --current)
CURRENT_ONLY = """
import sys
from feedsvc.config import load_settings
from feedsvc.export import export, snapshot_jobs
from feedsvc.parallel import default_workers
from feedsvc.service import FeedService
settings = load_settings({})
export(snapshot_jobs(FeedService(settings).current(), 0), sys.argv[1], settings.build_workers or default_workers())
"""


def feedsvc_build(content: Path, checkout: Path = REPO, current_only: bool = False) -> int:
    out = Path(tempfile.mkdtemp(prefix="feedsvc-out-", dir=WORKDIR)) / "public"
    env = {k: v for k, v in os.environ.items() if not k.startswith("FEEDSVC_")}
    env.update(FEEDSVC_CONTENT_DIR=str(content), FEEDSVC_NOTIFY="0", FEEDSVC_SITE_URL="https://blog.example.org",
               PYTHONPATH=str(checkout))
    try:
        # cwd too: `python -m` puts the working folder first on sys.path, before PYTHONPATH
        command = ["-c", CURRENT_ONLY] if current_only else ["-m", "feedsvc.cli", "build"]
        subprocess.run([sys.executable, *command, str(out)], env=env, check=True, cwd=checkout,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        return sum(1 for p in out.rglob("*") if p.is_file())
    finally:
        shutil.rmtree(out.parent, ignore_errors=True)


def rebuild_after_edit(content: Path, runs: int) -> tuple[list[float], int, int]:
    """`feedsvc build` into its own previous export after one post's title was edited (a new
    title each time): wall seconds per run, documents, and how many of them were reused."""
    import re

    scratch = copy_corpus(content)
    out = scratch.parent / "public"
    env = {k: v for k, v in os.environ.items() if not k.startswith("FEEDSVC_")}
    env.update(FEEDSVC_CONTENT_DIR=str(scratch), FEEDSVC_NOTIFY="0", FEEDSVC_SITE_URL="https://blog.example.org")
    command = [sys.executable, "-m", "feedsvc.cli", "build", str(out)]
    post = sorted(scratch.rglob("*.md"))[len(list(scratch.rglob("*.md"))) // 2]
    try:
        subprocess.run(command, env=env, check=True, cwd=REPO, capture_output=True)
        seconds, total, reused = [], 0, 0
        for n in range(runs):
            post.write_text(re.sub(r"^title: (.*)$", rf"title: \1 (rebuild {n})", post.read_text(encoding="utf-8"), count=1,
                                   flags=re.M), encoding="utf-8")
            started = time.perf_counter()
            done = subprocess.run(command, env=env, check=True, cwd=REPO, capture_output=True, text=True)
            seconds.append(time.perf_counter() - started)
            found = re.search(r"(\d+) documents written .*?; (\d+) of them unchanged", done.stderr)
            total, reused = (int(found.group(1)), int(found.group(2))) if found else (0, 0)
        return seconds, total, reused
    finally:
        shutil.rmtree(scratch.parent, ignore_errors=True)


def _compress_file(path: str) -> int:
    from feedsvc.documents import BROTLI, GZIP, encode

    body = Path(path).read_bytes()
    encode(body, GZIP)
    encode(body, BROTLI)
    return len(body)


def compression_floor(content: Path) -> tuple[float, int, int]:
    """A lower bound for any export that writes the required siblings: the wall seconds to
    gzip and brotli (the service's levels) every identity file of a `feedsvc build`, one
    process per CPU, nothing rendered or written; and the files and bytes compressed."""
    import multiprocessing as mp

    out = Path(tempfile.mkdtemp(prefix="feedsvc-floor-", dir=WORKDIR)) / "public"
    env = {k: v for k, v in os.environ.items() if not k.startswith("FEEDSVC_")}
    env.update(FEEDSVC_CONTENT_DIR=str(content), FEEDSVC_NOTIFY="0", FEEDSVC_SITE_URL="https://blog.example.org")
    try:
        subprocess.run([sys.executable, "-m", "feedsvc.cli", "build", str(out)], env=env, check=True, cwd=REPO,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        paths = sorted(str(p) for p in out.rglob("*") if p.is_file() and p.with_name(p.name + ".gz").exists())
        for path in paths:  # into the page cache: the floor is compression, not disk reads
            Path(path).read_bytes()
        started = time.perf_counter()
        with mp.get_context("fork").Pool(os.cpu_count()) as pool:
            sizes = pool.map(_compress_file, paths, chunksize=16)
        return time.perf_counter() - started, len(paths), sum(sizes)
    finally:
        shutil.rmtree(out.parent, ignore_errors=True)


def load() -> str:
    return "/".join(f"{x:.1f}" for x in os.getloadavg())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10000")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--current", action="store_true", help="also time the export without archive pages")
    parser.add_argument("--base", type=Path, help="a checkout from before a change, timed in the same alternation")
    parser.add_argument("--rebuild", action="store_true",
                        help="also time a rebuild into the previous export after one post was edited")
    parser.add_argument("--floor", action="store_true",
                        help="also time compressing the export's files alone (a lower bound for any export with siblings)")
    args = parser.parse_args()
    rows, notes = [], [f"load average (1/5/15 min) at the start: {load()}"]
    for size in (int(s) for s in args.sizes.split(",")):
        content = corpus(size)
        site = hugo_site(content)
        runs: dict[str, list[tuple[float, float]]] = {"hugo": [], "this": [], "current": [], "base": []}
        files, current_files, feeds = 0, 0, 0
        for _ in range(args.runs):
            hugo, seconds, cpu = timed(hugo_build, site)
            runs["hugo"].append((seconds, cpu))
            feeds = hugo.feeds
            files, seconds, cpu = timed(feedsvc_build, content)
            runs["this"].append((seconds, cpu))
            if args.current:
                current_files, seconds, cpu = timed(feedsvc_build, content, REPO, True)
                runs["current"].append((seconds, cpu))
            if args.base:
                _, seconds, cpu = timed(feedsvc_build, content, args.base.resolve())
                runs["base"].append((seconds, cpu))
        wall = {who: median(s for s, _ in got) for who, got in runs.items() if got}
        cpu = {who: median(c for _, c in got) for who, got in runs.items() if got}
        ratio = wall["this"] / wall["hugo"]
        rows.append(row(f"static export, {size} posts: `feedsvc build` ({files} files: feeds x 3 formats, archive pages, "
                        f"pages, each with .gz and .br) vs Hugo ({feeds} XML files), median of {args.runs}",
                        f"{wall['this']:.2f} s (CPU {cpu['this']:.1f} s)", f"Hugo {wall['hugo']:.2f} s (CPU {cpu['hugo']:.1f} s)",
                        ratio, "<= 1.0", ratio <= 1.0))
        if args.current:
            ratio = wall["current"] / wall["hugo"]
            rows.append(row(f"same without the archive pages ({current_files} files), vs the same Hugo runs",
                            f"{wall['current']:.2f} s (CPU {cpu['current']:.1f} s)", f"Hugo {wall['hugo']:.2f} s",
                            ratio, "-", None))
        if args.base:
            rows.append(row(f"same, this checkout vs `--base` {args.base}", f"{wall['this']:.2f} s",
                            f"{wall['base']:.2f} s (CPU {cpu['base']:.1f} s)", wall["this"] / wall["base"], "-", None))
        if args.rebuild:
            times, total, reused = rebuild_after_edit(content, args.runs)
            ratio = median(times) / wall["hugo"]
            rows.append(row(f"rebuild into the previous export after one post's title was edited ({reused} of {total} "
                            f"documents reused, the rest rendered), median of {args.runs}", f"{median(times):.2f} s",
                            f"Hugo {wall['hugo']:.2f} s (a full build: Hugo has no other)", ratio, "-", None))
        if args.floor:
            seconds, count, size_bytes = compression_floor(content)
            ratio = seconds / wall["hugo"]
            rows.append(row(f"floor: gzip and brotli alone of the export's {count} documents ({size_bytes / 2**20:.0f} MiB), "
                            f"{os.cpu_count()} processes, nothing rendered or written", f"{seconds:.2f} s",
                            f"Hugo {wall['hugo']:.2f} s", ratio, "-", None))
        notes.append(f"{size} posts, wall seconds per run: " + "; ".join(
            f"{who} " + ", ".join(f"{s:.1f}" for s, _ in got) for who, got in runs.items() if got))
        shutil.rmtree(site, ignore_errors=True)
    notes.append(f"load average at the end: {load()}")
    print_table(rows, notes)


if __name__ == "__main__":
    main()
