"""Profile the cold build in-process: where the CPU goes (cProfile) and what the memory holds
(tracemalloc by file and by line, plus a direct tally of the snapshot's big parts).

The build runs with ``BUILD_WORKERS=1`` so the profilers see all of the work (with forked
helpers, parsing and rendering happen in children the profiler does not see).

Usage: .venv/bin/python bench/profile_build.py [--posts 10000] [--top 25] [--part cpu,mem,edit]
Full pstats text goes to bench/out/profile-<posts>.txt.
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import io
import os
import pstats
import subprocess
import sys
import time
import tracemalloc
from collections import defaultdict
from pathlib import Path

from _common import WORKDIR, corpus, proc_status_mb


def service(content: Path):  # type: ignore[no-untyped-def]
    from feedsvc.config import load_settings
    from feedsvc.service import FeedService

    return FeedService(load_settings({"CONTENT_DIR": str(content), "BUILD_WORKERS": 1, "NOTIFY": False}))


def package_of(filename: str) -> str:
    """A coarse owner for a code file: the site-packages package, feedsvc module, or stdlib."""
    if "site-packages/" in filename:
        return filename.split("site-packages/", 1)[1].split("/", 1)[0]
    if "/feedsvc/" in filename:
        return "feedsvc/" + filename.rsplit("/", 1)[1]
    if filename.startswith("<") or filename == "~":
        return "builtins"
    return "stdlib:" + filename.rsplit("/", 1)[-1]


def cpu(content: Path, top: int, out: Path) -> None:
    import feedsvc  # noqa: F401  (imports are not part of the build)

    svc = service(content)
    profiler = cProfile.Profile()
    started = time.perf_counter()
    profiler.runcall(svc.reload)
    wall = time.perf_counter() - started
    stats = pstats.Stats(profiler)
    by_package: dict[str, float] = defaultdict(float)
    total = 0.0
    for (filename, _line, _name), (_cc, _nc, tottime, _ct, _callers) in stats.stats.items():  # type: ignore[attr-defined]
        by_package[package_of(filename)] += tottime
        total += tottime
    print(f"## cProfile: cold build of {content.name}, one process: {wall:.2f}s wall under the profiler\n")
    print("| own time by package/module | s | share |\n|---|---|---|")
    for name, seconds in sorted(by_package.items(), key=lambda kv: -kv[1])[:15]:
        print(f"| {name} | {seconds:.2f} | {seconds / total:.0%} |")
    buffer = io.StringIO()
    pstats.Stats(profiler, stream=buffer).sort_stats("cumulative").print_stats(top)
    pstats.Stats(profiler, stream=buffer).sort_stats("tottime").print_stats(top)
    out.write_text(buffer.getvalue())
    print(f"\n(top {top} by cumulative and by own time: {out})\n")
    cumulative = io.StringIO()
    pstats.Stats(profiler, stream=cumulative).sort_stats("cumulative").print_stats(top)
    print("```\n" + "\n".join(cumulative.getvalue().splitlines()[-top - 3:]) + "\n```")


def edit_profile(content: Path, top: int) -> None:
    """cProfile of one reload after one post (the newest: the site feed changes) was edited."""
    import shutil
    import tempfile

    scratch = Path(tempfile.mkdtemp(prefix="edit-", dir=WORKDIR)) / "content"
    shutil.copytree(content, scratch)
    try:
        svc = service(scratch)
        svc.reload()
        target = sorted(scratch.rglob("*.md"), key=lambda p: p.name)[-1]
        with open(target, "a", encoding="utf-8") as fh:
            fh.write("\n\nbench-profile-edit\n")
        profiler = cProfile.Profile()
        started = time.perf_counter()
        report = profiler.runcall(svc.reload)
        wall = time.perf_counter() - started
    finally:
        shutil.rmtree(scratch.parent, ignore_errors=True)
    print(f"## cProfile: reload after editing 1 of {content.name}: {wall * 1e3:.0f} ms under the profiler ({report})\n")
    buffer = io.StringIO()
    pstats.Stats(profiler, stream=buffer).sort_stats("cumulative").print_stats(top)
    print("```\n" + "\n".join(buffer.getvalue().splitlines()[-top - 3:]) + "\n```")


def _shallow_size(obj: object) -> int:
    """Size of a str/bytes, or of the str/bytes parts of a tuple or dataclass (one level)."""
    if isinstance(obj, (tuple, list)):
        return sum(sys.getsizeof(part) for part in obj)
    fields = getattr(obj, "__dataclass_fields__", None)
    if fields:
        return sum(sys.getsizeof(getattr(obj, name)) for name in fields)
    return sys.getsizeof(obj)


def tally(svc) -> list[tuple[str, float]]:  # type: ignore[no-untyped-def]
    """Direct sizes (MiB) of the snapshot's big parts."""
    snap = svc.snapshot
    docs = list(snap.documents.values())
    variants = sum(len(v.body) for d in docs for enc, v in d._variants.items() if enc != "identity")
    posts = list(snap.index.posts.values())
    bodies = svc.cache.bodies.values()
    mib = 1 << 20
    return [
        ("documents: identity bodies", sum(len(d.body) for d in docs) / mib),
        ("documents: compressed variants (so far)", variants / mib),
        ("posts: Markdown body as held (packed_body bytes, or body str)",
         sum(sys.getsizeof(getattr(p, "packed_body", None) or p.body) for p in posts) / mib),
        ("posts: summary (str)", sum(sys.getsizeof(getattr(p, "summary", "")) for p in posts) / mib),
        (f"render cache: {len(svc.cache.bodies)} rendered bodies (getsizeof of fields)",
         sum(_shallow_size(b) for b in bodies) / mib),
    ]


