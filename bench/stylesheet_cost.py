"""Issue 9.1: the cost of the stylesheet change on the cached 200/304 path, per request.

Runs the same WSGI requests against two checkouts of feedsvc, each in its own process
(``PYTHONPATH=<checkout>``), alternating: a checkout from before the change (``--base``, e.g. a
``git worktree add --detach ../base <commit>``) and this one. Each process builds the app on
the same corpus and calls ``app.wsgi_app`` directly (no sockets, no server: only what feedsvc
does per request), ``--requests`` times per case, and reports the best of ``--batches``
batches in microseconds per request. Cases: a reader's 200 and 304 (identity and gzip), and,
where the checkout negotiates, a browser's 200 and 304. The figure is the ratio this/base.

Usage: .venv/bin/python bench/stylesheet_cost.py --base ../base [--posts 1000] [--rounds 3]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

from _common import REPO, corpus, median

CHILD = r"""
import json, sys, tempfile, time
from werkzeug.test import EnvironBuilder
from feedsvc.app import create_app
content, requests, batches = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
tmp = tempfile.mkdtemp()
app = create_app({"CONTENT_DIR": content, "NOTIFY": False, "BUILD_WORKERS": 1, "TESTING": True,
                  "DATABASE_URL": f"sqlite:///{tmp}/b.sqlite"})
browser = "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,*/*;q=0.8"
reader = "application/rss+xml, application/atom+xml, application/xml;q=0.9, */*;q=0.8"
def etag(headers):
    status = []
    body = b"".join(app.wsgi_app(EnvironBuilder(path="/rss.xml", headers=headers).get_environ(),
                                 lambda s, h: status.append(dict(h))))
    return status[0]["ETag"]
cases = {}
for who, accept in (("reader", reader), ("browser", browser)):
    for enc in ("identity", "gzip"):
        base = {"Accept": accept, "Accept-Encoding": enc}
        cases[f"{who} 200 {enc}"] = base
        cases[f"{who} 304 {enc}"] = {**base, "If-None-Match": etag(base)}
out = {}
for name, headers in cases.items():
    environ = EnvironBuilder(path="/rss.xml", headers=headers).get_environ()
    best = float("inf")
    for _ in range(batches):
        start = time.perf_counter()
        for _ in range(requests):
            for chunk in app.wsgi_app(dict(environ), lambda s, h: None):
                pass
        best = min(best, (time.perf_counter() - start) / requests)
    out[name] = best * 1e6
print(json.dumps(out))
"""


def run(checkout: Path, content: Path, requests: int, batches: int) -> dict[str, float]:
    env = {**os.environ, "PYTHONPATH": str(checkout), "FEEDSVC_LOG_LEVEL": "WARNING"}
    done = subprocess.run([sys.executable, "-c", CHILD, str(content), str(requests), str(batches)],
                          cwd=checkout, env=env, capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--base", type=Path, required=True, help="checkout from before the change")
    parser.add_argument("--posts", type=int, default=1000)
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--batches", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=3, help="alternating base/this runs")
    args = parser.parse_args()
    content = corpus(args.posts)
    base: dict[str, list[float]] = {}
    this: dict[str, list[float]] = {}
    for _ in range(args.rounds):
        for results, checkout in ((base, args.base.resolve()), (this, REPO)):
            for name, value in run(checkout, content, args.requests, args.batches).items():
                results.setdefault(name, []).append(value)
    print("| case (/rss.xml, in-process WSGI) | base µs/request | this µs/request | ratio this/base |")
    print("|---|---|---|---|")
    for name in this:
        b, t = median(base[name]), median(this[name])
        print(f"| {name} | {b:.1f} | {t:.1f} | {t / b:.2f} |")
    print(f"\nmedian over {args.rounds} alternating rounds of the best of {args.batches} batches of {args.requests} requests")


if __name__ == "__main__":
    main()
