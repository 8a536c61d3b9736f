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
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass, field
from urllib.parse import unquote

from .documents import BROTLI, GZIP, IDENTITY, Document

MANIFEST = "_feedsvc/manifest.json"
SUFFIX = {GZIP: ".gz", BROTLI: ".br"}


@dataclass
class ExportReport:
    files: int = 0  # documents written (each with its .gz and .br)
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


def export(documents: Iterable[tuple[str, Document]], outdir: str) -> ExportReport:
    """Write ``documents`` ((site path, Document) pairs) to ``outdir``, replacing it whole."""
    outdir = os.path.abspath(outdir)
    parent = os.path.dirname(outdir)
    os.makedirs(parent, exist_ok=True)
    staging = tempfile.mkdtemp(prefix=".feedsvc-build-", dir=parent)
    report = ExportReport()
    manifest: dict[str, dict[str, object]] = {}
    try:
        for url_path, doc in documents:
            try:
                rel = file_path(url_path)
            except UnicodeDecodeError:
                rel = None
            if rel is None:
                report.skipped.append((url_path, "its decoded path cannot be a file name"))
                continue
            _write_document(staging, rel, doc)
            manifest[url_path] = _entry(rel, doc)
            report.files += 1
        _write(staging, MANIFEST, json.dumps(manifest, ensure_ascii=False, indent=1, sort_keys=True).encode() + b"\n", None)
        _swap_in(staging, outdir)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return report


def _entry(rel: str, doc: Document) -> dict[str, object]:
    return {
        "file": rel.replace(os.sep, "/"),
        "content_type": doc.content_type,
        "last_modified": doc.http_last_modified,
        "etag": {enc: doc.variant(enc).quoted_etag for enc in (IDENTITY, GZIP, BROTLI)},
    }


def _write_document(root: str, rel: str, doc: Document) -> None:
    stamp = doc.last_modified.timestamp() if doc.last_modified is not None else None
    _write(root, rel, doc.body, stamp)
    for encoding, suffix in SUFFIX.items():
        _write(root, rel + suffix, doc.variant(encoding).body, stamp)


def _write(root: str, rel: str, data: bytes, stamp: float | None) -> None:
    path = os.path.join(root, rel)
    os.makedirs(os.path.dirname(path), exist_ok=True)
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
