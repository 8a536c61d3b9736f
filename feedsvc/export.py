"""Static export (``feedsvc build OUTDIR``): every document the service serves, as files laid
out like the URLs, byte-identical to what ``feedsvc serve`` answers for the same content and
settings, with ``.gz`` and ``.br`` siblings (nginx ``gzip_static`` / ``brotli_static``).

- A URL path maps to a file by percent-decoding it, as a web server does before it looks a
  file up; a path that ends in ``/`` is that folder's ``index.html``.
- Each file's mtime is the document's Last-Modified, so a static server sends the same
  ``Last-Modified``. ETags are the server's own (nginx derives one from mtime and size);
  ``_feedsvc/manifest.json`` lists feedsvc's strong ETag, content type and Last-Modified of every
  file for a deploy step that sets object metadata (S3, a CDN).
- A path whose decoded form cannot be a file name (a tag named ``..``, a NUL) is skipped and
  reported: a static server would resolve it to another file.
- The output is built in a sibling folder and swapped in by renames, so OUTDIR never holds
  a half-written export.
- The work (rendering archive pages, compressing, writing) is spread over forked processes
  (``parallel.pmap_shared``); each job writes its own files and sends back only manifest
  entries, so the output is the same bytes whatever the number of processes.
- A rebuild into an existing OUTDIR reuses the files of each document made from the same
  inputs as before (the manifest's ``inputs``: a digest of the posts, dates, code and settings
  it is rendered from), as hard links, without rendering or compressing it again; what moved
  is rendered. The result is the same as a fresh export (tested), in a fraction of the time.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import partial
from urllib.parse import unquote

from .documents import BROTLI, GZIP, IDENTITY, Document
from .formats import FORMATS
from .parallel import pmap_shared
from .snapshot import Snapshot

MANIFEST = "_feedsvc/manifest.json"
SUFFIX = {GZIP: ".gz", BROTLI: ".br"}

Fetch = Callable[[], Document | None]  # the document, rendered by the process that writes it
Job = Sequence[tuple[str, Fetch, str | None]]  # (site path, fetch, inputs digest) of documents rendered together
Entry = dict[str, object]  # one manifest entry


@dataclass
class ExportReport:
    files: int = 0  # documents written (each with its .gz and .br)
    reused: int = 0  # of which taken from the previous export unchanged
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (URL path, reason)


def file_path(url_path: str) -> str | None:
    """The relative file for a site path, or None when no file can stand for it."""
    decoded = unquote(url_path, errors="strict")
    if url_path.endswith("/"):
        decoded += "index.html"
    parts = decoded.lstrip("/").split("/")
    if any(part in ("", ".", "..") or "\x00" in part for part in parts) or len(decoded.encode()) > 4000:
        return None
    if any(len(part.encode()) > 255 - 3 for part in parts):  # room for ".gz" within NAME_MAX
        return None
    return os.path.join(*parts)


def export_snapshot(snapshot: Snapshot, outdir: str, archive_size: int, workers: int, reuse: bool = True) -> ExportReport:
    """Export every document ``snapshot.by_path(archive_size)`` yields, in ``workers`` processes;
    with ``reuse``, the previous export's files of documents made from the same inputs are kept."""
    previous = read_manifest(outdir) if reuse else {}
    jobs = snapshot_jobs(snapshot, archive_size)
    made_afresh = [job for job in jobs if not all(_same_inputs(previous, url_path, inputs) for url_path, _, inputs in job)]
    prefill_bodies(snapshot, archive_size, workers, made_afresh)
    return export(jobs, outdir, workers, previous)


