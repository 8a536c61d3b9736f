"""Version dates: when a post version or a feed document first appeared, for the validators.

RFC 9110 8.8.2: a Last-Modified must move when the representation changes. A post's front
matter gives dates only when its author writes ``updated:``; a title-only edit changes the
bytes but no date. What moves is the time a version was *first recorded*, and only a store
shared by every process (and kept across restarts) can say that once for a whole cluster.

``FeedService`` asks a ``VersionLedger`` for these dates. The ledger is also told what every
scan observed, with the scan's start time, so that a store-backed ledger can order the
observations of several processes (feedsvc.notify provides that one).

The rule, with a ledger backed by the store:
- an entry's ``updated`` (Atom) / ``date_modified`` (JSON Feed) is its front-matter date for
  the first version of a post, else the later of that date and the time the version was first
  recorded;
- a document's Last-Modified is the newest entry date, or, once the document's bytes have
  changed since the store first recorded it, the later of that and the time its current
  bytes (ETag) were first recorded (so a deletion moves it too).

Without a store (``ContentDates``, FEEDSVC_NOTIFY=0) the dates come from the content alone:
Last-Modified moves only when a post's own dates do, and an edit without ``updated:`` is
visible through the ETag only (send If-None-Match rather than If-Modified-Since).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Protocol

from .changes import DocumentChange, PostChange
from .index import Index
from .posts import Post
from .snapshot import Snapshot


class VersionLedger(Protocol):
    """What FeedService needs to know about versions; every call but ``observe_aside`` comes
    from the reloading thread, in this order per reload: ``refresh``, ``observe_posts``,
    ``post_modified`` (while rendering), ``observe_documents``, ``document_modified``."""

    def refresh(self) -> bool:
        """Take in versions other processes recorded; True when a date of what this process
        serves may have moved (the service then rebuilds, though no file changed)."""
        ...

    def observe_posts(self, seen_at: float, changes: Sequence[PostChange] | None, index: Index, clean: bool) -> None:
        """A scan that started at ``seen_at`` (UNIX time) saw ``changes`` since this process's
        previous scan; ``None``: compare the whole ``index`` (a process's first observation).
        ``clean`` is False while some post files fail to load (absent may mean unreadable)."""
        ...

    def post_modified(self, uid: str, post: Post) -> datetime | None:
        """When this version of the post was first recorded, if it is not the post's first."""
        ...

    def observe_documents(self, seen_at: float, changes: Sequence[DocumentChange] | None, snapshot: Snapshot) -> None:
        """The documents whose bytes changed (``None``: compare every document)."""
        ...

    def observe_aside(self, seen_at: float, changes: Sequence[PostChange]) -> int:
        """Edits a scan saw while a long reload runs, called from another thread
        (FeedService.aside): record them now; how many events that made."""
        ...

    def document_modified(self, path: str, etag: str) -> datetime | None:
        """When the document at ``path`` first had these bytes, if not its first version."""
        ...


class ContentDates:
    """The ledger without a store: every date comes from the posts' front matter."""

    def refresh(self) -> bool:
        return False

    def observe_posts(self, seen_at: float, changes: Sequence[PostChange] | None, index: Index, clean: bool) -> None:
        return None

    def post_modified(self, uid: str, post: Post) -> datetime | None:
        return None

    def observe_documents(self, seen_at: float, changes: Sequence[DocumentChange] | None, snapshot: Snapshot) -> None:
        return None

    def observe_aside(self, seen_at: float, changes: Sequence[PostChange]) -> int:
        return 0

    def document_modified(self, path: str, etag: str) -> datetime | None:
        return None
