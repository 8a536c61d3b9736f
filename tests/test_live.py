"""Issue 3: live content. Real files changed under a running service, reloads, the change
stream, the safety guard and scheduled publishing (no sleeps: poll with a deadline)."""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import feedparser
import pytest

from feedsvc.app import create_app, start_background, stop_background
from feedsvc.changes import ChangeSet
from feedsvc.config import load_settings
from feedsvc.index import SITE, TAG, FeedKey
from feedsvc.loader import Listing, scan
from feedsvc.service import FeedService

SITE_RSS = (FeedKey(SITE, ""), "rss")


def post_text(title: str, date: str = "2024-01-02 03:04:05.123456", tags: str = "[a]", body: str = "Body.", slug: str | None = None) -> str:
    slug_line = f"slug: {slug}\n" if slug else ""
    return f"---\ntitle: {title}\ndate: {date}\n{slug_line}tags: {tags}\ncategories: [news]\n---\n{body}\n"


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def bump_mtime(path: Path) -> None:
    """Make sure a rewrite is seen even on filesystems with coarse timestamps."""
    st = path.stat()
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000))


@pytest.fixture
def content(tmp_path: Path) -> Path:
    folder = tmp_path / "content"
    for i in range(10):
        write(folder, f"p{i}.md", post_text(f"Post {i}", date=f"2024-01-{i + 1:02d} 10:00:00", tags=f"[t{i % 3}]"))
    return folder


def service_for(folder: Path, **extra: object) -> FeedService:
    svc = FeedService(load_settings({"CONTENT_DIR": str(folder), "BUILD_WORKERS": 1, **{k.upper(): v for k, v in extra.items()}}))
    svc.reload()
    return svc


def titles(svc: FeedService, key: tuple[FeedKey, str] = SITE_RSS) -> list[str]:
    doc = svc.current().documents[key]
    return [e.title for e in feedparser.parse(doc.body).entries]


def test_unchanged_rescan_reads_nothing_and_keeps_documents(content: Path) -> None:
    svc = service_for(content)
    before = svc.current()
    report = svc.reload()
    assert report.reread == 0 and not report.applied
    assert svc.current() is before  # nothing rebuilt, same snapshot object


def test_edit_rereads_one_file_and_only_its_feeds_change(content: Path) -> None:
    svc = service_for(content)
    before = svc.current()
    path = write(content, "p4.md", post_text("Post 4 edited", date="2024-01-05 10:00:00", tags="[t1]"))
    bump_mtime(path)
    report = svc.reload()
    after = svc.current()
    assert report.reread == 1 and report.changed["updated"] == 1
    assert "Post 4 edited" in titles(svc)
    # p4 is tagged t1 only: t0 and t2 feeds keep their exact bytes and ETags
    for tag in ("t0", "t2"):
        key = (FeedKey(TAG, tag), "atom")
        assert after.documents[key] is before.documents[key]
    assert after.documents[(FeedKey(TAG, "t1"), "atom")].etag != before.documents[(FeedKey(TAG, "t1"), "atom")].etag
    assert after.generation == before.generation + 1


def test_add_rename_delete_and_atomic_replace(content: Path) -> None:
    svc = service_for(content)
    write(content, "sub/new.md", post_text("Brand new", date="2024-02-01 00:00:00", slug="brand-new"))
    svc.reload()
    assert titles(svc)[0] == "Brand new"
    # rename keeping the slug: same permalink and id, so not a new item
    seen: list[ChangeSet] = []
    svc.subscribe(seen.append)
    os.rename(content / "sub/new.md", content / "sub/renamed.md")
    svc.reload()
    assert titles(svc)[0] == "Brand new"
    assert not any(c.posts for c in seen)
    # atomic replace via os.replace, the way editors and rsync write
    tmp = write(content, ".p1.md.tmp", post_text("Post 1 replaced", date="2024-01-02 10:00:00"))
    os.replace(tmp, content / "p1.md")
    svc.reload()
    assert "Post 1 replaced" in titles(svc)
    (content / "p2.md").unlink()
    svc.reload()
    assert "Post 2" not in titles(svc)
    actions = sorted(c.action for cs in seen for c in cs.posts)
    assert actions == ["removed", "updated"]


