"""Scan the content folder and parse what changed since the last scan.

A file is re-read only when its (size, mtime_ns, inode) changed. A post that was good and
turns bad keeps its last good version (and is reported) until it parses again.

A post removed or replaced is kept for FEEDSVC_REMOVAL_WINDOW seconds: a file that comes
back with the same bytes (a folder moved away and back, a reverted edit, a checkout of
another branch and back) is read and hashed but not parsed again. Restoring 7,000 posts
then costs their reads, not seven seconds of YAML.
"""

from __future__ import annotations

import logging
import os
import stat
import time
from dataclasses import dataclass, field

from .config import Settings
from .parallel import pmap_shared
from .posts import Post, PostError, read_post
from .textutil import display_name

logger = logging.getLogger(__name__)

EXTENSIONS = (".md", ".markdown")
StatKey = tuple[int, int, int]


class ContentFolderError(Exception):
    """The content folder itself is missing or unreadable."""


def is_post_file(name: str) -> bool:
    """Markdown files, minus hidden files and editor leftovers (.x, x~, #x#, *.swp)."""
    lower = name.lower()
    if name.startswith((".", "#")) or name.endswith("~"):
        return False
    return lower.endswith(EXTENSIONS)


# A folder listing is reused while the folder's mtime is unchanged and at least this old: a
# file created in the same timestamp tick as the listing would not change the mtime again.
TRUST_LISTING_NS = 2_000_000_000


@dataclass
class Listing:
    """The post-file candidates and subfolders of one folder, as of its mtime."""

    mtime_ns: int
    files: list[tuple[str, str]]  # (key, path)
    folders: list[tuple[str, str]]  # (path, key prefix)


def scan(root: str, listings: dict[str, Listing] | None = None) -> dict[str, tuple[str, StatKey]]:
    """Every post file under ``root`` -> (absolute path, stat key). Symlinks are followed only
    while their target stays inside the folder; loops are visited once.

    ``listings`` (kept by the caller between scans) lets an unchanged folder skip its listing:
    a rescan then costs one stat per post file and per folder.
    """
    try:
        real_root = os.path.realpath(root)
        st = os.stat(real_root)
    except OSError as exc:
        raise ContentFolderError(f"content folder {root}: {exc.strerror}") from None
    if not stat.S_ISDIR(st.st_mode):
        raise ContentFolderError(f"content folder {root}: not a directory")
    found: dict[str, tuple[str, StatKey]] = {}
    seen_dirs = {(st.st_dev, st.st_ino)}
    inside = real_root.rstrip(os.sep) + os.sep
    visited: dict[str, Listing] = {}
    trusted_before = time.time_ns() - TRUST_LISTING_NS
    pending = [(real_root, "", st.st_mtime_ns)]
    while pending:
        folder, prefix, mtime_ns = pending.pop()
        listing = listings.get(folder) if listings is not None else None
        if listing is None or listing.mtime_ns != mtime_ns or mtime_ns > trusted_before:
            listing = _list(folder, prefix, inside, mtime_ns, root)
        visited[folder] = listing
        for key, path in listing.files:
            try:
                info = os.stat(path)
            except OSError:
                continue  # vanished or dangling
            if stat.S_ISREG(info.st_mode):
                found[key] = (path, (info.st_size, info.st_mtime_ns, info.st_ino))
        for path, sub in listing.folders:
            try:
                info = os.stat(path)
            except OSError:
                continue
            ident = (info.st_dev, info.st_ino)
            if stat.S_ISDIR(info.st_mode) and ident not in seen_dirs:
                seen_dirs.add(ident)
                pending.append((path, sub, info.st_mtime_ns))
    if listings is not None:
        listings.clear()
        listings.update(visited)
    return found


def _list(folder: str, prefix: str, inside: str, mtime_ns: int, root: str) -> Listing:
    listing = Listing(mtime_ns, [], [])
    try:
        entries = list(os.scandir(folder))
    except OSError as exc:
        if not prefix:
            raise ContentFolderError(f"content folder {root}: {exc.strerror}") from None
        logger.warning("cannot list %s: %s", folder, exc.strerror)
        return listing
    for entry in entries:
        name = entry.name
        if name.startswith("."):
            continue
        try:
            if entry.is_symlink() and not os.path.realpath(entry.path).startswith(inside):
                continue  # escapes the content folder
            is_dir = entry.is_dir()
        except OSError:
            continue
        key = prefix + display_name(name)  # a key and a report line: printable UTF-8
        if is_dir:
            listing.folders.append((entry.path, key + "/"))
        elif is_post_file(name):
            listing.files.append((key, entry.path))
    return listing


