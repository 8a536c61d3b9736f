"""Static export (issue 10.2): `feedsvc build OUTDIR` writes every document the service serves,
laid out like the URLs, byte-identical to the service's answers, with .gz and .br siblings,
file mtimes set to Last-Modified, and a manifest of feedsvc's strong ETags."""

from __future__ import annotations

import email.utils
import json
import os
import re
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from conftest import EDGE_CONTENT, SITE_URL
from flask import Flask

from feedsvc.export import file_path


@pytest.fixture
def exported(cli: Any, tmp_path: Path) -> tuple[Path, Path]:
    content = tmp_path / "edge"
    shutil.copytree(EDGE_CONTENT, content, symlinks=True)
    out = tmp_path / "public"
    env = {"FEEDSVC_CONTENT_DIR": str(content), "FEEDSVC_SITE_URL": SITE_URL, "FEEDSVC_TITLE": "Test site",
           "FEEDSVC_BUILD_WORKERS": "1", "FEEDSVC_NOTIFY": "0"}
    result = cli("build", str(out), env=env)
    assert result.exit_code == 0, result.output
    assert "documents written" in result.stderr
    return content, out


def test_every_document_is_byte_identical_to_the_service(exported: tuple[Path, Path], make_app: Callable[..., Flask]) -> None:
    content, out = exported
    manifest = json.loads((out / "_feedsvc" / "manifest.json").read_text())
    client = make_app(content_dir=str(content), notify=False).test_client()
    assert len(manifest) > 50 and "/" in manifest and "/opml.xml" in manifest and "/rss.xml" in manifest
    for url_path, entry in manifest.items():
        path = out / entry["file"]
        for encoding, suffix in (("identity", ""), ("gzip", ".gz"), ("br", ".br")):
            response = client.get(url_path, headers={"Accept-Encoding": encoding})
            assert response.status_code == 200, url_path
            assert response.data == Path(str(path) + suffix).read_bytes(), (url_path, encoding)
            assert response.headers["ETag"] == entry["etag"][encoding]
        assert response.headers["Content-Type"] == entry["content_type"]
        assert response.headers.get("Last-Modified") == entry["last_modified"]
        if entry["last_modified"]:  # the stylesheets have none
            stamp = email.utils.parsedate_to_datetime(entry["last_modified"]).timestamp()
            assert int(path.stat().st_mtime) == int(stamp)


def test_the_service_serves_nothing_the_export_lacks(exported: tuple[Path, Path], make_app: Callable[..., Flask]) -> None:
    content, out = exported
    manifest = json.loads((out / "_feedsvc" / "manifest.json").read_text())
    app = make_app(content_dir=str(content), notify=False)
    snapshot = app.extensions["feedsvc"].current()
    served = {path for path, _ in snapshot.by_path(app.config["SETTINGS"].archive_size)}
    assert set(manifest) <= served
    skipped = served - set(manifest)  # the tag named "..": a static server would read /tags/../rss.xml as /rss.xml
    assert skipped == {"/tags/%2E%2E/", "/tags/%2E%2E/rss.xml", "/tags/%2E%2E/atom.xml", "/tags/%2E%2E/feed.json"}


def test_a_rebuild_replaces_the_folder_whole(cli: Any, tmp_path: Path, write_post: Callable[..., Path],
                                              content_dir: Path) -> None:
    out = tmp_path / "public"
    env = {"FEEDSVC_CONTENT_DIR": str(content_dir), "FEEDSVC_NOTIFY": "0", "FEEDSVC_BUILD_WORKERS": "1"}
    write_post("a.md", title="A", tags=["gone-soon"])
    assert cli("build", str(out), env=env).exit_code == 0
    assert (out / "tags" / "gone-soon" / "rss.xml").exists()
    write_post("a.md", title="A", tags=["kept"])
    assert cli("build", str(out), env=env).exit_code == 0
    assert not (out / "tags" / "gone-soon").exists() and (out / "tags" / "kept" / "rss.xml.br").exists()
    assert not [p for p in os.listdir(tmp_path) if p.startswith((".feedsvc-build-", "public.old"))]


def _tree(root: Path) -> dict[str, tuple[bytes, float]]:
    """Each file's bytes and mtime (the stylesheets and the manifest, without a Last-Modified,
    keep the time of writing: 0 here)."""
    manifest = json.loads((root / "_feedsvc" / "manifest.json").read_text())
    stamped = {entry["file"].replace("/", os.sep) for entry in manifest.values() if entry["last_modified"]}
    tree = {}
    for path in root.rglob("*"):
        if path.is_file():
            rel = str(path.relative_to(root))
            document = rel[:-3] if rel.endswith((".gz", ".br")) else rel
            tree[rel] = (path.read_bytes(), path.stat().st_mtime if document in stamped else 0.0)
    return tree


