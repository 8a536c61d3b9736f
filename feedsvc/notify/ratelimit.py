"""A per-process sliding-window limit on WebSub subscription requests per client address."""

from __future__ import annotations

import threading
import time
from collections import deque


class RateLimiter:
    """A sliding window per client address: at most ``limit`` requests per ``window`` s."""

    def __init__(self, limit: int, window: float = 60.0) -> None:
        self.limit, self.window = limit, window
        self._seen: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def retry_after(self, address: str) -> int:
        """0 when the request may go ahead (and counts it), else seconds to wait."""
        stamp = time.monotonic()
        with self._lock:
            if len(self._seen) > 10000:  # forget idle clients
                self._seen = {k: v for k, v in self._seen.items() if v and stamp - v[-1] < self.window}
            seen = self._seen.setdefault(address, deque())
            while seen and stamp - seen[0] >= self.window:
                seen.popleft()
            if len(seen) >= self.limit:
                return int(self.window - (stamp - seen[0])) + 1
            seen.append(stamp)
            return 0
