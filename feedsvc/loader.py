"""Scan the content folder and parse what changed since the last scan.

A file is re-read only when its (size, mtime_ns, inode) changed. A post that was good and
turns bad keeps its last good version (and is reported) until it parses again.
"""

from __future__ import annotations

import logging
import os
import stat
from dataclasses import dataclass, field

from .config import Settings
from .parallel import pmap
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


def scan(root: str) -> dict[str, tuple[str, StatKey]]:
    """Every post file under ``root`` -> (absolute path, stat key). Symlinks are followed only
    while their target stays inside the folder; loops are visited once."""
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
    pending = [(real_root, "")]
    while pending:
        folder, prefix = pending.pop()
        try:
            entries = list(os.scandir(folder))
        except OSError as exc:
            if not prefix:
                raise ContentFolderError(f"content folder {root}: {exc.strerror}") from None
            logger.warning("cannot list %s: %s", folder, exc.strerror)
            continue
        for entry in entries:
            name = entry.name
            if name.startswith("."):
                continue
            try:
                if entry.is_symlink() and not os.path.realpath(entry.path).startswith(inside):
                    continue  # escapes the content folder
                if not entry.is_dir():
                    if not name.lower().endswith(EXTENSIONS) or not is_post_file(name):
                        continue  # not stat'ed at all: the rescan's cost is one stat per post
                    info = entry.stat()
                    if stat.S_ISREG(info.st_mode):
                        rel = prefix + display_name(name)  # a key and a report line: printable
                        found[rel] = (entry.path, (info.st_size, info.st_mtime_ns, info.st_ino))
                    continue
                info = entry.stat()
            except OSError:
                continue  # vanished or dangling
            ident = (info.st_dev, info.st_ino)
            if ident not in seen_dirs:
                seen_dirs.add(ident)
                pending.append((entry.path, prefix + display_name(name) + "/"))
    return found


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
            files = scan(self.root)
        todo, gone = plan or self.plan(files)
        parsed = pmap(_parse, [(files[rel][0], rel, self.settings) for rel in todo], workers)
        for rel, outcome in zip(todo, parsed, strict=True):
            old = self.slots.get(rel)
            key = files[rel][1]
            if isinstance(outcome, Post):
                self.slots[rel] = _Slot(key, outcome, None)
            else:
                logger.warning("post skipped: %s: %s", rel, outcome)
                self.slots[rel] = _Slot(key, old.post if old else None, outcome)
        for rel in gone:
            del self.slots[rel]
        return self.result(reread=len(todo), removed=len(gone))

    def result(self, reread: int = 0, removed: int = 0) -> LoadResult:
        posts = {rel: s.post for rel, s in self.slots.items() if s.post is not None}
        errors = tuple(sorted((rel, s.error) for rel, s in self.slots.items() if s.error))
        return LoadResult(posts=posts, errors=errors, reread=reread, removed=removed)


def _parse(job: tuple[str, str, Settings]) -> Post | str:
    """A post, or the reason it failed (a plain string crosses process boundaries)."""
    path, rel, settings = job
    try:
        return read_post(path, rel, settings)
    except PostError as exc:
        return exc.reason
