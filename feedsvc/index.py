"""The index: visible posts newest first, their unique ids, and the posts of every feed."""

from __future__ import annotations

import hashlib
import uuid
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from operator import attrgetter
from typing import NamedTuple
from urllib.parse import urlsplit

from .config import Settings
from .formats import format_named
from .posts import Post
from .textutil import name_key, url_segment

SITE, CATEGORY, TAG, AUTHOR = "site", "category", "tag", "author"


@dataclass(frozen=True, slots=True)
class Kind:
    """One kind of feed; KINDS is the one table that paths, routes, titles and pages read."""

    name: str  # SITE, CATEGORY, TAG or AUTHOR
    prefix: str  # site path of the kind's feed folders, e.g. "/tags"; "" for the site
    label: str  # shown to people: "Tag"
    description: str  # the feed's description: {name} is the feed's name, {site} the site title


KINDS: tuple[Kind, ...] = (
    Kind(SITE, "", "Site", "{site}"),
    Kind(CATEGORY, "/categories", "Category", "Posts in category {name} on {site}"),
    Kind(TAG, "/tags", "Tag", "Posts tagged {name} on {site}"),
    Kind(AUTHOR, "/authors", "Author", "Posts by {name} on {site}"),
)
KIND = {kind.name: kind for kind in KINDS}
KIND_PREFIX = {kind.name: kind.prefix for kind in KINDS}
_KIND_ORDER = {kind.name: i for i, kind in enumerate(KINDS)}


class FeedKey(NamedTuple):
    """A feed's identity; a tuple, so hashing it (often, while indexing) runs in C."""

    kind: str  # SITE, CATEGORY, TAG or AUTHOR
    key: str  # name_key(name); "" for the site

    @property
    def prefix(self) -> str:
        return KIND_PREFIX[self.kind]


@dataclass(frozen=True, slots=True)
class Feed:
    """One feed's identity and all of its posts, newest first (not yet cut to the limit)."""

    key: FeedKey
    name: str  # display name; "" for the site
    posts: tuple[str, ...]  # post sources, newest first
    path: str  # site path of the feed folder, e.g. /tags/%E5%8D%97 ; "" for the site

    def document_path(self, fmt: str) -> str:
        """Site path of one of the feed's documents, e.g. /tags/%E5%8D%97/atom.xml."""
        return f"{self.path}/{format_named(fmt).filename}"

    # RFC 5005 section 4 (archived feeds): the posts are cut into pages of ``size``, counted from
    # the oldest, so a new post never moves an archived one; only complete pages are archived
    # (the rest, fewer than ``size`` <= FEEDSVC_FEED_LIMIT posts, are in the current document).

    def archive_pages(self, size: int) -> int:
        """How many complete archive pages the feed has."""
        return len(self.posts) // size

    def archive_page(self, number: int, size: int) -> tuple[str, ...]:
        """The posts of archive page ``number`` (1: the oldest ``size`` posts), newest first."""
        end = len(self.posts) - (number - 1) * size
        return self.posts[end - size : end]

    def archive_path(self, number: int, fmt: str) -> str:
        """Site path of an archive page, e.g. /archive/tags/%E5%8D%97/3/atom.xml: under /archive,
        because a name may itself hold "/archive/3" and would then collide with a page."""
        return f"/archive{self.path}/{number}/{format_named(fmt).filename}"


@dataclass(frozen=True)
class Index:
    """Immutable: posts by source, unique ids, feeds by key; built by build_index."""

    posts: Mapping[str, Post]  # source -> Post
    ids: Mapping[str, str]  # source -> unique entry id
    feeds: Mapping[FeedKey, Feed]
    warnings: tuple[tuple[str, str], ...]  # (path, reason)
    next_publication: datetime | None  # the earliest future-dated post, for the scheduler

    def with_versions(self, versions: Mapping[str, Post]) -> Index:
        """This index with new versions of some of its posts, which must keep their
        placement() (so no feed membership, order or id can change)."""
        posts = dict(self.posts)
        posts.update((src, post) for src, post in versions.items() if src in posts)
        return Index(posts, self.ids, self.feeds, self.warnings, self.next_publication)

    def feed_list(self) -> list[Feed]:
        """Site first, then categories, tags and authors (KINDS order), each by name."""
        return sorted(self.feeds.values(), key=lambda f: (_KIND_ORDER[f.key.kind], f.key.key, f.name))


def category_names(categories: Iterable[str], hierarchy: bool) -> list[str]:
    """Each category is its own feed; with hierarchy, [a, b] gives a and a/b (Hexo)."""
    if not hierarchy:
        return list(categories)
    names, path = [], ""
    for name in categories:
        path = f"{path}/{name}" if path else name
        names.append(path)
    return names


