"""Process life cycle: each serving process runs its own scheduler, started after the fork.

The reload job runs in every process (each holds its own snapshot); work that must happen
once per cluster (notifications) is deduplicated in the shared store, not here.

``Runtime.arm`` makes a process live without waiting for traffic, under any WSGI server: the
importing process starts its scheduler at once, unless it is a pre-fork master that will not
serve (gunicorn's arbiter with preload, ``feedsvc serve``, uWSGI's master without
``--lazy-apps``). Such a master starts no thread (a fork would copy their held locks); each
worker forked from it rescans before it serves (its memory is the master's, as old as the
master's last build) and starts its own scheduler, from ``os.register_at_fork`` or, under
uWSGI, which runs no Python at-fork hooks by default, from ``uwsgi.post_fork_hook``.
"""

from __future__ import annotations

import atexit
import logging
import os
import sys
import threading
import weakref
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import Any

from apscheduler.schedulers.background import BackgroundScheduler

from .service import FeedService, ReloadReport, utcnow

logger = logging.getLogger(__name__)
RELOAD_JOB, PUBLISH_JOB, ASIDE_JOB = "feedsvc.reload", "feedsvc.publish", "feedsvc.aside"
MASTER, WORKER = "master", "worker"  # process roles (process_role)
WATCH_DEBOUNCE = 0.25  # seconds of quiet after a filesystem event before reloading

Job = Callable[[BackgroundScheduler], None]  # adds a job to a process's scheduler when it starts


class _SkipBusyJob(logging.Filter):
    """max_instances=1 is the design (a long send run, a slow reload): a skipped run of a busy
    job is expected, not worth a warning per second."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "maximum number of running instances reached" not in record.getMessage()


_SKIP_BUSY_JOB = _SkipBusyJob()


def quiet_scheduler_logs(level: str) -> None:
    """APScheduler logs two INFO lines per job run (every second for the push job): keep them
    for FEEDSVC_LOG_LEVEL=DEBUG only, so that an idle tick writes nothing."""
    debug = level.upper() == "DEBUG"
    logging.getLogger("apscheduler").setLevel(logging.DEBUG if debug else logging.WARNING)
    scheduler_log = logging.getLogger("apscheduler.scheduler")
    if debug:
        scheduler_log.removeFilter(_SKIP_BUSY_JOB)
    else:
        scheduler_log.addFilter(_SKIP_BUSY_JOB)


class Background:
    """One process's scheduler (and optional watcher) around a FeedService."""

    def __init__(self, service: FeedService, jobs: Sequence[Job] = ()) -> None:
        self.service = service
        self.jobs = tuple(jobs)
        self.pid = os.getpid()
        self.scheduler = BackgroundScheduler(
            timezone="UTC",
            job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": None},
        )
        self.observer: Any = None
        self._debounce: threading.Timer | None = None

    def start(self) -> None:
        quiet_scheduler_logs(self.service.settings.log_level)
        interval = self.service.settings.reload_interval
        self.scheduler.add_job(self._reload, "interval", seconds=interval, id=RELOAD_JOB, replace_existing=True)
        self.scheduler.add_job(self._aside, "interval", seconds=interval, id=ASIDE_JOB, replace_existing=True)
        self.service.on_reload(self._schedule_publication)
        for register in self.jobs:
            register(self.scheduler)
        self.scheduler.start()
        self._schedule_publication(None)
        if self.service.settings.watch:
            self._start_watch()
        logger.debug("scheduler started in pid %d: reload every %ss", self.pid, interval)

    def stop(self) -> None:
        if self.observer is not None:
            self.observer.stop()
        if self._debounce is not None:
            self._debounce.cancel()
        if self.scheduler.running:
            self.scheduler.shutdown(wait=False)

    def _reload(self) -> None:
        try:
            self.service.reload()
        except Exception:  # the job must survive any bug: log it and keep serving the old snapshot
            logger.exception("scheduled reload failed")

    def _aside(self) -> None:
        """Edits made during a long reload are pushed without waiting for it (FeedService.aside)."""
        try:
            self.service.aside()
        except Exception:
            logger.exception("recording edits aside failed")

    def _schedule_publication(self, _report: ReloadReport | None) -> None:
        """Wake at the next publication time rather than the next interval."""
        snapshot = self.service.snapshot
        due: datetime | None = snapshot.index.next_publication if snapshot else None
        if due is None or not self.scheduler.running:
            return
        run_at = max(due, utcnow()) + timedelta(milliseconds=5)
        self.scheduler.add_job(self._reload, "date", run_date=run_at, id=PUBLISH_JOB, replace_existing=True)

    def reload_soon(self) -> None:
        """Debounced reload (filesystem events come in bursts: an editor's temp file and rename)."""
        if self._debounce is not None:
            self._debounce.cancel()
        self._debounce = threading.Timer(WATCH_DEBOUNCE, self._reload)
        self._debounce.daemon = True
        self._debounce.start()

    def _start_watch(self) -> None:
        from watchdog.events import FileSystemEventHandler
        from watchdog.observers import Observer

        background = self

        class Handler(FileSystemEventHandler):  # type: ignore[misc]
            def on_any_event(self, event: Any) -> None:
                if event.event_type not in ("opened", "closed_no_write"):
                    background.reload_soon()

        try:
            self.observer = Observer()
            self.observer.daemon = True
            self.observer.schedule(Handler(), self.service.settings.content_dir, recursive=True)
            self.observer.start()
        except OSError as exc:  # e.g. the folder is missing now: the interval still reloads
            logger.warning("FEEDSVC_WATCH: cannot watch %s: %s", self.service.settings.content_dir, exc)
            self.observer = None


