"""Small text helpers shared by parsing and rendering."""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache
from urllib.parse import quote

# XML 1.0 section 2.2 Char production: everything outside it makes lxml raise.
_NOT_XML_CHAR = re.compile("[^\t\n\r\u0020-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def xml_safe(text: str) -> str:
    """Drop characters XML 1.0 forbids (C0 controls, lone surrogates, U+FFFE/U+FFFF)."""
    return _NOT_XML_CHAR.sub("", text)


_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f]")


def display_name(name: str) -> str:
    """A file name as printable UTF-8 on one line: bytes that are not UTF-8 (which the OS hands
    over as surrogate escapes, PEP 383) and control characters become ``\\xNN``."""
    if name.isprintable():  # the common case: no surrogate escape, no control character
        return name
    text = name.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
    return _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", text)


def clean_line(text: str) -> str:
    """XML-safe text on one line with runs of white space folded (titles, names)."""
    return " ".join(xml_safe(text).split())


@lru_cache(maxsize=65536)
def name_key(name: str) -> str:
    """The matching key of a tag or category: NFKC + casefold (UAX #31 NFKC_Casefold, approx.)."""
    return unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", name).casefold()).strip()


def url_segment(name: str) -> str:
    """A name as one percent-encoded UTF-8 path segment (RFC 3986 3.3).

    '/', '?', '#' and spaces are encoded; a segment of only dots is encoded too, so no
    client removes it as a dot-segment (RFC 3986 5.2.4).
    """
    segment = quote(name, safe="")
    if segment.strip(".") == "":
        segment = segment.replace(".", "%2E")
    return segment
