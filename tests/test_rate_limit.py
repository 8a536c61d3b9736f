"""Polite to hammering readers (issue 10.4): unconditional feed GETs over FEEDSVC_RATE_LIMIT get
429 with Retry-After; conditional requests that end in 304 are never limited; the client comes
from the socket, or from X-Forwarded-For only behind FEEDSVC_TRUSTED_PROXIES; memory and Redis."""

from __future__ import annotations

import socket
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest
from flask import Flask

from feedsvc.config import ConfigError, load_settings


def client_at(app: Flask, address: str):  # type: ignore[no-untyped-def]
    client = app.test_client()
    client.environ_base["REMOTE_ADDR"] = address
    return client


def a_client_address() -> str:
    """A fresh address per test, so counters kept in Redis never carry over between runs."""
    n = uuid.uuid4().int
    return f"10.{n % 250}.{(n >> 8) % 250}.{(n >> 16) % 250 + 1}"


@pytest.fixture
def limited(make_app: Callable[..., Flask], write_post: Callable[..., Path]) -> Flask:
    write_post("a.md", title="A", tags=["t"])
    return make_app(rate_limit="3/minute", notify=False)


def test_unconditional_gets_over_the_limit_get_429(limited: Flask) -> None:
    client = client_at(limited, a_client_address())
    for path in ("/rss.xml", "/atom.xml", "/tags/t/feed.json"):
        assert client.get(path).status_code == 200
    refused = client.get("/rss.xml")
    assert refused.status_code == 429
    assert int(refused.headers["Retry-After"]) > 0
    assert refused.content_type.startswith("text/plain") and refused.data.startswith(b"429")
    assert client_at(limited, a_client_address()).get("/rss.xml").status_code == 200  # another client
    assert client.get("/healthz").status_code == 200  # only feeds are limited


def test_a_304_is_never_limited_nor_counted(limited: Flask) -> None:
    client = client_at(limited, a_client_address())
    etag = client.get("/rss.xml").headers["ETag"]
    for _ in range(10):
        assert client.get("/rss.xml", headers={"If-None-Match": etag}).status_code == 304
    assert client.get("/atom.xml").status_code == 200  # the 304s did not count: 2 of 3 used
    assert client.get("/feed.json").status_code == 200
    assert client.get("/atom.xml").status_code == 429  # over: unconditional refused ...
    assert client.get("/rss.xml", headers={"If-None-Match": etag}).status_code == 304  # ... a 304 still answered
    assert client.get("/rss.xml", headers={"If-None-Match": '"stale"'}).status_code == 429  # a fake validator is no way around


def test_forwarded_for_is_ignored_without_trusted_proxies(limited: Flask) -> None:
    client = client_at(limited, a_client_address())
    for n in range(3):
        assert client.get("/rss.xml", headers={"X-Forwarded-For": f"203.0.113.{n}"}).status_code == 200
    assert client.get("/rss.xml", headers={"X-Forwarded-For": "203.0.113.99"}).status_code == 429


def test_forwarded_for_names_the_client_behind_a_trusted_proxy(make_app: Callable[..., Flask],
                                                               write_post: Callable[..., Path]) -> None:
    write_post("a.md", title="A")
    app = make_app(rate_limit="2/minute", trusted_proxies=1, notify=False)
    proxy = client_at(app, "127.0.0.1")
    first, second = a_client_address(), a_client_address()
    for _ in range(2):
        assert proxy.get("/rss.xml", headers={"X-Forwarded-For": first}).status_code == 200
    assert proxy.get("/rss.xml", headers={"X-Forwarded-For": first}).status_code == 429
    forged = proxy.get("/rss.xml", headers={"X-Forwarded-For": second, "X-Forwarded-Host": "evil.example",
                                            "X-Forwarded-Proto": "http"})
    assert forged.status_code == 200 and b"evil.example" not in forged.data  # links from FEEDSVC_SITE_URL only


def _redis_reachable() -> bool:
    try:
        with socket.create_connection(("127.0.0.1", 6379), timeout=1):
            return True
    except OSError:
        return False


@pytest.mark.skipif(not _redis_reachable(), reason="Redis is not reachable on 127.0.0.1:6379")
def test_redis_storage_is_shared_by_processes(make_app: Callable[..., Flask], write_post: Callable[..., Path]) -> None:
    """Two apps (two workers, or two replicas) count one client together in Redis."""
    write_post("a.md", title="A")
    options = {"rate_limit": "3/minute", "rate_limit_storage": "redis://127.0.0.1:6379", "notify": False}
    one, two = make_app(**options), make_app(**options)
    address = a_client_address()
    assert client_at(one, address).get("/rss.xml").status_code == 200
    assert client_at(two, address).get("/rss.xml").status_code == 200
    try:
        assert client_at(one, address).get("/atom.xml").status_code == 200
        assert client_at(two, address).get("/atom.xml").status_code == 429
    finally:
        for app in (one, two):  # close the Redis connections (a ResourceWarning is an error here)
            app.extensions["feedsvc.limiter"].storage.storage.connection_pool.disconnect()


@pytest.mark.parametrize(("name", "value"), [("RATE_LIMIT", "lots"), ("RATE_LIMIT_STORAGE", "mongodb://x"),
                                             ("TRUSTED_PROXIES", "-1")])
def test_bad_rate_limit_settings_are_refused(name: str, value: str) -> None:
    with pytest.raises(ConfigError, match=f"FEEDSVC_{name}"):
        load_settings({name: value})


def test_no_limit_by_default(make_app: Callable[..., Flask], write_post: Callable[..., Path]) -> None:
    write_post("a.md")
    client = client_at(make_app(notify=False), a_client_address())
    assert all(client.get("/rss.xml").status_code == 200 for _ in range(30))