def prefill_bodies(snapshot: Snapshot, archive_size: int, workers: int, jobs: Sequence[Job]) -> None:
    """Render the body of every post the documents of ``jobs`` show once, before the jobs fork:
    a post is in the current document or on an archive page of each of its feeds (the site's,
    each tag's, ...). A build is one pass, so the body cache is unbounded for it."""
    renderer = snapshot.renderer
    if renderer is None:
        return
    index = snapshot.index
    paths = {url_path for job in jobs for url_path, _, _ in job}
    shown: set[str] = set()
    for feed in index.feeds.values():
        if feed.document_path(FORMATS[0].name) in paths:
            shown.update(source for source, _, _, _ in snapshot.inputs[feed.key].items)
        for page in range(1, feed.archive_pages(archive_size) + 1 if archive_size else 1):
            if feed.archive_path(page, FORMATS[0].name) in paths:
                shown.update(feed.archive_page(page, archive_size))
    renderer.bodies.max_chars = 1 << 62
    renderer.bodies.fill([index.posts[source] for source in sorted(shown)], workers)


def _same_inputs(previous: dict[str, Entry], url_path: str, inputs: str | None) -> bool:
    """Whether the previous export (its manifest entries) made ``url_path`` from ``inputs``."""
    return inputs is not None and previous.get(url_path, {}).get("inputs") == inputs


def snapshot_jobs(snapshot: Snapshot, archive_size: int) -> list[Job]:
    """Every document ``snapshot.by_path(archive_size)`` yields, as jobs: each page; each feed's
    current documents, then (``archive_size`` > 0) each of its archive pages, in all formats as
    one job, since they are rendered together, in the process that runs the job. Each comes
    with the digest of its inputs (the code and settings included): a page's and a current
    document's from their ETag, an archive page's from its posts."""
    fingerprint = snapshot.renderer.fingerprint if snapshot.renderer is not None else ""

    def inputs(doc: Document) -> str:  # a lazy document's ETag is derived from its inputs, without rendering
        return hashlib.sha256(f"{fingerprint}/{doc.etag}".encode()).hexdigest()[:32]

    jobs: list[Job] = [[(path, partial(_same, doc), inputs(doc))] for path, doc in sorted(snapshot.pages.items())]
    for feed in snapshot.index.feed_list():
        current = {fmt.name: snapshot.documents[(feed.key, fmt.name)] for fmt in FORMATS}
        jobs.append([(feed.document_path(name), partial(_same, doc), inputs(doc)) for name, doc in current.items()])
        for page in range(1, feed.archive_pages(archive_size) + 1 if archive_size else 1):
            digest = snapshot.archive_digest(feed.key, page)
            jobs.append([(feed.archive_path(page, fmt.name), partial(snapshot.archive_document, feed.key, page, fmt.name),
                          None if digest is None else f"{digest}/{fmt.name}") for fmt in FORMATS])
    return jobs


def _same(doc: Document) -> Document:
    return doc


def export(jobs: Sequence[Job], outdir: str, workers: int = 1, reuse: dict[str, Entry] | None = None) -> ExportReport:
    """Write the documents of ``jobs`` to ``outdir``, replacing it whole; ``workers`` processes
    (forked, when no other thread runs) render, compress and write them. The files of a
    document that ``reuse`` (``outdir``'s manifest) lists with the same inputs are linked from
    ``outdir``, not made again."""
    outdir = os.path.abspath(outdir)
    parent = os.path.dirname(outdir)
    os.makedirs(parent, exist_ok=True)
    previous = Previous(outdir, reuse or {})
    staging = tempfile.mkdtemp(prefix=".feedsvc-build-", dir=parent)
    report = ExportReport()
    manifest: dict[str, Entry] = {}
    try:
        made: set[str] = set()  # folders made so far (by this process: each forked one has its copy)
        for done in pmap_shared(partial(_run_job, staging, made, previous), jobs, workers):
            for url_path, entry, reused in done:
                if entry is None:
                    report.skipped.append((url_path, "its decoded path cannot be a file name"))
                    continue
                manifest[url_path] = entry
                report.files += 1
                report.reused += reused
        os.makedirs(os.path.join(staging, os.path.dirname(MANIFEST)), exist_ok=True)
        _write(staging, MANIFEST, json.dumps(manifest, ensure_ascii=False, indent=1, sort_keys=True).encode() + b"\n", None)
        _swap_in(staging, outdir)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return report