def mem(content: Path, top: int) -> None:
    import feedsvc  # noqa: F401

    gc.collect()
    rss_before = proc_status_mb(os.getpid(), "VmRSS")
    tracemalloc.start(1)
    svc = service(content)
    svc.reload()
    gc.collect()
    snap = tracemalloc.take_snapshot()
    current, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    rss_after = proc_status_mb(os.getpid(), "VmRSS")
    print(f"## tracemalloc after the cold build of {content.name} (one process)\n")
    print(f"RSS after imports {rss_before:.0f} MiB, after build {rss_after:.0f} MiB (HWM {proc_status_mb(os.getpid(), 'VmHWM'):.0f}, "
          f"inflated by tracemalloc's own bookkeeping); traced Python heap now {current / 2**20:.0f} MiB, peak during build {peak / 2**20:.0f} MiB.\n")
    for key, label in (("filename", "file"), ("lineno", "line")):
        print(f"| live allocations by {label} | MiB | blocks |\n|---|---|---|")
        for stat in snap.statistics(key)[:top if key == "lineno" else 12]:
            frame = stat.traceback[0]
            where = package_of(frame.filename) + (f":{frame.lineno}" if key == "lineno" else "")
            print(f"| {where} | {stat.size / 2**20:.1f} | {stat.count:,} |")
        print()
    print("| direct tally of the snapshot | MiB |\n|---|---|")
    for name, size in tally(svc):
        print(f"| {name} | {size:.1f} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--posts", type=int, default=10000)
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument("--part", default="cpu,mem,edit", help="cpu: cold build; mem: tracemalloc; edit: one-edit reload")
    args = parser.parse_args()
    WORKDIR.mkdir(parents=True, exist_ok=True)
    content = corpus(args.posts)
    parts = args.part.split(",")
    if len(parts) > 1:  # each part in its own fresh process: neither disturbs the other
        for part in parts:
            subprocess.run([sys.executable, __file__, "--posts", str(args.posts), "--top", str(args.top), "--part", part], check=True)
            print()
        return
    if parts[0] == "cpu":
        cpu(content, args.top, WORKDIR / f"profile-{args.posts}.txt")
    elif parts[0] == "edit":
        edit_profile(content, args.top)
    else:
        mem(content, args.top)


if __name__ == "__main__":
    main()
