"""Issue 8: every worker is live without traffic and never rolls content back, under real servers.

- gunicorn (sync, gthread; with and without --preload), ``feedsvc serve`` and uWSGI (with and
  without --lazy-apps): an idle worker reloads on its schedule, so after an edit and an idle
  period every fresh connection gets the new content;
- a registered webhook gets the edit with no request ever made to the server;
- a worker forked later from a preloaded master (SIGHUP, a respawn after kill -9) rescans
  before it serves: never older than what its siblings served;
- several workers booting at once on a fresh SQLite file under CPU load all come up.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from conftest import ROOT, GunicornServer, post_text
from notify_fixtures import *  # noqa: F403
from notify_fixtures import Receiver
from standardwebhooks.webhooks import Webhook

FAST, SLOW = "0.5", "30"  # FEEDSVC_RELOAD_INTERVAL: a short one, and the default (longer than any test)
IDLE = 4 * float(FAST)  # the idle period under test: several reload intervals without a request
TOKEN = "workers-admin-token"
SECRET = "whsec_" + "W" * 32
DEADLINE = 30.0
GUNICORN_MODES = [("sync", False), ("sync", True), ("gthread", False), ("gthread", True)]
MODE_IDS = ["sync", "sync-preload", "gthread", "gthread-preload"]
UWSGI = Path(sys.executable).with_name("uwsgi")


class FeedsvcServe(GunicornServer):
    """``feedsvc serve``: gunicorn gthread with the app preloaded in the master."""

    def command(self) -> list[str]:
        return [sys.executable, "-m", "feedsvc.cli", "serve", "--bind", f"127.0.0.1:{self.port}",
                "--workers", str(self.workers), "--threads", str(self.threads)]


class UwsgiServer(GunicornServer):
    """uWSGI with a master and ``workers`` processes on an HTTP socket; ``args`` may add
    --lazy-apps. --die-on-term: uWSGI 2.0 treats SIGTERM as "reload" otherwise."""

    def command(self) -> list[str]:
        return [str(UWSGI), "--master", "--processes", str(self.workers), "--http-socket", f"127.0.0.1:{self.port}",
                "--module", "wsgi:app", "--chdir", str(ROOT), "--virtualenv", sys.prefix, "--need-app",
                "--die-on-term", "--enable-threads", "--disable-logging", *self.args]

    def app_ready(self, pid: int) -> bool:
        """With --lazy-apps each worker logs when its app is loaded (a stop signal that lands
        before that waits for uWSGI's worker-reload-mercy)."""
        return "--lazy-apps" not in self.args or f"pid: {pid} (default app)" in self.log_path.read_text(errors="replace")


def write_atomically(folder: Path, name: str, title: str) -> None:
    """As editors and rsync do (temp file, then rename): no reload sees half a file."""
    tmp = folder / f".{name}.tmp"
    tmp.write_text(post_text(title=title))
    os.replace(tmp, folder / name)


def titles(server: GunicornServer, count: int) -> list[str]:
    """The newest item's title from ``count`` fresh connections, 8 at a time: a busy worker
    leaves the next connection to another (one after the other, uWSGI hands them all to the
    same worker)."""

    def title(_: int) -> str:
        resp = server.request("GET", "/feed.json")
        assert resp.status == 200, resp.body[:200]
        return str(json.loads(resp.body)["items"][0]["title"])

    with ThreadPoolExecutor(8) as pool:
        return list(pool.map(title, range(count)))


def until(predicate: Callable[[], bool], what: str, server: GunicornServer, timeout: float = DEADLINE) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}; log:\n{server.log()}")
        time.sleep(0.05)  # polling interval under a deadline


def env_for(interval: str, **extra: str) -> dict[str, str]:
    return {"FEEDSVC_RELOAD_INTERVAL": interval, "FEEDSVC_ADMIN_TOKEN": TOKEN, **extra}


@pytest.fixture
def server_factory(tmp_path: Path) -> Iterator[Callable[..., GunicornServer]]:
    """``server_factory(kind, content_dir, **options)`` starts a real server, stopped at teardown."""
    started: list[GunicornServer] = []

    def start(kind: type[GunicornServer], content_dir: Path, **options: object) -> GunicornServer:
        if kind is UwsgiServer and not UWSGI.exists():
            pytest.skip(f"uWSGI is not installed at {UWSGI} (pip install -e '.[test]' builds it)")
        server = kind(content_dir, tmp_path, **options)  # type: ignore[arg-type]
        started.append(server)
        return server.start()

    yield start
    for server in started:
        server.stop()


def gunicorn_options(worker_class: str, preload: bool, workers: int) -> dict[str, object]:
    return {"worker_class": worker_class, "threads": 1 if worker_class == "sync" else 4, "workers": workers,
            "args": ("--preload",) if preload else ()}


