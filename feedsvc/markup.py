"""Markdown to safe HTML: CommonMark + GFM tables and strikethrough, sanitized, absolute URLs."""

from __future__ import annotations

import ctypes
import re
import threading
from dataclasses import dataclass
from html import escape as html_escape
from html import unescape as html_unescape
from urllib.parse import urljoin

import nh3
from cmarkgfm import _cmark
from cmarkgfm.cmark import Options, core_extensions_ensure_registered, find_syntax_extension

from .textutil import xml_safe

# Hexo/Hugo excerpt separator; Hugo also accepts a space inside the comment.
MORE = re.compile(r"<!--\s*more\s*-->", re.IGNORECASE)
_FIRST_PARAGRAPH = re.compile(r"<p>.*?</p>", re.DOTALL)
_FIRST_IMAGE = re.compile(r"<img\b[^>]*?\ssrc=\"(https?://[^\"]+)\"")  # nh3 writes attributes in double quotes
_URL_ATTRS = frozenset({("a", "href"), ("img", "src"), ("q", "cite"), ("blockquote", "cite"), ("del", "cite"), ("ins", "cite")})

# cmark-gfm (GitHub's C CommonMark implementation): ~20x markdown-it-py on these posts, same
# HTML. Raw HTML is let through here (UNSAFE) because nh3 sanitizes the result.
_CMARK_OPTIONS = Options.CMARK_OPT_UNSAFE
core_extensions_ensure_registered()
_GFM_EXTENSIONS = [find_syntax_extension(name) for name in ("table", "strikethrough")]
# cmarkgfm's markdown_to_html_with_extensions (2025.10.22) never frees the document tree nor the
# rendered string: ~36 KB per post of this corpus, 250 MB per 7k posts rendered. The same calls,
# with both freed (cmark's default allocator is the C library's).
_CMARK, _FFI = _cmark.lib, _cmark.ffi
_node_free = ctypes.CDLL(_cmark.__file__).cmark_node_free
_node_free.argtypes, _node_free.restype = [ctypes.c_void_p], None
_free = ctypes.CDLL(None).free
_free.argtypes, _free.restype = [ctypes.c_void_p], None


def _address(pointer: object) -> int:
    return int(_FFI.cast("uintptr_t", pointer))


def _markdown_html(markdown: str) -> str:
    """CommonMark + GFM tables and strikethrough to (unsanitized) HTML."""
    data = markdown.encode("utf-8")
    parser = _CMARK.cmark_parser_new(_CMARK_OPTIONS)
    try:
        for extension in _GFM_EXTENSIONS:
            _CMARK.cmark_parser_attach_syntax_extension(parser, extension)
        _CMARK.cmark_parser_feed(parser, data, len(data))
        root = _CMARK.cmark_parser_finish(parser)  # the caller owns the tree
        try:
            raw = _CMARK.cmark_render_html(root, _CMARK_OPTIONS, _CMARK.cmark_parser_get_syntax_extensions(parser))
            try:
                return str(_FFI.string(raw).decode("utf-8"))
            finally:
                _free(_address(raw))
        finally:
            _node_free(_address(root))
    finally:
        _CMARK.cmark_parser_free(parser)
_base = threading.local()


def _absolute_urls(tag: str, attr: str, value: str) -> str | None:
    """nh3 attribute filter: resolve URL attributes against the post's permalink (RFC 3986 5)."""
    if (tag, attr) in _URL_ATTRS:
        if value.startswith(("https://", "http://")) and "[" not in value and value[-1:] > " ":
            return value  # already absolute (most links): urljoin would return it unchanged
        try:
            return urljoin(_base.url, value.strip())
        except ValueError:
            return None  # e.g. an invalid IPv6 literal: drop the link rather than fail
    return value


_attributes = {tag: set(attrs) for tag, attrs in nh3.ALLOWED_ATTRIBUTES.items()}
_attributes["a"] |= {"title"}
_attributes["img"] |= {"title"}
_attributes["code"] = {"class"}
_cleaner = nh3.Cleaner(
    attributes=_attributes,
    attribute_filter=_absolute_urls,
    link_rel=None,
    url_schemes={"http", "https", "mailto", "ftp", "tel"},
)


@dataclass(frozen=True, slots=True)
class RenderedBody:
    """The post body as HTML (``content``) and its excerpt (``summary``), both sanitized."""

    content: str
    summary: str
    image: str = ""  # the first image's absolute URL (a post's image when its front matter names none)


# The sanitizer's HTML5 tree builder takes time quadratic in nesting depth (100k nested <div>s,
# 500 KB, take ~20 s): deeper HTML than any real post is shown as escaped text instead.
MAX_NESTING = 64
_TAG = re.compile(r"<(/?)([A-Za-z][A-Za-z0-9-]*)[^>]*>")
# void elements, and elements whose end tag is optional (the tree builder closes them itself)
_NOT_NESTING = frozenset(
    "area base br col embed hr img input link meta source track wbr "
    "p li dt dd tr td th thead tbody tfoot colgroup caption option optgroup rb rt rp".split()
)


def too_deep(html: str, limit: int = MAX_NESTING) -> bool:
    """Whether ``html`` nests elements deeper than ``limit`` (a linear scan of the tags)."""
    depth = 0
    for match in _TAG.finditer(html):
        if match.group(2).lower() in _NOT_NESTING or match.group(0).endswith("/>"):
            continue
        if match.group(1):
            depth = max(0, depth - 1)
        else:
            depth += 1
            if depth > limit:
                return True
    return False


def sanitize(html: str, base_url: str) -> str:
    """Strip scripts, event handlers and unsafe URLs; make relative URLs absolute."""
    html = xml_safe(html)
    if too_deep(html):
        return f"<pre>{html_escape(html, quote=False)}</pre>"
    _base.url = base_url
    return _cleaner.clean(html)


def render_body(markdown: str, base_url: str, summary_text: str) -> RenderedBody:
    """Render a post body; the summary is the part before <!--more-->, else ``summary_text``
    (front matter summary/description, plain text), else the first paragraph.

    The Markdown is rendered once and the HTML split at the marker (an HTML comment passes
    through cmark; one inside a code span is escaped, so it does not split);
    the sanitizer closes any element the split leaves open.
    """
    html = _markdown_html(markdown)
    parts = MORE.split(html, maxsplit=1)
    content = sanitize(html, base_url)
    if len(parts) == 2 and parts[0].strip():
        summary = sanitize(parts[0], base_url)
    elif summary_text:
        summary = html_escape(summary_text, quote=False)  # nh3.clean_text writes spaces as &#32;
    else:
        first = _FIRST_PARAGRAPH.search(content)
        summary = first.group(0) if first else ""
    image = _FIRST_IMAGE.search(content)
    return RenderedBody(content=content, summary=summary, image=html_unescape(image.group(1)) if image else "")
