"""deploy/feedsvc.service checked by ``systemd-analyze``; ``feedsvc serve --workers auto``; a
graceful reload (SIGHUP) of a real ``feedsvc serve`` under load loses no request."""

from __future__ import annotations

import http.client
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from conftest import ROOT, SITE_URL, free_port
from system_tools import ensure_command

from feedsvc.cli import serve
from feedsvc.parallel import default_workers

UNIT = ROOT / "deploy" / "feedsvc.service"
SHIPPED_EXEC = "/opt/feedsvc/bin/feedsvc"  # where the unit's comment installs it
FEEDSVC = Path(sys.executable).with_name("feedsvc")  # this checkout's console script


def unit_settings(text: str) -> list[tuple[str, str]]:
    return [tuple(line.split("=", 1)) for line in text.splitlines()  # type: ignore[misc]
            if "=" in line and not line.startswith(("#", ";"))]


@pytest.fixture(scope="module")
def systemd_analyze() -> str:
    binary = ensure_command("systemd-analyze", "systemd")
    if binary is None:
        pytest.skip("systemd-analyze is missing and could not be installed (needs root, apt-get and Debian's systemd)")
    return binary


def test_unit_is_hardened() -> None:
    settings = unit_settings(UNIT.read_text())
    for key, value in [("DynamicUser", "yes"), ("ProtectSystem", "strict"), ("NoNewPrivileges", "yes"),
                       ("ReadOnlyPaths", "/srv/feedsvc/content"), ("StateDirectory", "feedsvc"),
                       ("Environment", "FEEDSVC_INSTANCE_DIR=%S/feedsvc"),  # the SQLite store's folder
                       ("Environment", "FEEDSVC_CONTENT_DIR=/srv/feedsvc/content"),
                       ("ExecReload", "/bin/kill -HUP $MAINPID")]:
        assert (key, value) in settings, key
    assert ("ExecStart", f"{SHIPPED_EXEC} serve --bind 127.0.0.1:8000 --workers auto") in settings


def test_unit_verifies(systemd_analyze: str, tmp_path: Path) -> None:
    """``systemd-analyze verify`` works offline (no systemd as PID 1 needed); it checks that the
    commands exist, so the copy under test runs this checkout's feedsvc, the one change."""
    unit = tmp_path / "feedsvc.service"
    unit.write_text(UNIT.read_text().replace(SHIPPED_EXEC, str(FEEDSVC)))
    verify = subprocess.run([systemd_analyze, "verify", str(unit)], capture_output=True, text=True, check=False)
    assert verify.returncode == 0 and verify.stdout + verify.stderr == "", verify.stdout + verify.stderr
    # the same copy with a typo: the check is not vacuous (unknown keys are warnings, exit 0)
    (tmp_path / "typo").mkdir()
    (tmp_path / "typo" / unit.name).write_text(unit.read_text().replace("ProtectSystem=", "ProtectSytem="))
    typo = subprocess.run([systemd_analyze, "verify", str(tmp_path / "typo" / unit.name)], capture_output=True, text=True, check=False)
    assert "ProtectSytem" in typo.stderr
    # exposure score ("security", offline): 1.7 of 10 when written; the threshold is x10
    security = subprocess.run([systemd_analyze, "security", "--offline=yes", "--threshold=25", str(unit)],
                              capture_output=True, text=True, check=False)
    assert security.returncode == 0, security.stdout[-2000:] + security.stderr


@pytest.mark.parametrize(("given", "workers"), [("auto", default_workers()), ("AUTO", default_workers()), ("3", 3),
                                                (None, 2)])
def test_serve_workers_option(given: str | None, workers: int) -> None:
    args = [] if given is None else ["--workers", given]
    assert serve.make_context("serve", args).params["workers"] == workers


@pytest.mark.parametrize("given", ["0", "-1", "many"])
def test_serve_workers_refused(cli: Callable[..., object], given: str) -> None:
    result = cli("serve", "--workers", given)
    assert result.exit_code == 2 and "--workers" in result.output  # type: ignore[attr-defined]


def children(pid: int) -> set[int]:
    try:
        return {int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()}
    except OSError:
        return set()


def until(predicate: Callable[[], bool], seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)  # polling under a deadline
    return predicate()


@pytest.fixture
def feedsvc_serve(tmp_path: Path, content_dir: Path, write_post: Callable[..., Path]) -> Iterator[tuple[subprocess.Popen[bytes], int]]:
    """``feedsvc serve --workers auto`` (the console script, as the unit runs it)."""
    for n in range(3):
        write_post(f"p{n}.md", title=f"Post {n}", date=f"2024-01-0{n + 1} 10:00:00")
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("FEEDSVC_")}
    env.update(FEEDSVC_CONTENT_DIR=str(content_dir), FEEDSVC_SITE_URL=SITE_URL, FEEDSVC_BUILD_WORKERS="1",
               FEEDSVC_DATABASE_URL=f"sqlite:///{tmp_path / 'serve.sqlite'}", FEEDSVC_LOG_LEVEL="WARNING")
    with open(tmp_path / "serve.log", "wb") as log:
        proc = subprocess.Popen([str(FEEDSVC), "serve", "--bind", f"127.0.0.1:{port}", "--workers", "auto"],
                                cwd=tmp_path, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        yield proc, port
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)  # the session this fixture started, by its id
            proc.wait(timeout=5)


def get(port: int) -> int:
    """GET /rss.xml on a fresh connection: the status."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request("GET", "/rss.xml", headers={"Accept-Encoding": "gzip"})
        resp = conn.getresponse()
        resp.read()
        return resp.status
    finally:
        conn.close()


def test_sighup_replaces_the_workers_and_no_request_fails(feedsvc_serve: tuple[subprocess.Popen[bytes], int]) -> None:
    proc, port = feedsvc_serve

    def ready() -> bool:
        try:
            return len(children(proc.pid)) == default_workers() and get(port) == 200
        except OSError:
            return False

    assert until(ready, 60), "feedsvc serve --workers auto did not start one worker per CPU"
    old = children(proc.pid)
    stop, ok, failures = threading.Event(), [0], []

    def client() -> None:  # a fresh connection per request, as most feed readers poll
        while not stop.is_set():
            try:
                status = get(port)
                ok[0] += 1 if status == 200 else 0
                failures.extend([status] if status != 200 else [])
            except OSError as exc:
                failures.append(repr(exc))

    threads = [threading.Thread(target=client) for _ in range(4)]
    for thread in threads:
        thread.start()
    try:
        assert until(lambda: ok[0] >= 100, 20)
        proc.send_signal(signal.SIGHUP)
        assert until(lambda: not children(proc.pid) & old and len(children(proc.pid)) == len(old), 30)
        served = ok[0]
        assert until(lambda: ok[0] >= served + 100, 20)  # the new workers serve
    finally:
        stop.set()
        for thread in threads:
            thread.join()
    assert failures == [] and proc.poll() is None
