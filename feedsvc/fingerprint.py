"""What rendered bytes depend on besides the posts: the code and the settings, as digests.

Feed documents are rendered on demand, so their ETags are derived from their inputs instead
of their bytes (snapshot.py): the posts' versions, these two fingerprints, and the feed's own
name and place. Both are the same in every process and on every host that runs the same code
with the same settings, and change whenever either could change a byte.
"""

from __future__ import annotations

import hashlib
import json
import sys
from importlib import metadata
from pathlib import Path
from typing import Any

from lxml import etree

from .config import SETTINGS, Settings

PACKAGE = Path(__file__).resolve().parent
# the libraries whose output ends up in the documents (serialisation, Markdown, sanitising, templates)
RENDERING_LIBRARIES = ("feedgen", "lxml", "cmarkgfm", "nh3", "PyYAML", "python-frontmatter", "Jinja2", "brotli")
RENDERING_GROUPS = ("site", "feeds")  # the settings groups that shape documents (config.py)
NOT_RENDERED = frozenset({"content_dir"})  # where the posts live is not what they say


def code_version() -> str:
    """A digest of feedsvc's own source and templates, the rendering libraries' versions,
    libxml2's, and Python's minor version: the same code renders the same bytes. Taken when
    this module is imported, with the code it runs: files replaced later (an upgrade in place
    while old workers still run) do not change what an old process claims."""
    return _CODE_VERSION


def code_digest(package: Path) -> str:
    """The digest of a package folder's files and the rendering libraries (see code_version)."""
    digest = hashlib.sha256()
    for path in sorted(p for p in package.rglob("*") if p.is_file() and "__pycache__" not in p.parts):
        if path.suffix == ".pyc":
            continue
        digest.update(path.relative_to(package).as_posix().encode() + b"\0" + path.read_bytes() + b"\0")
    for name in RENDERING_LIBRARIES:
        try:
            version = metadata.version(name)
        except metadata.PackageNotFoundError:
            version = "-"
        digest.update(f"{name}=={version}\n".encode())
    digest.update(f"libxml2 {etree.LIBXML_VERSION} python {sys.version_info[:2]}".encode())
    return digest.hexdigest()


def settings_version(settings: Settings) -> str:
    """A digest of the settings that shape documents (groups site and feeds, and the WebSub
    hubs a feed advertises); operational settings (intervals, limits, tokens) are not in it."""
    values: dict[str, Any] = {f.name: getattr(settings, f.name) for f in SETTINGS
                              if f.metadata["group"] in RENDERING_GROUPS and f.name not in NOT_RENDERED}
    values["hubs"] = list(settings.hubs)
    text = json.dumps(values, sort_keys=True, default=str, ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()


_CODE_VERSION = code_digest(PACKAGE)
