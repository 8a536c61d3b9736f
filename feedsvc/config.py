"""Every setting, declared once (name, type, default, group, one line of help), and one loader.

Values come, later ones winning, from the defaults below, the TOML file named by
``FEEDSVC_CONFIG``, ``FEEDSVC_*`` environment variables and the ``overrides`` mapping
(``create_app``'s test dict, command-line options). Each value is converted to the declared
type from the declaration itself; a value that cannot be used stops the start with the
variable's name and the reason (``ConfigError``).
"""

from __future__ import annotations

import dataclasses
import os
import sys
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

PREFIX = "FEEDSVC"
GROUPS = ("site", "feeds", "reload", "http", "push", "tuning", "operation")
Check = Callable[[Any], str | None]  # the reason a value is refused, or None


def _setting(default: Any, help: str, group: str, check: Check | None = None, env: bool = True) -> Any:
    return field(default=default, metadata={"help": help, "group": group, "check": check, "env": env})


def at_least(low: float) -> Check:
    return lambda v: None if v >= low else f"must be at least {low:g}"


def above(low: float) -> Check:
    return lambda v: None if v > low else f"must be greater than {low:g}"


def between(low: float, high: float) -> Check:
    return lambda v: None if low < v <= high else f"must be in ({low:g}, {high:g}]"


