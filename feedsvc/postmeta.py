"""Front matter about people, media and language: ``author``/``authors``, ``image``
(``cover``, ``thumbnail``), ``enclosure``/``attachments`` and ``lang``/``language``.

Each reader returns its value and the warnings it found; a warning names the field and never
stops the post (an attachment without a ``length`` is still served, with RSS ``length="0"``).
Only a value that would make a broken feed (a name longer than a feed name may be) is an error.
"""

from __future__ import annotations

import mimetypes
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urljoin, urlsplit

from .textutil import clean_line

MAX_ITEMS = 100  # authors or attachments per post
MAX_NAME_LENGTH = 200  # an author is a feed, like a tag
FALLBACK_TYPE = "application/octet-stream"
_MIME = re.compile(r"^[A-Za-z0-9][\w.+-]*/[A-Za-z0-9][\w.+-]*$")
_EMAIL = re.compile(r"^[^@\s()<>]+@[^@\s()<>]+\.[^@\s()<>]+$")
# RFC 5646 2.1, loosely: subtags of letters and digits, the first of 2-8 letters (or i/x)
_LANGUAGE = re.compile(r"^(?:[A-Za-z]{2,8}|[iIxX])(?:-[A-Za-z0-9]{1,8})*$")
# the standard library's built-in table only: the system's mime.types differs between hosts,
# and the same content must give the same bytes everywhere
_BUILTIN_TYPES = mimetypes.MimeTypes()
for _type, _ext in (("audio/ogg", ".ogg"), ("audio/ogg", ".oga"), ("audio/opus", ".opus"), ("audio/mp4", ".m4a"),
                    ("audio/flac", ".flac"), ("video/webm", ".webm"), ("audio/webm", ".weba")):
    _BUILTIN_TYPES.add_type(_type, _ext)  # podcast formats the table lacks in some Python versions
_CLOCK = re.compile(r"^(?:(\d+):)?(\d{1,2}):(\d{1,2}(?:\.\d+)?)$")

Warnings = list[str]


class MetaError(ValueError):
    """A value no feed can carry; the post is refused with this reason."""


@dataclass(frozen=True, slots=True)
class Author:
    """A person: a name (required; each author has a feed), and an optional URL and e-mail."""

    name: str
    url: str = ""
    email: str = ""


@dataclass(frozen=True, slots=True)
class Attachment:
    """A file that goes with a post (a podcast episode, a PDF): RSS ``<enclosure>``, Atom
    ``link rel="enclosure"``, JSON Feed ``attachments``."""

    url: str
    mime_type: str  # as given, else guessed from the URL, else application/octet-stream
    length: int | None  # bytes; None when not given (RSS then says 0, as RSS best practice asks)
    title: str = ""
    duration: float | None = None  # seconds


def absolute_url(value: str, base: str) -> str | None:
    """``value`` resolved against ``base`` (RFC 3986 5.2) when the result is an http(s) URL."""
    try:
        url = urljoin(base, value.strip())
        parts = urlsplit(url)
    except ValueError:
        return None
    if parts.scheme not in ("http", "https") or not parts.netloc or any(c.isspace() for c in url):
        return None
    return url


def _as_list(value: Any) -> list[Any]:
    if value is None or value == "":
        return []
    return list(value) if isinstance(value, (list, tuple)) else [value]


def read_authors(meta: Mapping[str, Any], base: str, warnings: Warnings) -> tuple[Author, ...]:
    """``authors`` (names, or mappings with ``name``, ``url``, ``email``), else ``author``."""
    key = "authors" if meta.get("authors") not in (None, "", []) else "author"
    items = _as_list(meta.get(key))
    if len(items) > MAX_ITEMS:
        raise MetaError(f"{key}: {len(items)} authors, more than {MAX_ITEMS}")
    authors: dict[str, Author] = {}
    for item in items:
        author = _author(item, key, base, warnings)
        if author is not None and author.name not in authors:
            authors[author.name] = author
    return tuple(authors.values())


