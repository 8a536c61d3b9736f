"""RFC 5005 archived feeds, as a client sees them: start at the current document, follow
prev-archive (feedparser for RSS and Atom, next_url in JSON Feed), merge by id: every published
post of the feed, none missing, none extra, newest first. On thousands of generated posts,
before and after adding, editing and deleting posts; archive pages keep their bytes unless one
of their posts changed (or, for a post inserted or removed among older ones, moved)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import feedparser
import gen_corpus
import pytest
from conftest import SITE_URL, post_text
from flask import Flask
from flask.testing import FlaskClient

from feedsvc.app import create_app
from feedsvc.index import SITE, TAG, FeedKey

POSTS = 2000
LIMIT = 20
SIZE = 20


def walk(client: FlaskClient, url: str) -> tuple[list[str], list[str]]:
    """(entry ids in the order a client meets them, merged by id; URLs fetched)."""
    seen: dict[str, None] = {}
    fetched: list[str] = []
    while url:
        assert url.startswith(SITE_URL), url
        resp = client.get(url[len(SITE_URL):])
        assert resp.status_code == 200, url
        fetched.append(url)
        page_ids, url = _read(url, resp.data)
        assert len(page_ids) == len(set(page_ids)), url  # each entry once within a document
        for uid in page_ids:
            seen.setdefault(uid)
        assert len(fetched) < 1000, "a prev-archive loop"
    return list(seen), fetched


def _read(url: str, body: bytes) -> tuple[list[str], str]:
    if url.endswith(".json"):
        feed = json.loads(body)
        return [i["id"] for i in feed["items"]], feed.get("next_url", "")
    # the client reads ids and links: skip its HTML sanitizer, ~90% of its time on these bodies
    parsed: Any = feedparser.parse(body, sanitize_html=False, resolve_relative_uris=False)
    assert not parsed.bozo, (url, parsed.get("bozo_exception"))
    prev = [ln["href"] for ln in parsed.feed.get("links", []) if ln.get("rel") == "prev-archive"]
    return [e.id for e in parsed.entries], prev[0] if prev else ""


def expected(app: Flask, key: FeedKey) -> list[str]:
    """The feed's published posts, newest first, as entry ids (what a client must collect)."""
    index = app.extensions["feedsvc"].current().index
    return [index.ids[s] for s in index.feeds[key].posts]


def check_feeds(app: Flask, formats: tuple[str, ...] = ("atom", "rss", "json")) -> dict[str, list[str]]:
    """Walk the site feed in every format and the largest tags in one format each; return the
    site feed's fetched URLs per format."""
    client = app.test_client()
    index = app.extensions["feedsvc"].current().index
    tags = sorted((f for f in index.feeds.values() if f.key.kind == TAG), key=lambda f: -len(f.posts))[:4]
    urls = {}
    for fmt in formats:
        ids, urls[fmt] = walk(client, f"{SITE_URL}/{_file(fmt)}")
        assert ids == expected(app, FeedKey(SITE, "")), fmt
    for i, feed in enumerate(tags):
        fmt = formats[i % len(formats)]
        ids, _ = walk(client, f"{SITE_URL}{feed.path}/{_file(fmt)}")
        assert ids == expected(app, feed.key), (feed.name, fmt)
    return urls


def _file(fmt: str) -> str:
    return {"atom": "atom.xml", "rss": "rss.xml", "json": "feed.json"}[fmt]


def etags(app: Flask, fmt: str = "atom") -> dict[int, str]:
    """Archive page -> ETag of the site feed's pages."""
    client = app.test_client()
    feed = app.extensions["feedsvc"].current().index.feeds[FeedKey(SITE, "")]
    return {n: client.get(f"/archive/{n}/{_file(fmt)}").headers["ETag"] for n in range(1, len(feed.posts) // SIZE + 1)}


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("archive-corpus")
    gen_corpus.main([str(root / "generated"), str(POSTS), "--seed", "3"])
    return root


@pytest.fixture
def site(corpus: Path, tmp_path: Path) -> tuple[Path, Flask]:
    content = tmp_path / "content"
    shutil.copytree(corpus, content)
    app = create_app({"CONTENT_DIR": str(content), "SITE_URL": SITE_URL, "BUILD_WORKERS": 1, "TESTING": True,
                      "FEED_LIMIT": LIMIT, "ARCHIVE_PAGE_SIZE": SIZE, "NOTIFY": False})
    return content, app


def reload(app: Flask) -> None:
    assert app.extensions["feedsvc"].reload().applied


def test_a_client_collects_every_post_before_and_after_changes(site: tuple[Path, Flask]) -> None:
    content, app = site
    urls = check_feeds(app, ("atom", "json"))
    assert len(urls["atom"]) == 1 + POSTS // SIZE
    before = etags(app)

    # a new post, newest of all: old pages keep their bytes; with POSTS % SIZE == 0 the
    # current document now holds the 1 post not archived yet plus 19 of the newest page
    (content / "new.md").write_text(post_text("Newest", "2025-06-01 00:00:00", tags=["archive-test"]))
    reload(app)
    check_feeds(app, ("json",))  # feedparser takes ~10 ms an entry: XML walks at the start and the end only
    assert etags(app) == before

    # edit one post's body: only its page changes
    victim = sorted((content / "generated").rglob("*.md"))[500]  # oldest-first position 500: page 26
    victim.write_text(victim.read_text() + "\nEdited.\n")
    reload(app)
    check_feeds(app, ("json",))
    after_edit = etags(app)
    assert {n for n in before if after_edit[n] != before[n]} == {500 // SIZE + 1}

    # delete an old post and add a backdated one: pages from there on are cut anew; a client
    # still collects every post once (RFC 5005 clients merge by id)
    sorted((content / "generated").rglob("*.md"))[10].unlink()
    (content / "old.md").write_text(post_text("Backdated", "2001-01-01 00:00:00", author="乔仁铭"))
    (content / "draft.md").write_text(post_text("Draft", "2020-01-01 00:00:00", draft=True))
    reload(app)
    check_feeds(app, ("atom", "rss", "json"))
    index = app.extensions["feedsvc"].current().index
    assert len(index.feeds[FeedKey(SITE, "")].posts) == POSTS + 1


def test_page_cut_counts_from_the_oldest_post(site: tuple[Path, Flask]) -> None:
    _content, app = site
    client = app.test_client()
    oldest = json.loads(client.get("/archive/1/feed.json").data)["items"]
    site_ids = expected(app, FeedKey(SITE, ""))
    assert [i["id"] for i in oldest] == site_ids[-SIZE:]  # page 1: the oldest SIZE posts, newest first
    newest_page = json.loads(client.get(f"/archive/{POSTS // SIZE}/feed.json").data)
    current = json.loads(client.get("/feed.json").data)
    assert newest_page["next_url"] == f"{SITE_URL}/archive/{POSTS // SIZE - 1}/feed.json"
    assert current["next_url"] == f"{SITE_URL}/archive/{POSTS // SIZE}/feed.json"
    assert "next_url" not in oldest[0] and "next_url" not in json.loads(client.get("/archive/1/feed.json").data)