def wait_booted(server: GunicornServer) -> None:
    """Until every worker has loaded the app (its store is open): a worker booting after the
    edit would load the new content and prove nothing."""
    db_path = Path(server.env["FEEDSVC_DATABASE_URL"].removeprefix("sqlite:///"))

    def booted() -> bool:
        pids = server.worker_pids()
        ready = server.app_ready if isinstance(server, UwsgiServer) else (lambda pid: True)
        return len(pids) == server.workers and all(holds_file(pid, db_path) and ready(pid) for pid in pids)

    until(booted, "every worker to load the app", server)


def settle(server: GunicornServer, timeout: float = 10.0) -> None:
    """Until every worker runs a thread besides its main one (its scheduler: a worker opens the
    store a little before it finishes loading the app), for at most ``timeout``: without the
    fix no worker ever does, and the test then shows what that costs."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and not server.all_workers_live():
        time.sleep(0.05)


def assert_idle_workers_follow(server: GunicornServer, content_dir: Path) -> None:
    """No request until the 40: before the fix a worker started its scheduler on its first
    request, which it answered from the content it had booted with."""
    wait_booted(server)
    settle(server)
    write_atomically(content_dir, "a.md", "After")
    time.sleep(IDLE)  # the idle period under test (no request), not a wait for an outcome
    got = titles(server, 40)
    assert got.count("After") == 40, f"{got.count('Before')} of 40 responses stale; log:\n{server.log()}"


@pytest.mark.parametrize(("worker_class", "preload"), GUNICORN_MODES, ids=MODE_IDS)
def test_idle_gunicorn_workers_reload_on_schedule(server_factory: Callable[..., GunicornServer], content_dir: Path,
                                                  worker_class: str, preload: bool) -> None:
    write_atomically(content_dir, "a.md", "Before")
    server = server_factory(GunicornServer, content_dir, env=env_for(FAST), probe_http=False,
                            **gunicorn_options(worker_class, preload, 3))
    assert_idle_workers_follow(server, content_dir)


@pytest.mark.parametrize("lazy", [False, True], ids=["master-imports", "lazy-apps"])
def test_idle_uwsgi_workers_reload_on_schedule(server_factory: Callable[..., GunicornServer], content_dir: Path,
                                               lazy: bool) -> None:
    write_atomically(content_dir, "a.md", "Before")
    server = server_factory(UwsgiServer, content_dir, env=env_for(FAST), workers=2, probe_http=False,
                            args=("--lazy-apps",) if lazy else ())
    assert_idle_workers_follow(server, content_dir)


def store_initialised(db_path: Path) -> bool:
    """Whether some process recorded the content state (read-only; the file may not exist yet)."""
    try:
        with sqlite3.connect(f"file:{db_path}?mode=ro", uri=True, timeout=1) as conn:
            return conn.execute("SELECT 1 FROM feedsvc_meta WHERE key = 'initialized'").fetchone() is not None
    except sqlite3.Error:
        return False


@pytest.mark.parametrize(("worker_class", "preload"), GUNICORN_MODES, ids=MODE_IDS)
def test_webhook_without_any_request(server_factory: Callable[..., GunicornServer], content_dir: Path, tmp_path: Path,
                                     receiver: Receiver, worker_class: str, preload: bool) -> None:
    write_atomically(content_dir, "a.md", "Before")
    config = tmp_path / "push.toml"
    config.write_text(f'[[webhooks]]\nurl = "{receiver.url("/hook")}"\nsecret = "{SECRET}"\n')
    db_path = tmp_path / "push.sqlite"
    env = env_for(FAST, FEEDSVC_CONFIG=str(config), FEEDSVC_ALLOW_PRIVATE_TARGETS="1",
                  FEEDSVC_DATABASE_URL=f"sqlite:///{db_path}")
    server = server_factory(GunicornServer, content_dir, env=env, probe_http=False,
                            **gunicorn_options(worker_class, preload, 2))
    until(lambda: store_initialised(db_path), "the store to record the content state", server)
    write_atomically(content_dir, "a.md", "After")
    receiver.wait(lambda: bool(receiver.at("/hook")), timeout=DEADLINE)
    payload = Webhook(SECRET).verify(receiver.at("/hook")[0].body, receiver.at("/hook")[0].headers)
    assert (payload["type"], payload["data"]["title"]) == ("post.updated", "After")


def replace_workers(server: GunicornServer, how: str) -> None:
    """SIGHUP the master, or kill -9 every worker; return once none of the old ones is left and
    as many new ones have loaded the app."""
    old = server.worker_pids()
    assert server.proc is not None
    if how == "sighup":
        server.proc.send_signal(signal.SIGHUP)
    else:
        for pid in old:
            os.kill(pid, signal.SIGKILL)  # the server's own workers, by pid
    until(lambda: not (server.worker_pids() & old) and len(server.worker_pids()) == server.workers,
          f"new workers after {how}", server)
    wait_booted(server)


def assert_forked_workers_fresh(server: GunicornServer, content_dir: Path, how: str) -> None:
    wait_booted(server)
    assert titles(server, 1) == ["Before"]
    write_atomically(content_dir, "a.md", "After")
    reload = server.request("POST", "/-/reload", {"Authorization": f"Bearer {TOKEN}"})
    assert reload.status == 200, reload.body  # one worker reloaded; the others wait an interval
    until(lambda: titles(server, 1) == ["After"], "a worker serving the edit", server)
    replace_workers(server, how)
    got = titles(server, 40)
    assert got.count("After") == 40, f"{got.count('Before')} of 40 responses rolled back; log:\n{server.log()}"


@pytest.mark.parametrize("worker_class", ["sync", "gthread"])
@pytest.mark.parametrize("how", ["sighup", "kill-9"])
def test_gunicorn_preload_forked_worker_never_rolls_back(server_factory: Callable[..., GunicornServer],
                                                         content_dir: Path, worker_class: str, how: str) -> None:
    write_atomically(content_dir, "a.md", "Before")
    server = server_factory(GunicornServer, content_dir, env=env_for(SLOW), **gunicorn_options(worker_class, True, 2))
    assert_forked_workers_fresh(server, content_dir, how)


def test_feedsvc_serve_sighup_never_rolls_back(server_factory: Callable[..., GunicornServer], content_dir: Path) -> None:
    write_atomically(content_dir, "a.md", "Before")
    server = server_factory(FeedsvcServe, content_dir, env=env_for(SLOW), workers=2, threads=2)
    assert_forked_workers_fresh(server, content_dir, "sighup")


@pytest.mark.parametrize("lazy", [False, True], ids=["master-imports", "lazy-apps"])
def test_uwsgi_respawned_worker_never_rolls_back(server_factory: Callable[..., GunicornServer], content_dir: Path,
                                                 lazy: bool) -> None:
    write_atomically(content_dir, "a.md", "Before")
    server = server_factory(UwsgiServer, content_dir, env=env_for(SLOW), workers=2,
                            args=("--lazy-apps",) if lazy else ())
    assert_forked_workers_fresh(server, content_dir, "kill-9")


def holds_file(pid: int, path: Path) -> bool:
    """Whether process ``pid`` has ``path`` (or its -wal file) open: its app has started."""
    try:
        fds = list(Path(f"/proc/{pid}/fd").iterdir())
    except OSError:
        return False
    names = {str(path), f"{path}-wal"}
    for fd in fds:
        try:
            if os.readlink(fd) in names:
                return True
        except OSError:
            continue
    return False


@pytest.fixture
def cpu_load() -> Iterator[None]:
    """Two busy-looping processes (the machine has two cores), stopped by their pids."""
    burners = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(2)]
    yield
    for proc in burners:
        proc.kill()
        proc.wait(timeout=10)


def test_workers_booting_together_on_a_fresh_sqlite_file(server_factory: Callable[..., GunicornServer],
                                                         content_dir: Path, tmp_path: Path, cpu_load: None) -> None:
    write_atomically(content_dir, "a.md", "Before")
    for attempt in range(5):
        db_path = tmp_path / f"boot-{attempt}.sqlite"
        server = server_factory(GunicornServer, content_dir, workers=4, threads=1, worker_class="sync",
                                env={"FEEDSVC_DATABASE_URL": f"sqlite:///{db_path}"})

        def all_booted(server: GunicornServer = server, db_path: Path = db_path) -> bool:
            assert server.proc is not None and server.proc.poll() is None, f"server exited; log:\n{server.log()}"
            pids = server.worker_pids()
            return len(pids) == 4 and all(holds_file(pid, db_path) for pid in pids)

        until(all_booted, "four workers with the store open", server, timeout=120)
        assert "Worker failed to boot" not in server.log() and "Traceback" not in server.log(), server.log()
        server.stop()


def test_workers_start_while_another_process_writes_the_fresh_store(server_factory: Callable[..., GunicornServer],
                                                                    content_dir: Path, tmp_path: Path) -> None:
    """A write transaction on a fresh SQLite file (rollback journal) makes ``PRAGMA
    journal_mode=WAL`` fail at once, busy timeout or not: the workers must wait, not die."""
    write_atomically(content_dir, "a.md", "Before")
    db_path = tmp_path / "held.sqlite"
    holder = sqlite3.connect(db_path, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    holder.execute("CREATE TABLE other_writer (x)")
    server = server_factory(GunicornServer, content_dir, workers=2, threads=1, worker_class="sync", probe_http=False,
                            env={"FEEDSVC_DATABASE_URL": f"sqlite:///{db_path}"})

    def opened_or_exited() -> bool:  # a worker opened the store (and met the lock), or the server died of it
        assert server.proc is not None
        return server.proc.poll() is not None or any(holds_file(pid, db_path) for pid in server.worker_pids())

    until(opened_or_exited, "a worker to open the store", server, timeout=60)
    holder.execute("COMMIT")
    holder.close()

    def all_booted() -> bool:
        assert server.proc is not None and server.proc.poll() is None, f"server exited; log:\n{server.log()}"
        pids = server.worker_pids()
        return len(pids) == 2 and all(holds_file(pid, db_path) for pid in pids)

    until(all_booted, "both workers with the store open", server)
    assert server.request("GET", "/healthz").status == 200
    assert "Worker failed to boot" not in server.log(), server.log()
