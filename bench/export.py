"""Static export (issue 10.2): `feedsvc build OUTDIR` against Hugo building the same feeds.

For each corpus size, alternating in one run (Hugo, feedsvc, Hugo, feedsvc, ...):
- Hugo: a full build of bench/hugo-site (site, category and tag feeds, RSS and Atom).
- feedsvc: `feedsvc build OUT` in a fresh process (every feed in RSS, Atom and JSON Feed, the
  index page and OPML, each with .gz and .br siblings), FEEDSVC_NOTIFY=0 (no store needed).
Wall seconds from launch to exit; the ratio is feedsvc / Hugo (target <= 1.0 at 10k posts).

Usage: .venv/bin/python bench/export.py [--sizes 10000] [--runs 3]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from _common import REPO, WORKDIR, corpus, hugo_build, hugo_site, median, print_table, row


def feedsvc_build(content: Path) -> tuple[float, int]:
    out = Path(tempfile.mkdtemp(prefix="feedsvc-out-", dir=WORKDIR)) / "public"
    env = {k: v for k, v in os.environ.items() if not k.startswith("FEEDSVC_")}
    env.update(FEEDSVC_CONTENT_DIR=str(content), FEEDSVC_NOTIFY="0", FEEDSVC_SITE_URL="https://blog.example.org")
    started = time.perf_counter()
    subprocess.run([str(REPO / ".venv" / "bin" / "feedsvc"), "build", str(out)], env=env, check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    seconds = time.perf_counter() - started
    files = sum(1 for p in out.rglob("*") if p.is_file())
    shutil.rmtree(out.parent, ignore_errors=True)
    return seconds, files


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10000")
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    rows = []
    for size in (int(s) for s in args.sizes.split(",")):
        content = corpus(size)
        site = hugo_site(content)
        hugo, ours, files, feeds = [], [], 0, 0
        for _ in range(args.runs):
            run = hugo_build(site)
            hugo.append(run.seconds)
            feeds = run.feeds
            seconds, files = feedsvc_build(content)
            ours.append(seconds)
        ratio = median(ours) / median(hugo)
        rows.append(row(f"static export, {size} posts: `feedsvc build` ({files} files: feeds x 3 formats + pages, "
                        f"each with .gz and .br) vs Hugo ({feeds} XML files), median of {args.runs}",
                        f"{median(ours):.2f} s", f"Hugo {median(hugo):.2f} s", ratio, "<= 1.0", ratio <= 1.0))
        shutil.rmtree(site, ignore_errors=True)
    print_table(rows)


if __name__ == "__main__":
    main()