def test_broken_edit_keeps_last_good_version_until_fixed(content: Path) -> None:
    svc = service_for(content)
    path = content / "p3.md"
    good = path.read_text(encoding="utf-8")
    path.write_text(good[: len(good) // 2 - 20], encoding="utf-8")  # first half of a write
    bump_mtime(path)
    svc.reload()
    assert "Post 3" in titles(svc)
    assert [p for p, _ in svc.current().errors] == ["p3.md"]
    path.write_text("---\ntitle: [oops\ndate: 2024-01-04\n---\nx\n", encoding="utf-8")  # bad YAML just typed
    bump_mtime(path)
    svc.reload()
    assert "Post 3" in titles(svc)
    assert "invalid YAML" in svc.current().errors[0][1]
    path.write_text(good.replace("Post 3", "Post 3 fixed"), encoding="utf-8")
    bump_mtime(path)
    svc.reload()
    assert "Post 3 fixed" in titles(svc) and not svc.current().errors


def test_slug_change_is_a_new_item(content: Path) -> None:
    svc = service_for(content)
    seen: list[ChangeSet] = []
    svc.subscribe(seen.append)
    path = write(content, "p5.md", post_text("Post 5", date="2024-01-06 10:00:00", tags="[t2]", slug="another-slug"))
    bump_mtime(path)
    svc.reload()
    actions = sorted((c.action, c.uid.rsplit("/", 2)[-2]) for c in seen[0].posts)
    assert actions == [("published", "another-slug"), ("removed", "p5")]


def test_change_stream_carries_document_etags(content: Path) -> None:
    svc = service_for(content)
    seen: list[ChangeSet] = []
    svc.subscribe(seen.append)
    svc.reload()
    assert seen == []  # nothing changed, nothing emitted
    old = svc.current().documents[SITE_RSS].etag
    write(content, "p10.md", post_text("Post 10", date="2024-03-01 00:00:00", tags="[fresh]"))
    svc.reload()
    (changes,) = seen
    assert [(c.action, c.post.title) for c in changes.posts if c.post] == [("published", "Post 10")]
    site = next(d for d in changes.documents if d.key == FeedKey(SITE, "") and d.fmt == "rss")
    assert site.old_etag == old and site.new_etag == svc.current().documents[SITE_RSS].etag
    fresh = [d for d in changes.documents if d.key == FeedKey(TAG, "fresh")]
    assert {d.fmt for d in fresh} == {"rss", "atom", "json"} and all(d.old_etag is None for d in fresh)
    assert fresh[0].path.startswith("/tags/fresh/")


def test_first_load_yields_no_changes(content: Path) -> None:
    svc = FeedService(load_settings({"CONTENT_DIR": str(content), "BUILD_WORKERS": 1}))
    seen: list[ChangeSet] = []
    svc.subscribe(seen.append)
    svc.reload()
    assert seen == [] and svc.current().generation == 1


def test_future_post_is_published_when_its_time_comes(content: Path) -> None:
    svc = service_for(content)
    seen: list[ChangeSet] = []
    svc.subscribe(seen.append)
    soon = datetime.now(UTC) + timedelta(seconds=1)
    write(content, "future.md", post_text("Future", date=soon.strftime("%Y-%m-%dT%H:%M:%S.%f+00:00")))
    svc.reload()
    assert "Future" not in titles(svc)
    assert svc.current().index.next_publication is not None
    wait_for(lambda: datetime.now(UTC) > soon, "the publication time")
    report = svc.reload()  # nothing changed on disk: only the clock did
    assert report.applied and "Future" in titles(svc)
    assert [c.action for c in seen[-1].posts] == ["published"]


def test_mass_deletion_needs_two_scans(content: Path) -> None:
    svc = service_for(content)
    gen = svc.current().generation
    for i in range(7):
        (content / f"p{i}.md").unlink()
    report = svc.reload()
    assert not report.applied and svc.degraded and "remove 7 of 10" in svc.degraded
    assert len(svc.current().index.posts) == 10 and svc.current().generation == gen
    report = svc.reload()  # the same deletion seen again: it is real
    assert report.applied and svc.degraded is None
    assert len(svc.current().index.posts) == 3


def test_missing_folder_keeps_serving_then_recovers(content: Path, tmp_path: Path) -> None:
    app = create_app({"CONTENT_DIR": str(content), "BUILD_WORKERS": 1, "TESTING": True})
    client = app.test_client()
    etag = client.get("/rss.xml").headers["ETag"]
    moved = tmp_path / "moved"
    shutil.move(str(content), str(moved))
    app.extensions["feedsvc"].reload()
    health = client.get("/healthz").get_json()
    assert health["status"] == "degraded" and "content folder" in health["reason"]
    response = client.get("/rss.xml")
    assert response.status_code == 200 and response.headers["ETag"] == etag
    shutil.move(str(moved), str(content))
    app.extensions["feedsvc"].reload()
    assert client.get("/healthz").get_json()["status"] == "ok"


def test_healthz_reports_reload_fields(content: Path) -> None:
    app = create_app({"CONTENT_DIR": str(content), "BUILD_WORKERS": 1, "TESTING": True})
    write(content, "p11.md", post_text("Post 11", date="2024-04-01 00:00:00"))
    app.extensions["feedsvc"].reload()
    health = app.test_client().get("/healthz").get_json()
    assert health["generation"] == 2 and health["changed"]["published"] == 1
    assert health["reload_seconds"] >= 0 and health["last_reload"]


@pytest.mark.parametrize(
    ("token", "header", "status"),
    [("", "Bearer x", 404), ("s3cret", None, 401), ("s3cret", "Bearer wrong", 401), ("s3cret", "Basic s3cret", 401), ("s3cret", "Bearer s3cret", 200)],
)
def test_admin_reload_auth(content: Path, token: str, header: str | None, status: int) -> None:
    app = create_app({"CONTENT_DIR": str(content), "ADMIN_TOKEN": token, "BUILD_WORKERS": 1, "TESTING": True})
    write(content, "p12.md", post_text("Post 12", date="2024-05-01 00:00:00"))
    headers = {"Authorization": header} if header else {}
    response = app.test_client().post("/-/reload", headers=headers)
    assert response.status_code == status
    assert response.content_type.startswith("application/json" if status == 200 else "text/plain")
    if status == 200:
        assert response.get_json()["changed"]["published"] == 1
    if status == 401:
        assert response.headers["WWW-Authenticate"].startswith("Bearer")


def wait_for(condition: Callable[[], bool], what: str, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what}")


def test_scheduler_follows_changes_and_wakes_for_publication(content: Path) -> None:
    app = create_app({"CONTENT_DIR": str(content), "RELOAD_INTERVAL": 0.1, "BUILD_WORKERS": 1, "TESTING": True})
    svc = app.extensions["feedsvc"]
    background = start_background(app)
    try:
        write(content, "p13.md", post_text("Post 13", date="2024-06-01 00:00:00"))
        wait_for(lambda: "Post 13" in titles(svc), "the scheduled reload")
    finally:
        stop_background(app)
    assert not background.scheduler.running


def test_publication_wakeup_without_waiting_for_the_interval(content: Path) -> None:
    app = create_app({"CONTENT_DIR": str(content), "RELOAD_INTERVAL": 3600, "BUILD_WORKERS": 1, "TESTING": True})
    svc = app.extensions["feedsvc"]
    soon = datetime.now(UTC) + timedelta(seconds=1.5)
    write(content, "future.md", post_text("Scheduled", date=soon.isoformat()))
    svc.reload()
    start_background(app)
    try:
        wait_for(lambda: "Scheduled" in titles(svc), "the publication wake-up")
    finally:
        stop_background(app)


def test_watch_mode_reloads_on_file_events(content: Path) -> None:
    app = create_app({"CONTENT_DIR": str(content), "RELOAD_INTERVAL": 3600, "WATCH": True, "BUILD_WORKERS": 1, "TESTING": True})
    svc = app.extensions["feedsvc"]
    start_background(app)
    try:
        write(content, "watched.md", post_text("Watched", date="2024-07-01 00:00:00"))
        wait_for(lambda: "Watched" in titles(svc), "the watchdog-triggered reload")
    finally:
        stop_background(app)


def test_edits_that_move_a_post_rebuild_the_index(content: Path) -> None:
    """A content-only edit reuses the index; a new date or new tags must not."""
    svc = service_for(content)
    old_index = svc.current().index
    path = write(content, "p0.md", post_text("Post 0 body edit", date="2024-01-01 10:00:00", tags="[t0]", body="New body."))
    bump_mtime(path)
    svc.reload()
    assert svc.current().index.feeds is old_index.feeds  # placement unchanged: index reused
    assert b"New body." in svc.current().documents[(FeedKey(TAG, "t0"), "atom")].body
    path = write(content, "p0.md", post_text("Post 0 moved", date="2024-12-31 10:00:00", tags="[t9]"))
    bump_mtime(path)
    svc.reload()
    assert titles(svc)[0] == "Post 0 moved"  # newest now
    assert "Post 0 moved" in titles(svc, (FeedKey(TAG, "t9"), "rss"))
    assert "Post 0 moved" not in titles(svc, (FeedKey(TAG, "t0"), "rss"))
    assert svc.current().index.feeds is not old_index.feeds


def test_scan_reuses_an_unchanged_folder_listing_but_sees_every_change(tmp_path: Path) -> None:
    folder = tmp_path / "c"
    for name in ("a.md", "sub/b.md"):
        write(folder, name, post_text(name))
    old = time.time() - 60
    for path in (folder, folder / "sub"):
        os.utime(path, (old, old))  # listings of folders untouched for a while are reused
    listings: dict[str, Listing] = {}
    assert set(scan(str(folder), listings)) == {"a.md", "sub/b.md"}
    first = scan(str(folder), listings)
    write(folder, "a.md", post_text("a, edited, longer"))  # content: the file's own stat changes
    assert scan(str(folder), listings)["a.md"][1] != first["a.md"][1]
    write(folder, "sub/c.md", post_text("c"))  # a new name changes the folder's mtime
    (folder / "a.md").unlink()
    assert set(scan(str(folder), listings)) == {"sub/b.md", "sub/c.md"}


def test_a_recently_changed_folder_is_always_listed_again(tmp_path: Path) -> None:
    """A file created in the same timestamp tick as the last listing leaves the folder's mtime
    as it was: listings of folders changed in the last 2 s are never trusted."""
    folder = tmp_path / "c"
    write(folder, "a.md", post_text("a"))
    listings: dict[str, Listing] = {}
    scan(str(folder), listings)
    st = folder.stat()
    write(folder, "b.md", post_text("b"))
    os.utime(folder, ns=(st.st_atime_ns, st.st_mtime_ns))  # as if b.md landed in the same tick
    assert set(scan(str(folder), listings)) == {"a.md", "b.md"}


def test_a_process_exits_without_scheduler_errors(content: Path) -> None:
    """A plain ``gunicorn wsgi:app`` worker has no worker_exit hook of ours: the scheduler must
    still stop before concurrent.futures closes its pools, or its last tick logs a traceback
    ("cannot schedule new futures after shutdown"; seen in 9 of 15 exits before the fix)."""
    import subprocess
    import sys

    script = (
        "import logging, sys, time\n"
        "logging.basicConfig(level=logging.ERROR)\n"
        "from feedsvc.app import create_app\n"
        "from feedsvc.app import start_background\n"
        f"app = create_app({{'CONTENT_DIR': {str(content)!r}, 'RELOAD_INTERVAL': 0.001, 'NOTIFY': False, 'BUILD_WORKERS': 1}})\n"
        "start_background(app)\n"
        "time.sleep(0.2)\n"
        "sys.exit(0)\n"
    )
    for _ in range(5):
        done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
        assert done.returncode == 0 and "Traceback" not in done.stderr, done.stderr


def test_a_staged_mass_deletion_is_seen_as_a_whole(content: Path) -> None:
    """Issue 8.6: three 40% deletions a few seconds apart removed 78% of the posts while the
    guard compared each scan with the one before and /healthz stayed ok."""
    svc = service_for(content)
    (content / "p0.md").unlink()
    (content / "p1.md").unlink()
    (content / "p2.md").unlink()
    (content / "p3.md").unlink()
    assert svc.reload().applied and svc.degraded is None  # 40%: under the ratio
    for i in (4, 5, 6):
        (content / f"p{i}.md").unlink()
    report = svc.reload()  # 3 of the remaining 6 (50%), but 7 of the 10 seen in the window: refused
    assert not report.applied and svc.degraded and "remove 7 of 10" in svc.degraded
    assert len(svc.current().index.posts) == 6
    report = svc.reload()  # seen again: the operator meant it
    assert report.applied and svc.degraded is None and len(svc.current().index.posts) == 3
    (content / "p7.md").unlink()  # the confirmed state is the new reference
    assert svc.reload().applied and svc.degraded is None


def test_removals_outside_the_window_do_not_add_up(content: Path) -> None:
    svc = service_for(content, REMOVAL_WINDOW=0)
    for step in ((0, 1, 2, 3), (4, 5, 6)):
        for i in step:
            (content / f"p{i}.md").unlink()
        assert svc.reload().applied and svc.degraded is None


def count_parses(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The paths that are parsed (YAML and all) from now on, not just read and hashed."""
    import feedsvc.posts

    parsed: list[str] = []
    real = feedsvc.posts.parse_post

    def counting(data: bytes, rel: str, *args: object, **kwargs: object) -> object:
        parsed.append(rel)
        return real(data, rel, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(feedsvc.posts, "parse_post", counting)
    return parsed


def test_a_restored_folder_is_not_parsed_again(content: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Issue 8.3: a mass deletion and restore re-reads the files but parses none of them (the
    posts removed are kept for FEEDSVC_REMOVAL_WINDOW), and the result is what a fresh
    service builds: same posts, same bytes."""
    svc = service_for(content)
    old_posts = dict(svc.current().index.posts)
    moved = [content / f"p{i}.md" for i in range(7)]
    for path in moved:
        os.replace(path, path.with_name("." + path.name))
    svc.reload()
    assert svc.reload().applied and len(svc.current().index.posts) == 3  # the guard's second scan
    parsed = count_parses(monkeypatch)
    for path in moved:
        os.replace(path.with_name("." + path.name), path)
    edited = write(content, "p8.md", post_text("Post 8 edited", date="2024-01-09 10:00:00"))
    bump_mtime(edited)
    report = svc.reload()
    assert report.applied and report.reread == 8 and report.changed["published"] == 7
    assert parsed == ["p8.md"]  # the edit only
    posts = svc.current().index.posts
    assert all(posts[p.name] is old_posts[p.name] for p in moved)
    fresh = service_for(content)
    assert {k: d.body for k, d in svc.current().documents.items()} == {k: d.body for k, d in fresh.current().documents.items()}


def test_touched_and_reverted_files_are_not_parsed_again(content: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    svc = service_for(content)
    original = (content / "p1.md").read_text(encoding="utf-8")
    first = svc.current().index.posts["p1.md"]
    parsed = count_parses(monkeypatch)
    bump_mtime(content / "p1.md")  # touched, same bytes
    report = svc.reload()
    assert report.reread == 1 and not report.applied and parsed == []
    bump_mtime(write(content, "p1.md", post_text("Post 1 edited")))
    svc.reload()
    assert parsed == ["p1.md"] and svc.current().index.posts["p1.md"].title == "Post 1 edited"
    bump_mtime(write(content, "p1.md", original))  # reverted
    report = svc.reload()
    assert report.changed["updated"] == 1 and parsed == ["p1.md"]
    assert svc.current().index.posts["p1.md"] is first


def test_removed_posts_are_forgotten_after_the_removal_window(content: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    svc = service_for(content, removal_window=0)
    path = content / "p3.md"
    os.replace(path, content / ".p3.md")
    svc.reload()
    assert "p3.md" not in svc.current().index.posts
    parsed = count_parses(monkeypatch)
    os.replace(content / ".p3.md", path)
    svc.reload()
    assert parsed == ["p3.md"]
