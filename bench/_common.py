"""Shared helpers of the bench scripts: corpora, Hugo runs, servers on loopback, memory, tables.

Developer tooling only (stdlib): the service and the test suite never import this.
Machines are noisy: every figure is a ratio against a baseline measured in the same run.
"""

from __future__ import annotations

import http.client
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from http.server import ThreadingHTTPServer
from pathlib import Path

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
VENV_BIN = REPO / ".venv" / "bin"
WORKDIR = BENCH / "out"  # git-ignored
HUGO_SITE = BENCH / "hugo-site"
HOST = "127.0.0.1"  # loopback only


def corpus(n: int, workdir: Path = WORKDIR) -> Path:
    """A gen_corpus.py corpus of ``n`` posts (deterministic, so it is generated once and reused)."""
    out = workdir / f"corpus-{n}"
    stamp = out / ".complete"
    if not stamp.exists():
        shutil.rmtree(out, ignore_errors=True)
        out.parent.mkdir(parents=True, exist_ok=True)
        subprocess.run([sys.executable, str(REPO / "tests" / "gen_corpus.py"), str(out), str(n)], check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        stamp.touch()
    return out


def copy_corpus(src: Path, workdir: Path = WORKDIR) -> Path:
    """A scratch copy (mtimes kept) for benches that edit posts."""
    dst = Path(tempfile.mkdtemp(prefix="edit-", dir=workdir)) / "content"
    shutil.copytree(src, dst, ignore=shutil.ignore_patterns(".complete"))
    return dst


def median(values: Iterable[float]) -> float:
    return statistics.median(list(values))


# ------------------------------------------------------------------ Hugo


@dataclass(frozen=True)
class HugoRun:
    seconds: float
    peak_rss_mb: float
    feeds: int


def hugo_site(content: Path, workdir: Path = WORKDIR) -> Path:
    """A temp copy of bench/hugo-site with ``content`` linked in as its content folder."""
    site = Path(tempfile.mkdtemp(prefix="hugo-site-", dir=workdir))
    shutil.copytree(HUGO_SITE, site, dirs_exist_ok=True)
    (site / "content").symlink_to(content.resolve())
    return site


def hugo_build(site: Path, hugo: str = "hugo") -> HugoRun:
    """One full ``hugo --quiet`` build into a fresh folder, under /usr/bin/time -v."""
    out = Path(tempfile.mkdtemp(prefix="hugo-out-", dir=site.parent))
    started = time.perf_counter()
    proc = subprocess.run(
        ["/usr/bin/time", "-v", hugo, "--quiet", "-s", str(site), "-d", str(out)],
        capture_output=True, text=True, check=False,
    )
    seconds = time.perf_counter() - started
    if proc.returncode != 0:
        raise RuntimeError(f"hugo failed: {proc.stderr[-2000:]}")
    match = re.search(r"Maximum resident set size \(kbytes\): (\d+)", proc.stderr)
    feeds = sum(1 for _ in out.rglob("*.xml"))
    shutil.rmtree(out, ignore_errors=True)
    return HugoRun(seconds, int(match.group(1)) / 1024 if match else float("nan"), feeds)


# ------------------------------------------------------------------ servers


class Receiver(ThreadingHTTPServer):
    """A loopback receiver for webhooks: a thread per request, and a listen backlog that takes
    a burst. The default (5) reset connections when two workers sent 64 at once: each reset was
    a failed attempt, retried a minute later, and the backlog looked minutes longer than it was."""

    daemon_threads = True
    request_queue_size = 1024


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def feedsvc_env(content: Path, port: int, **extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update({
        "FEEDSVC_CONTENT_DIR": str(content),
        "FEEDSVC_SITE_URL": f"http://{HOST}:{port}",
        "FEEDSVC_LOG_LEVEL": "WARNING",
        "FEEDSVC_NOTIFY": "0",
    })
    env.update(extra)
    return env


def start_feedsvc(content: Path, port: int, workers: int = 2, log: Path | None = None,
                   **extra_env: str) -> subprocess.Popen[bytes]:
    """``feedsvc serve`` (gunicorn master = this process; the app is built before the fork);
    its output goes to ``log`` when given (with FEEDSVC_LOG_LEVEL=INFO unless set)."""
    cmd = [str(VENV_BIN / "feedsvc"), "serve", "--bind", f"{HOST}:{port}", "--workers", str(workers)]
    env = feedsvc_env(content, port, **extra_env)
    if log is not None and "FEEDSVC_LOG_LEVEL" not in extra_env:
        env["FEEDSVC_LOG_LEVEL"] = "INFO"
    out = open(log, "ab") if log is not None else subprocess.DEVNULL  # noqa: SIM115 - the child keeps it
    return subprocess.Popen(cmd, cwd=REPO, env=env, stdout=out, stderr=out, start_new_session=True)


def start_gunicorn(app: str, port: int, env: dict[str, str], workers: int = 2, threads: int = 4) -> subprocess.Popen[bytes]:
    """``gunicorn -k gthread -w W --threads T`` with its defaults otherwise (no access log)."""
    cmd = [str(VENV_BIN / "gunicorn"), "-k", "gthread", "-w", str(workers), "--threads", str(threads),
           "-b", f"{HOST}:{port}", "--chdir", str(REPO), app]
    return subprocess.Popen(cmd, cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)


def stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def get(port: int, path: str, headers: dict[str, str] | None = None, timeout: float = 30) -> tuple[int, dict[str, str], bytes]:
    conn = http.client.HTTPConnection(HOST, port, timeout=timeout)
    try:
        conn.request("GET", path, headers=headers or {})
        resp = conn.getresponse()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read()
    finally:
        conn.close()


def wait_ready(port: int, path: str, proc: subprocess.Popen[bytes], timeout: float = 300, poll: float = 0.01) -> None:
    """Poll until ``path`` answers 200 (the server is built and listening)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}")
        try:
            if get(port, path, timeout=5)[0] == 200:
                return
        except OSError:
            pass
        time.sleep(poll)
    raise TimeoutError(f"{path} not ready after {timeout}s")


# ------------------------------------------------------------------ memory


def children(pid: int) -> list[int]:
    try:
        text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    except OSError:
        return []
    return [int(p) for p in text.split()]


def proc_status_mb(pid: int, field: str) -> float:
    """VmHWM (peak RSS) or VmRSS of a process, in MiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    raise KeyError(field)


# ------------------------------------------------------------------ tables


HEADER = "| figure | feedsvc | baseline | ratio | target | met? |\n|---|---|---|---|---|---|"


def row(figure: str, ours: str, baseline: str, ratio: float | None, target: str, met: bool | None) -> str:
    ratio_s = "" if ratio is None else f"{ratio:.2f}"
    met_s = "" if met is None else ("yes" if met else "**no**")
    return f"| {figure} | {ours} | {baseline} | {ratio_s} | {target} | {met_s} |"


def print_table(rows: Sequence[str], notes: Sequence[str] = ()) -> None:
    print(HEADER)
    for line in rows:
        print(line)
    for note in notes:
        print(f"\n{note}")
    sys.stdout.flush()


# ------------------------------------------------------------------ PostgreSQL

PG_DEFAULT = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


def pg_schema(url: str, prefix: str, drop: str | None = None) -> str:
    """A fresh schema ``<prefix>_<random>`` in the database of ``url`` (a run's own tables), or
    drop the schema ``drop``."""
    import uuid

    import psycopg

    plain = url.replace("postgresql+psycopg://", "postgresql://").split("?")[0]
    with psycopg.connect(plain, connect_timeout=5, autocommit=True) as conn:
        if drop:
            conn.execute(f"DROP SCHEMA IF EXISTS {drop} CASCADE")
            return drop
        schema = f"{prefix}_{uuid.uuid4().hex[:8]}"
        conn.execute(f"CREATE SCHEMA {schema}")
    return schema
