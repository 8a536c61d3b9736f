"""Shared fixtures: an app per test on a tmp content folder, post-writing helpers, and a real
gunicorn serving the app on a free loopback port.

Fixtures (all general; other test modules reuse them):
- ``content_dir``: an empty tmp folder; ``write_post(name, title=..., date=..., body=..., **meta)``
  writes a post file into it (YAML front matter) and returns its path.
- ``app_config``: the dict given to ``create_app`` (tmp content folder, a fixed site URL, one build
  process, a tmp SQLite URL); ``make_app(**overrides)`` builds another app from it.
- ``app``, ``client``, ``runner``: Flask's, per test; ``cli`` runs ``feedsvc`` commands (click).
- ``gunicorn_factory(content_dir, **options)``: starts real gunicorn processes, stopped at teardown
  (options: workers, threads, worker_class, args such as ("--preload",), env, probe_http=False to
  be ready without any HTTP request); ``GunicornServer.worker_pids()`` lists its live workers;
  ``gunicorn_server``: one started on ``content_dir`` with the posts written so far.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner
from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner
from raw_http import raw_request

from feedsvc.app import create_app

pytest_plugins = ["notify_fixtures"]
ROOT = Path(__file__).resolve().parent.parent
TESTS = Path(__file__).resolve().parent
EDGE_CONTENT = TESTS / "content"  # one file per edge case (tests/make_content.py)
SITE_URL = "https://blog.example.org"
START_TIMEOUT = 60.0  # seconds to wait for gunicorn to answer /healthz (a deadline, not a sleep)


@pytest.fixture(scope="module", autouse=True)
def _module_instance(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Apps made by module-scoped fixtures (set up before the per-test environment below) get a
    store of their module, never the checkout's instance/ folder with earlier runs' history, nor
    another module's (the store dates versions: a document it knew with other bytes would get
    the Last-Modified of today)."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("FEEDSVC_INSTANCE_DIR", str(tmp_path_factory.mktemp("instance")))
        yield


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No FEEDSVC_* variable of the developer's shell leaks into a test, nor a store: an app
    made without DATABASE_URL gets its own SQLite file (the store dates versions, so a store
    shared between tests would carry one test's history into another)."""
    for name in list(os.environ):
        if name.startswith("FEEDSVC_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("FEEDSVC_INSTANCE_DIR", str(tmp_path / "instance"))


def post_text(title: Any = "A post", date: Any = "2024-01-01 10:00:00", body: str = "Body.\n", **meta: Any) -> str:
    """A post file's text: YAML front matter (title, date, then ``meta``) and the body.
    ``title=None`` / ``date=None`` leave the key out."""
    data: dict[str, Any] = {}
    if title is not None:
        data["title"] = title
    if date is not None:
        data["date"] = date
    data.update(meta)
    front = yaml.safe_dump(data, allow_unicode=True, sort_keys=False, default_flow_style=False)
    return f"---\n{front}---\n{body}"


def write_file(folder: Path, name: str, data: str | bytes) -> Path:
    """Write ``data`` (text as UTF-8) to ``folder/name``, creating sub-folders."""
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data if isinstance(data, bytes) else data.encode("utf-8"))
    return path


@pytest.fixture
def content_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "content"
    folder.mkdir()
    return folder


@pytest.fixture
def write_post(content_dir: Path) -> Callable[..., Path]:
    """``write_post("a.md", title=..., date=..., body=..., tags=[...])`` -> the file's path;
    ``write_post("a.md", raw=b"...")`` writes bytes as they are."""

    def write(name: str, raw: str | bytes | None = None, **fields: Any) -> Path:
        return write_file(content_dir, name, raw if raw is not None else post_text(**fields))

    return write


@pytest.fixture
def app_config(content_dir: Path, tmp_path: Path) -> dict[str, Any]:
    """create_app's test_config; tests may change it before asking for ``app``."""
    return {
        "TESTING": True,
        "CONTENT_DIR": str(content_dir),
        "SITE_URL": SITE_URL,
        "TITLE": "Test site",
        "BUILD_WORKERS": 1,
        "DATABASE_URL": f"sqlite:///{tmp_path / 'feedsvc.sqlite'}",
    }


@pytest.fixture
def make_app(app_config: dict[str, Any]) -> Callable[..., Flask]:
    def make(**overrides: Any) -> Flask:
        return create_app({**app_config, **{k.upper(): v for k, v in overrides.items()}})

    return make


@pytest.fixture
def app(make_app: Callable[..., Flask]) -> Flask:
    return make_app()


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def runner(app: Flask) -> FlaskCliRunner:
    return app.test_cli_runner()


@pytest.fixture
def cli() -> Callable[..., Any]:
    """``cli("check", folder, env={...})`` runs the ``feedsvc`` command line in-process."""
    from feedsvc.cli import main

    def run(*args: str, env: Mapping[str, str] | None = None) -> Any:
        return CliRunner().invoke(main, list(args), env=dict(env or {}), catch_exceptions=False)

    return run


# ---------------------------------------------------------------- real gunicorn


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class RawResponse:
    status: int
    headers: list[tuple[str, str]]  # as sent, duplicates kept
    body: bytes

    def header(self, name: str) -> str | None:
        values = self.all(name)
        return values[0] if values else None

    def all(self, name: str) -> list[str]:
        return [v for k, v in self.headers if k.lower() == name.lower()]


