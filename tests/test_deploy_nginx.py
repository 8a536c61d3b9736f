"""deploy/nginx/feedsvc.conf.template with a real nginx in front of a real gunicorn, on loopback.

The proxy revalidates with feedsvc's validators (304 upstream), keeps br, gzip and identity
apart, serves an edit within reload interval + s-maxage, serves stale copies while feedsvc is
down, and never keys its cache on the client's Host. Time bounds are deadlines with a margin;
nothing asserts a duration tighter than that.
"""

from __future__ import annotations

import gzip
import re
import shutil
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import brotli
import pytest
from conftest import GunicornServer, post_text, write_file
from nginx_proxy import TEMPLATE, VARIABLES, Nginx, ensure_nginx, render

RELOAD_INTERVAL = 1.0
S_MAXAGE = 2
MARGIN = 3.0  # seconds on top of a bound, for a loaded machine
SERVER_ENV = {"FEEDSVC_RELOAD_INTERVAL": str(RELOAD_INTERVAL), "FEEDSVC_CACHE_S_MAXAGE": str(S_MAXAGE),
              "FEEDSVC_NOTIFY": "0"}
DECODE: dict[str, Callable[[bytes], bytes]] = {"identity": lambda b: b, "gzip": gzip.decompress, "br": brotli.decompress}
PATHS = ["/rss.xml", "/feed.json", "/tags/python/atom.xml", "/"]


@pytest.fixture(scope="module")
def nginx_binary() -> str:
    binary = ensure_nginx()
    if binary is None:
        pytest.skip("nginx is missing and could not be installed (needs root, apt-get and Debian's nginx-light)")
    return binary


def write_site(content: Path) -> None:
    for n in range(3):
        write_file(content, f"post-{n}.md", post_text(title=f"Post {n}", date=f"2024-01-0{n + 1} 10:00:00",
                                                      tags=["python"], body=f"Body {n}.\n"))


def start_pair(binary: str, root: Path) -> tuple[GunicornServer, Nginx]:
    content = root / "content"
    write_site(content)
    upstream = GunicornServer(content, root, workers=1, env=SERVER_ENV, args=("--access-logfile", "-")).start()
    try:
        return upstream, Nginx(binary, root / "nginx", f"127.0.0.1:{upstream.port}").start()
    except Exception:
        upstream.stop()
        raise


@pytest.fixture(scope="module")
def pair(nginx_binary: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[GunicornServer, Nginx]]:
    upstream, proxy = start_pair(nginx_binary, tmp_path_factory.mktemp("proxied"))
    yield upstream, proxy
    proxy.stop()
    upstream.stop()


@pytest.fixture
def own_pair(nginx_binary: str, tmp_path: Path) -> Iterator[tuple[GunicornServer, Nginx]]:
    """A pair for a test that edits the content or stops feedsvc."""
    upstream, proxy = start_pair(nginx_binary, tmp_path)
    yield upstream, proxy
    proxy.stop()
    upstream.stop()


def cache_keys(proxy: Nginx) -> list[str]:
    """The key of every entry nginx stored (a "KEY: ..." line in each cache file's header)."""
    keys = []
    for path in proxy.cache_files():
        match = re.search(rb"\nKEY: ([^\n]*)\n", path.read_bytes())
        if match:
            keys.append(match.group(1).decode())
    return sorted(keys)


