"""Push under real gunicorn processes: a process killed with SIGKILL mid-delivery loses
nothing (the restarted process resends with the same webhook-id), and two gunicorn instances
(4 workers in all) on one PostgreSQL deliver exactly once per subscriber per change."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable
from pathlib import Path

from conftest import GunicornServer, post_text
from notify_fixtures import Received, Receiver, Reply
from standardwebhooks.webhooks import Webhook

SECRET = "whsec_" + "C" * 32
GRACE = 3.0  # seconds: many reload intervals and send polls in which a duplicate would show


def push_env(tmp_path: Path, receiver: Receiver, db_url: str, paths: tuple[str, ...]) -> dict[str, str]:
    config = tmp_path / f"push-{len(paths)}.toml"
    config.write_text("".join(f'[[webhooks]]\nurl = "{receiver.url(p)}"\nsecret = "{SECRET}"\n' for p in paths))
    return {"FEEDSVC_CONFIG": str(config), "FEEDSVC_DATABASE_URL": db_url, "FEEDSVC_ALLOW_PRIVATE_TARGETS": "1",
            "FEEDSVC_RELOAD_INTERVAL": "0.2", "FEEDSVC_NOTIFY_LEASE_SECONDS": "2", "FEEDSVC_RETRY_SCHEDULE": "1"}


def write_atomically(content_dir: Path, name: str, title: str) -> None:
    """Write a post the way editors and rsync do (temp file, then rename): a reload running
    at 0.2 s intervals must never see half a file here (that is the live-content tests' topic)."""
    tmp = content_dir / f".{name}.tmp"
    tmp.write_text(post_text(title=title))
    os.replace(tmp, content_dir / name)


def kill9(server: GunicornServer) -> None:
    """SIGKILL gunicorn's whole session (master and workers), started by the fixture."""
    assert server.proc is not None
    os.killpg(server.proc.pid, signal.SIGKILL)
    server.proc.wait(timeout=10)
    server.proc = None


def test_sigkill_mid_delivery_then_restart_resends(gunicorn_factory: Callable[..., GunicornServer], content_dir: Path,
                                                   write_post: Callable[..., Path], receiver: Receiver, tmp_path: Path) -> None:
    def hang(req: Received) -> Reply:
        receiver.release.wait(20)  # the sender is killed while waiting for this answer
        return 200, {}, b"too late"

    receiver.script("/hook", hang, (200, {}, b"ok"))
    write_post("a.md", title="Before")
    env = push_env(tmp_path, receiver, f"sqlite:///{tmp_path / 'kill.sqlite'}", ("/hook",))
    server = gunicorn_factory(content_dir, env=env, workers=1)
    server.request("GET", "/atom.xml")  # any request starts the worker's scheduler
    write_atomically(content_dir, "b.md", "Survives a kill")
    receiver.wait(lambda: len(receiver.at("/hook")) >= 1)
    kill9(server)
    restarted = gunicorn_factory(content_dir, env=env, workers=1)
    restarted.request("GET", "/atom.xml")
    receiver.wait(lambda: len(receiver.at("/hook")) >= 2)
    first, second = receiver.at("/hook")[:2]
    assert first.headers["webhook-id"] == second.headers["webhook-id"]
    payload = Webhook(SECRET).verify(second.body, second.headers)
    assert payload["type"] == "post.published" and payload["data"]["title"] == "Survives a kill"


def test_two_instances_four_workers_deliver_once(gunicorn_factory: Callable[..., GunicornServer], content_dir: Path,
                                                 write_post: Callable[..., Path], receiver: Receiver, tmp_path: Path,
                                                 pg_url: str) -> None:
    write_post("a.md", title="Existing")
    env = push_env(tmp_path, receiver, pg_url, ("/one", "/two"))
    servers = [gunicorn_factory(content_dir, env=env, workers=2) for _ in range(2)]
    for server in servers:  # start every worker's scheduler (gthread: spread over connections)
        for _ in range(8):
            server.request("GET", "/healthz")
    write_atomically(content_dir, "n.md", "News")
    receiver.wait(lambda: all(receiver.at(p) for p in ("/one", "/two")))
    write_atomically(content_dir, "n.md", "News, corrected")
    receiver.wait(lambda: all(len(receiver.at(p)) >= 2 for p in ("/one", "/two")))
    time.sleep(GRACE)  # the absence of duplicates can only be observed over some time
    for path in ("/one", "/two"):
        got = [Webhook(SECRET).verify(r.body, r.headers) for r in receiver.at(path)]
        assert [(p["type"], p["data"]["title"]) for p in got] == [("post.published", "News"), ("post.updated", "News, corrected")]
        assert len({r.headers["webhook-id"] for r in receiver.at(path)}) == 2
    assert all(s.proc and s.proc.poll() is None for s in servers)