@dataclass(frozen=True)
class Previous:
    """The export being replaced: its folder and manifest entries by site path."""

    root: str
    entries: dict[str, Entry]

    def link(self, url_path: str, rel: str, inputs: str | None, root: str, made: set[str]) -> Entry | None:
        """Link the previous files of ``url_path`` into ``root`` when they were made from the
        same inputs; their manifest entry, or None (then the document is made afresh)."""
        old = self.entries.get(url_path)
        if old is None or not _same_inputs(self.entries, url_path, inputs) or old.get("file") != rel.replace(os.sep, "/"):
            return None
        _make_folder(root, made, rel)
        linked = []
        try:
            for suffix in ("", *SUFFIX.values()):
                target = os.path.join(root, rel + suffix)
                os.link(os.path.join(self.root, rel + suffix), target)
                linked.append(target)
        except OSError:  # gone, or another file system: make it afresh
            for target in linked:
                os.unlink(target)
            return None
        return old


def read_manifest(outdir: str) -> dict[str, Entry]:
    """The manifest of the export in ``outdir``, or nothing when there is none to trust."""
    try:
        with open(os.path.join(outdir, MANIFEST), encoding="utf-8") as fh:
            entries = json.load(fh)
    except (OSError, ValueError):
        return {}
    if not isinstance(entries, dict):
        return {}
    return {path: entry for path, entry in entries.items() if isinstance(entry, dict)}


def _run_job(root: str, made: set[str], previous: Previous, job: Job) -> list[tuple[str, Entry | None, bool]]:
    """Write a job's documents under ``root``: (site path, manifest entry or None when
    skipped, whether the previous export's files were reused)."""
    done: list[tuple[str, Entry | None, bool]] = []
    for url_path, fetch, inputs in job:
        try:
            rel = file_path(url_path)
        except UnicodeDecodeError:
            rel = None
        if rel is None:
            done.append((url_path, None, False))
            continue
        entry = previous.link(url_path, rel, inputs, root, made)
        if entry is not None:
            done.append((url_path, entry, True))
            continue
        doc = fetch()
        if doc is not None:
            _write_document(root, made, rel, doc)
            done.append((url_path, {**_entry(rel, doc), "inputs": inputs}, False))
    return done


def _entry(rel: str, doc: Document) -> Entry:
    return {
        "file": rel.replace(os.sep, "/"),
        "content_type": doc.content_type,
        "last_modified": doc.http_last_modified,
        "etag": {enc: doc.variant(enc).quoted_etag for enc in (IDENTITY, GZIP, BROTLI)},
    }


def _make_folder(root: str, made: set[str], rel: str) -> None:
    folder = os.path.join(root, os.path.dirname(rel))
    if folder not in made:  # a folder holds a document's 3 files, often several documents
        os.makedirs(folder, exist_ok=True)
        made.add(folder)


def _write_document(root: str, made: set[str], rel: str, doc: Document) -> None:
    stamp = doc.last_modified.timestamp() if doc.last_modified is not None else None
    _make_folder(root, made, rel)
    _write(root, rel, doc.body, stamp)
    for encoding, suffix in SUFFIX.items():
        _write(root, rel + suffix, doc.variant(encoding).body, stamp)


def _write(root: str, rel: str, data: bytes, stamp: float | None) -> None:
    path = os.path.join(root, rel)
    with open(path, "wb") as fh:
        fh.write(data)
    if stamp is not None:
        os.utime(path, (stamp, stamp))


def _swap_in(staging: str, outdir: str) -> None:
    """Replace ``outdir`` by ``staging`` with renames (the old one is removed afterwards)."""
    os.chmod(staging, 0o755)  # mkdtemp makes it 0700: a web server must read it
    old = None
    if os.path.lexists(outdir):
        old = outdir + ".old-" + os.path.basename(staging)
        os.rename(outdir, old)
    os.rename(staging, outdir)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