@dataclass(frozen=True)
class Settings:
    """The validated, typed configuration; the Flask-free core and the app read only this."""

    site_url: str = _setting(
        "http://127.0.0.1:8000",
        "Public base URL; every link, id and self URL is built from it, never from the request.", "site",
    )
    content_dir: str = _setting("content", "Folder of Markdown posts (read recursively).", "site")
    title: str = _setting("feedsvc", "Site title, the feed title.", "site")
    description: str = _setting("Posts from feedsvc", "Site description (RSS channel description).", "site")
    author: str = _setting("", "Feed-level author name; defaults to the title.", "site")
    language: str = _setting("en", "Feed language (BCP 47 tag, e.g. zh-CN).", "site")
    timezone: str = _setting("UTC", "IANA zone for post dates that carry no offset.", "site")
    permalink: str = _setting(
        "/{year}/{month}/{day}/{slug}/", "Permalink pattern under the site URL: {year} {month} {day} {slug}.", "site",
    )
    feed_limit: int = _setting(20, "Items per feed, newest first.", "feeds", at_least(1))
    archive_page_size: int = _setting(
        0, "Posts per RFC 5005 archive page, counted from each feed's oldest post (0: FEEDSVC_FEED_LIMIT; at most that).",
        "feeds", at_least(0),
    )
    max_post_bytes: int = _setting(2 * 1024 * 1024, "Larger post files are refused.", "feeds", at_least(1))
    category_hierarchy: bool = _setting(
        False, "Treat a post's category list as a path (Hexo): [a, b] is in feeds a and a/b.", "feeds",
    )
    cache_max_age: int = _setting(300, "Cache-Control max-age of feed responses, seconds.", "http", at_least(0))
    archive_max_age: int = _setting(86400, "Cache-Control max-age of archive pages, seconds.", "http", at_least(0))
    cache_s_maxage: int = _setting(
        10, "Cache-Control s-maxage: seconds a shared cache (deploy/nginx) serves its copy before revalidating.", "http",
        at_least(0),
    )
    cache_stale_while_revalidate: int = _setting(
        30, "Cache-Control stale-while-revalidate: seconds a cache may serve a stale copy while it revalidates (0: not sent).",
        "http", at_least(0),
    )
    cache_stale_if_error: int = _setting(
        86400, "Cache-Control stale-if-error: seconds a cache may serve a stale copy while the origin fails (0: not sent).",
        "http", at_least(0),
    )
    reload_interval: float = _setting(30.0, "Seconds between rescans of the content folder.", "reload", above(0))
    max_removal_ratio: float = _setting(
        0.5, "A rescan leaving fewer than (1 - this) of the reference count must be seen twice to apply.", "reload",
        between(0, 1),
    )
    removal_window: float = _setting(
        600.0, "Seconds over which removals add up for FEEDSVC_MAX_REMOVAL_RATIO (the reference is the largest count seen); "
        "a removed post is kept this long, so that a restore of the same bytes is not parsed again.",
        "reload", at_least(0),
    )
    watch: bool = _setting(False, "Also reload on filesystem events (watchdog), debounced.", "reload")
    max_request_bytes: int = _setting(
        1024 * 1024, "Larger request bodies get 413 at once, before they are read (Flask MAX_CONTENT_LENGTH).", "http",
        at_least(1),
    )
    rate_limit: str = _setting(
        "", "Unconditional feed GETs allowed per client, e.g. 120/hour (flask-limiter syntax); empty: no limit.", "http",
        lambda v: None if not v or _rate_limit_ok(v) else "is not a rate limit such as 120/hour or 10 per minute",
    )
    rate_limit_storage: str = _setting(
        "memory://", "Where rate-limit counters live: memory:// (per process) or redis://host:port for a cluster.", "http",
        lambda v: None if v.startswith(("memory://", "redis://", "rediss://", "redis+unix://")) else "must be memory:// or redis://...",
    )
    trusted_proxies: int = _setting(
        0, "Proxy hops in front whose X-Forwarded-For names the client (rate limit only; links never use it).", "http",
        at_least(0),
    )
    admin_token: str = _setting("", "Bearer token for the admin API and POST /-/reload; unset disables them.", "http")
    notify: bool = _setting(True, "Record changes and deliver webhooks and WebSub notifications.", "push")
    database_url: str = _setting(
        "", "SQLAlchemy URL of the notification store; default a SQLite file in the instance folder.", "push",
    )
    websub_hubs: tuple[str, ...] = _setting((), "External WebSub hubs to advertise and ping (comma-separated).", "push")
    retry_schedule: tuple[int, ...] = _setting(
        (5, 300, 1800, 7200, 18000, 36000, 50400, 72000, 86400),
        "Seconds between delivery attempts (comma-separated).", "push",
        lambda v: None if v and all(n >= 0 for n in v) else "must be a list of non-negative seconds",
    )
    disable_after_days: float = _setting(5.0, "Disable an endpoint after failing this many days.", "push", above(0))
    allow_private_targets: bool = _setting(
        False, "Allow webhook and WebSub callbacks on loopback and private networks.", "push",
    )
    webhooks: tuple[Mapping[str, Any], ...] = _setting(
        (), "Webhook endpoints declared as [[webhooks]] tables (TOML file only).", "push", env=False,
    )
    retention_days: float = _setting(
        7.0, "Delivered, failed and cancelled deliveries, their attempts and events are pruned after this many days.",
        "push", above(0),
    )
    notify_concurrency: int = _setting(32, "Webhook and WebSub sends in flight per process.", "tuning", at_least(1))
    notify_per_endpoint: int = _setting(
        4,
        "Sends in flight per webhook endpoint or WebSub callback host, across all processes; a burst's deliveries take one fewer, leaving a slot for ordinary changes.",
        "tuning", at_least(1),
    )
    notify_burst: int = _setting(
        100, "More post changes of one kind (published, updated, deleted) recorded together are a burst, sent after ordinary changes.",
        "tuning", at_least(1),
    )
    notify_lease_seconds: float = _setting(
        30.0, "A claimed delivery whose process died is sent again after this many seconds.", "tuning", above(0),
    )
    notify_poll_seconds: float = _setting(1.0, "Seconds between checks of the outbox for due deliveries.", "tuning", above(0))
    websub_rate_limit: int = _setting(30, "WebSub subscription requests per minute per client address.", "tuning", at_least(1))
    document_cache_mb: int = _setting(
        48, "MiB of rendered feed documents and pages (and their gzip/br variants) kept per process; "
        "the rest are rendered again, to the same bytes, when asked for.", "tuning", at_least(0),
    )
    prerender_feeds: int = _setting(
        64, "Feeds (the site feed, then the largest) whose RSS and Atom a cold start renders before serving, in "
        "forked helpers whose work the workers share; the rest render on first request. More: a first crawl of "
        "every feed goes faster; fewer: the service starts sooner.", "tuning", at_least(0),
    )
    archive_cache_mb: int = _setting(
        32, "MiB of rendered archive pages kept per process (rendered on first request, reused while their posts are unchanged).",
        "tuning", at_least(0),
    )
    build_workers: int = _setting(
        0, "Processes for a process's first build (0: one per CPU; 1: none).", "tuning", at_least(0),
    )
    metrics_bind: str = _setting(
        "", "host:port of a separate /metrics listener started by feedsvc serve (no token there); empty: none.",
        "operation", lambda v: None if not v or (":" in v and v.rsplit(":", 1)[1].isdigit()) else "must be host:port",
    )
    instance_dir: str = _setting("", "Folder for local state (the default SQLite store); default ./instance beside the code.", "operation")
    log_level: str = _setting(
        "INFO", "Log level of the feedsvc command and its server (DEBUG, INFO, WARNING, ERROR).", "operation",
        lambda v: None if v.upper() in ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL") else "unknown log level",
    )
    config: str = _setting("", "Path of the TOML settings file (environment only).", "operation")

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def feed_author(self) -> str:
        return self.author or self.title

    @property
    def archive_size(self) -> int:
        """Posts per archive page: FEEDSVC_ARCHIVE_PAGE_SIZE, or FEEDSVC_FEED_LIMIT when 0."""
        return self.archive_page_size or self.feed_limit

    @cached_property
    def hubs(self) -> tuple[str, ...]:
        """The WebSub hubs every topic advertises: the built-in one first, then the external
        ones (WebSub 4); none while push is off."""
        return (self.site_url + "/websub",) + self.websub_hubs if self.notify else ()

    @cached_property
    def cache_control(self) -> str:
        """Feeds and pages: readers keep a copy for max-age, shared caches for s-maxage, then
        revalidate (RFC 9111 5.2.2.1, 5.2.2.10); both may serve it stale while revalidating or
        while the origin fails (RFC 5861 3, 4)."""
        return self._cache_control(self.cache_max_age, self.cache_s_maxage)

    def cache_control_for(self, max_age: int) -> str:
        """A document with a max-age of its own (archive pages): shared caches keep it as long
        as readers do (no s-maxage)."""
        return self._cache_control(max_age, None)

    def _cache_control(self, max_age: int, s_maxage: int | None) -> str:
        directives = [f"public, max-age={max_age}"]
        if s_maxage is not None:
            directives.append(f"s-maxage={s_maxage}")
        if self.cache_stale_while_revalidate:
            directives.append(f"stale-while-revalidate={self.cache_stale_while_revalidate}")
        if self.cache_stale_if_error:
            directives.append(f"stale-if-error={self.cache_stale_if_error}")
        return ", ".join(directives)

    def url(self, path: str) -> str:
        """An absolute URL for a site path (which starts with /)."""
        return self.site_url + path


