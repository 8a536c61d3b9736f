"""A real nginx running deploy/nginx/feedsvc.conf.template, for the tests and bench/nginx_cache.py.

Standard library only. nginx runs in the foreground from a temp prefix (its own pid file, temp
folders and cache); ``ensure_nginx`` installs Debian's ``nginx-light`` when it is missing.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import time
from collections.abc import Mapping
from pathlib import Path

from raw_http import raw_request
from system_tools import ensure_command

ROOT = Path(__file__).resolve().parent.parent
TEMPLATE = ROOT / "deploy" / "nginx" / "feedsvc.conf.template"
VARIABLES = ("FEEDSVC_UPSTREAM", "NGINX_PORT", "NGINX_CACHE_DIR")


def render(template: str, values: Mapping[str, str]) -> str:
    """``envsubst '${FEEDSVC_UPSTREAM} ${NGINX_PORT} ${NGINX_CACHE_DIR}'``: only these
    variables are replaced ($NAME and ${NAME}); nginx's own $variables are left alone."""
    names = "|".join(VARIABLES)
    return re.sub(rf"\$(?:\{{({names})\}}|({names})\b)", lambda m: values[m.group(1) or m.group(2)], template)


def ensure_nginx() -> str | None:
    """The nginx binary (Debian's nginx-light installed when missing), or None."""
    return ensure_command("nginx", "nginx-light")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Nginx:
    """nginx with the rendered template included in a minimal ``http {}``; ``extra`` is more
    http-context configuration (the bench's static server)."""

    def __init__(self, binary: str, prefix: Path, upstream: str, extra: str = "", workers: int = 1,
                 access_log: bool = True) -> None:
        self.binary, self.prefix, self.upstream = binary, prefix, upstream
        self.extra, self.workers, self.access_log = extra, workers, access_log
        self.cache_dir = prefix / "cache"
        self.port = 0
        self.proc: subprocess.Popen[bytes] | None = None

    def config(self) -> str:
        p = self.prefix
        site = render(TEMPLATE.read_text(), {"FEEDSVC_UPSTREAM": self.upstream, "NGINX_PORT": f"127.0.0.1:{self.port}",
                                             "NGINX_CACHE_DIR": str(self.cache_dir)})
        (p / "feedsvc.conf").write_text(site)
        temps = "\n".join(f"    {kind}_temp_path {p / 'tmp' / kind};" for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
        log = (f'    log_format cache \'$request "$http_accept_encoding" $status $upstream_cache_status "$sent_http_content_encoding"\';\n'
               f"    access_log {p / 'access.log'} cache;") if self.access_log else "    access_log off;"
        user = "user root;\n" if os.geteuid() == 0 else ""  # the temp prefix is root's alone
        # sendfile and tcp_nopush as in Debian's and the official image's nginx.conf
        return (f"{user}worker_processes {self.workers};\nevents {{ worker_connections 1024; }}\nhttp {{\n{temps}\n{log}\n"
                "    sendfile on;\n    tcp_nopush on;\n"
                f"    include {p / 'feedsvc.conf'};\n{self.extra}\n}}\n")

    def start(self) -> Nginx:
        for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"):
            (self.prefix / "tmp" / kind).mkdir(parents=True, exist_ok=True)
        for _attempt in range(3):  # another process may take the free port first
            self.port = free_port()
            (self.prefix / "nginx.conf").write_text(self.config())
            cmd = [self.binary, "-p", str(self.prefix), "-c", str(self.prefix / "nginx.conf"),
                   "-g", f"daemon off; pid {self.prefix / 'nginx.pid'}; error_log stderr;"]
            with open(self.prefix / "error.log", "ab") as log:
                self.proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline and self.proc.poll() is None:
                try:
                    socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                    return self
                except OSError:
                    time.sleep(0.02)  # polling under a deadline
            self.stop()
        raise RuntimeError(f"nginx did not start:\n{self.log()}")

    def log(self) -> str:
        return (self.prefix / "error.log").read_text(errors="replace")[-4000:]

    def access(self) -> list[str]:
        path = self.prefix / "access.log"
        return path.read_text().splitlines() if path.exists() else []

    def cache_files(self) -> list[Path]:
        return [f for f in self.cache_dir.rglob("*") if f.is_file()] if self.cache_dir.exists() else []

    def request(self, path: str, headers: Mapping[str, str] | None = None, method: str = "GET",
                timeout: float = 10) -> tuple[int, dict[str, str], bytes]:
        """One request on a fresh connection, no header added (Host only when not given)."""
        status, headers_sent, body = raw_request(self.port, method, path, headers, timeout)
        return status, {k.lower(): v for k, v in headers_sent}, body

    def stop(self) -> None:
        proc, self.proc = self.proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(signal.SIGQUIT)  # graceful stop of the master and its workers
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)  # the session this helper started, by its id
            proc.wait(timeout=5)
