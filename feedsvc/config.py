"""Every setting, declared once: name, default and one line of help.

Values come, later ones winning, from the defaults below, the TOML file named by
``FEEDSVC_CONFIG``, ``FEEDSVC_*`` environment variables (read with Flask's
``from_prefixed_env``) and, in tests, the dict given to ``create_app``.
"""

from __future__ import annotations

import dataclasses
import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

PREFIX = "FEEDSVC"


def _setting(default: Any, help: str) -> Any:
    return field(default=default, metadata={"help": help})


@dataclass(frozen=True)
class Settings:
    """The validated, typed configuration the Flask-free core reads."""

    site_url: str = _setting(
        "http://127.0.0.1:8000",
        "Public base URL; every link, id and self URL is built from it, never from the request.",
    )
    content_dir: str = _setting("content", "Folder of Markdown posts (read recursively).")
    title: str = _setting("feedsvc", "Site title, the feed title.")
    description: str = _setting("Posts from feedsvc", "Site description (RSS channel description).")
    author: str = _setting("", "Feed-level author name; defaults to the title.")
    language: str = _setting("en", "Feed language (BCP 47 tag, e.g. zh-CN).")
    timezone: str = _setting("UTC", "IANA zone for post dates that carry no offset.")
    permalink: str = _setting(
        "/{year}/{month}/{day}/{slug}/",
        "Permalink pattern under the site URL: {year} {month} {day} {slug}.",
    )
    feed_limit: int = _setting(20, "Items per feed, newest first.")
    max_post_bytes: int = _setting(2 * 1024 * 1024, "Larger post files are refused.")
    cache_max_age: int = _setting(300, "Cache-Control max-age of feed responses, seconds.")
    category_hierarchy: bool = _setting(
        False, "Treat a post's category list as a path (Hexo): [a, b] is in feeds a and a/b."
    )
    reload_interval: float = _setting(30.0, "Seconds between rescans of the content folder.")
    max_removal_ratio: float = _setting(
        0.5, "A rescan removing more than this share of posts must be seen twice to apply."
    )
    watch: bool = _setting(False, "Also reload on filesystem events (watchdog), debounced.")
    admin_token: str = _setting("", "Bearer token for the admin API and POST /-/reload; unset disables them.")
    database_url: str = _setting("", "SQLAlchemy URL of the notification store; default a SQLite file in the instance folder.")
    websub_hubs: tuple[str, ...] = _setting((), "External WebSub hubs to advertise and ping (comma-separated).")
    retry_schedule: tuple[int, ...] = _setting(
        (5, 300, 1800, 7200, 18000, 36000, 50400, 72000, 86400),
        "Seconds between delivery attempts (comma-separated).",
    )
    disable_after_days: float = _setting(5.0, "Disable an endpoint after failing this many days.")
    allow_private_targets: bool = _setting(
        False, "Allow webhook and WebSub callbacks on loopback and private networks."
    )
    build_workers: int = _setting(0, "Processes for a process's first build (0: one per CPU; 1: none).")
    notify: bool = _setting(True, "Record changes and deliver webhooks and WebSub notifications.")

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def feed_author(self) -> str:
        return self.author or self.title

    def url(self, path: str) -> str:
        """An absolute URL for a site path (which starts with /)."""
        return self.site_url + path


class ConfigError(ValueError):
    """A setting has a value that cannot be used."""


SETTINGS: tuple[dataclasses.Field[Any], ...] = dataclasses.fields(Settings)


def env_name(name: str) -> str:
    return f"{PREFIX}_{name.upper()}"


def _coerce(name: str, kind: str, value: Any) -> Any:
    """Turn an env string, a JSON-decoded value or a TOML value into the declared type."""
    try:
        if kind == "str":
            return value if isinstance(value, str) else str(value)
        if kind == "bool":
            if isinstance(value, bool):
                return value
            text = str(value).strip().lower()
            if text in ("1", "true", "yes", "on"):
                return True
            if text in ("0", "false", "no", "off", ""):
                return False
            raise ValueError(f"not a boolean: {value!r}")
        if kind == "int":
            if isinstance(value, bool):
                raise ValueError("not an integer")
            return int(value)
        if kind == "float":
            if isinstance(value, bool):
                raise ValueError("not a number")
            return float(value)
        item = int if kind == "tuple[int, ...]" else str
        if isinstance(value, str):
            value = [part.strip() for part in value.split(",") if part.strip()]
        elif not isinstance(value, (list, tuple)):
            value = [value]
        return tuple(item(v) for v in value)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{env_name(name)}: {exc}") from None


def load_settings(values: Mapping[str, Any]) -> Settings:
    """Build Settings from a mapping of upper-case names (Flask config keys) and validate it."""
    kwargs: dict[str, Any] = {}
    for f in SETTINGS:
        key = f.name.upper()
        if key in values and values[key] is not None:
            kwargs[f.name] = _coerce(f.name, str(f.type), values[key])
    settings = Settings(**kwargs)
    _validate(settings)
    if settings.site_url.endswith("/"):
        settings = dataclasses.replace(settings, site_url=settings.site_url.rstrip("/"))
    return settings


def _validate(s: Settings) -> None:
    parts = urlsplit(s.site_url)
    if parts.scheme not in ("http", "https") or not parts.netloc or parts.query or parts.fragment:
        raise ConfigError(f"FEEDSVC_SITE_URL must be an absolute http(s) URL, got {s.site_url!r}")
    try:
        ZoneInfo(s.timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError(f"FEEDSVC_TIMEZONE: unknown time zone {s.timezone!r}") from None
    if not s.permalink.startswith("/") or "{slug}" not in s.permalink:
        raise ConfigError("FEEDSVC_PERMALINK must start with / and contain {slug}")
    try:
        s.permalink.format(year="2000", month="01", day="01", slug="x")
    except (KeyError, IndexError, ValueError) as exc:
        raise ConfigError(f"FEEDSVC_PERMALINK: bad placeholder {exc}") from None
    for name in ("feed_limit", "max_post_bytes"):
        if getattr(s, name) < 1:
            raise ConfigError(f"{env_name(name)} must be at least 1")
    if s.cache_max_age < 0 or s.reload_interval <= 0:
        raise ConfigError("FEEDSVC_CACHE_MAX_AGE must be >= 0 and FEEDSVC_RELOAD_INTERVAL > 0")
    if not 0 < s.max_removal_ratio <= 1:
        raise ConfigError("FEEDSVC_MAX_REMOVAL_RATIO must be in (0, 1]")
    if not s.retry_schedule or any(n < 0 for n in s.retry_schedule):
        raise ConfigError("FEEDSVC_RETRY_SCHEDULE must be a list of non-negative seconds")


def read_toml_config(path: str) -> dict[str, Any]:
    """Read the optional TOML file: top-level keys are setting names in any case."""
    try:
        with open(path, "rb") as fh:
            data = tomllib.load(fh)
    except OSError as exc:
        raise ConfigError(f"FEEDSVC_CONFIG: cannot read {path}: {exc.strerror}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"FEEDSVC_CONFIG: {path}: {exc}") from None
    return {key.upper(): value for key, value in data.items()}


def raw_string_env(environ: Mapping[str, str] = os.environ) -> dict[str, str]:
    """String settings straight from the environment: from_prefixed_env JSON-decodes
    ``FEEDSVC_TITLE=2022`` into an int and ``1e3`` into 1000.0; strings must stay as typed."""
    out = {}
    for f in SETTINGS:
        if f.type == "str" and env_name(f.name) in environ:
            out[f.name.upper()] = environ[env_name(f.name)]
    return out
