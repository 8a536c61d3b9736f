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
from typing import Any, TypeVar

T = TypeVar("T")
R = TypeVar("R")
MIN_ITEMS = 256  # below this, pool start-up costs more than it saves

# The function and jobs of the pmap_shared call in progress. Set only while its pool runs,
# which happens only when the calling thread is the process's only thread; forked children
# inherit it, so each job crosses the process boundary as its index, not pickled.
_shared: tuple[Callable[[Any], Any], Sequence[Any]] | None = None


def _child_init() -> None:
    # Children inherit gunicorn's handlers; defaults let Pool.terminate() end them.
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def default_workers() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def _forks(count: int, workers: int, min_items: int) -> bool:
    """Whether a pool is safe (no other thread to copy mid-lock) and worth it."""
    return workers > 1 and count >= min_items and threading.active_count() <= 1


def _pool_map(func: Callable[[T], R], items: Sequence[T], workers: int) -> list[R]:
    ctx = multiprocessing.get_context("fork")
    chunk = max(1, len(items) // (workers * 8))
    with ctx.Pool(workers, initializer=_child_init) as pool:
        return pool.map(func, items, chunksize=chunk)


def pmap(func: Callable[[T], R], items: Sequence[T], workers: int, min_items: int = MIN_ITEMS) -> list[R]:
    """``[func(x) for x in items]``, in ``workers`` forked processes when that is safe and
    worth it (at least ``min_items`` items)."""
    if not _forks(len(items), workers, min_items):
        return [func(item) for item in items]
    return _pool_map(func, items, workers)


def _run_shared(number: int) -> Any:
    assert _shared is not None, "pmap_shared job outside its pool"
    func, jobs = _shared
    return func(jobs[number])


def pmap_shared(func: Callable[[T], R], jobs: Sequence[T], workers: int, min_items: int = MIN_ITEMS) -> list[R]:
    """Like ``pmap``, but neither ``func`` nor the jobs are pickled: forked children inherit
    them and receive only indices (for jobs that are large or share objects, such as a feed's
    posts). Only the results cross back pickled."""
    global _shared
    if not _forks(len(jobs), workers, min_items):
        return [func(job) for job in jobs]
    _shared = (func, jobs)
    try:
        return _pool_map(_run_shared, range(len(jobs)), workers)
    finally:
        _shared = None
