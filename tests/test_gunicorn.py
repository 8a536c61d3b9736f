"""Header-sensitive HTTP behaviour under a real gunicorn (-k gthread) on loopback."""

from __future__ import annotations

import gzip
import json
import shutil
import socket
from collections.abc import Iterator
from pathlib import Path

import brotli
import pytest
from conftest import EDGE_CONTENT, SITE_URL, GunicornServer

PATHS = ["/rss.xml", "/atom.xml", "/feed.json", "/tags/python/rss.xml", "/tags/a%2Fb/atom.xml",
         "/tags/%E5%8D%97%E5%BC%80%E5%A4%A7%E5%AD%A6/feed.json", "/", "/opml.xml"]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GunicornServer]:
    root = tmp_path_factory.mktemp("gunicorn")
    shutil.copytree(EDGE_CONTENT, root / "content", symlinks=True)
    srv = GunicornServer(root / "content", root, workers=2, threads=4,
                         env={"FEEDSVC_CACHE_MAX_AGE": "77"}).start()
    yield srv
    srv.stop()


def raw_request(server: GunicornServer, request_line: bytes, headers: bytes = b"") -> tuple[int, bytes, bytes]:
    """Send bytes as they are (http.client refuses non-ASCII request targets)."""
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(request_line + b"\r\nHost: 127.0.0.1\r\nConnection: close\r\n" + headers + b"\r\n")
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    return status, head, body


def test_one_date_one_length_and_the_caching_headers(server: GunicornServer) -> None:
    for path in PATHS:
        resp = server.request("GET", path)
        assert resp.status == 200, (path, resp.body[:200])
        assert len(resp.all("Date")) == 1, path
        assert resp.all("Content-Length") == [str(len(resp.body))]
        assert not resp.all("Transfer-Encoding")
        assert resp.header("Cache-Control") == "public, max-age=77, s-maxage=10, stale-while-revalidate=30, stale-if-error=86400"
        # RSS and Atom are negotiated on Accept too (a browser gets application/xml)
        assert resp.header("Vary") == ("Accept, Accept-Encoding" if path.endswith(("rss.xml", "atom.xml")) else "Accept-Encoding")
        assert len(resp.all("ETag")) == 1 and len(resp.all("Last-Modified")) == 1


def test_head_matches_get(server: GunicornServer) -> None:
    for path in PATHS:
        for enc in ("identity", "gzip", "br"):
            get = server.request("GET", path, {"Accept-Encoding": enc})
            head = server.request("HEAD", path, {"Accept-Encoding": enc})
            assert head.status == 200 and head.body == b""
            strip = {"date"}
            assert sorted((k.lower(), v) for k, v in head.headers if k.lower() not in strip) == \
                sorted((k.lower(), v) for k, v in get.headers if k.lower() not in strip)


@pytest.mark.parametrize(("headers", "status"), [
    ({"If-None-Match": "{E}"}, 304),
    ({"If-None-Match": "W/{E}"}, 304),
    ({"If-None-Match": '"a", {E}'}, 304),
    ({"If-None-Match": "*"}, 304),
    ({"If-None-Match": '"nope"'}, 200),
    ({"If-Modified-Since": "{LM}"}, 304),
    ({"If-None-Match": '"nope"', "If-Modified-Since": "{LM}"}, 200),
    ({"If-Match": "*", "If-None-Match": "{E}"}, 304),
    ({"If-Match": '"nope"'}, 412),
])
def test_conditional_get_under_gunicorn(server: GunicornServer, headers: dict[str, str], status: int) -> None:
    first = server.request("GET", "/atom.xml")
    values = {"E": first.header("ETag"), "LM": first.header("Last-Modified")}
    resp = server.request("GET", "/atom.xml", {k: v.format(**values) for k, v in headers.items()})
    assert resp.status == status
    assert len(resp.all("Date")) == 1
    if status == 304:
        assert resp.body == b""
        for name in ("ETag", "Cache-Control", "Vary"):
            assert resp.header(name) == first.header(name)
        assert resp.all("Content-Length") in ([], ["0"])


def test_encodings_under_gunicorn(server: GunicornServer) -> None:
    plain = server.request("GET", "/feed.json")
    gz = server.request("GET", "/feed.json", {"Accept-Encoding": "gzip"})
    br = server.request("GET", "/feed.json", {"Accept-Encoding": "gzip, br"})
    assert gz.header("Content-Encoding") == "gzip" and gzip.decompress(gz.body) == plain.body
    assert br.header("Content-Encoding") == "br" and brotli.decompress(br.body) == plain.body
    assert len({plain.header("ETag"), gz.header("ETag"), br.header("ETag")}) == 3
    again = server.request("GET", "/feed.json", {"Accept-Encoding": "gzip", "If-None-Match": gz.header("ETag")})
    assert again.status == 304 and again.header("ETag") == gz.header("ETag")


def test_workers_serve_identical_bytes(server: GunicornServer) -> None:
    """Two workers: many requests land on both; every answer is the same document."""
    seen = {(r.header("ETag"), r.body) for r in (server.request("GET", "/rss.xml") for _ in range(20))}
    assert len(seen) == 1


FORGED = [{"Host": "evil.example"}, {"Host": "evil.example", "X-Forwarded-Host": "evil2.example",
                                     "X-Forwarded-Proto": "http", "X-Forwarded-For": "6.6.6.6",
                                     "Forwarded": "host=evil3.example;proto=http"}]


