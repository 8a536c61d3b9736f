"""Settings: defaults < TOML file (FEEDSVC_CONFIG) < FEEDSVC_* environment < create_app's dict;
declared types are kept (a title typed as 2022 stays "2022"); bad values are clear errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from feedsvc.app import create_app
from feedsvc.config import ConfigError


def settings_of(monkeypatch: pytest.MonkeyPatch, env: dict[str, str], test: dict[str, object] | None = None):  # type: ignore[no-untyped-def]
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    app = create_app({"TESTING": True, "BUILD_WORKERS": 1, "NOTIFY": False, **(test or {})})
    return app.config["SETTINGS"]


def test_toml_file_then_environment_then_test_config(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, content_dir: Path) -> None:
    toml = tmp_path / "feedsvc.toml"
    toml.write_text(
        f'content_dir = "{content_dir}"\ntitle = "From TOML"\nfeed_limit = 7\nlanguage = "zh-CN"\n'
        'websub_hubs = ["https://hub.example/"]\n',
        encoding="utf-8",
    )
    s = settings_of(monkeypatch, {"FEEDSVC_CONFIG": str(toml), "FEEDSVC_FEED_LIMIT": "9"}, {"LANGUAGE": "fr"})
    assert (s.title, s.feed_limit, s.language, s.websub_hubs) == ("From TOML", 9, "fr", ("https://hub.example/",))


@pytest.mark.parametrize("raw", ["2022", "1e3", "true", "null", '"quoted"', "01"])
def test_string_settings_stay_as_typed(monkeypatch: pytest.MonkeyPatch, content_dir: Path, raw: str) -> None:
    """from_prefixed_env JSON-decodes values; a declared string must not become 1000.0 or True."""
    s = settings_of(monkeypatch, {"FEEDSVC_TITLE": raw, "FEEDSVC_CONTENT_DIR": str(content_dir)})
    assert s.title == raw


def test_typed_settings_from_environment(monkeypatch: pytest.MonkeyPatch, content_dir: Path) -> None:
    s = settings_of(monkeypatch, {
        "FEEDSVC_CONTENT_DIR": str(content_dir), "FEEDSVC_RELOAD_INTERVAL": "0.5", "FEEDSVC_WATCH": "yes",
        "FEEDSVC_RETRY_SCHEDULE": "1, 2,3", "FEEDSVC_SITE_URL": "https://example.org/blog/",
    })
    assert (s.reload_interval, s.watch, s.retry_schedule) == (0.5, True, (1, 2, 3))
    assert s.site_url == "https://example.org/blog"  # one form: no trailing slash


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("FEEDSVC_SITE_URL", "example.org", r"absolute http\(s\) URL"),
        ("FEEDSVC_TIMEZONE", "Mars/Olympus", "unknown time zone"),
        ("FEEDSVC_FEED_LIMIT", "many", "FEEDSVC_FEED_LIMIT"),
        ("FEEDSVC_FEED_LIMIT", "0", "at least 1"),
        ("FEEDSVC_WATCH", "maybe", "not a boolean"),
        ("FEEDSVC_PERMALINK", "/{year}/{nope}/{slug}/", "bad placeholder"),
        ("FEEDSVC_MAX_REMOVAL_RATIO", "2", "MAX_REMOVAL_RATIO"),
    ],
)
def test_bad_values_are_clear_errors(monkeypatch: pytest.MonkeyPatch, content_dir: Path, name: str, value: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        settings_of(monkeypatch, {name: value, "FEEDSVC_CONTENT_DIR": str(content_dir)})


def test_unreadable_toml_is_a_clear_error(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("title = \n", encoding="utf-8")
    with pytest.raises(ConfigError, match="FEEDSVC_CONFIG"):
        settings_of(monkeypatch, {"FEEDSVC_CONFIG": str(bad)})
    with pytest.raises(ConfigError, match="cannot read"):
        settings_of(monkeypatch, {"FEEDSVC_CONFIG": str(tmp_path / "missing.toml")})


def test_environment_overrides_the_file_for_tuning_knobs_too(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, content_dir: Path) -> None:
    """Every setting, tuning included, goes through one loader: the file's 7 loses to the
    environment's 3, and the push machinery reads the result."""
    toml = tmp_path / "feedsvc.toml"
    toml.write_text(f'content_dir = "{content_dir}"\nnotify_concurrency = 7\nnotify_poll_seconds = 0.5\n', encoding="utf-8")
    monkeypatch.setenv("FEEDSVC_CONFIG", str(toml))
    monkeypatch.setenv("FEEDSVC_NOTIFY_CONCURRENCY", "3")
    app = create_app({"TESTING": True, "BUILD_WORKERS": 1, "DATABASE_URL": f"sqlite:///{tmp_path / 's.db'}"})
    settings = app.config["SETTINGS"]
    assert (settings.notify_concurrency, settings.notify_poll_seconds) == (3, 0.5)
    notifier = app.extensions["feedsvc.notify"]
    try:
        assert notifier.dispatcher.concurrency == 3
    finally:
        notifier.close()


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("FEEDSVC_NOTIFY_CONCURRENCY", "0", "FEEDSVC_NOTIFY_CONCURRENCY must be at least 1"),
        ("FEEDSVC_NOTIFY_LEASE_SECONDS", "-1", "FEEDSVC_NOTIFY_LEASE_SECONDS must be greater than 0"),
        ("FEEDSVC_NOTIFY_POLL_SECONDS", "nan", "not a finite number"),
        ("FEEDSVC_WEBSUB_RATE_LIMIT", "1.5", "FEEDSVC_WEBSUB_RATE_LIMIT"),
        ("FEEDSVC_LOG_LEVEL", "LOUD", "unknown log level"),
        ("FEEDSVC_WEBHOOKS", "[]", "only be set in the TOML file"),
    ],
)
def test_bad_tuning_values_are_refused_at_start(monkeypatch: pytest.MonkeyPatch, content_dir: Path, name: str, value: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        settings_of(monkeypatch, {name: value, "FEEDSVC_CONTENT_DIR": str(content_dir)})


def test_unknown_toml_key_is_refused(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    toml = tmp_path / "typo.toml"
    toml.write_text('titel = "x"\n', encoding="utf-8")
    with pytest.raises(ConfigError, match="unknown setting.*titel"):
        settings_of(monkeypatch, {"FEEDSVC_CONFIG": str(toml)})


def test_settings_load_without_flask(tmp_path: Path) -> None:
    """The CLI and the push machinery read the same Settings without building a Flask app."""
    import subprocess
    import sys

    code = ("import sys; from feedsvc.config import load_settings; s = load_settings({'notify_concurrency': '4'});"
            "import feedsvc.service, feedsvc.notify, feedsvc.notify.commands;"
            "assert s.notify_concurrency == 4; print(sorted(m for m in sys.modules if m.split('.')[0] == 'flask'))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=tmp_path)
    assert out.stdout.strip() == "[]"