@dataclass
class _Slot:
    key: StatKey
    post: Post | None  # the last good version
    error: str | None  # why the current file does not parse


@dataclass(frozen=True)
class LoadResult:
    posts: dict[str, Post]
    errors: tuple[tuple[str, str], ...]
    reread: int  # files parsed in this pass
    removed: int  # files gone since the last pass


@dataclass
class ContentLoader:
    """Keeps what was parsed, by path, between passes."""

    settings: Settings
    slots: dict[str, _Slot] = field(default_factory=dict)
    listings: dict[str, Listing] = field(default_factory=dict)  # scan()'s folder cache
    retired: dict[str, tuple[float, Post]] = field(default_factory=dict)  # path -> (when, last version), oldest first

    def scan(self) -> dict[str, tuple[str, StatKey]]:
        return scan(self.root, self.listings)

    @property
    def root(self) -> str:
        return self.settings.content_dir

    def plan(self, files: dict[str, tuple[str, StatKey]]) -> tuple[list[str], list[str]]:
        """What a load of ``files`` would do: (new or changed paths, removed paths). Pure."""
        todo = [rel for rel, (_path, key) in files.items() if (s := self.slots.get(rel)) is None or s.key != key]
        gone = [rel for rel in self.slots if rel not in files]
        return todo, gone

    def published_count(self) -> int:
        return sum(1 for s in self.slots.values() if s.post is not None)

    def removed_posts(self, gone: list[str]) -> int:
        return sum(1 for rel in gone if self.slots[rel].post is not None)

    def load(
        self, files: dict[str, tuple[str, StatKey]] | None = None, workers: int = 1,
        plan: tuple[list[str], list[str]] | None = None,
    ) -> LoadResult:
        """Parse new and changed files, forget removed ones; ``files`` is a scan() result
        and ``plan`` its plan(), when the caller has them already."""
        if files is None:
            files = self.scan()
        todo, gone = plan or self.plan(files)
        now = time.monotonic()
        self._expire(now)
        jobs = [(files[rel][0], rel, self.settings, self._known(rel)) for rel in todo]
        parsed = pmap_shared(_parse, jobs, workers)
        for rel, outcome in zip(todo, parsed, strict=True):
            old = self.slots.get(rel)
            key = files[rel][1]
            if isinstance(outcome, Post):
                self.slots[rel] = _Slot(key, outcome, None)
                if old is not None and old.post is not None and old.post is not outcome:
                    self._retire(rel, old.post, now)
                elif (kept := self.retired.get(rel)) is not None and kept[1] is outcome:
                    del self.retired[rel]  # back in use
            else:
                logger.warning("post skipped: %s: %s", rel, outcome)
                self.slots[rel] = _Slot(key, old.post if old else None, outcome)
        for rel in gone:
            if (post := self.slots.pop(rel).post) is not None:
                self._retire(rel, post, now)
        return self.result(reread=len(todo), removed=len(gone))

    def _known(self, rel: str) -> tuple[Post, ...]:
        """The versions of ``rel`` a re-read may find again: the current one, the retired one."""
        slot, kept = self.slots.get(rel), self.retired.get(rel)
        return tuple(p for p in (slot.post if slot else None, kept[1] if kept else None) if p is not None)

    def _retire(self, rel: str, post: Post, now: float) -> None:
        self.retired.pop(rel, None)  # re-inserted last: the dict stays ordered by time
        self.retired[rel] = (now, post)

    def _expire(self, now: float) -> None:
        horizon = now - self.settings.removal_window
        while self.retired:
            rel, (when, _post) = next(iter(self.retired.items()))
            if when >= horizon:
                break
            del self.retired[rel]

    def result(self, reread: int = 0, removed: int = 0) -> LoadResult:
        posts = {rel: s.post for rel, s in self.slots.items() if s.post is not None}
        errors = tuple(sorted((rel, s.error) for rel, s in self.slots.items() if s.error))
        return LoadResult(posts=posts, errors=errors, reread=reread, removed=removed)


def _parse(job: tuple[str, str, Settings, tuple[Post, ...]]) -> Post | str:
    """A post, or the reason it failed (a plain string crosses process boundaries)."""
    path, rel, settings, known = job
    try:
        return read_post(path, rel, settings, known)
    except PostError as exc:
        return exc.reason