def _author(item: Any, key: str, base: str, warnings: Warnings) -> Author | None:
    if isinstance(item, list):
        raise MetaError(f"{key} must be a name, a mapping or a list of them")
    fields = item if isinstance(item, Mapping) else {"name": item}
    name = clean_line(str(fields.get("name") or ""))
    if not name:
        warnings.append(f"{key}: an author without a name is left out")
        return None
    if len(name) > MAX_NAME_LENGTH:
        raise MetaError(f"{key}: a name longer than {MAX_NAME_LENGTH} characters")
    url = ""
    if fields.get("url"):
        url = absolute_url(str(fields["url"]), base) or ""
        if not url:
            warnings.append(f"{key}: {name}: url is not an http(s) URL; left out")
    email = clean_line(str(fields.get("email") or ""))
    if email and not _EMAIL.match(email):
        warnings.append(f"{key}: {name}: email {email[:80]!r} is not an address; left out")
        email = ""
    return Author(name, url, email)


def read_image(meta: Mapping[str, Any], base: str, warnings: Warnings) -> str:
    """The first of ``image``, ``cover``, ``thumbnail`` (a URL, or a list whose first item is
    one), absolute; "" when none is given or usable."""
    for key in ("image", "cover", "thumbnail"):
        values = _as_list(meta.get(key))
        if not values:
            continue
        value = values[0]
        url = absolute_url(str(value), base) if isinstance(value, (str, int, float)) else None
        if url:
            return url
        warnings.append(f"{key}: not an http(s) URL or a path; left out")
    return ""


def read_attachments(meta: Mapping[str, Any], base: str, warnings: Warnings) -> tuple[Attachment, ...]:
    """``enclosure`` then ``attachments``: each a mapping (``url``, ``type``, ``length``,
    ``title``, ``duration``), a list of them, or a bare URL; once per URL."""
    items = _as_list(meta.get("enclosure")) + _as_list(meta.get("attachments"))
    if len(items) > MAX_ITEMS:
        raise MetaError(f"attachments: {len(items)} files, more than {MAX_ITEMS}")
    out: dict[str, Attachment] = {}
    for item in items:
        attachment = _attachment(item, base, warnings)
        if attachment is not None and attachment.url not in out:
            out[attachment.url] = attachment
    return tuple(out.values())


def _attachment(item: Any, base: str, warnings: Warnings) -> Attachment | None:
    fields = item if isinstance(item, Mapping) else {"url": item}
    raw_url = fields.get("url")
    url = absolute_url(str(raw_url), base) if isinstance(raw_url, str) and raw_url.strip() else None
    if url is None:
        warnings.append("attachment: no http(s) url; left out")
        return None
    mime = clean_line(str(fields.get("type") or fields.get("mime_type") or ""))
    if not _MIME.match(mime):
        guessed = _BUILTIN_TYPES.guess_type(urlsplit(url).path, strict=False)[0] or FALLBACK_TYPE
        said = f"type {mime[:40]!r} is not a media type" if mime else "no type"
        warnings.append(f"attachment {url}: {said}; served as {guessed}")
        mime = guessed
    length = _length(fields.get("length", fields.get("size_in_bytes")))
    if length is None:
        warnings.append(f"attachment {url}: no length in bytes; RSS says length=\"0\"")
    return Attachment(url, mime, length, clean_line(str(fields.get("title") or "")), _duration(fields.get("duration")))


def _length(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    try:
        number = int(str(value).strip()) if isinstance(value, str) else value
    except ValueError:
        return None
    return number if isinstance(number, int) and number >= 0 else None


def _duration(value: Any) -> float | None:
    """Seconds: a number, or ``[h:]mm:ss`` (YAML 1.1 already reads an unquoted 1:02:03 as 3723)."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, (int, float)):
        return float(value) if value >= 0 else None
    match = _CLOCK.match(str(value).strip())
    if not match:
        return None
    hours, minutes, seconds = match.groups()
    return int(hours or 0) * 3600 + int(minutes) * 60 + float(seconds)


def read_language(meta: Mapping[str, Any], warnings: Warnings) -> str:
    """``lang`` or ``language``: a language tag (RFC 5646), or "" (the feed's language)."""
    for key in ("lang", "language"):
        value = meta.get(key)
        if value in (None, ""):
            continue
        text = clean_line(str(value)).replace("_", "-")
        if _LANGUAGE.match(text):
            return text
        warnings.append(f"{key}: {text[:40]!r} is not a language tag; left out")
    return ""
