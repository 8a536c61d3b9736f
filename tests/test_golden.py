"""The same content gives the same bytes as before a refactor: every document built from
``tests/content`` is compared with a hash list written by an earlier version
(``tests/golden/edge-documents.json``). A deliberate change of output regenerates the list
(``python tests/test_golden.py``) in the commit that makes it, saying why."""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path
from typing import Any

TESTS = Path(__file__).resolve().parent
GOLDEN = TESTS / "golden" / "edge-documents.json"
SETTINGS = {"SITE_URL": "https://blog.example.org", "TITLE": "Test site", "BUILD_WORKERS": 1, "TESTING": True}


def document_hashes(database_url: str) -> dict[str, str]:
    from feedsvc.app import create_app

    app: Any = create_app({**SETTINGS, "CONTENT_DIR": str(TESTS / "content"), "DATABASE_URL": database_url})
    snapshot = app.extensions["feedsvc"].current()
    out = {}
    for (key, fmt), doc in snapshot.documents.items():
        out[f"{key.kind}|{key.key}|{fmt}"] = hashlib.sha256(doc.body).hexdigest()
    size = app.extensions["feedsvc"].settings.archive_size
    for feed in snapshot.index.feed_list():  # RFC 5005 archive pages, rendered on request
        for page in range(1, feed.archive_pages(size) + 1):
            for fmt in ("rss", "atom", "json"):
                doc = snapshot.archive_document(feed.key, page, fmt)
                out[f"archive|{feed.key.kind}|{feed.key.key}|{page}|{fmt}"] = hashlib.sha256(doc.body).hexdigest()
    for path, doc in snapshot.pages.items():
        out[f"page|{path}"] = hashlib.sha256(doc.body).hexdigest()
    return dict(sorted(out.items()))


def test_documents_match_the_golden_list(tmp_path: Path) -> None:
    expected = json.loads(GOLDEN.read_text())
    got = document_hashes(f"sqlite:///{tmp_path / 'g.sqlite'}")
    assert got.keys() == expected.keys()
    changed = sorted(name for name in got if got[name] != expected[name])
    assert not changed, f"{len(changed)} documents differ from the golden list, e.g. {changed[:5]}"


if __name__ == "__main__":
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        GOLDEN.parent.mkdir(exist_ok=True)
        GOLDEN.write_text(json.dumps(document_hashes(f"sqlite:///{tmp}/g.sqlite"), indent=1) + "\n")
    print(f"wrote {GOLDEN}", file=sys.stderr)
