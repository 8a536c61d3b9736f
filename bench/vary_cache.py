"""What ``Vary: Accept`` on RSS and Atom (issue 9.1) costs a shared cache in front of feedsvc.

A request stream with a realistic mix of feed readers and browsers (their real ``Accept`` and
``Accept-Encoding`` values, weighted by share) is sent to the feedsvc app in process; the
responses' own ``Vary`` headers decide the cache keys of a simulated shared cache
(RFC 9111 4.1: URL + the values of the request fields that Vary names). Three policies:

- ``negotiate``: what feedsvc does (Vary: Accept, Accept-Encoding), behind a cache that keys
  on the raw field values (Varnish without normalisation, Squid, most CDNs);
- ``negotiate+normalised``: the same behind a cache that first reduces Accept to two classes,
  "html" or "feed", with feedsvc's own rule (a few lines of VCL or an nginx ``map``);
- ``one type for all``: application/xml for every client, Vary: Accept-Encoding only (what the
  cache would see without negotiation).

Each cache is evaluated as multi-variant (keeps every variant: Varnish, CDNs) and
single-variant (one stored response per URL, replaced on a Vary mismatch: nginx's proxy_cache).
Entries stay fresh for ``--ttl`` requests-per-URL windows; hit ratio and stored variants are
printed per policy.

Usage: .venv/bin/python bench/vary_cache.py [--requests 200000] [--feeds 50]
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
from collections import Counter
from pathlib import Path

from _common import corpus

from feedsvc.http import prefers_html

# (share, Accept, Accept-Encoding): readers' values as their sources send them (2024-2026
# versions); browsers' navigation headers. Shares are a plausible mix for a blog's feeds:
# almost every request comes from a poller; a few percent are people clicking a feed link.
CLIENTS = [
    (0.18, "*/*", "gzip, deflate, br"),  # curl-based and Go pollers (FreshRSS, Feedbin's fetcher...)
    (0.14, "application/rss+xml, application/rdf+xml;q=0.8, application/atom+xml;q=0.6, application/xml;q=0.4, text/xml;q=0.4",
     "gzip, deflate"),  # feedparser (Python readers)
    (0.12, "application/atom+xml,application/rss+xml;q=0.9,application/xml;q=0.8,text/xml;q=0.8,*/*;q=0.7", "gzip"),
    (0.10, "application/rss+xml, application/atom+xml, application/xml;q=0.9, text/xml;q=0.8, */*;q=0.7", "gzip, br"),
    (0.10, "", "gzip"),  # no Accept at all
    (0.08, "application/xml, text/xml, application/rss+xml, application/atom+xml", "gzip"),
    (0.08, "application/atom+xml, application/rss+xml, application/xml, text/xml, */*;q=0.8", "gzip, deflate, br"),
    (0.06, "application/rss+xml, application/atom+xml, text/xml;q=0.9, */*;q=0.8", "gzip, deflate"),
    (0.05, "text/html, application/xhtml+xml, application/xml;q=0.9, */*;q=0.8", "gzip"),  # readers that copy a browser's
    (0.04, "application/feed+json, application/json;q=0.9, */*;q=0.8", "gzip, br"),
    # browsers (navigation): Chromium, Firefox, Safari
    (0.03, "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,image/apng,*/*;q=0.8,"
           "application/signed-exchange;v=b3;q=0.7", "gzip, deflate, br, zstd"),
    (0.01, "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8", "gzip, deflate, br, zstd"),
    (0.01, "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8", "gzip, deflate, br"),
]


def request_key(url: str, vary: str, headers: dict[str, str], normalise: bool) -> tuple[str, ...]:
    """RFC 9111 4.1: the secondary key is the request's values of the fields Vary names."""
    parts = [url]
    for name in (n.strip().lower() for n in vary.split(",") if n.strip()):
        value = headers.get(name, "")
        if normalise and name == "accept":
            value = "html" if prefers_html(value, "") else "feed"
        parts.append(value)
    return tuple(parts)


def simulate(stream: list[tuple[str, dict[str, str]]], vary_of: dict[str, str], normalise: bool,
             single_variant: bool, ttl: int) -> tuple[float, int]:
    """Hit ratio and the number of stored variants at the end; entries expire after ``ttl``
    requests to the same URL (a stand-in for max-age against request rate)."""
    store: dict[str, dict[tuple[str, ...], int]] = {}  # url -> key -> request number of the fetch
    clock: Counter[str] = Counter()
    hits = 0
    for url, headers in stream:
        clock[url] += 1
        key = request_key(url, vary_of[url], headers, normalise)
        variants = store.setdefault(url, {})
        fetched = variants.get(key)
        if fetched is not None and clock[url] - fetched < ttl:
            hits += 1
            continue
        if single_variant:
            variants.clear()
        variants[key] = clock[url]
    return hits / len(stream), sum(len(v) for v in store.values())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=200_000)
    parser.add_argument("--feeds", type=int, default=50, help="distinct feed URLs requested (Zipf-like popularity)")
    parser.add_argument("--ttl", type=int, default=200, help="requests per URL an entry stays fresh")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()

    from feedsvc.app import create_app

    with tempfile.TemporaryDirectory() as tmp:
        app = create_app({"CONTENT_DIR": str(corpus(300)), "NOTIFY": False, "BUILD_WORKERS": 1,
                          "DATABASE_URL": f"sqlite:///{Path(tmp) / 'v.sqlite'}", "TESTING": True})
        client = app.test_client()
        feeds = app.extensions["feedsvc"].current().index.feed_list()[: args.feeds]
        urls = [f"{feed.path}/{name}" for feed in feeds for name in ("rss.xml", "atom.xml")]
        rng = random.Random(args.seed)
        weights = [1 / (rank + 1) for rank in range(len(urls))]
        shares = [c[0] for c in CLIENTS]
        stream = []
        for url, (_, accept, encoding) in zip(rng.choices(urls, weights, k=args.requests),
                                              rng.choices(CLIENTS, shares, k=args.requests), strict=True):
            stream.append((url, {"accept": accept, "accept-encoding": encoding}))
        vary_now = {u: client.get(u, headers={"Accept": CLIENTS[-1][1]}).headers["Vary"] for u in urls}
        assert set(vary_now.values()) == {"Accept, Accept-Encoding"}, set(vary_now.values())
        vary_one = dict.fromkeys(urls, "Accept-Encoding")
        browser_share = sum(s for s, a, _ in CLIENTS if prefers_html(a, "application/rss+xml"))

    print(f"{args.requests} requests over {len(urls)} feed URLs, {len(CLIENTS)} client types "
          f"({browser_share:.0%} of requests get application/xml), fresh for {args.ttl} requests per URL\n")
    print("| policy | cache | hit ratio | variants stored | variants per URL |")
    print("|---|---|---|---|---|")
    for label, vary_of, normalise in (("negotiate (feedsvc)", vary_now, False),
                                      ("negotiate, Accept normalised to html/feed", vary_now, True),
                                      ("one type for all (no Vary: Accept)", vary_one, False)):
        for cache, single in (("multi-variant (Varnish, CDN)", False), ("single-variant (nginx)", True)):
            ratio, stored = simulate(stream, vary_of, normalise, single, args.ttl)
            print(f"| {label} | {cache} | {ratio:.1%} | {stored} | {stored / len(urls):.1f} |")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
