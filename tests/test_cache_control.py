"""The Cache-Control of feeds and pages: max-age for readers, the shared-cache directives from
the settings (FEEDSVC_CACHE_*), zero stale windows left out, bad values refused by name."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from flask import Flask

from feedsvc.config import ConfigError, load_settings


@pytest.mark.parametrize(("env", "expected"), [
    ({}, "public, max-age=300, s-maxage=10, stale-while-revalidate=30, stale-if-error=86400"),
    ({"FEEDSVC_CACHE_MAX_AGE": "60", "FEEDSVC_CACHE_S_MAXAGE": "0"},
     "public, max-age=60, s-maxage=0, stale-while-revalidate=30, stale-if-error=86400"),
    ({"FEEDSVC_CACHE_STALE_WHILE_REVALIDATE": "0", "FEEDSVC_CACHE_STALE_IF_ERROR": "0"},
     "public, max-age=300, s-maxage=10"),
])
def test_cache_control_from_settings(env: dict[str, str], expected: str) -> None:
    assert load_settings(environ=env).cache_control == expected


def test_a_max_age_of_its_own_has_no_s_maxage() -> None:
    """Archive pages (FEEDSVC_ARCHIVE_MAX_AGE): shared caches keep them as long as readers."""
    settings = load_settings(environ={})
    assert settings.cache_control_for(86400) == "public, max-age=86400, stale-while-revalidate=30, stale-if-error=86400"


@pytest.mark.parametrize("name", ["FEEDSVC_CACHE_S_MAXAGE", "FEEDSVC_CACHE_STALE_WHILE_REVALIDATE",
                                  "FEEDSVC_CACHE_STALE_IF_ERROR"])
def test_negative_windows_are_refused(name: str) -> None:
    with pytest.raises(ConfigError, match=f"{name} must be at least 0"):
        load_settings(environ={name: "-1"})


def test_feeds_and_pages_carry_it(make_app: Callable[..., Flask], write_post: Callable[..., object]) -> None:
    write_post("a.md", tags=["t"])
    client = make_app(cache_s_maxage=7, cache_stale_if_error=0).test_client()
    for path in ("/rss.xml", "/atom.xml", "/feed.json", "/tags/t/rss.xml", "/", "/opml.xml"):
        for encoding in ("identity", "gzip", "br"):
            resp = client.get(path, headers={"Accept-Encoding": encoding})
            assert resp.headers["Cache-Control"] == "public, max-age=300, s-maxage=7, stale-while-revalidate=30", path
            etag = resp.headers["ETag"]
            again = client.get(path, headers={"Accept-Encoding": encoding, "If-None-Match": etag})
            assert again.status_code == 304 and again.headers["Cache-Control"] == resp.headers["Cache-Control"]