def test_a_parallel_build_writes_the_same_bytes_as_a_serial_one(tmp_path: Path) -> None:
    """Archive pages are rendered, compressed and written by forked processes (BUILD_WORKERS=2,
    in a fresh single-threaded `feedsvc build` process, with more jobs than parallel.MIN_ITEMS):
    every file (and mtime) equals a one-process build's, and each .gz and .br sibling
    decompresses to its file."""
    import gzip
    import subprocess
    import sys

    import brotli
    import gen_corpus

    from feedsvc.parallel import MIN_ITEMS

    gen_corpus.main([str(tmp_path / "content"), "150", "--seed", "5"])
    env = {k: v for k, v in os.environ.items() if not k.startswith("FEEDSVC_")}
    env.update(FEEDSVC_CONTENT_DIR=str(tmp_path / "content"), FEEDSVC_SITE_URL=SITE_URL, FEEDSVC_NOTIFY="0",
               FEEDSVC_ARCHIVE_PAGE_SIZE="2", FEEDSVC_LOG_LEVEL="WARNING")
    trees = []
    for workers in ("2", "1"):
        out = tmp_path / f"public-{workers}"
        subprocess.run([sys.executable, "-m", "feedsvc.cli", "build", str(out)], env={**env, "FEEDSVC_BUILD_WORKERS": workers},
                       check=True, capture_output=True, timeout=300)
        trees.append(_tree(out))
    parallel, serial = trees
    assert parallel == serial
    manifest = json.loads(parallel[os.path.join("_feedsvc", "manifest.json")][0])
    assert len(manifest) > MIN_ITEMS and any(path.startswith("/archive/tags/") for path in manifest)
    for entry in manifest.values():
        rel = entry["file"].replace("/", os.sep)
        body = parallel[rel][0]
        assert gzip.decompress(parallel[rel + ".gz"][0]) == body
        assert brotli.decompress(parallel[rel + ".br"][0]) == body


@pytest.mark.parametrize(("url_path", "expected"), [
    ("/", "index.html"), ("/rss.xml", "rss.xml"), ("/tags/%E5%8D%97/atom.xml", "tags/南/atom.xml"),
    ("/tags/C%2FC%2B%2B/rss.xml", "tags/C/C++/rss.xml"), ("/tags/%25/feed.json", "tags/%/feed.json"),
    ("/tags/%2E%2E/rss.xml", None), ("/tags/%2E/rss.xml", None), ("/tags/a%00b/rss.xml", None), ("/tags//rss.xml", None),
])
def test_url_paths_map_to_files_as_a_static_server_reads_them(url_path: str, expected: str | None) -> None:
    assert file_path(url_path) == (expected.replace("/", os.sep) if expected else None)


STATIC_CONF = """user root;
worker_processes 1;
events {{ worker_connections 64; }}
http {{
    access_log off;
    client_body_temp_path {prefix}/tmp;
    proxy_temp_path {prefix}/tmp;
    types {{ text/html html; text/xsl xsl; text/css css; text/x-opml opml; }}
    charset utf-8;
    charset_types text/css text/xsl;
    server {{
        listen 127.0.0.1:{port};
        root {root};
        gzip_static on;
        location ~ /rss\\.xml$ {{ types {{ }} default_type "application/rss+xml; charset=utf-8"; }}
        location ~ /atom\\.xml$ {{ types {{ }} default_type "application/atom+xml; charset=utf-8"; }}
        location ~ /feed\\.json$ {{ types {{ }} default_type "application/feed+json; charset=utf-8"; }}
        location = /opml.xml {{ types {{ }} default_type "text/x-opml; charset=utf-8"; }}
        location / {{ index index.html; }}
    }}
}}
"""


