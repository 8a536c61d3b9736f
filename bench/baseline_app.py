"""The throughput floor: a minimal Flask app serving fixed feed bytes from memory.

bench/throughput.py saves feedsvc's /rss.xml (identity and gzip bodies, their ETags, the
headers) to the JSON file named by ``BENCH_BASELINE_DOC``; this app returns the same bytes with
the same headers, and answers If-None-Match with werkzeug's conditional support (the same
``make_conditional`` compare feedsvc uses), under the same gunicorn settings.

    BENCH_BASELINE_DOC=doc.json gunicorn -k gthread -w 2 --threads 4 --chdir bench baseline_app:app
"""

from __future__ import annotations

import base64
import json
import os

from flask import Flask, Response, request

with open(os.environ["BENCH_BASELINE_DOC"], encoding="utf-8") as fh:
    _DOC = json.load(fh)
CONTENT_TYPE: str = _DOC["content_type"]
HEADERS: dict[str, str] = _DOC["headers"]  # Cache-Control, Vary, Last-Modified, ...
VARIANTS: dict[str, tuple[bytes, str]] = {
    enc: (base64.b64decode(v["body"]), v["etag"]) for enc, v in _DOC["variants"].items()
}

app = Flask(__name__)


@app.get("/rss.xml")
def rss() -> Response:
    encoding = "gzip" if request.accept_encodings.quality("gzip") > 0 and "gzip" in VARIANTS else "identity"
    body, etag = VARIANTS[encoding]
    response = Response(body, content_type=CONTENT_TYPE, headers=HEADERS)
    response.set_etag(etag)
    if encoding != "identity":
        response.headers["Content-Encoding"] = encoding
    return response.make_conditional(request)