def _rate_limit_ok(value: str) -> bool:
    from limits import parse_many

    try:
        return bool(parse_many(value))
    except ValueError:
        return False


class ConfigError(ValueError):
    """A setting has a value that cannot be used."""


SETTINGS: tuple[dataclasses.Field[Any], ...] = dataclasses.fields(Settings)
_BY_NAME = {f.name: f for f in SETTINGS}


def env_name(name: str) -> str:
    return f"{PREFIX}_{name.upper()}"


def _coerce(kind: str, value: Any) -> Any:
    """An environment string, a TOML value or a Python value as the declared type."""
    if kind == "str":
        if isinstance(value, (dict, list)):
            raise ValueError("must be text")
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
    if kind in ("int", "float"):
        if isinstance(value, bool) or not isinstance(value, (int, float, str)):
            raise ValueError(f"not a number: {value!r}")
        number = int(value) if kind == "int" else float(value)
        if number != number or number in (float("inf"), float("-inf")):
            raise ValueError(f"not a finite number: {value!r}")
        return number
    if kind.startswith("tuple[Mapping"):
        if not isinstance(value, (list, tuple)) or not all(isinstance(x, Mapping) for x in value):
            raise ValueError("must be an array of tables ([[webhooks]])")
        return tuple(value)
    item = int if kind == "tuple[int, ...]" else str
    if isinstance(value, str):
        value = [part.strip() for part in value.split(",") if part.strip()]
    elif not isinstance(value, (list, tuple)):
        value = [value]
    return tuple(item(v) for v in value)


def load_settings(overrides: Mapping[str, Any] | None = None, environ: Mapping[str, str] | None = None) -> Settings:
    """Defaults < TOML file < ``FEEDSVC_*`` environment < ``overrides`` (keys in any case;
    keys that are not settings are ignored here), converted and validated."""
    environ = os.environ if environ is None else environ
    given = {k.lower(): v for k, v in (overrides or {}).items() if k.lower() in _BY_NAME and v is not None}
    values: dict[str, tuple[str, Any]] = {}  # name -> (where it came from, raw value)
    path = given.get("config", environ.get(env_name("config"), ""))
    if path:
        values.update((k, (f"{path}: {k}", v)) for k, v in read_toml_config(str(path)).items())
    for f in SETTINGS:
        if env_name(f.name) in environ:
            if not f.metadata["env"]:
                raise ConfigError(f"{env_name(f.name)}: {f.name} can only be set in the TOML file")
            values[f.name] = (env_name(f.name), environ[env_name(f.name)])
    values.update((k, (env_name(k), v)) for k, v in given.items())
    kwargs = {}
    for name, (origin, raw) in values.items():
        f = _BY_NAME[name]
        try:
            kwargs[name] = value = _coerce(str(f.type), raw)
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"{origin}: {exc}") from None
        reason = f.metadata["check"](value) if f.metadata["check"] else None
        if reason:
            raise ConfigError(f"{origin} {reason} (got {raw!r})")
    settings = Settings(**kwargs)
    _validate(settings)
    return dataclasses.replace(
        settings, site_url=settings.site_url.rstrip("/"), instance_dir=settings.instance_dir or default_instance_dir()
    )


