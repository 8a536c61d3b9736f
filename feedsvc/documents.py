"""Rendered documents: immutable bytes with a strong ETag, and their compressed variants."""

from __future__ import annotations

import gzip
import hashlib
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable, Mapping
from dataclasses import dataclass
from datetime import datetime

import brotli
from werkzeug.http import http_date

IDENTITY, GZIP, BROTLI = "identity", "gzip", "br"
BROTLI_QUALITY = 6  # a 138 KB feed: q6 1.9 ms, 14.1% of it; q9 13.9 ms, 13.6%; q11 143 ms, 12.6%


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


class Document:
    """A rendered feed or page: its validators, and its bytes either held (``make_document``)
    or rendered on demand into a shared, bounded ``ByteCache`` (``lazy_document``). A lazy
    document answers ``etag``, ``last_modified`` and ``variant_etag`` without its bytes, so a
    304 costs no rendering. The ETag is derived from the bytes (held documents) or from what
    they are rendered from (lazy ones): either way the same content has the same ETag in every
    process and on every host."""

    __slots__ = ("content_type", "last_modified", "etag", "http_last_modified", "_body", "_cache", "_render",
                 "_variants", "_retyped", "_lock")

    def __init__(self, body: bytes | None, content_type: str, last_modified: datetime | None, etag: str,
                 variants: dict[str, Variant] | None = None, cache: ByteCache | None = None,
                 render: Callable[[], bytes] | None = None, retyped: dict[str, Document] | None = None) -> None:
        self.content_type = content_type
        self.last_modified = last_modified
        self.etag = etag
        # the Last-Modified header value (RFC 9110 5.6.7 IMF-fixdate), formatted once
        self.http_last_modified = http_date(last_modified) if last_modified is not None else None
        self._body = body
        self._cache = cache
        self._render = render
        self._variants: dict[str, Variant] = {} if variants is None else variants
        self._retyped: dict[str, Document] = {} if retyped is None else retyped
        self._lock = threading.Lock()

    @property
    def body(self) -> bytes:
        """The identity bytes: held, or from the cache, or inflated from the cached gzip
        variant, or rendered now."""
        if self._body is not None:
            return self._body
        assert self._cache is not None and self._render is not None
        found = self._cache.get((self.etag, IDENTITY))
        if found is None:
            packed = self._cache.get((self.etag, GZIP))
            if packed is None:
                return self._render()
            found = gzip.decompress(packed)
            self._cache.put((self.etag, IDENTITY), found)
        return found

    @property
    def is_lazy(self) -> bool:
        return self._body is None

    def variant_etag(self, encoding: str) -> str:
        """The quoted ETag of the body in ``encoding``, without rendering or compressing it."""
        return f'"{self.etag}"' if encoding == IDENTITY else f'"{self.etag}-{encoding}"'

    def with_last_modified(self, when: datetime | None) -> Document:
        """The same bytes and ETag with another Last-Modified; rendered and compressed bytes are shared."""
        return Document(self._body, self.content_type, when, self.etag, self._variants, self._cache, self._render,
                        self._retyped)

    def variant(self, encoding: str) -> Variant:
        """The body in ``encoding``, compressed once per document and then reused (lazy
        documents keep theirs in the shared cache, held ones in the document)."""
        if self._body is None:
            return self._lazy_variant(encoding)
        found = self._variants.get(encoding)
        if found is not None:
            return found
        with self._lock:
            found = self._variants.get(encoding)
            if found is None:
                found = Variant(encode(self._body, encoding), f"{self.etag}-{encoding}", encoding)
                self._variants[encoding] = found
        return found

    def _lazy_variant(self, encoding: str) -> Variant:
        assert self._cache is not None
        etag = self.etag if encoding == IDENTITY else f"{self.etag}-{encoding}"
        if encoding == IDENTITY:
            return Variant(self.body, etag, encoding)
        body = self._cache.get((self.etag, encoding))
        if body is None:
            body = encode(self.body, encoding)
            self._cache.put((self.etag, encoding), body)
        return Variant(body, etag, encoding)

    def retyped(self, content_type: str, tag: str) -> Document:
        """The same bytes served under another media type: a representation of its own, so it
        has its own strong ETag, ``<etag>.<tag>`` (RFC 9110 8.8.3), and its own encoded
        variants; made on first use and reused."""
        found = self._retyped.get(content_type)
        if found is not None:
            return found
        with self._lock:
            found = self._retyped.get(content_type)
            if found is None:
                etag = f"{self.etag}.{tag}"
                if self._body is None:  # its identity bytes are this document's (read through it)
                    found = Document(None, content_type, self.last_modified, etag, cache=self._cache,
                                     render=lambda: self.body)
                else:
                    found = Document(self._body, content_type, self.last_modified, etag)
                    found._variants[IDENTITY] = Variant(self._body, etag, IDENTITY)
                self._retyped[content_type] = found
        return found