class GunicornServer:
    """A real ``gunicorn -k gthread`` (or ``worker_class``) serving ``wsgi:app`` on 127.0.0.1
    (control socket off, so parallel and consecutive instances never collide on
    ~/.gunicorn/gunicorn.ctl). Subclasses override ``command`` to run other servers."""

    def __init__(self, content_dir: Path, log_dir: Path, env: Mapping[str, str] | None = None,
                 workers: int = 1, threads: int = 4, site_url: str = SITE_URL, args: tuple[str, ...] = (),
                 worker_class: str = "gthread", probe_http: bool = True) -> None:
        self.content_dir = content_dir
        self.log_path = log_dir / f"{type(self).__name__.lower()}-{id(self)}.log"
        self.workers, self.threads = workers, threads
        self.args = args  # extra gunicorn options, e.g. ("--preload",)
        self.worker_class = worker_class  # "sync" serves one request at a time: give it threads=1
        self.probe_http = probe_http  # False: ready once the port accepts, without any HTTP request
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("FEEDSVC_")}
        self.env.update({
            "FEEDSVC_CONTENT_DIR": str(content_dir),
            "FEEDSVC_SITE_URL": site_url,
            "FEEDSVC_TITLE": "Test site",
            "FEEDSVC_BUILD_WORKERS": "1",
            "FEEDSVC_DATABASE_URL": f"sqlite:///{log_dir / f'feedsvc-{id(self)}.sqlite'}",
            "PYTHONDONTWRITEBYTECODE": "1",
        })
        self.env.update(env or {})
        self.port = 0
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> GunicornServer:
        for _attempt in range(3):  # another process may grab the free port first
            self.port = free_port()
            self._spawn()
            if self._wait_ready():
                return self
            self.stop()
        raise RuntimeError(f"gunicorn did not start; log:\n{self.log()}")

    def command(self) -> list[str]:
        """The server's command line (subclasses run other servers the same way)."""
        return [
            sys.executable, "-m", "gunicorn", "-k", self.worker_class, "--workers", str(self.workers),
            "--threads", str(self.threads), "--bind", f"127.0.0.1:{self.port}", "--no-control-socket",
            "--chdir", str(ROOT), "--graceful-timeout", "5", "--log-level", "info", *self.args, "wsgi:app",
        ]

    def _spawn(self) -> None:
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(self.command(), cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT,
                                         start_new_session=True)

    def _answers(self) -> bool:
        if not self.probe_http:  # the kernel accepts for the listening socket; no request is sent
            with socket.create_connection(("127.0.0.1", self.port), timeout=2):
                return True
        return self.request("GET", "/healthz", timeout=2).status == 200 and self.all_workers_live()

    def all_workers_live(self) -> bool:
        """Every worker has loaded the app: it runs its scheduler thread besides its main one
        (the app starts it as it loads, or right after the fork). Tests that spread requests
        over the workers need them all up, not just the first that answered."""
        pids = self.worker_pids()
        return len(pids) >= self.workers and all(_threads(pid) >= 2 for pid in pids)

    def worker_pids(self) -> set[int]:
        """The live (not zombie) child processes of the server's master."""
        assert self.proc is not None
        found = set()
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                stat = (entry / "stat").read_text()
            except OSError:  # exited meanwhile
                continue
            fields = stat.rpartition(")")[2].split()  # after "pid (comm)": state, ppid, ...
            if fields[0] != "Z" and int(fields[1]) == self.proc.pid:
                found.add(int(entry.name))
        return found

    def _wait_ready(self) -> bool:
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            assert self.proc is not None
            if self.proc.poll() is not None:
                return False
            try:
                if self._answers():
                    return True
            except OSError:
                pass
            time.sleep(0.05)  # polling interval under a deadline, not a wait for an outcome
        return False

    def request(self, method: str, path: str, headers: Mapping[str, str] | None = None,
                timeout: float = 10) -> RawResponse:
        """One request on a fresh connection; ``Host`` may be forged through ``headers``."""
        return RawResponse(*raw_request(self.port, method, path, headers, timeout))

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-4000:]
        except OSError:
            return ""

    def stop(self) -> None:
        proc, self.proc = self.proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(signal.SIGTERM)  # gunicorn's master stops its workers
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)  # the session this fixture started, by its id
            proc.wait(timeout=5)


def _threads(pid: int) -> int:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:  # exited meanwhile
        return 0
    return int(next(line.split()[1] for line in status.splitlines() if line.startswith("Threads:")))


@pytest.fixture
def gunicorn_factory(tmp_path: Path) -> Iterator[Callable[..., GunicornServer]]:
    started: list[GunicornServer] = []

    def start(content_dir: Path, **options: Any) -> GunicornServer:
        server = GunicornServer(content_dir, tmp_path, **options)
        started.append(server)
        return server.start()

    yield start
    for server in started:
        server.stop()


@pytest.fixture
def gunicorn_server(gunicorn_factory: Callable[..., GunicornServer], content_dir: Path) -> GunicornServer:
    """gunicorn on ``content_dir`` as the test has filled it so far."""
    return gunicorn_factory(content_dir)
