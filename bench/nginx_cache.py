"""Cache hits through deploy/nginx/feedsvc.conf.template vs nginx serving the same bytes as a
static file (issue 10): requests/s of ``/rss.xml``, identity and gzip.

One nginx (the template, rendered as the tests render it, plus a static server on a second
port) in front of feedsvc under ``gunicorn -k gthread -w 2 --threads 4``. The static server
sends the bytes nginx cached, from files, with the same headers (ETag, Cache-Control, Vary,
Content-Encoding, Last-Modified from the file's mtime). ``wrk -t2 -c50 -dDs`` loads each side in
turn, alternating the order; the figure is the median over the repeats of proxy/static within
a repeat (target >= 0.8). feedsvc itself, without the proxy, is measured too, for context.

Usage: .venv/bin/python bench/nginx_cache.py [--posts 1000] [--duration 5] [--repeats 7]
"""

from __future__ import annotations

import argparse
import email.utils
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from _common import (
    HOST,
    REPO,
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
from throughput import PATH, spread, wrk

sys.path.insert(0, str(REPO / "tests"))
from nginx_proxy import Nginx, ensure_nginx  # noqa: E402  (tests/ is not a package)

ENCODINGS = ("identity", "gzip")


def static_server(port: int, root: Path, headers: dict[str, dict[str, str]]) -> str:
    """An http{}-context server sending ``root/<encoding>/rss.xml`` with feedsvc's headers (and
    ``X-Cache-Status: HIT`` as the proxy adds); the encoding comes from the template's map."""
    names = ("etag", "cache-control", "vary", "x-content-type-options", "content-encoding")
    maps, adds = [], []
    for name in names:
        variable = "$bench_" + name.replace("-", "_")
        values = "".join(f"        {enc} '{headers[enc].get(name, '')}';\n" for enc in ENCODINGS)
        maps.append(f"    map $feedsvc_encoding {variable} {{\n        default '';\n{values}    }}\n")
        adds.append(f"            add_header {name} {variable};\n")
    return "".join(maps) + f"""    server {{
        listen {HOST}:{port};
        gzip off;
        etag off;
        location = {PATH} {{
            types {{ }}
            default_type '{headers["identity"]["content-type"]}';
            root {root}/$feedsvc_encoding;
{"".join(adds)}            add_header x-cache-status HIT;
        }}
    }}
"""


def write_static(root: Path, app_port: int) -> tuple[dict[str, bytes], dict[str, dict[str, str]]]:
    """feedsvc's /rss.xml bodies, one file per encoding (mtime = Last-Modified), and headers."""
    bodies, headers = {}, {}
    for enc in ENCODINGS:
        status, hdrs, body = get(app_port, PATH, {"Accept-Encoding": enc})
        assert status == 200 and hdrs.get("content-encoding", "identity") == enc, hdrs
        bodies[enc], headers[enc] = body, hdrs
        file = root / enc / PATH.lstrip("/")
        file.parent.mkdir(parents=True)
        file.write_bytes(body)
        mtime = email.utils.parsedate_to_datetime(hdrs["last-modified"]).timestamp()
        os.utime(file, (mtime, mtime))
    return bodies, headers


COMPARED = ("etag", "cache-control", "vary", "x-content-type-options", "content-encoding", "content-type",
            "last-modified", "content-length", "x-cache-status")


def measure(ports: dict[str, int], headers: dict[str, str], args: argparse.Namespace) -> dict[str, list[float]]:
    """wrk on each side in turn, ``args.repeats`` times, the order reversed every other time."""
    for port in ports.values():  # warm-up
        wrk(port, headers, 2, args.threads, args.connections)
    runs: dict[str, list[float]] = {side: [] for side in ports}
    for rep in range(args.repeats):
        order = list(ports) if rep % 2 == 0 else list(ports)[::-1]
        for side in order:
            runs[side].append(wrk(ports[side], headers, args.duration, args.threads, args.connections))
    return runs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--posts", type=int, default=1000)
    parser.add_argument("--duration", type=int, default=5, help="wrk -d seconds per measurement")
    parser.add_argument("--repeats", type=int, default=7, help="measurements per side and case")
    parser.add_argument("--threads", type=int, default=2, help="wrk -t")
    parser.add_argument("--connections", type=int, default=50, help="wrk -c")
    args = parser.parse_args()
    binary = ensure_nginx()
    if binary is None:
        sys.exit("nginx is missing: apt-get install nginx-light")
    WORKDIR.mkdir(parents=True, exist_ok=True)
    content = corpus(args.posts)
    prefix = Path(tempfile.mkdtemp(prefix="nginx-", dir=WORKDIR))
    app_port, static_port = free_port(), free_port()
    # s-maxage of an hour: every measured request through the proxy is a hit, none revalidates
    app = start_gunicorn("wsgi:app", app_port, feedsvc_env(content, app_port, FEEDSVC_CACHE_S_MAXAGE="3600"))
    proxy = None
    try:
        wait_ready(app_port, PATH, app)
        bodies, headers = write_static(prefix / "static", app_port)
        proxy = Nginx(binary, prefix, f"{HOST}:{app_port}", extra=static_server(static_port, prefix / "static", headers),
                      workers=2, access_log=False).start()
        rows = []
        for enc in ENCODINGS:
            hdr = {"Accept-Encoding": enc}
            proxy.request(PATH, hdr)  # the miss that fills the cache
            seen = {}
            for side, port in (("proxy", proxy.port), ("static", static_port)):
                status, hdrs, body = get(port, PATH, hdr)
                assert status == 200 and body == bodies[enc], (side, status)
                seen[side] = {k: hdrs.get(k) for k in COMPARED}
            assert seen["proxy"] == seen["static"] and seen["proxy"]["x-cache-status"] == "HIT", seen
            runs = measure({"proxy": proxy.port, "static": static_port, "feedsvc": app_port}, hdr, args)
            shown = {side: f"{median(v):,.0f} (best {max(v):,.0f}, {spread(v)})" for side, v in runs.items()}
            # the median of the ratios of runs made back to back: the load of a shared machine
            # drifts between repeats far more than within one
            ratio = median(p / s for p, s in zip(runs["proxy"], runs["static"], strict=True))
            rows.append(row(f"req/s {PATH} {enc}, {len(bodies[enc])} B: nginx cache hit (the template) vs nginx static "
                            "file, same bytes and headers", shown["proxy"], shown["static"], ratio, ">= 0.8", ratio >= 0.8))
            ratio = median(p / a for p, a in zip(runs["proxy"], runs["feedsvc"], strict=True))
            rows.append(row(f"req/s {PATH} {enc}: nginx cache hit vs feedsvc alone (gunicorn -w 2 --threads 4)",
                            shown["proxy"], shown["feedsvc"], ratio, "none (context)", None))
        version = subprocess.run([binary, "-v"], capture_output=True, text=True, check=False).stderr.strip()
        print_table(rows, [
            f"{version}, worker_processes 2, access_log off; wrk -t{args.threads} -c{args.connections} -d{args.duration}s, "
            f"{args.repeats} repeats in alternating order: median req/s (best, min-max); the ratio is the median of the "
            "ratios of the runs of one repeat. wrk, nginx and gunicorn share the CPUs.",
        ])
    finally:
        if proxy is not None:
            proxy.stop()
        stop(app)
        shutil.rmtree(prefix, ignore_errors=True)


if __name__ == "__main__":
    main()
