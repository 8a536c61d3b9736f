"""One HTTP request on a fresh loopback connection, sending exactly the given headers (``Host``
only when not given, so it can be forged; no Accept-Encoding added). Shared by the gunicorn
fixture (conftest.py) and the nginx helper (nginx_proxy.py, also used by bench/)."""

from __future__ import annotations

import http.client
from collections.abc import Mapping


def raw_request(port: int, method: str, path: str, headers: Mapping[str, str] | None = None,
                timeout: float = 10) -> tuple[int, list[tuple[str, str]], bytes]:
    """(status, headers as sent with duplicates kept, body)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        hdrs = dict(headers or {})
        conn.putrequest(method, path, skip_host="Host" in hdrs, skip_accept_encoding=True)
        for name, value in hdrs.items():
            conn.putheader(name, value)
        conn.endheaders()
        resp = conn.getresponse()
        return resp.status, list(resp.getheaders()), resp.read()
    finally:
        conn.close()
