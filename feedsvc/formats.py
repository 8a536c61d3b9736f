"""The feed formats: one table drives rendering (render.render_formats), paths and routes."""

from __future__ import annotations

# (format, file name, content type)
FORMATS: tuple[tuple[str, str, str], ...] = (
    ("rss", "rss.xml", "application/rss+xml; charset=utf-8"),
    ("atom", "atom.xml", "application/atom+xml; charset=utf-8"),
    ("json", "feed.json", "application/feed+json; charset=utf-8"),
)
FILE_BY_FORMAT = {fmt: filename for fmt, filename, _ in FORMATS}