def placement(post: Post) -> tuple[object, ...]:
    """Everything about a post that decides its feeds, position, id and warnings in an index."""
    return (post.published, post.draft, post.tags, post.categories, post.authors, post.permalink, post.declared_id,
            post.warnings)


def build_index(posts: Iterable[Post], settings: Settings, now: datetime) -> Index:
    """Index the publishable posts: drafts and posts dated after ``now`` are left out."""
    visible: list[Post] = []
    future: list[Post] = []
    for post in posts:
        if post.draft:
            continue
        (future if post.published > now else visible).append(post)
    visible.sort(key=attrgetter("source"))  # two stable sorts: newest first, ties by path
    oldest_first = sorted(visible, key=attrgetter("published"))  # ties by path too
    visible.sort(key=attrgetter("published"), reverse=True)  # reverse=True keeps ties in order
    ids, warnings = _unique_ids(oldest_first, settings)
    warnings = sorted(warnings + [(p.source, w) for p in visible for w in p.warnings])
    return Index(
        posts={p.source: p for p in visible},
        ids=ids,
        feeds=_feeds(visible, settings),
        warnings=tuple(warnings),
        next_publication=min((p.published for p in future), default=None),
    )


def entry_id(declared: str, permalink: str, site_url: str) -> str:
    """The front matter's id when it is an absolute URI, a name-based UUID URN (RFC 9562 5.5)
    for any other declared id, else the permalink (RFC 4287 4.2.6 wants an IRI)."""
    if not declared:
        return permalink
    if urlsplit(declared).scheme and ":" in declared and " " not in declared:
        return declared
    return "urn:uuid:" + str(uuid.uuid5(uuid.NAMESPACE_URL, f"{site_url}#{declared}"))


def _unique_ids(oldest_first: list[Post], settings: Settings) -> tuple[dict[str, str], list[tuple[str, str]]]:
    """The oldest post keeps a contested id; later ones get a suffix derived from their path.
    ``oldest_first``: the posts by date, then path."""
    ids: dict[str, str] = {}
    owner: dict[str, str] = {}
    link_owner: dict[str, str] = {}
    warnings = []
    for post in oldest_first:
        src = post.source
        base = entry_id(post.declared_id, post.permalink, settings.site_url)
        uid = base
        if uid in owner:
            mark = "-" if "#" in base else "#"
            uid = f"{base}{mark}{hashlib.sha256(src.encode()).hexdigest()[:10]}"
            warnings.append((src, f"duplicate id {base} (also {owner[base]}); served as {uid}"))
        owner.setdefault(uid, src)
        link = post.permalink
        if link in link_owner:
            warnings.append((src, f"duplicate permalink {link} (also {link_owner[link]})"))
        link_owner.setdefault(link, src)
        ids[src] = uid
    warnings.sort()
    return ids, warnings


@lru_cache(maxsize=32768)
def _feed_names(
    categories: tuple[str, ...], tags: tuple[str, ...], authors: tuple[str, ...], hierarchy: bool
) -> tuple[tuple[FeedKey, str], ...]:
    """The (feed key, spelling) pairs a post belongs to, once each; cached, as posts share them."""
    named = [(CATEGORY, n) for n in category_names(categories, hierarchy)] + [(TAG, n) for n in tags]
    named += [(AUTHOR, n) for n in authors]
    out: dict[FeedKey, str] = {}
    for kind, name in named:
        key = FeedKey(kind, name_key(name))
        if key.key and key not in out:
            out[key] = name
    return tuple(out.items())


def _feeds(visible: list[Post], settings: Settings) -> dict[FeedKey, Feed]:
    site = FeedKey(SITE, "")
    members: dict[FeedKey, list[str]] = defaultdict(list)
    spellings: dict[FeedKey, Counter[str]] = defaultdict(Counter)
    members[site] = [post.source for post in visible]
    hierarchy = settings.category_hierarchy
    for post in visible:
        authors = tuple(a.name for a in post.authors) if post.authors else ()
        for key, name in _feed_names(post.categories, post.tags, authors, hierarchy):
            members[key].append(post.source)
            spellings[key][name] += 1
    feeds = {}
    for key, sources in members.items():
        name = ""
        if key.kind != SITE:
            # the most used spelling names the feed; ties go to the smallest, for determinism
            name = min(spellings[key].items(), key=lambda item: (-item[1], item[0]))[0]
        path = f"{key.prefix}/{url_segment(name)}" if key.kind != SITE else ""
        feeds[key] = Feed(key=key, name=name, posts=tuple(sources), path=path)
    return feeds