def make_document(body: bytes, content_type: str, last_modified: datetime | None) -> Document:
    """A document holding ``body``, its ETag derived from the bytes."""
    etag = hashlib.sha256(body).hexdigest()[:32]
    doc = Document(body, content_type, last_modified, etag)
    doc._variants[IDENTITY] = Variant(body, etag, IDENTITY)
    return doc


def lazy_document(etag: str, content_type: str, last_modified: datetime | None, cache: ByteCache,
                  render: Callable[[], bytes]) -> Document:
    """A document whose bytes ``render`` makes on demand (and stores in ``cache`` under
    ``(etag, "identity")``); ``etag`` must change whenever the bytes would."""
    return Document(None, content_type, last_modified, etag, cache=cache, render=render)


class ByteCache:
    """Rendered bytes by (ETag, encoding), safe to share between threads, in two LRU lists
    with their own budgets: identity bytes get ``identity_share`` of ``max_bytes``, compressed
    variants the rest. A feed's gzip variant is made when it is rendered, and identity bytes
    are inflated from it when they were dropped, so the cache holds ~6x more documents than
    identity bytes alone would, while the hot ones are served without inflating."""

    def __init__(self, max_bytes: int, identity_share: float = 1 / 3) -> None:
        self.max_bytes = max_bytes
        identity = int(max_bytes * identity_share)
        self._lists = {IDENTITY: _Lru(identity), "encoded": _Lru(max_bytes - identity)}
        self._lock = threading.Lock()

    def _list(self, key: Hashable) -> _Lru:
        return self._lists[IDENTITY if isinstance(key, tuple) and key[-1] == IDENTITY else "encoded"]

    def get(self, key: Hashable) -> bytes | None:
        with self._lock:
            return self._list(key).get(key)

    def put(self, key: Hashable, value: bytes) -> None:
        with self._lock:
            self._list(key).put(key, value)

    @property
    def size(self) -> int:
        return sum(lru.size for lru in self._lists.values())

    @property
    def encoded_size(self) -> int:
        return self._lists["encoded"].size

    @property
    def evictions(self) -> int:
        return sum(lru.evictions for lru in self._lists.values())

    def __len__(self) -> int:
        return sum(len(lru.items) for lru in self._lists.values())


class _Lru:
    """One least-recently-used list of bytes with a byte budget (callers hold the lock)."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self.items: OrderedDict[Hashable, bytes] = OrderedDict()
        self.size = 0
        self.evictions = 0

    def get(self, key: Hashable) -> bytes | None:
        found = self.items.get(key)
        if found is not None:
            self.items.move_to_end(key)
        return found

    def put(self, key: Hashable, value: bytes) -> None:
        old = self.items.pop(key, None)
        self.size += len(value) - (len(old) if old is not None else 0)
        self.items[key] = value
        while self.size > self.max_bytes and self.items:
            _key, dropped = self.items.popitem(last=False)
            self.size -= len(dropped)
            self.evictions += 1


class DocumentCache:
    """Groups of documents (one per format) by key, least recently used dropped first once
    their identity bytes pass ``max_bytes``; safe to share between threads."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self._groups: OrderedDict[Hashable, Mapping[str, Document]] = OrderedDict()
        self._size = 0
        self._lock = threading.Lock()

    def get(self, key: Hashable) -> Mapping[str, Document] | None:
        with self._lock:
            group = self._groups.get(key)
            if group is not None:
                self._groups.move_to_end(key)
            return group

    def put(self, key: Hashable, group: Mapping[str, Document]) -> None:
        with self._lock:
            old = self._groups.pop(key, None)
            self._size -= _size(old) if old else 0
            self._groups[key] = group
            self._size += _size(group)
            while self._size > self.max_bytes and self._groups:
                _key, dropped = self._groups.popitem(last=False)
                self._size -= _size(dropped)

    def __len__(self) -> int:
        return len(self._groups)


def _size(group: Mapping[str, Document]) -> int:
    return sum(len(doc.body) for doc in group.values())


def encode(body: bytes, encoding: str) -> bytes:
    """``body`` in ``encoding`` (gzip or br), the same bytes every time."""
    if encoding == GZIP:
        return gzip.compress(body, compresslevel=6, mtime=0)  # mtime=0: same bytes every time
    if encoding == BROTLI:
        return bytes(brotli.compress(body, quality=BROTLI_QUALITY))
    raise ValueError(f"unknown encoding {encoding!r}")
