"""Real headless Chromium for the browser tests, driven over the Chrome DevTools Protocol
(https://chromedevtools.github.io/devtools-protocol/) with the ``websockets`` client.

``ensure_chromium()`` installs Debian's ``chromium`` and ``fonts-noto-cjk`` with apt-get when
they are missing (apt-get update first) and returns the reason when that is impossible.
``Chromium`` runs one browser; ``Page`` is one tab: viewport and colour scheme emulation,
navigation until the load event, JavaScript evaluation and PNG screenshots.
"""

from __future__ import annotations

import base64
import json
import os
import re
import shutil
import subprocess
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from websockets.sync.client import ClientConnection, connect

PACKAGES = ("chromium", "fonts-noto-cjk")
CJK_FONT = Path("/usr/share/fonts/opentype/noto")


def ensure_chromium() -> str | None:
    """None when ``chromium`` and a CJK font are there (installed now if need be), else why not."""
    if shutil.which("chromium") and CJK_FONT.is_dir():
        return None
    if not shutil.which("apt-get"):
        return "chromium is not installed and there is no apt-get to install it"
    if os.geteuid() != 0:
        return "chromium is not installed and installing it with apt-get needs root"
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for cmd in (["apt-get", "update", "-qq"],
                ["apt-get", "install", "-y", "-qq", "-o", "DPkg::Lock::Timeout=300", *PACKAGES]):
        done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=900, check=False)
        if done.returncode != 0:
            return f"{' '.join(cmd)} failed: {done.stderr.strip()[-500:]}"
    return None if shutil.which("chromium") else "apt-get installed no chromium"


class CDPError(RuntimeError):
    pass


class Chromium:
    """One headless Chromium process (stopped by ``close``), reached through its browser target."""

    def __init__(self) -> None:
        self.profile = tempfile.mkdtemp(prefix="feedsvc-chromium-")
        self.log = Path(self.profile) / "stderr.log"  # a file, so that chromium never blocks on a full pipe
        with open(self.log, "wb") as log:
            self.proc = subprocess.Popen(
                ["chromium", "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--hide-scrollbars",
                 "--remote-debugging-port=0", f"--user-data-dir={self.profile}/data", "about:blank"],
                stdout=subprocess.DEVNULL, stderr=log, start_new_session=True,
            )
        self.ws_url = self._devtools_url()
        self.port = int(re.search(r":(\d+)/", self.ws_url).group(1))  # type: ignore[union-attr]

    def _devtools_url(self, timeout: float = 30) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and self.proc.poll() is None:
            found = re.search(r"DevTools listening on (ws://\S+)", self.log.read_text(errors="replace"))
            if found:
                return found.group(1)
            time.sleep(0.05)  # polling under a deadline
        raise CDPError(f"chromium did not announce its DevTools endpoint: {self.log.read_text(errors='replace')[-2000:]}")

    def new_page(self) -> Page:
        with connect(self.ws_url, max_size=None) as browser:
            target = _call(browser, 1, "Target.createTarget", {"url": "about:blank"})["targetId"]
        return Page(f"ws://127.0.0.1:{self.port}/devtools/page/{target}")

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)
        shutil.rmtree(self.profile, ignore_errors=True)


def _call(ws: ClientConnection, msg_id: int, method: str, params: dict[str, Any] | None = None,
          timeout: float = 30) -> dict[str, Any]:
    """Send one command and read until its answer (events in between are dropped)."""
    ws.send(json.dumps({"id": msg_id, "method": method, "params": params or {}}))
    deadline = time.monotonic() + timeout
    while True:
        message = json.loads(ws.recv(timeout=max(0.1, deadline - time.monotonic())))
        if message.get("id") == msg_id:
            if "error" in message:
                raise CDPError(f"{method}: {message['error']}")
            return message.get("result", {})  # type: ignore[no-any-return]


class Page:
    """One tab, its own DevTools connection."""

    def __init__(self, ws_url: str) -> None:
        self.stack = ExitStack()
        self.ws = self.stack.enter_context(connect(ws_url, max_size=None))
        self.next_id = 0
        self.call("Page.enable")

    def call(self, method: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        self.next_id += 1
        return _call(self.ws, self.next_id, method, params)

    def emulate(self, width: int, height: int, dark: bool = False, mobile: bool = False) -> None:
        self.call("Emulation.setDeviceMetricsOverride",
                  {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": mobile})
        scheme = "dark" if dark else "light"
        self.call("Emulation.setEmulatedMedia", {"features": [{"name": "prefers-color-scheme", "value": scheme}]})

    def goto(self, url: str, timeout: float = 30) -> None:
        """Navigate and wait for the load event (the XSLT result's, for a feed)."""
        self.next_id += 1
        msg_id = self.next_id
        self.ws.send(json.dumps({"id": msg_id, "method": "Page.navigate", "params": {"url": url}}))
        deadline = time.monotonic() + timeout
        while True:
            message = json.loads(self.ws.recv(timeout=max(0.1, deadline - time.monotonic())))
            if message.get("id") == msg_id and message.get("result", {}).get("errorText"):
                raise CDPError(f"{url}: {message['result']['errorText']}")
            if message.get("method") == "Page.loadEventFired":
                return

    def evaluate(self, expression: str) -> Any:
        result = self.call("Runtime.evaluate", {"expression": expression, "returnByValue": True})
        if "exceptionDetails" in result:
            raise CDPError(f"{expression}: {result['exceptionDetails']}")
        return result["result"].get("value")

    def screenshot(self, path: Path, full_page: bool = False) -> None:
        params: dict[str, Any] = {"format": "png"}
        if full_page:
            params["captureBeyondViewport"] = True
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(base64.b64decode(self.call("Page.captureScreenshot", params)["data"]))

    def close(self) -> None:
        self.stack.close()
