"""Command line: ``feedsvc serve``, ``feedsvc check``, ``feedsvc db upgrade``, ``feedsvc backfill``."""

from __future__ import annotations

import logging
import os
import sys
from typing import Any

import click

from . import __version__
from .config import ConfigError, Settings, load_settings


@click.group()
@click.version_option(__version__, prog_name="feedsvc")
def main() -> None:
    """feedsvc: feeds from a folder of Markdown posts."""
    level = os.environ.get("FEEDSVC_LOG_LEVEL", "INFO").upper()  # checked with the other settings below
    logging.basicConfig(level=level if level in logging.getLevelNamesMapping() else "INFO",
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")


def settings_or_exit(**overrides: Any) -> Settings:
    """The settings (defaults < TOML < environment < ``overrides``), or a clear error."""
    try:
        return load_settings({k: v for k, v in overrides.items() if v is not None})
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None


class WorkerCount(click.ParamType):
    """A number of worker processes, or ``auto``: one per CPU this process may run on. Workers
    serve rendered bytes from memory, so a request is CPU work under the GIL: more workers than
    CPUs add memory and rescans, not throughput (gunicorn's (2 x CPUs) + 1 is for workers that
    wait on I/O)."""

    name = "N|auto"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> int:
        if isinstance(value, int):
            return value
        if str(value).strip().lower() == "auto":
            from .parallel import default_workers

            return default_workers()
        try:
            count = int(value)
        except ValueError:
            self.fail(f"{value!r} is neither a number nor 'auto'", param, ctx)
        if count < 1:
            self.fail(f"must be at least 1 (got {count})", param, ctx)
        return count


@main.command()
@click.option("--bind", "-b", default="127.0.0.1:8000", show_default=True, help="Address to listen on.")
@click.option("--workers", "-w", type=WorkerCount(), default="2", show_default=True,
              help="Worker processes, or 'auto': one per CPU available.")
@click.option("--threads", default=4, show_default=True, help="Threads per worker (gthread).")
@click.option("--content", type=click.Path(file_okay=False), help="Content folder (FEEDSVC_CONTENT_DIR).")
def serve(bind: str, workers: int, threads: int, content: str | None) -> None:
    """Serve the feeds with gunicorn (the app is built once, then workers fork)."""
    overrides = {"CONTENT_DIR": content} if content else {}
    settings_or_exit(**overrides)
    import tempfile

    from .metrics_dir import use_multiprocess_metrics

    # before anything imports prometheus_client: every worker writes its samples there
    metrics_dir = use_multiprocess_metrics(tempfile.mkdtemp(prefix="feedsvc-metrics-"))
    from .server import run_gunicorn

    master = os.getpid()
    try:
        run_gunicorn({"bind": bind, "workers": workers, "threads": threads}, overrides)
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None
    finally:
        # A worker leaves gunicorn with SystemExit through this very frame (it was forked
        # inside run_gunicorn): only the master removes the folder the live workers write to.
        if os.getpid() == master:
            import shutil

            shutil.rmtree(metrics_dir, ignore_errors=True)


@main.command()
@click.argument("folder", required=False, type=click.Path())
def check(folder: str | None) -> None:
    """Validate every post in FOLDER (default: the configured content folder).

    Prints one line per problem (path: reason) and exits 1 if any post is bad.
    """
    from .index import build_index
    from .loader import ContentFolderError, ContentLoader
    from .service import utcnow

    logging.getLogger("feedsvc").setLevel(logging.ERROR)  # the report below says it all
    settings = settings_or_exit(content_dir=folder)
    try:
        result = ContentLoader(settings).load()
    except ContentFolderError as exc:
        raise click.ClickException(str(exc)) from None
    index = build_index(result.posts.values(), settings, utcnow())
    for path, reason in result.errors:
        click.echo(f"{path}: {reason}")
    for path, reason in index.warnings:
        click.echo(f"{path}: warning: {reason}")
    click.echo(
        f"{len(result.posts) + len(result.errors)} files, {len(result.posts)} good, "
        f"{len(result.errors)} bad, {len(index.warnings)} warnings, {len(index.feeds)} feeds",
        err=True,
    )
    sys.exit(1 if result.errors else 0)


@main.command()
@click.argument("outdir", type=click.Path(file_okay=False))
@click.option("--fresh", is_flag=True, help="Make every file anew, reusing nothing from the export in OUTDIR.")
def build(outdir: str, fresh: bool) -> None:
    """Write every document the service serves to OUTDIR, laid out like the URLs.

    Byte-identical to what `feedsvc serve` answers for the same content and settings, with .gz
    and .br siblings and a manifest of feedsvc's ETags (_feedsvc/manifest.json). OUTDIR is
    replaced whole, by a rename, when the export is complete. The files of a document made
    from the same posts, code and settings as in the export already in OUTDIR are reused
    (hard links) instead of being rendered and compressed again, unless --fresh.
    """
    from .export import export_snapshot
    from .parallel import default_workers
    from .service import FeedService

    settings = settings_or_exit()
    service = FeedService(settings)
    notifier = None
    if settings.notify:  # the store dates edited versions: the same dates as `feedsvc serve`
        from .notify import start_notifier

        notifier = start_notifier(service)
    try:
        snapshot = service.current()
        report = export_snapshot(snapshot, outdir, settings.archive_size, settings.build_workers or default_workers(),
                                 reuse=not fresh)
    except OSError as exc:
        raise click.ClickException(f"cannot write {outdir}: {exc.strerror or exc}") from None
    finally:
        if notifier is not None:
            notifier.close()
    for path, reason in snapshot.errors:
        click.echo(f"{path}: {reason}", err=True)
    for path, reason in report.skipped:
        click.echo(f"skipped {path}: {reason}", err=True)
    click.echo(f"{report.files} documents written to {outdir} (each with .gz and .br; {report.reused} of them "
               f"unchanged, reused from the previous export), {len(report.skipped)} skipped, "
               f"{len(snapshot.errors)} bad posts", err=True)


@main.group()
def db() -> None:
    """The notification store (webhooks, WebSub): FEEDSVC_DATABASE_URL."""


@db.command("upgrade")
def db_upgrade() -> None:
    """Create or upgrade the store's tables (Alembic; also done at every start)."""
    from .notify.commands import db_upgrade as upgrade

    click.echo(f"database up to date: {upgrade(settings_or_exit())}")


@main.command()
def backfill() -> None:
    """Announce every current post once as post.published to the webhook endpoints.

    The first start on an empty store records the posts and announces nothing; this opts in.
    """
    from .notify.commands import backfill as run_backfill

    try:
        click.echo(f"{run_backfill(settings_or_exit())} post.published events queued")
    except (ConfigError, RuntimeError) as exc:
        raise click.ClickException(str(exc)) from None


if __name__ == "__main__":
    main()
