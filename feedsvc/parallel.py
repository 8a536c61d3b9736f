"""A fork-based process pool for the cold build, used only before any thread starts.

Forking a process that runs threads can copy held locks into the child, so only the first
build of a process (in ``create_app``, before the scheduler or a server thread exists) uses
processes; later, incremental builds are small and run inline.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import threading
from collections.abc import Callable, Sequence
from typing import TypeVar

T = TypeVar("T")
R = TypeVar("R")
MIN_ITEMS = 256  # below this, pool start-up costs more than it saves


def _child_init() -> None:
    # Children inherit gunicorn's handlers; defaults let Pool.terminate() end them.
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def default_workers() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def pmap(func: Callable[[T], R], items: Sequence[T], workers: int, min_items: int = MIN_ITEMS) -> list[R]:
    """``[func(x) for x in items]``, in ``workers`` forked processes when that is safe and
    worth it (at least ``min_items`` items)."""
    if workers <= 1 or len(items) < min_items or threading.active_count() > 1:
        return [func(item) for item in items]
    ctx = multiprocessing.get_context("fork")
    chunk = max(1, len(items) // (workers * 8))
    with ctx.Pool(workers, initializer=_child_init) as pool:
        return pool.map(func, items, chunksize=chunk)