def until(predicate: Callable[[], bool], seconds: float, interval: float = 0.05) -> bool:
    """Poll ``predicate`` until it holds or the deadline passes."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)  # polling interval under a deadline
    return predicate()


# (Accept-Encoding sent by the client, the encoding the proxy must answer with)
ACCEPT = [(None, "identity"), ("identity", "identity"), ("gzip", "gzip"), ("gzip, deflate", "gzip"),
          ("GZIP", "gzip"), ("gzip, deflate, br", "br"), ("br", "br"), ("br;q=0.5, gzip", "br"),
          ("br;q=0, gzip", "gzip"), ("gzip;q=0, br;q=0", "identity"), ("deflate", "identity"),
          ("x-brotli, gzip;q=0.0", "identity"), ("x-gzip", "gzip")]


def test_encodings_are_never_mixed(pair: tuple[GunicornServer, Nginx]) -> None:
    upstream, proxy = pair
    for path in PATHS:
        origin = {enc: upstream.request("GET", path, {"Accept-Encoding": enc}) for enc in DECODE}
        plain = origin["identity"].body
        for _round in range(2):  # a miss then hits, in an order that alternates encodings
            for accept, encoding in ACCEPT:
                status, headers, body = proxy.request(path, {} if accept is None else {"Accept-Encoding": accept})
                assert status == 200, (path, accept)
                assert headers.get("content-encoding", "identity") == encoding, (path, accept, headers)
                assert headers["etag"] == origin[encoding].header("ETag"), (path, accept)
                assert body == origin[encoding].body and DECODE[encoding](body) == plain, (path, accept)
                for name in ("Vary", "Cache-Control", "Content-Type"):
                    assert headers[name.lower()] == origin[encoding].header(name), (path, accept, name)
        # conditional requests to the proxy compare with the variant of the request's encoding
        gz_etag = origin["gzip"].header("ETag")
        assert gz_etag is not None
        assert proxy.request(path, {"Accept-Encoding": "gzip", "If-None-Match": gz_etag})[0] == 304
        assert proxy.request(path, {"Accept-Encoding": "br", "If-None-Match": gz_etag})[0] == 200
        assert proxy.request(path, {"If-None-Match": gz_etag})[0] == 200
    for path in PATHS:  # three entries per URL, whatever the clients sent
        assert [k for k in cache_keys(proxy) if k.split(":", 2)[2] == path] == \
            sorted(f"{enc}:{type_class(path)}:{path}" for enc in DECODE)


def type_class(path: str, browser: bool = False) -> str:
    """The Accept class in the cache key: RSS and Atom are negotiated, other paths are not."""
    return ("html" if browser else "feed") if path.endswith(("/rss.xml", "/atom.xml")) else "any"


BROWSER = "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,*/*;q=0.8"
# (Accept sent by the client, whether feedsvc answers it as a browser: application/xml)
ACCEPT_TYPES = [(None, False), ("*/*", False), (BROWSER, True), ("text/html", True),
                ("application/rss+xml, application/atom+xml, text/html;q=0.5", False),
                ("text/html;q=0, */*", False), ("application/xml", False)]


def test_browser_and_reader_types_are_never_mixed(pair: tuple[GunicornServer, Nginx]) -> None:
    """RSS and Atom negotiate on Accept (Vary: Accept, Accept-Encoding): two classes in the
    cache, each with feedsvc's answer for it; other paths keep one entry."""
    upstream, proxy = pair
    for path in ("/atom.xml", "/tags/python/rss.xml", "/feed.json"):
        origin = {browser: upstream.request("GET", path, {"Accept": "text/html" if browser else "*/*",
                                                          "Accept-Encoding": "gzip"}) for browser in (False, True)}
        for _round in range(2):
            for accept, browser in ACCEPT_TYPES:
                want = origin[browser and type_class(path) != "any"]
                headers = {"Accept-Encoding": "gzip", **({} if accept is None else {"Accept": accept})}
                status, got, body = proxy.request(path, headers)
                assert status == 200 and body == want.body, (path, accept)
                assert (got["content-type"], got["etag"], got["vary"]) == \
                    (want.header("Content-Type"), want.header("ETag"), want.header("Vary")), (path, accept)
        keys = [k for k in cache_keys(proxy) if k.startswith("gzip:") and k.split(":", 2)[2] == path]
        assert keys == sorted({f"gzip:{type_class(path, b)}:{path}" for b in (False, True)})
    assert origin[True].header("Content-Type") == origin[False].header("Content-Type")  # JSON Feed: one type


def test_expired_copies_are_revalidated_with_304(pair: tuple[GunicornServer, Nginx]) -> None:
    upstream, proxy = pair
    path, accept = "/tags/python/rss.xml", {"Accept-Encoding": "gzip"}
    first = proxy.request(path, accept)
    statuses: list[str] = []

    def expired() -> bool:
        statuses.append(proxy.request(path, accept)[1]["x-cache-status"])
        return statuses[-1] != "HIT"

    assert until(expired, S_MAXAGE + MARGIN, 0.2), statuses
    assert statuses[-1] == "REVALIDATED", statuses
    again = proxy.request(path, accept)
    assert (again[0], again[1]["etag"], again[2]) == (first[0], first[1]["etag"], first[2])
    # the access log reaches its file a moment after the answer: wait for the line (a deadline)
    assert until(lambda: bool(re.search(r'"GET /tags/python/rss.xml HTTP/1.1" 304 ', upstream.log())), 10), upstream.log()


def test_edit_is_served_within_reload_interval_plus_s_maxage(own_pair: tuple[GunicornServer, Nginx]) -> None:
    upstream, proxy = own_pair
    assert proxy.request("/rss.xml")[1]["x-cache-status"] == "MISS"
    stored = time.monotonic()
    write_file(upstream.content_dir, "post-2.md", post_text(title="Edited title", date="2024-01-03 10:00:00",
                                                            tags=["python"], body="Body 2.\n"))
    edited = time.monotonic()
    status, headers, body = proxy.request("/rss.xml")
    if time.monotonic() - stored < S_MAXAGE / 2:  # still fresh in the proxy: served from its copy
        assert headers["x-cache-status"] == "HIT" and b"Edited title" not in body
    assert until(lambda: b"Edited title" in proxy.request("/rss.xml")[2], RELOAD_INTERVAL + S_MAXAGE + MARGIN)
    seconds = time.monotonic() - edited
    for encoding in ("gzip", "br"):
        _, headers, body = proxy.request("/rss.xml", {"Accept-Encoding": encoding})
        assert b"Edited title" in DECODE[headers["content-encoding"]](body), (encoding, seconds)


