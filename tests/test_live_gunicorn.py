"""Issue 3 under a real gunicorn: several workers follow a change within an interval, serve
byte-identical documents, and stop cleanly on SIGTERM; --preload works too."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import pytest
from conftest import SITE_URL, GunicornServer

from feedsvc.config import load_settings
from feedsvc.index import SITE, FeedKey
from feedsvc.service import FeedService


def write(folder: Path, name: str, title: str, date: str) -> None:
    (folder / name).write_text(f"---\ntitle: {title}\ndate: {date}\ntags: [x]\n---\nHello {title}.\n", encoding="utf-8")


def expected_etag(folder: Path) -> str:
    """The site RSS ETag as an independent process computes it from the same folder."""
    settings = load_settings({"CONTENT_DIR": str(folder), "SITE_URL": SITE_URL, "TITLE": "Test site", "BUILD_WORKERS": 1})
    svc = FeedService(settings)  # settings.hubs: the built-in hub create_app advertises
    svc.reload()
    return f'"{svc.current().documents[(FeedKey(SITE, ""), "rss")].etag}"'


def converge(server: GunicornServer, want: str, path: str = "/rss.xml", timeout: float = 20.0) -> None:
    """Poll until 16 fresh connections in a row (spread over the workers) all get ``want``."""
    deadline = time.monotonic() + timeout
    streak = 0
    while time.monotonic() < deadline and streak < 16:
        etag = server.request("GET", path).header("ETag")
        streak = streak + 1 if etag == want else 0
        if streak == 0:
            time.sleep(0.02)
    assert streak >= 16, f"workers did not converge on {want}; log:\n{server.log()}"


@pytest.mark.parametrize("preload", [False, True], ids=["fork-then-load", "preload"])
def test_workers_converge_on_identical_bytes(tmp_path: Path, gunicorn_factory: Callable[..., GunicornServer], preload: bool) -> None:
    folder = tmp_path / "site"
    folder.mkdir()
    for i in range(5):
        write(folder, f"p{i}.md", f"Post {i}", f"2024-01-0{i + 1} 00:00:00")
    server = gunicorn_factory(folder, workers=3, env={"FEEDSVC_RELOAD_INTERVAL": "0.2"}, args=("--preload",) if preload else ())
    converge(server, expected_etag(folder))
    write(folder, "p9.md", "Post nine", "2024-02-01 00:00:00")
    converge(server, expected_etag(folder))
    body = server.request("GET", "/rss.xml").body
    assert b"Post nine" in body
    server.stop()
    log = server.log()
    assert "Shutting down: Master" in log and "SIGKILL" not in log and "Traceback" not in log