class Runtime:
    """A process's background work, started at most once per process id: a forked child
    inherits its parent's object but none of its threads, so it starts its own."""

    def __init__(self, service: FeedService, jobs: Sequence[Job] = (),
                 release_in_master: Sequence[Callable[[], None]] = ()) -> None:
        self.service = service
        self.jobs = list(jobs)
        self.release_in_master = list(release_in_master)  # e.g. pooled connections children must not share
        self._current: Background | None = None
        self._lock = threading.Lock()
        self._armed = False
        self._forked_pid = 0

    def start(self) -> Background:
        current = self._current
        if current is not None and current.pid == os.getpid():
            return current  # the per-request fast path: no lock
        with self._lock:
            current = self._current
            if current is not None and current.pid == os.getpid():
                return current
            background = self._current = Background(self.service, self.jobs)
            background.start()
            _stop_before_thread_pools_close(background)
            return background

    def stop(self) -> None:
        current, self._current = self._current, None
        if current is not None and current.pid == os.getpid():
            current.stop()

    def arm(self) -> str | None:
        """Go live without waiting for a request: start here, unless this process is a pre-fork
        master (it then releases ``release_in_master``); either way, every serving process
        forked from here later rescans and starts its own scheduler right after the fork.
        Once per Runtime; returns this process's role (``process_role``)."""
        role = process_role()
        if self._armed:
            return role
        self._armed = True
        ref = weakref.ref(self)

        def after_fork() -> None:
            runtime = ref()
            if runtime is not None:
                runtime._after_fork()

        os.register_at_fork(after_in_child=after_fork)
        _on_uwsgi_postfork(after_fork)
        _warn_without_uwsgi_threads()
        if role == MASTER:
            for release in self.release_in_master:
                release()
            logger.debug("pid %d is a pre-fork master: workers start their schedulers after the fork", os.getpid())
        else:
            self.start()
        return role

    def _after_fork(self) -> None:
        """In a forked child: rescan before serving and start this process's scheduler, when
        the parent was a master that started none (its threads' locks would be copied mid-use
        otherwise) and this child serves (not a helper of a build, nor gunicorn's re-exec)."""
        pid = os.getpid()
        if self._forked_pid == pid:  # uWSGI's post-fork hook and Python's both ran
            return
        self._forked_pid = pid
        if self._current is not None or self.service.reloading or process_role() == MASTER:
            return
        try:
            report = self.service.reload()  # the master's snapshot is as old as its last build
            logger.debug("pid %d forked: rescanned in %.3fs (generation %d)", pid, report.seconds, report.generation)
        except Exception:  # serve the inherited snapshot rather than fail the worker
            logger.exception("rescan after fork failed in pid %d", pid)
        try:
            self.start()
        except Exception:
            logger.exception("scheduler start after fork failed in pid %d", pid)


