"""Issue 8.2 and 8.7: events follow a per-post version that only moves forward (a stale
observation from any process is dropped, whatever its content), and the validators tell the
truth: Last-Modified and the entries' dates move with every change of the bytes, the same in
every process on one store and across restarts. SQLite file and PostgreSQL."""

from __future__ import annotations

import os
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from flask import Flask
from lxml import etree
from werkzeug.http import parse_date

from feedsvc.notify import schema

ATOM = "{http://www.w3.org/2005/Atom}"


def post_events(app: Flask) -> list[tuple[str, str]]:
    with app.extensions["feedsvc.notify"].engine.connect() as conn:
        rows = conn.execute(sa.select(schema.events.c.type, schema.events.c.subject)
                            .where(schema.events.c.type.like("post.%")).order_by(schema.events.c.id)).all()
    return [(r.type, r.subject.rsplit("/", 2)[-2]) for r in rows]


def reload(*apps: Flask) -> None:
    for app in apps:
        app.extensions["feedsvc"].reload()


def send(*apps: Flask) -> None:
    for app in apps:
        app.extensions["feedsvc.notify"].run_once(budget=5)


def test_delete_and_restore_with_a_slow_second_process_is_two_events(push_app: Callable[..., Flask], write_post: Callable[..., Path],
                                                                     content_dir: Path) -> None:
    """`mv X.md .X.md; sleep; mv .X.md X.md` under two processes, one of them recording late
    (its send job was busy with a slow receiver): deleted + published, not four events."""
    for name in ("k1", "k2", "k3"):
        write_post(f"{name}.md", title=name)
    path = write_post("x.md", title="X")
    first, second = push_app(), push_app()
    hidden = content_dir / ".x.md"
    os.replace(path, hidden)
    reload(first)
    send(first)
    reload(second)  # the second process saw the deletion ...
    os.replace(hidden, path)
    reload(first)
    send(first)
    send(second)  # ... and records what it saw only now
    reload(second, first)
    send(second, first)
    assert post_events(first) == [("post.deleted", "x"), ("post.published", "x")]


def test_a_late_deleted_observation_is_dropped(push_app: Callable[..., Flask], write_post: Callable[..., Path],
                                               content_dir: Path) -> None:
    """The second process scans while the file is away but records after the first process
    recorded the restore of identical content: its observation is older, so it is dropped."""
    for name in ("k1", "k2", "k3"):
        write_post(f"{name}.md", title=name)
    path = write_post("x.md", title="X")
    first, second = push_app(), push_app()
    recorder = second.extensions["feedsvc.notify"].recorder
    held: list[tuple[Any, ...]] = []
    os.replace(path, content_dir / ".x.md")
    recorder.observe_posts = lambda *args: held.append(args)  # type: ignore[method-assign]  # scan now, record later
    reload(second)
    del recorder.observe_posts
    reload(first)
    os.replace(content_dir / ".x.md", path)
    reload(first)
    [late] = held
    assert [c.action for c in late[1]] == ["removed"]
    recorder.observe_posts(*late)  # the late "deleted": same content is back, and it is stale
    reload(second, first)
    assert post_events(first) == [("post.deleted", "x"), ("post.published", "x")]
    with first.extensions["feedsvc.notify"].engine.connect() as conn:
        row = conn.execute(sa.select(schema.content_state).where(schema.content_state.c.uid.like("%/x/"))).one()
    assert row.version == 3 and row.hash != ""


def _entry(app: Flask, title: str) -> dict[str, str]:
    client = app.test_client()
    root = etree.fromstring(client.get("/atom.xml").data)
    entry = next(e for e in root.iter(f"{ATOM}entry") if e.findtext(f"{ATOM}title") == title)
    item = next(i for i in client.get("/feed.json").get_json()["items"] if i["title"] == title)
    return {"updated": entry.findtext(f"{ATOM}updated") or "", "date_modified": item["date_modified"],
            "date_published": item["date_published"]}


def _validators(app: Flask, path: str = "/atom.xml") -> tuple[str, str, datetime]:
    response = app.test_client().get(path)
    last_modified = parse_date(response.headers["Last-Modified"])
    assert last_modified is not None
    return response.headers["ETag"], response.headers["Last-Modified"], last_modified


def test_last_modified_moves_after_a_title_only_edit(push_app: Callable[..., Flask], write_post: Callable[..., Path],
                                                     content_dir: Path) -> None:
    write_post("a.md", title="A", date="2024-01-01 10:00:00")
    write_post("b.md", title="B", date="2024-01-02 10:00:00")
    app, other = push_app(), push_app()
    etag, header, before = _validators(app)
    assert header == "Tue, 02 Jan 2024 10:00:00 GMT"  # first versions keep their content dates
    assert _entry(app, "A")["date_modified"] == "2024-01-01T10:00:00Z"

    write_post("a.md", title="A, retitled", date="2024-01-01 10:00:00")  # no `updated:` in the front matter
    reload(app, other)
    response = app.test_client().get("/atom.xml", headers={"If-Modified-Since": header})
    assert response.status_code == 200  # not 304: the content changed
    new_etag, new_header, after = _validators(app)
    assert new_etag != etag and after > before
    entry = _entry(app, "A, retitled")
    assert entry["updated"] > "2024-01-01T10:00:00" and entry["date_modified"] > entry["date_published"]
    assert _validators(other) == (new_etag, new_header, after)  # the same in every process
    for path in ("/rss.xml", "/feed.json"):
        assert app.test_client().get(path).data == other.test_client().get(path).data

    (content_dir / "a.md").unlink()  # a deletion moves it too, though the newest entry is older
    reload(app, other)
    gone_etag, gone_header, gone = _validators(app)
    assert gone > after and _validators(other) == (gone_etag, gone_header, gone)

    app.extensions["feedsvc.notify"].close()
    restarted = push_app()  # a restart on the same store serves the same validators and bytes
    assert _validators(restarted) == (gone_etag, gone_header, gone)
    assert restarted.test_client().get("/feed.json").data == other.test_client().get("/feed.json").data


def test_a_process_that_missed_a_version_serves_the_same_bytes(push_app: Callable[..., Flask],
                                                               write_post: Callable[..., Path]) -> None:
    """An edit reverted before the second process rescanned: that process never saw the middle
    version, yet the restored content is a new version, dated by the store for everyone."""
    write_post("a.md", title="A", date="2024-01-01 10:00:00")
    first, second = push_app(), push_app()
    write_post("a.md", title="A, briefly", date="2024-01-01 10:00:00")
    reload(first)
    write_post("a.md", title="A", date="2024-01-01 10:00:00")
    reload(first, second)
    assert _entry(first, "A")["date_modified"] != "2024-01-01T10:00:00Z"
    for path in ("/atom.xml", "/rss.xml", "/feed.json"):
        one, two = first.test_client().get(path), second.test_client().get(path)
        assert (one.data, one.headers["ETag"], one.headers["Last-Modified"]) == \
            (two.data, two.headers["ETag"], two.headers["Last-Modified"]), path


def test_without_a_store_dates_come_from_the_content(make_app: Callable[..., Flask], write_post: Callable[..., Path]) -> None:
    """FEEDSVC_NOTIFY=0: no store, so a title-only edit changes the ETag but no date (README)."""
    write_post("a.md", title="A", date="2024-01-01 10:00:00")
    app = make_app(notify=False)
    _, header, _ = _validators(app)
    write_post("a.md", title="A, retitled", date="2024-01-01 10:00:00")
    reload(app)
    assert _validators(app)[1] == header
    assert _entry(app, "A, retitled")["date_modified"] == "2024-01-01T10:00:00Z"