def _validate(s: Settings) -> None:
    """Checks that look at more than one value's type."""
    parts = urlsplit(s.site_url)
    if parts.scheme not in ("http", "https") or not parts.netloc or parts.query or parts.fragment:
        raise ConfigError(f"FEEDSVC_SITE_URL must be an absolute http(s) URL, got {s.site_url!r}")
    try:
        ZoneInfo(s.timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError(f"FEEDSVC_TIMEZONE: unknown time zone {s.timezone!r}") from None
    if s.archive_page_size > s.feed_limit:  # else some posts would be in neither the feed nor an archive page
        raise ConfigError(f"FEEDSVC_ARCHIVE_PAGE_SIZE must be at most FEEDSVC_FEED_LIMIT ({s.feed_limit}), "
                          f"got {s.archive_page_size}")
    if not s.permalink.startswith("/") or "{slug}" not in s.permalink:
        raise ConfigError("FEEDSVC_PERMALINK must start with / and contain {slug}")
    try:
        s.permalink.format(year="2000", month="01", day="01", slug="x")
    except (KeyError, IndexError, ValueError) as exc:
        raise ConfigError(f"FEEDSVC_PERMALINK: bad placeholder {exc}") from None


def read_toml_config(path: str) -> dict[str, Any]:
    """The TOML file's top-level keys (setting names in any case); an unknown key is refused,
    so a typo is not silently ignored."""
    try:
        with open(path, "rb") as fh:
            data = tomllib.load(fh)
    except OSError as exc:
        raise ConfigError(f"FEEDSVC_CONFIG: cannot read {path}: {exc.strerror}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"FEEDSVC_CONFIG: {path}: {exc}") from None
    out = {key.lower(): value for key, value in data.items()}
    unknown = sorted(set(out) - set(_BY_NAME) | ({"config"} & set(out)))
    if unknown:
        raise ConfigError(f"FEEDSVC_CONFIG: {path}: unknown setting(s) {', '.join(unknown)}")
    return out


def default_instance_dir() -> str:
    """Where local state lives by default: ``instance/`` beside a source checkout, or
    ``<prefix>/var/feedsvc-instance`` for an installed package (Flask's rule)."""
    package_parent = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    if os.path.basename(package_parent) in ("site-packages", "dist-packages"):
        return os.path.join(sys.prefix, "var", "feedsvc-instance")
    return os.path.join(package_parent, "instance")


def settings_table() -> str:
    """The README's settings table, generated from the declarations (``python -m
    feedsvc.config README.md`` rewrites it; a test compares them)."""
    rows = ["| variable (TOML key: the name in lower case, without the prefix) | default | group | meaning |",
            "|---|---|---|---|"]
    for f in sorted(SETTINGS, key=lambda f: GROUPS.index(f.metadata["group"])):
        default = default_text(f.default)
        rows.append(f"| `{env_name(f.name)}` | {f'`{default}`' if default else '(empty)'} | {f.metadata['group']} | {f.metadata['help']} |")
    return "\n".join(rows)


TABLE_START, TABLE_END = "<!-- settings table: generated from feedsvc/config.py -->", "<!-- end of settings table -->"


def rewrite_readme(path: str) -> None:
    with open(path, encoding="utf-8") as fh:
        text = fh.read()
    head, _, rest = text.partition(TABLE_START)
    _, _, tail = rest.partition(TABLE_END)
    with open(path, "w", encoding="utf-8") as fh:
        fh.write(f"{head}{TABLE_START}\n{settings_table()}\n{TABLE_END}{tail}")


def default_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, tuple):
        return ",".join(str(v) for v in value)
    return str(value)


if __name__ == "__main__":
    rewrite_readme(sys.argv[1])