def process_role() -> str | None:
    """``MASTER`` in a pre-fork master that will not serve (gunicorn's arbiter, uWSGI's master
    or another non-worker uWSGI process); ``WORKER`` in a server's worker (or while gunicorn
    spawns one); None anywhere else (a plain process, mod_wsgi, granian: they serve where they
    import the app)."""
    try:
        import uwsgi  # exists only inside uWSGI

        return WORKER if uwsgi.worker_id() > 0 else MASTER
    except ImportError:
        pass
    frame: Any = sys._getframe(1)
    in_arbiter = False
    while frame is not None:
        module, function = frame.f_globals.get("__name__", ""), frame.f_code.co_name
        if module.startswith("gunicorn.workers.") or (module == "gunicorn.arbiter" and function == "spawn_worker"):
            return WORKER
        in_arbiter = in_arbiter or module == "gunicorn.arbiter"
        frame = frame.f_back
    return MASTER if in_arbiter else None


def _warn_without_uwsgi_threads() -> None:
    try:
        import uwsgi
    except ImportError:
        return
    if not getattr(uwsgi, "has_threads", True):
        logger.warning("uWSGI runs without Python threads: the reload schedule and push stall between "
                       "requests; pass --enable-threads (or --threads N)")


def _on_uwsgi_postfork(callback: Callable[[], None]) -> None:
    """Run ``callback`` in every uWSGI worker after its fork (uWSGI calls ``PyOS_AfterFork_Child``,
    and so ``os.register_at_fork`` hooks, only with --py-call-osafterfork); a no-op elsewhere."""
    try:
        from uwsgidecorators import postfork
    except ImportError:
        return
    postfork(callback)


def _stop_before_thread_pools_close(background: Background) -> None:
    """Stop the scheduler when the interpreter exits (a plain ``gunicorn wsgi:app`` worker has
    no worker_exit hook of ours). It must stop before concurrent.futures closes its pools, or a
    last tick fails with "cannot schedule new futures after shutdown": those pools close in a
    threading-exit hook, and such hooks run in reverse order of registration, so register one
    too (after concurrent.futures was imported); fall back to atexit elsewhere."""
    pid = background.pid

    def stop() -> None:
        if os.getpid() == pid:
            background.stop()

    register = getattr(threading, "_register_atexit", None)
    try:
        (register or atexit.register)(stop)
    except RuntimeError:  # the interpreter is already shutting down
        stop()


def runtime_of(wsgi: Any) -> Runtime | None:
    """The Runtime of a feedsvc WSGI app (``app.extensions["feedsvc.runtime"]``), else None."""
    found = getattr(wsgi, "extensions", {}).get("feedsvc.runtime")
    return found if isinstance(found, Runtime) else None


def gunicorn_hooks() -> dict[str, Callable[..., Any]]:
    """worker_exit stops the worker's scheduler; post_worker_init starts it if nothing did
    (Runtime.arm normally has, right after the fork)."""

    def post_worker_init(worker: Any) -> None:
        runtime = runtime_of(worker.wsgi)
        if runtime is not None:
            runtime.start()

    def worker_exit(server: Any, worker: Any) -> None:
        runtime = runtime_of(getattr(worker, "wsgi", None))
        if runtime is not None:
            runtime.stop()

    return {"post_worker_init": post_worker_init, "worker_exit": worker_exit}
