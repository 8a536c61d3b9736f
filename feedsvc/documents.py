"""Rendered documents: immutable bytes with a strong ETag, and their compressed variants."""

from __future__ import annotations

import gzip
import hashlib
import threading
from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property

import brotli
from werkzeug.http import http_date

IDENTITY, GZIP, BROTLI = "identity", "gzip", "br"
BROTLI_QUALITY = 9  # q11: 8x the CPU (130 vs 16 ms, a 137 KB feed) for 7% fewer bytes


@dataclass(frozen=True, slots=True)
class Variant:
    """One encoding of a document: its bytes and its own strong ETag (RFC 9110 8.8.3)."""

    body: bytes
    etag: str  # unquoted
    encoding: str

    @property
    def quoted_etag(self) -> str:
        """The ETag header value: a strong entity tag (RFC 9110 8.8.3)."""
        return f'"{self.etag}"'


@dataclass(frozen=True, eq=False)
class Document:
    """A rendered feed or page. The ETag is derived from the bytes only, so the same
    content has the same ETag in every process and on every host."""

    body: bytes
    content_type: str
    last_modified: datetime | None
    etag: str
    _variants: dict[str, Variant] = field(default_factory=dict, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @cached_property
    def http_last_modified(self) -> str | None:
        """The Last-Modified header value (RFC 9110 5.6.7 IMF-fixdate), formatted once."""
        return http_date(self.last_modified) if self.last_modified is not None else None

    def with_last_modified(self, when: datetime | None) -> Document:
        """The same bytes and ETag with another Last-Modified; compressed variants are shared."""
        return Document(self.body, self.content_type, when, self.etag, self._variants)

    def variant(self, encoding: str) -> Variant:
        """The body in ``encoding``, compressed once per document and then reused."""
        found = self._variants.get(encoding)
        if found is not None:
            return found
        with self._lock:
            found = self._variants.get(encoding)
            if found is None:
                found = Variant(_encode(self.body, encoding), f"{self.etag}-{encoding}", encoding)
                self._variants[encoding] = found
        return found


def make_document(body: bytes, content_type: str, last_modified: datetime | None) -> Document:
    etag = hashlib.sha256(body).hexdigest()[:32]
    doc = Document(body=body, content_type=content_type, last_modified=last_modified, etag=etag)
    doc._variants[IDENTITY] = Variant(body, etag, IDENTITY)
    return doc


def _encode(body: bytes, encoding: str) -> bytes:
    if encoding == GZIP:
        return gzip.compress(body, compresslevel=6, mtime=0)  # mtime=0: same bytes every time
    if encoding == BROTLI:
        return bytes(brotli.compress(body, quality=BROTLI_QUALITY))
    raise ValueError(f"unknown encoding {encoding!r}")
