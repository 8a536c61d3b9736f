"""The change stream: what one reload changed, computed from two snapshots. No I/O here."""

from __future__ import annotations

from dataclasses import dataclass

from .index import FeedKey, Index
from .posts import Post
from .snapshot import Snapshot

PUBLISHED, UPDATED, REMOVED = "published", "updated", "removed"


@dataclass(frozen=True, slots=True)
class PostChange:
    """A post that appeared (published, including scheduled posts whose time came),
    changed (updated: content or metadata) or disappeared (removed), keyed by its entry id."""

    action: str
    uid: str
    post: Post | None  # the new version; None when removed
    previous: Post | None  # the old version; None when published


@dataclass(frozen=True, slots=True)
class DocumentChange:
    """A feed document whose bytes changed; an etag is None where the feed did not exist."""

    key: FeedKey
    fmt: str
    path: str  # site path of the document, e.g. /tags/python/atom.xml
    old_etag: str | None
    new_etag: str | None


@dataclass(frozen=True)
class ChangeSet:
    generation: int
    posts: tuple[PostChange, ...]
    documents: tuple[DocumentChange, ...]
    snapshot: Snapshot  # the snapshot that is now published

    def __bool__(self) -> bool:
        return bool(self.posts or self.documents)


def diff_posts(old: Index, new: Index) -> tuple[PostChange, ...]:
    """The posts published, updated or removed between two indexes, by entry id."""
    # Only posts whose object or id differs can have changed (unchanged files keep their Post).
    old_ids, new_ids = old.ids, new.ids
    old_all, new_all = old.posts, new.posts
    old_posts = {old_ids[s]: p for s, p in old_all.items() if new_all.get(s) is not p or new_ids[s] != old_ids[s]}
    new_posts = {new_ids[s]: p for s, p in new_all.items() if old_all.get(s) is not p or old_ids[s] != new_ids[s]}
    changes = []
    for uid in sorted(new_posts.keys() | old_posts.keys()):
        before, after = old_posts.get(uid), new_posts.get(uid)
        if before is None:
            changes.append(PostChange(PUBLISHED, uid, after, None))
        elif after is None:
            changes.append(PostChange(REMOVED, uid, None, before))
        elif before.digest != after.digest or before.permalink != after.permalink:
            changes.append(PostChange(UPDATED, uid, after, before))
    return tuple(changes)


def diff_documents(old: Snapshot, new: Snapshot) -> tuple[DocumentChange, ...]:
    """The documents whose bytes (ETag) differ, appeared or went."""
    docs = []
    old_docs, new_docs = old.documents, new.documents
    keys = [k for k in new_docs.keys() | old_docs.keys() if old_docs.get(k) is not new_docs.get(k)]  # reused: same
    for key in sorted(keys, key=lambda k: (k[0].kind, k[0].key, k[1])):
        a, b = old_docs.get(key), new_docs.get(key)
        if a is not None and b is not None and a.etag == b.etag:
            continue
        feed = (new.index.feeds.get(key[0]) or old.index.feeds[key[0]])
        docs.append(DocumentChange(key[0], key[1], feed.document_path(key[1]), a.etag if a else None, b.etag if b else None))
    return tuple(docs)
