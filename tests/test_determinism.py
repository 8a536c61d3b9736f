"""Same content, same bytes: separate processes, started at different times, with different
TZ, hash seeds, locales and build parallelism, give byte-identical documents and ETags."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import gen_corpus
import pytest
from conftest import EDGE_CONTENT, ROOT, SITE_URL

DUMP = r"""
import hashlib, json, sys
from feedsvc.app import create_app
app = create_app({"CONTENT_DIR": sys.argv[1], "SITE_URL": sys.argv[2], "BUILD_WORKERS": int(sys.argv[3])})
snap = app.extensions["feedsvc"].current()
out = {}
for (key, fmt), doc in snap.documents.items():
    name = f"{key.kind}|{key.key}|{fmt}"
    out[name] = [hashlib.sha256(doc.body).hexdigest(), doc.etag, str(doc.last_modified)]
    if key.kind == "site":  # compressing every feed would be slow; the site feeds suffice
        out[name] += [doc.variant("gzip").etag, hashlib.sha256(doc.variant("gzip").body).hexdigest(),
                      hashlib.sha256(doc.variant("br").body).hexdigest()]
for path, doc in snap.pages.items():
    out["page|" + path] = [hashlib.sha256(doc.body).hexdigest(), doc.etag]
site = snap.index.feed_list()[0]
for page in range(1, len(site.posts) // 20 + 1):  # the site feed's RFC 5005 archive pages
    for fmt in ("rss", "atom", "json"):
        doc = snap.archive_document(site.key, page, fmt)
        out[f"archive|{page}|{fmt}"] = [hashlib.sha256(doc.body).hexdigest(), doc.etag, str(doc.last_modified)]
client = app.test_client()
for path in ("/rss.xml", "/atom.xml", "/feed.json", "/", "/opml.xml"):
    resp = client.get(path, headers={"Accept-Encoding": "gzip"})
    out["http|" + path] = [resp.headers["ETag"], resp.headers["Last-Modified"],
                           hashlib.sha256(resp.data).hexdigest()]
print(json.dumps(out, sort_keys=True))
"""


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("determinism")
    shutil.copytree(EDGE_CONTENT, root / "edge", symlinks=True)
    gen_corpus.main([str(root / "generated"), "300", "--seed", "5"])  # over the parallel build threshold
    return root


def dump(folder: Path, workers: int, **env: str) -> dict[str, list[str]]:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("FEEDSVC_")}
    environ.update(env, FEEDSVC_DATABASE_URL=f"sqlite:///{folder.parent / 'd.sqlite'}")
    proc = subprocess.run([sys.executable, "-c", DUMP, str(folder), SITE_URL, str(workers)], cwd=ROOT,
                          env=environ, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout)  # type: ignore[no-any-return]


def test_separate_processes_give_identical_bytes(folder: Path) -> None:
    first = dump(folder, 1, TZ="UTC", PYTHONHASHSEED="1", LC_ALL="C")
    for path in folder.rglob("*.md"):  # new mtimes: the content's identity is its bytes
        os.utime(path, (1_000_000_000, 1_000_000_000))
    second = dump(folder, 2, TZ="Asia/Shanghai", PYTHONHASHSEED="2", LC_ALL="C.UTF-8")
    third = dump(folder, 1, TZ="America/St_Johns", PYTHONHASHSEED="3", LANG="de_DE.UTF-8")
    assert len(first) > 100
    assert first == second
    assert first == third


def test_rebuild_in_one_process_is_identical(make_app, write_post) -> None:  # type: ignore[no-untyped-def]
    write_post("a.md", title="A", tags=["x", "y"])
    write_post("b.md", title="B", date="2024-02-01 00:00:00", categories=["c"])
    one, two = make_app(), make_app()
    for path in ("/rss.xml", "/atom.xml", "/feed.json", "/tags/x/rss.xml", "/categories/c/atom.xml", "/", "/opml.xml"):
        a, b = one.test_client().get(path), two.test_client().get(path)
        assert (a.data, a.headers["ETag"]) == (b.data, b.headers["ETag"]), path


def test_dates_in_output_come_from_posts_not_the_clock(make_app, write_post) -> None:  # type: ignore[no-untyped-def]
    write_post("a.md", title="A", date="2021-03-04 05:06:07")
    client = make_app().test_client()
    assert client.get("/rss.xml").headers["Last-Modified"] == "Thu, 04 Mar 2021 05:06:07 GMT"
    atom = client.get("/atom.xml").data.decode()
    assert "<updated>2021-03-04T05:06:07+00:00</updated>" in atom
    rss = client.get("/rss.xml").data.decode()
    assert "<lastBuildDate>Thu, 04 Mar 2021 05:06:07 +0000</lastBuildDate>" in rss