def test_nginx_serves_the_export_as_the_service_does(exported: tuple[Path, Path], make_app: Callable[..., Flask],
                                                     tmp_path: Path) -> None:
    """Issue 10.2: nginx (gzip_static) serving OUTDIR answers every document with the bytes,
    gzip bytes, Content-Type and Last-Modified that feedsvc itself sends."""
    import gzip
    import http.client
    import signal
    import subprocess
    import time

    from conftest import free_port
    from nginx_proxy import ensure_nginx

    binary = ensure_nginx()
    if binary is None:
        pytest.skip("nginx is missing and could not be installed (needs root, apt-get and Debian's nginx-light)")
    content, out = exported
    manifest = json.loads((out / "_feedsvc" / "manifest.json").read_text())
    client = make_app(content_dir=str(content), notify=False).test_client()
    prefix = tmp_path / "nginx"
    (prefix / "tmp").mkdir(parents=True)
    port = free_port()
    (prefix / "nginx.conf").write_text(STATIC_CONF.format(prefix=prefix, port=port, root=out))
    proc = subprocess.Popen([binary, "-p", str(prefix), "-c", str(prefix / "nginx.conf"), "-g",
                             f"daemon off; pid {prefix / 'nginx.pid'}; error_log stderr;"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            probe = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
            try:
                probe.request("GET", "/_feedsvc/manifest.json")
                probe.getresponse().read()
                break
            except OSError:
                time.sleep(0.05)  # polling under a deadline
            finally:
                probe.close()
        for url_path in manifest:
            ours = client.get(url_path)
            for encoding in ("identity", "gzip"):
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
                conn.request("GET", url_path, headers={"Accept-Encoding": encoding})
                response = conn.getresponse()
                body = response.read()
                conn.close()
                assert response.status == 200, url_path
                if encoding == "gzip":
                    assert response.getheader("Content-Encoding") == "gzip", url_path
                    assert body == client.get(url_path, headers={"Accept-Encoding": "gzip"}).data
                    body = gzip.decompress(body)
                assert body == ours.data, url_path
            if url_path.endswith((".xml", ".json")):
                assert response.getheader("Content-Type") == ours.headers["Content-Type"], url_path
            assert response.getheader("Last-Modified") == ours.headers.get("Last-Modified", response.getheader("Last-Modified"))
    finally:
        proc.send_signal(signal.SIGQUIT)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()


def _build(out: Path, env: dict[str, str], *options: str) -> str:
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-m", "feedsvc.cli", "build", *options, str(out)], env=env, check=True,
                          capture_output=True, text=True, timeout=300)
    return done.stderr


def _reused(stderr: str) -> tuple[int, int]:
    found = re.search(r"(\d+) documents written .*?; (\d+) of them unchanged", stderr)
    assert found, stderr
    return int(found.group(1)), int(found.group(2))


def test_a_rebuild_reuses_what_did_not_change_and_equals_a_fresh_export(tmp_path: Path) -> None:
    """`feedsvc build` into an existing export links the files of every document made from the
    same inputs (posts, dates, code, settings) and makes the rest: after edits, a new post, a
    deletion and a retagging, the folder is byte for byte (and mtime for mtime) a fresh
    export's; nothing changed, everything is reused; a settings change reuses nothing."""
    import gen_corpus

    gen_corpus.main([str(tmp_path / "content"), "120", "--seed", "7"])
    env = {k: v for k, v in os.environ.items() if not k.startswith("FEEDSVC_")}
    env.update(FEEDSVC_CONTENT_DIR=str(tmp_path / "content"), FEEDSVC_SITE_URL=SITE_URL, FEEDSVC_NOTIFY="0",
               FEEDSVC_ARCHIVE_PAGE_SIZE="3", FEEDSVC_FEED_LIMIT="5", FEEDSVC_LOG_LEVEL="WARNING", FEEDSVC_BUILD_WORKERS="2")
    out, fresh = tmp_path / "public", tmp_path / "fresh"
    total, reused = _reused(_build(out, env))
    assert reused == 0 and total > 300
    inodes = {p.relative_to(out): p.stat().st_ino for p in out.rglob("*") if p.is_file()}

    assert _reused(_build(out, env)) == (total, total)  # nothing changed: every document reused
    relinked = {p.relative_to(out): p.stat().st_ino for p in out.rglob("*") if p.is_file()}
    assert {rel: ino for rel, ino in relinked.items() if rel.parts[0] != "_feedsvc"} == \
        {rel: ino for rel, ino in inodes.items() if rel.parts[0] != "_feedsvc"}

    posts = sorted((tmp_path / "content").rglob("*.md"))
    posts[10].write_text(posts[10].read_text(encoding="utf-8").replace("\n---\n", "\n---\nAn edited first line.\n\n", 1),
                         encoding="utf-8")
    posts[20].write_text(posts[20].read_text(encoding="utf-8").replace("title: ", "title: Retitled ", 1), encoding="utf-8")
    posts[30].unlink()
    retagged = re.sub(r"^tags: ?\n", "tags:\n- freshly-made-tag\n", posts[40].read_text(encoding="utf-8"), count=1, flags=re.M)
    assert "freshly-made-tag" in retagged
    posts[40].write_text(retagged, encoding="utf-8")
    (tmp_path / "content" / "zz-new.md").write_text(
        "---\ntitle: Newest\ndate: 2030-01-01 00:00:00\ntags: [soak]\ncategories: [notes]\n---\nNew body.\n", encoding="utf-8")
    total, reused = _reused(_build(out, env))
    assert 0 < reused < total  # the untouched archive pages of the untouched feeds, at least
    _build(fresh, env, "--fresh")
    assert _tree(out) == _tree(fresh)
    assert (out / "tags" / "freshly-made-tag" / "rss.xml").exists()

    os.unlink(next(out.glob("archive/**/rss.xml.br")))  # a file gone from the old export: made again
    assert _tree(out) != _tree(fresh)
    _build(out, env)
    assert _tree(out) == _tree(fresh)

    (out / "_feedsvc" / "manifest.json").write_text("{not json", encoding="utf-8")  # nothing to trust: all afresh
    assert _reused(_build(out, env))[1] == 0
    assert _tree(out) == _tree(fresh)
    assert _reused(_build(out, {**env, "FEEDSVC_TITLE": "Another title"}))[1] == 0  # the settings shape every document