def test_stale_copies_while_feedsvc_is_down(own_pair: tuple[GunicornServer, Nginx]) -> None:
    upstream, proxy = own_pair
    primed = {enc: proxy.request("/rss.xml", {"Accept-Encoding": enc}) for enc in DECODE}
    upstream.stop()
    assert proxy.request("/atom.xml")[0] == 502  # nothing cached: nothing to serve
    for enc, (_, headers, body) in primed.items():
        seen: list[tuple[int, dict[str, str], bytes]] = []

        def stale(enc: str = enc, seen: list[tuple[int, dict[str, str], bytes]] = seen) -> bool:
            seen.append(proxy.request("/rss.xml", {"Accept-Encoding": enc}))
            return seen[-1][1].get("x-cache-status") == "STALE"

        assert until(stale, S_MAXAGE + MARGIN, 0.2), seen[-1][:2]
        status, stale_headers, stale_body = seen[-1]
        assert status == 200 and stale_body == body and stale_headers["etag"] == headers["etag"]
        assert stale_headers.get("content-encoding", "identity") == enc


FORGED = [{"Host": "evil.example"}, {"Host": "evil.example:8080", "X-Forwarded-Host": "evil2.example",
                                     "X-Forwarded-Proto": "http", "Forwarded": "host=evil3.example"}]


def test_a_forged_host_is_cached_nowhere(pair: tuple[GunicornServer, Nginx]) -> None:
    upstream, proxy = pair
    for path in ("/opml.xml", "/atom.xml"):
        for forged in FORGED:
            _, evil_headers, evil_body = proxy.request(path, forged)  # the first request may be the forged one
            status, headers, body = proxy.request(path)
            assert status == 200 and headers["x-cache-status"] in ("HIT", "REVALIDATED", "EXPIRED", "UPDATING")
            assert evil_body == body and evil_headers["etag"] == headers["etag"]
            assert b"evil" not in evil_body and not any("evil" in v for v in evil_headers.values())
    keys = cache_keys(proxy)
    assert not [k for k in keys if "evil" in k]
    assert [k for k in keys if k.startswith("identity:") and k.split(":", 2)[2] in ("/opml.xml", "/atom.xml")] == [
        "identity:any:/opml.xml",
        "identity:feed:/atom.xml"]


def test_render_is_envsubst_with_the_three_variables() -> None:
    """The tests' renderer gives what the deployment docs' envsubst command gives."""
    envsubst = shutil.which("envsubst")
    if envsubst is None:
        pytest.skip("envsubst (Debian gettext-base) is not installed")
    values = {"FEEDSVC_UPSTREAM": "127.0.0.1:8000", "NGINX_PORT": "8080", "NGINX_CACHE_DIR": "/var/cache/feedsvc"}
    shell = subprocess.run([envsubst, " ".join(f"${{{name}}}" for name in VARIABLES)], input=TEMPLATE.read_text(),
                           capture_output=True, text=True, check=True, env={**values, "host": "evil", "uri": "x"})
    ours = render(TEMPLATE.read_text(), values)
    assert shell.stdout == ours
    assert not [name for name in VARIABLES if f"${{{name}}}" in ours]
    assert "$proxy_host" in ours and "$request_uri" in ours


def test_slow_clients_wait_in_nginx_and_are_dropped(pair: tuple[GunicornServer, Nginx]) -> None:
    """gunicorn's gthread workers have no timeout for a request's headers: 100 connections that
    each send half a request held every thread of `feedsvc serve -w 2` (/healthz unanswered for
    over 60 s). In front, nginx holds them while feedsvc answers everyone else, and drops a
    client that stalls (client_header_timeout 10 s in the template; nginx's default is 60 s)."""
    _, proxy = pair
    deadline = 10 + 2 * MARGIN  # the template's 10 s, with a margin; nginx's default would be 60 s
    stalled = [socket.create_connection(("127.0.0.1", proxy.port), timeout=deadline) for _ in range(100)]
    try:
        for sock in stalled:
            sock.sendall(b"GET /rss.xml HTTP/1.1\r\nHost: x\r\n")  # never finished
        status, _, _ = proxy.request("/healthz")
        assert status == 200  # the upstream's threads are free
        for sock in (stalled[0], stalled[-1]):
            try:
                assert sock.recv(1024) == b""  # closed without an answer; a timeout here fails the test
            except ConnectionResetError:
                pass  # closed, with a reset
    finally:
        for sock in stalled:
            sock.close()
