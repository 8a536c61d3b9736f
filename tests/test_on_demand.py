"""Issue 10.5: feed documents are rendered on first request into a bounded cache, and their
ETags come from their inputs (the feed's ordered item versions, the settings, the code), so a
build renders no feed, a 304 renders nothing, memory follows the cache size, and a document
dropped from the cache comes back with the same bytes."""

from __future__ import annotations

import gc
import hashlib
import shutil
import weakref
from collections.abc import Callable
from pathlib import Path
from typing import Any

from flask import Flask

from feedsvc.config import load_settings
from feedsvc.fingerprint import PACKAGE, code_digest, settings_version
from feedsvc.service import FeedService


def _posts(write_post: Callable[..., Path], count: int = 30, words: int = 200) -> None:
    """``count`` posts of ``words`` words each, made up so that they hardly compress."""
    for i in range(count):
        text = " ".join(hashlib.sha256(f"{i}/{w}".encode()).hexdigest()[:10] for w in range(words))
        write_post(f"p{i:03d}.md", title=f"Post {i}", date=f"2024-01-{1 + i % 28:02d} 10:{i % 60:02d}:00",
                   tags=[f"t{i % 7}", f"only{i}"], categories=["c"], body=f"Body {i} {text}")


def _svc(app: Flask) -> FeedService:
    return app.extensions["feedsvc"]  # type: ignore[no-any-return]


def test_a_build_renders_no_feed_and_holds_no_feed_bytes(write_post: Callable[..., Path], make_app: Callable[..., Flask]) -> None:
    _posts(write_post)
    svc = _svc(make_app())
    snap = svc.current()
    assert len(snap.documents) == 3 * len(snap.index.feeds) > 100
    assert all(doc.is_lazy for doc in snap.documents.values())
    assert svc.renderer.rendered == 0 and svc.renderer.cache.size == 0
    held = sorted(path for path, doc in snap.pages.items() if not doc.is_lazy)
    assert held == ["/feed.css", "/feed.xsl"]  # preview pages, the home page and OPML are lazy too
    assert len(snap.pages) == len(snap.index.feeds) + 3


def test_a_304_renders_nothing(write_post: Callable[..., Path], make_app: Callable[..., Flask]) -> None:
    _posts(write_post)
    app = make_app()
    svc = _svc(app)
    client = app.test_client()
    for path, enc in (("/rss.xml", "identity"), ("/tags/t3/atom.xml", "gzip"), ("/tags/only5/feed.json", "br")):
        doc = next(d for (k, fmt), d in svc.current().documents.items()
                   if svc.current().index.feeds[k].document_path(fmt) == path)
        resp = client.get(path, headers={"If-None-Match": doc.variant_etag(enc), "Accept-Encoding": enc})
        assert resp.status_code == 304, path
        assert resp.headers["ETag"] == doc.variant_etag(enc)
    assert svc.renderer.rendered == 0
    page = client.get("/tags/t3/")  # a preview page is lazy too
    assert page.status_code == 200
    assert client.get("/tags/t3/", headers={"If-None-Match": page.headers["ETag"]}).status_code == 304
    assert svc.renderer.rendered == 0  # the page renders post bodies, not feeds
    first = client.get("/tags/t3/atom.xml")
    assert first.status_code == 200 and svc.renderer.rendered == 1
    assert first.headers["ETag"] == next(d for (k, fmt), d in svc.current().documents.items()
                                         if k.key == "t3" and fmt == "atom").variant_etag("identity")