@pytest.mark.parametrize("forged", FORGED)
def test_forged_host_changes_nothing_under_gunicorn(server: GunicornServer, forged: dict[str, str]) -> None:
    evil_health = json.loads(server.request("GET", "/healthz", forged).body)
    assert "evil" not in json.dumps(evil_health)
    for path in PATHS + ["/tags/nope/rss.xml", "//rss.xml", "/tags//rss.xml", "/nope/"]:
        honest = server.request("GET", path)
        evil = server.request("GET", path, forged)
        assert (evil.status, evil.body) == (honest.status, honest.body), path
        drop = {"date"}
        assert sorted((k, v) for k, v in evil.headers if k.lower() not in drop) == \
            sorted((k, v) for k, v in honest.headers if k.lower() not in drop), path
        assert b"evil" not in evil.body and not any("evil" in v for _, v in evil.headers)


def test_absolute_form_request_target(server: GunicornServer) -> None:
    status, head, body = raw_request(server, b"GET http://evil.example/rss.xml HTTP/1.1")
    assert status < 500
    assert b"evil" not in body and b"evil" not in head


def test_raw_utf8_and_percent_encoded_names(server: GunicornServer) -> None:
    encoded = server.request("GET", "/tags/%E5%8D%97%E5%BC%80%E5%A4%A7%E5%AD%A6/rss.xml")
    assert encoded.status == 200
    # raw UTF-8 in the request line is not HTTP (RFC 9112 3.2: the target is ASCII); browsers
    # percent-encode it. gunicorn 27 answers 400; if a server lets it through, it must work.
    status, _, body = raw_request(server, "GET /tags/南开大学/rss.xml HTTP/1.1".encode())
    assert status in (200, 400)
    if status == 200:
        assert body == encoded.body
    slash = server.request("GET", "/tags/a%2Fb/rss.xml")
    assert slash.status == 200 and f"{SITE_URL}/tags/a%2Fb/rss.xml".encode() in slash.body


@pytest.mark.parametrize("target", [
    b"/tags/%FF/rss.xml", b"/tags/%C3%28/rss.xml", b"/tags/%/rss.xml", b"/tags/%00/rss.xml", b"/tags/\xff/rss.xml",
    b"/tags/%ED%A0%80/rss.xml", b"//rss.xml", b"/../rss.xml", b"/tags/" + b"a" * 3000 + b"/rss.xml",
    b"/" + b"a" * 9000, b"/tags/%2e%2e/rss.xml", b"/tags/%2F/rss.xml", b"*", b"/rss.xml?%FF=%FF",
])
def test_weird_paths_never_500_under_gunicorn(server: GunicornServer, target: bytes) -> None:
    status, head, body = raw_request(server, b"GET " + target + b" HTTP/1.1")
    assert status < 500, (target[:60], body[:200])
    assert b"Traceback" not in body


def test_healthz_under_gunicorn(server: GunicornServer) -> None:
    body = json.loads(server.request("GET", "/healthz").body)
    assert {e["path"] for e in body["errors"]} == {p.name for p in EDGE_CONTENT.glob("bad-*")}


def test_two_servers_at_once_do_not_collide(gunicorn_factory, content_dir: Path, write_post) -> None:  # type: ignore[no-untyped-def]
    """gunicorn 27 opens a control socket under ~/.gunicorn by default; the fixture turns it off,
    so parallel test runs (and a developer's own gunicorn) never fight over it."""
    write_post("a.md", title="A")
    one = gunicorn_factory(content_dir)
    two = gunicorn_factory(content_dir)
    a, b = one.request("GET", "/rss.xml"), two.request("GET", "/rss.xml")
    assert a.status == b.status == 200 and a.body == b.body and a.header("ETag") == b.header("ETag")


def test_feedsvc_serve_runs_gunicorn_without_a_control_socket(tmp_path: Path, content_dir: Path, write_post) -> None:  # type: ignore[no-untyped-def]
    """`feedsvc serve` (the console script): serves the folder; gunicorn 27's control socket at
    ~/.gunicorn/gunicorn.ctl is off, so a second instance cannot steal or delete it."""
    import os
    import signal
    import subprocess
    import time

    from conftest import ROOT, free_port

    exe = ROOT / ".venv" / "bin" / "feedsvc"
    if not exe.exists():
        pytest.skip("the feedsvc console script is not installed in .venv")
    write_post("a.md", title="Served")
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("FEEDSVC_")}
    env.update(FEEDSVC_SITE_URL=SITE_URL, FEEDSVC_BUILD_WORKERS="1",
               FEEDSVC_DATABASE_URL=f"sqlite:///{tmp_path / 'serve.sqlite'}")
    log_path = tmp_path / "serve.log"
    with open(log_path, "wb") as log:
        proc = subprocess.Popen([str(exe), "serve", "--bind", f"127.0.0.1:{port}", "--workers", "1",
                                 "--content", str(content_dir)], cwd=tmp_path, env=env, stdout=log,
                                stderr=subprocess.STDOUT, start_new_session=True)
    try:
        server = GunicornServer(content_dir, tmp_path)
        server.port = port
        deadline = time.monotonic() + 60
        body = b""
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                body = server.request("GET", "/rss.xml", timeout=2).body
                break
            except OSError:
                time.sleep(0.05)
        assert b"<title>Served</title>" in body, log_path.read_text(errors="replace")[-3000:]
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=5)
    assert "Control socket" not in log_path.read_text(errors="replace")
