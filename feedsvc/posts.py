"""Read one post file: front matter (YAML ``---`` or TOML ``+++``) and a Markdown body."""

from __future__ import annotations

import hashlib
import os
import re
import tomllib
from collections.abc import Hashable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any
from urllib.parse import urljoin, urlsplit

import brotli
import frontmatter
import yaml
from frontmatter.default_handlers import BaseHandler

from .config import Settings
from .dates import parse_date
from .postmeta import Attachment, Author, MetaError, read_attachments, read_authors, read_image, read_language
from .textutil import clean_line, url_segment, xml_safe

# Keys whose scalars are names or text: YAML's number/bool/date typing is undone for them,
# so ``title: 2022`` is "2022" and ``tags: [no, 1.10]`` is ["no", "1.10"] as written.
TEXT_KEYS = frozenset({
    "title", "slug", "urlname", "id", "author", "authors", "summary", "description", "link", "tags", "categories",
    "lang", "language", "image", "cover", "thumbnail",
})
KNOWN_KEYS = TEXT_KEYS | {"date", "updated", "lastmod", "draft", "enclosure", "attachments"}
MAX_META_NODES = 5000  # bounds any walk over metadata: YAML alias bombs, recursive aliases
MAX_META_DEPTH = 20
MAX_NAMES = 500  # tags or categories per post
MAX_NAME_LENGTH = 200  # characters in one tag or category name
_STR_TAG = "tag:yaml.org,2002:str"
_NULL_TAG = "tag:yaml.org,2002:null"
_MAP_TAG, _SEQ_TAG, _MERGE_TAG = "tag:yaml.org,2002:map", "tag:yaml.org,2002:seq", "tag:yaml.org,2002:merge"
_YAML_LOADER_BASE: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class PostError(Exception):
    """A post that cannot be published, with its path and a one-line reason."""

    def __init__(self, path: str, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path = path
        self.reason = reason


@dataclass(frozen=True, slots=True)
class Post:
    """One parsed post; dates are timezone-aware (UTC)."""

    source: str  # path relative to the content folder, with /
    title: str
    slug: str
    permalink: str
    declared_id: str  # the front matter's id, or ""
    published: datetime
    updated: datetime
    tags: tuple[str, ...]
    categories: tuple[str, ...]
    authors: tuple[Author, ...]  # each has a feed, like a tag
    summary: str  # plain text from summary/description, or ""
    packed_body: bytes  # the Markdown as UTF-8, brotli quality 1: 2.5x smaller than the bytes (CJK), 5x than a str
    draft: bool
    digest: str  # sha256 of the file's bytes: the content's identity
    extra: Mapping[str, Any] = field(default_factory=dict)  # unknown keys, kept, unused
    image: str = ""  # absolute URL from image/cover/thumbnail; "" (the body's first image is used)
    attachments: tuple[Attachment, ...] = ()
    language: str = ""  # lang/language: the entry's language tag; "" for the feed's
    warnings: tuple[str, ...] = ()  # problems that do not stop the post (reported in /healthz)

    @property
    def author(self) -> str:
        """The first author's name, or ""."""
        return self.authors[0].name if self.authors else ""

    @property
    def body(self) -> str:
        """The Markdown body."""
        return bytes(brotli.decompress(self.packed_body)).decode("utf-8")


class _TextKeysLoader(_YAML_LOADER_BASE):  # type: ignore[misc,valid-type]
    """YAML safe loader (libyaml when present) that keeps TEXT_KEYS scalars as written.

    Front matter is plain maps, lists and scalars. Those are built by a direct walk of the
    node tree (``_plain``), which calls SafeConstructor for typed scalars only (dates,
    numbers, booleans, null): the same values, a third of the time. A document with anything
    else (merge keys, tags such as !!set, complex keys) goes through SafeConstructor whole."""

    def construct_document(self, node: yaml.Node) -> Any:
        if isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                if isinstance(key, yaml.ScalarNode) and key.value in TEXT_KEYS:
                    _as_text(value)
            try:
                return self._plain(node, {})
            except _NotPlain:
                pass
            finally:
                self.constructed_objects.clear()  # as SafeConstructor does after a document
                self.recursive_objects.clear()
        return super().construct_document(node)

    def _plain(self, node: yaml.Node, built: dict[int, Any]) -> Any:
        """``node`` as Python values; ``built`` holds the containers made so far, by node, so
        that an alias (a node met twice) gives the same object, as SafeConstructor does: an
        alias bomb stays small here and is refused by _bounded_copy's node budget."""
        if isinstance(node, yaml.ScalarNode):
            return node.value if node.tag == _STR_TAG else self.construct_object(node)
        if id(node) in built:
            return built[id(node)]
        if isinstance(node, yaml.MappingNode) and node.tag == _MAP_TAG:
            mapping: dict[Any, Any] = {}
            built[id(node)] = mapping
            for key, value in node.value:
                if not isinstance(key, yaml.ScalarNode) or key.tag == _MERGE_TAG:
                    raise _NotPlain
                name = self._plain(key, built)
                if not isinstance(name, Hashable):
                    raise _NotPlain
                mapping[name] = self._plain(value, built)
            return mapping
        if isinstance(node, yaml.SequenceNode) and node.tag == _SEQ_TAG:
            items: list[Any] = []
            built[id(node)] = items
            items.extend(self._plain(item, built) for item in node.value)
            return items
        raise _NotPlain


class _NotPlain(Exception):
    """The front matter needs SafeConstructor's full rules."""


def _as_text(node: yaml.Node) -> None:
    if isinstance(node, yaml.ScalarNode):
        if node.tag != _NULL_TAG:
            node.tag = _STR_TAG
    elif isinstance(node, yaml.SequenceNode):
        for item in node.value:
            if isinstance(item, yaml.ScalarNode) and item.tag != _NULL_TAG:
                item.tag = _STR_TAG


class _TomlHandler(BaseHandler):  # type: ignore[misc]
    """Hugo's ``+++`` TOML front matter. python-frontmatter's own TOMLHandler is None
    without the old ``toml`` package; the standard library's tomllib does the job."""

    FM_BOUNDARY = re.compile(r"^\+{3,}\s*$", re.MULTILINE)
    START_DELIMITER = END_DELIMITER = "+++"

    def load(self, fm: str, **kwargs: object) -> Any:
        return tomllib.loads(fm)


_YAML = frontmatter.YAMLHandler()
_TOML = _TomlHandler()
_LINE_ENDING = re.compile(r"\r\n?")


def read_post(path: str, rel: str, settings: Settings, known: tuple[Post, ...] = ()) -> Post:
    """Parse the file at ``path``, named ``rel`` in errors; raise PostError if unusable.

    ``known`` are versions of this file parsed before with these settings: one whose digest
    the bytes still have is the result, unparsed (a touched, restored or reverted file)."""
    data = _read_bytes(path, rel, settings.max_post_bytes)
    digest = hashlib.sha256(data).hexdigest()
    for post in known:
        if post.digest == digest and post.source == rel:
            return post
    return parse_post(data, rel, settings, digest)


def _read_bytes(path: str, rel: str, limit: int) -> bytes:
    try:
        with open(path, "rb") as fh:
            data = fh.read(limit + 1)
    except OSError as exc:
        raise PostError(rel, f"cannot read: {exc.strerror}") from None
    if len(data) > limit:
        raise PostError(rel, f"file is larger than FEEDSVC_MAX_POST_BYTES ({limit} bytes)")
    return data


def parse_post(data: bytes, rel: str, settings: Settings, digest: str | None = None) -> Post:
    """Parse a post's bytes (whose sha256 ``digest`` the caller may know); ``rel`` names it
    in errors and derives the default slug."""
    if not data.strip():
        raise PostError(rel, "empty file")
    try:
        text = data.decode("utf-8-sig")  # a BOM would hide the front matter from the regex
    except UnicodeDecodeError as exc:
        raise PostError(rel, f"not UTF-8 (invalid byte at offset {exc.start})") from None
    text = _LINE_ENDING.sub("\n", text)  # CRLF and CR-only line endings
    # Characters XML 1.0 forbids (a vertical tab pasted into a title) can never reach a feed,
    # and PyYAML rejects them outright: drop them before parsing rather than refuse the post.
    text = xml_safe(text)
    meta, body = _split(text, rel)
    meta = _bounded_copy(meta, rel)
    return _build(meta, body, rel, digest or hashlib.sha256(data).hexdigest(), settings)


def _split(text: str, rel: str) -> tuple[dict[str, Any], str]:
    if _YAML.detect(text):
        handler: BaseHandler = _YAML
        kind = "YAML"
    elif _TOML.detect(text):
        handler, kind = _TOML, "TOML"
    else:
        raise PostError(rel, "no front matter (the first line must be --- or +++)")
    try:
        fm, body = handler.split(text)
    except ValueError:
        raise PostError(rel, f"{kind} front matter is not closed") from None
    try:
        if handler is _YAML:
            meta = yaml.load(fm, Loader=_TextKeysLoader)  # noqa: S506 - a SafeLoader subclass
        else:
            meta = handler.load(fm)
    except yaml.YAMLError as exc:
        raise PostError(rel, f"invalid YAML: {_yaml_reason(exc)}") from None
    except tomllib.TOMLDecodeError as exc:
        raise PostError(rel, f"invalid TOML: {exc}") from None
    except RecursionError:
        raise PostError(rel, f"invalid {kind}: nested too deeply") from None
    if meta is None:
        meta = {}
    if not isinstance(meta, dict):
        raise PostError(rel, f"front matter is not a mapping (got {type(meta).__name__})")
    return meta, body


def _yaml_reason(exc: yaml.YAMLError) -> str:
    problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
    mark = getattr(exc, "problem_mark", None)
    # the handler's split leaves the rest of the opening --- line as the text's line 0, so the
    # zero-based mark line is already the file's one-based line
    where = f" at line {mark.line + 1}" if mark is not None else ""
    return f"{problem}{where}"


def _bounded_copy(meta: dict[str, Any], rel: str) -> dict[str, Any]:
    """A tree copy of the metadata with a bounded walk: alias bombs and cycles are refused."""
    budget = [MAX_META_NODES]

    def walk(value: Any, depth: int) -> Any:
        budget[0] -= 1
        if budget[0] < 0 or depth > MAX_META_DEPTH:
            raise PostError(rel, "front matter is too large or too deeply nested (YAML aliases?)")
        if isinstance(value, dict):
            return {str(k): walk(v, depth + 1) for k, v in value.items()}
        if isinstance(value, (list, tuple, set)):
            return [walk(v, depth + 1) for v in value]
        if isinstance(value, (str, int, float, bool, datetime, date)) or value is None:
            return value
        return str(value)

    return walk(meta, 0)  # type: ignore[no-any-return]


def _text(meta: Mapping[str, Any], key: str, rel: str) -> str:
    value = meta.get(key)
    if value is None:
        return ""
    if isinstance(value, (list, dict)):
        raise PostError(rel, f"{key} must be text, not a {'list' if isinstance(value, list) else 'mapping'}")
    return clean_line(str(value))


def _names(meta: Mapping[str, Any], key: str, rel: str) -> tuple[str, ...]:
    value = meta.get(key)
    if value is None or value == "":
        return ()
    items = value if isinstance(value, list) else [value]
    if len(items) > MAX_NAMES:  # each name is a feed: one post must not create thousands
        raise PostError(rel, f"{key}: {len(items)} names, more than {MAX_NAMES}")
    names: list[str] = []
    for item in items:
        if isinstance(item, (list, dict)):
            raise PostError(rel, f"{key} must be a list of names")
        name = clean_line(str(item)) if item is not None else ""
        if len(name) > MAX_NAME_LENGTH:
            raise PostError(rel, f"{key}: a name longer than {MAX_NAME_LENGTH} characters")
        if name and name not in names:
            names.append(name)
    return tuple(names)


def _build(meta: dict[str, Any], body: str, rel: str, digest: str, settings: Settings) -> Post:
    title = _text(meta, "title", rel)
    if not title:
        raise PostError(rel, "no title")
    published, updated = _dates(meta, rel, settings)
    slug = _text(meta, "slug", rel) or _text(meta, "urlname", rel) or _default_slug(rel)
    link = _explicit_link(_text(meta, "link", rel), rel, settings)
    draft = meta.get("draft", False)
    if not isinstance(draft, bool):
        raise PostError(rel, "draft must be true or false")
    permalink = link or _permalink(settings, published, slug)
    warnings: list[str] = []
    try:  # relative URLs resolve against the permalink, like the body's
        authors = read_authors(meta, permalink, warnings)
        image, attachments = read_image(meta, permalink, warnings), read_attachments(meta, permalink, warnings)
    except MetaError as exc:
        raise PostError(rel, str(exc)) from None
    return Post(
        source=rel,
        title=title,
        slug=slug,
        permalink=permalink,
        declared_id=_text(meta, "id", rel),
        published=published,
        updated=updated,
        tags=_names(meta, "tags", rel),
        categories=_names(meta, "categories", rel),
        authors=authors,
        summary=_text(meta, "summary", rel) or _text(meta, "description", rel),
        packed_body=bytes(brotli.compress(body.encode("utf-8"), quality=1)),  # ~35 us a post, read back in ~20 us
        draft=draft,
        digest=digest,
        extra={k: v for k, v in meta.items() if k not in KNOWN_KEYS},
        image=image,
        attachments=attachments,
        language=read_language(meta, warnings),
        warnings=tuple(warnings),
    )


def _dates(meta: Mapping[str, Any], rel: str, settings: Settings) -> tuple[datetime, datetime]:
    """``date`` (required) and ``updated``/``lastmod`` (never before ``date``)."""
    if meta.get("date") is None:
        raise PostError(rel, "no date")
    try:
        published = parse_date(meta["date"], settings.tz)
        raw_updated = meta.get("updated", meta.get("lastmod"))
        updated = parse_date(raw_updated, settings.tz) if raw_updated is not None else published
    except ValueError as exc:
        raise PostError(rel, str(exc)) from None
    return published, max(updated, published)


def _explicit_link(link: str, rel: str, settings: Settings) -> str:
    """A ``link`` permalink: absolute http(s), or a path resolved against the site URL. A
    link without a scheme must stay on the site: ``//evil.example/x`` (protocol-relative,
    RFC 3986 4.2), ``\\evil.example`` or ``/\t/evil.example`` is another host, not a path."""
    if not link:
        return ""
    try:
        given = urlsplit(link)
        absolute = urljoin(settings.site_url + "/", link)
        parts = urlsplit(absolute)
    except ValueError:
        raise PostError(rel, f"link is not a valid URL: {link[:80]!r}") from None
    if parts.scheme not in ("http", "https") or not parts.netloc or " " in absolute:
        raise PostError(rel, f"link must be an http(s) URL or a path, got {link[:80]!r}")
    site = urlsplit(settings.site_url)
    as_browsers_read_it = re.sub(r"[\x00-\x20]", "", link).replace("\\", "/")  # WHATWG URL: \ is / for http(s)
    if not given.scheme and ((parts.scheme, parts.netloc) != (site.scheme, site.netloc) or as_browsers_read_it.startswith("//")):
        raise PostError(rel, f"link without a scheme must be a path on the site, got {link[:80]!r}")
    return absolute


def _default_slug(rel: str) -> str:
    return os.path.splitext(os.path.basename(rel))[0]


def _permalink(settings: Settings, published: datetime, slug: str) -> str:
    local = published.astimezone(settings.tz)
    path = settings.permalink.format(
        year=f"{local.year:04d}", month=f"{local.month:02d}", day=f"{local.day:02d}", slug=url_segment(slug)
    )
    return settings.url(path)