def test_the_cache_is_bounded_and_a_dropped_document_comes_back_the_same(
        write_post: Callable[..., Path], make_app: Callable[..., Flask]) -> None:
    _posts(write_post, 60, words=1500)
    app = make_app(document_cache_mb=1)
    svc = _svc(app)
    client = app.test_client()
    paths = [feed.document_path(fmt) for feed in svc.current().index.feed_list() for fmt in ("rss", "atom", "json")]
    first = {p: client.get(p) for p in paths}
    assert all(r.status_code == 200 for r in first.values())
    total = sum(len(r.data) for r in first.values())
    cache = svc.renderer.cache
    assert cache.size <= 1024 * 1024 < total  # the crawl made more than the cache holds
    assert cache.evictions > 0
    assert cache.encoded_size > 0  # gzip variants are kept beside identity bytes
    rendered = svc.renderer.rendered
    again = {p: client.get(p) for p in paths}
    assert svc.renderer.rendered > rendered  # dropped documents were rendered again ...
    for p in paths:  # ... to the same bytes and validators
        assert again[p].data == first[p].data, p
        assert again[p].headers["ETag"] == first[p].headers["ETag"]
        assert again[p].headers["Last-Modified"] == first[p].headers["Last-Modified"]


def test_no_cache_at_all_still_serves(write_post: Callable[..., Path], make_app: Callable[..., Flask]) -> None:
    _posts(write_post, 5)
    app = make_app(document_cache_mb=0)
    client = app.test_client()
    a, b = client.get("/atom.xml"), client.get("/atom.xml")
    assert a.status_code == b.status_code == 200 and a.data == b.data and a.headers["ETag"] == b.headers["ETag"]
    assert _svc(app).renderer.cache.size == 0


def _etags(app: Flask) -> dict[str, str]:
    snap = _svc(app).current()
    return {snap.index.feeds[k].document_path(fmt): d.etag for (k, fmt), d in snap.documents.items()}


def test_an_edit_moves_the_etags_of_its_feeds_only(write_post: Callable[..., Path], make_app: Callable[..., Flask]) -> None:
    _posts(write_post, 20)
    app = make_app()
    before = _etags(app)
    bodies = {p: app.test_client().get(p).data for p in before}
    write_post("p004.md", title="Post 4, edited", date="2024-01-05 10:04:00", tags=["t4", "only4"],
               categories=["c"], body="Body 4 " + "word " * 200)
    _svc(app).reload()
    after = _etags(app)
    moved = {p for p in before if before[p] != after[p]}
    feeds = {"", "/tags/t4", "/tags/only4", "/categories/c"}
    assert moved == {f"{f}/{name}" for f in feeds for name in ("rss.xml", "atom.xml", "feed.json")}
    for p in before:  # an ETag moved exactly when the bytes did
        assert (app.test_client().get(p).data != bodies[p]) == (p in moved), p


def test_settings_that_shape_documents_move_every_etag(write_post: Callable[..., Path], make_app: Callable[..., Flask]) -> None:
    _posts(write_post, 5)
    base = _etags(make_app())
    assert _etags(make_app(reload_interval=7, cache_max_age=1, document_cache_mb=3)) == base
    for change in ({"title": "Other"}, {"site_url": "https://other.example"}, {"timezone": "Asia/Shanghai"},
                   {"feed_limit": 3}, {"language": "zh-CN"}, {"websub_hubs": "https://hub.example/"}):
        moved = _etags(make_app(**change))
        assert all(moved[p] != base[p] for p in base if p in moved), change


def test_settings_version_ignores_operations_and_the_content_path() -> None:
    base = load_settings({"CONTENT_DIR": "/a"}, environ={})
    same: dict[str, Any] = {"CONTENT_DIR": "/b", "RELOAD_INTERVAL": 5, "ADMIN_TOKEN": "x" * 20, "DOCUMENT_CACHE_MB": 9}
    assert settings_version(load_settings(same, environ={})) == settings_version(base)
    assert settings_version(load_settings({"DESCRIPTION": "d"}, environ={})) != settings_version(base)


def test_code_version_changes_with_any_source_file(tmp_path: Path) -> None:
    copy = tmp_path / "feedsvc"
    shutil.copytree(PACKAGE, copy, ignore=shutil.ignore_patterns("__pycache__"))
    assert code_digest(copy) == code_digest(PACKAGE)
    template = copy / "templates" / "feed.xsl"
    template.write_text(template.read_text() + " ")
    assert code_digest(copy) != code_digest(PACKAGE)


def test_a_lazy_document_keeps_no_old_index_alive(write_post: Callable[..., Path], make_app: Callable[..., Flask]) -> None:
    """Unchanged feeds keep their document objects across reloads: those must hold their
    feed's inputs only, never the whole index they were built from."""
    _posts(write_post, 20)
    app = make_app()
    svc = _svc(app)
    old_index = weakref.ref(svc.current().index)
    write_post("p019.md", title="Post 19, edited", date="2024-01-20 10:19:00", tags=["t5"], categories=["c"], body="x")
    svc.reload()
    kept = svc.current().documents
    assert any(d is svc.current().documents[k] for k, d in kept.items())
    gc.collect()
    assert old_index() is None


def test_recording_a_change_renders_only_what_subscribers_get(write_post: Callable[..., Path], make_app: Callable[..., Flask]) -> None:
    """The version ledger records every changed topic by its ETag; a topic's body is rendered
    only when a WebSub subscriber will get it (none here)."""
    _posts(write_post, 10)
    app = make_app()
    svc = _svc(app)
    write_post("p003.md", title="Post 3, edited", date="2024-01-04 10:03:00", tags=["t3"], categories=["c"], body="y")
    report = svc.reload()
    assert report.applied and svc.renderer.rendered == 0


def test_identity_bytes_dropped_come_back_from_the_gzip_variant(write_post: Callable[..., Path],
                                                                make_app: Callable[..., Flask]) -> None:
    """Identity bytes get a third of the cache; a feed's gzip variant (~6x smaller) is kept
    in the rest, and dropped identity bytes are inflated from it instead of rendered again."""
    for i in range(60):
        write_post(f"p{i:03d}.md", title=f"Post {i}", date=f"2024-01-{1 + i % 28:02d} 10:{i % 60:02d}:00",
                   tags=[f"t{i % 7}", f"only{i}"], body="同一段文字，反复出现。" * 800)
    app = make_app(document_cache_mb=1)
    svc = _svc(app)
    client = app.test_client()
    paths = [feed.document_path(fmt) for feed in svc.current().index.feed_list() for fmt in ("rss", "atom", "json")]
    first = {p: client.get(p).data for p in paths}
    assert sum(map(len, first.values())) > 1024 * 1024  # more identity bytes than the whole cache
    rendered = svc.renderer.rendered
    assert rendered == len(paths) // 3  # each feed once, all its formats together
    again = {p: client.get(p).data for p in paths}
    assert again == first
    assert svc.renderer.rendered == rendered  # inflated, not rendered again


def test_a_cold_start_prerenders_the_largest_feeds_it_is_told_to(write_post: Callable[..., Path], tmp_path: Path) -> None:
    """FEEDSVC_PRERENDER_FEEDS: a cold start in forked helpers renders the RSS and Atom of the
    site feed and then the largest feeds, that many, into the cache (gzip); a request for one
    of them renders nothing, a request for another renders it."""
    _posts(write_post)
    content = Path(next(iter(tmp_path.rglob("p000.md"))).parent)

    def started(feeds: int) -> FeedService:
        svc = FeedService(load_settings({"CONTENT_DIR": str(content), "BUILD_WORKERS": 2, "PRERENDER_FEEDS": feeds}))
        svc.reload()  # the first build: forked helpers (no other thread runs in this test)
        return svc

    assert started(0).renderer.cache.encoded_size == 0
    svc = started(5)
    snap = svc.current()
    largest = sorted(snap.index.feed_list(), key=lambda f: (f.key.kind != "site", -len(f.posts)))[:5]
    assert largest[0].key.kind == "site"
    for feed in largest:
        for fmt in ("rss", "atom"):
            snap.documents[(feed.key, fmt)].variant("gzip")
    assert svc.renderer.rendered == 0  # all prerendered
    smallest = min(snap.index.feed_list(), key=lambda f: len(f.posts))
    snap.documents[(smallest.key, "rss")].variant("gzip")
    assert svc.renderer.rendered == 1
