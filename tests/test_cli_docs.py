"""`feedsvc check`, and every setting documented in the README."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from conftest import EDGE_CONTENT, ROOT, post_text, write_file

from feedsvc.config import SETTINGS, TABLE_END, TABLE_START, settings_table

BAD = sorted(p.name for p in EDGE_CONTENT.glob("bad-*"))


def test_check_prints_one_line_per_bad_post_and_exits_1(cli: Any) -> None:
    result = cli("check", str(EDGE_CONTENT))
    assert result.exit_code == 1
    lines = result.stdout.splitlines()
    errors = [line for line in lines if ": warning: " not in line]
    assert [line.split(": ", 1)[0] for line in errors] == BAD
    for line in errors:
        path, reason = line.split(": ", 1)
        assert reason and (EDGE_CONTENT / path).exists()
    warnings = [line for line in lines if ": warning: " in line]
    assert any(line.startswith("duplicate-id-b.md: warning: duplicate id") for line in warnings)
    assert "Traceback" not in result.output


def test_check_exits_0_on_a_good_folder(cli: Any, tmp_path: Path) -> None:
    write_file(tmp_path, "a.md", post_text(title="A"))
    write_file(tmp_path, "sub/b.markdown", post_text(title="B", date="2024-02-02"))
    write_file(tmp_path, ".ignored.md", "not a post")
    result = cli("check", str(tmp_path))
    assert result.exit_code == 0, result.output
    assert result.stdout == ""


def test_check_reads_the_configured_folder(cli: Any, tmp_path: Path) -> None:
    write_file(tmp_path, "bad.md", "no front matter\n")
    result = cli("check", env={"FEEDSVC_CONTENT_DIR": str(tmp_path)})
    assert result.exit_code == 1 and result.stdout.startswith("bad.md: no front matter")


@pytest.mark.parametrize("folder", ["missing-folder", "a-file.md"])
def test_check_on_a_missing_folder_is_a_clear_error(cli: Any, tmp_path: Path, folder: str) -> None:
    write_file(tmp_path, "a-file.md", post_text())
    result = cli("check", str(tmp_path / folder))
    assert result.exit_code not in (0, None)
    assert "Traceback" not in result.output and folder in result.output


def test_check_with_a_bad_setting_is_a_clear_error(cli: Any, tmp_path: Path) -> None:
    result = cli("check", str(tmp_path), env={"FEEDSVC_TIMEZONE": "Mars/Olympus"})
    assert result.exit_code != 0 and "FEEDSVC_TIMEZONE" in result.output


def test_check_console_script_in_a_real_process(tmp_path: Path) -> None:
    shutil.copytree(EDGE_CONTENT, tmp_path / "c", symlinks=True)
    exe = ROOT / ".venv" / "bin" / "feedsvc"
    if not exe.exists():
        pytest.skip("the feedsvc console script is not installed in .venv")
    env = {k: v for k, v in os.environ.items() if not k.startswith("FEEDSVC_")}
    proc = subprocess.run([str(exe), "check", str(tmp_path / "c")], capture_output=True, text=True, env=env,
                          timeout=120)
    assert proc.returncode == 1
    assert len([ln for ln in proc.stdout.splitlines() if ": warning: " not in ln]) == len(BAD)
    for bad in BAD:
        (tmp_path / "c" / bad).unlink(missing_ok=True)
    proc = subprocess.run([str(exe), "check", str(tmp_path / "c")], capture_output=True, text=True, env=env,
                          timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr


# ---------------------------------------------------------------- README


def test_the_readme_settings_table_is_generated_from_the_declarations() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    block = readme.split(TABLE_START, 1)[1].split(TABLE_END, 1)[0].strip()
    assert block == settings_table(), "README.md's settings table is stale: run python -m feedsvc.config README.md"
    for field in SETTINGS:
        assert f"| `FEEDSVC_{field.name.upper()}` |" in block


def _hostile_names(folder: Path) -> None:
    raw = os.fsencode(folder)
    for name, data in ((b"caf\xe9.md", post_text(title="Latin-1 name")), (b"bad caf\xe9.md", "no front matter\n"),
                       (b"new\nline.md", "no front matter\n"), (b"good\nline.md", post_text(title="Newline name")),
                       ("控制\x01字符.md".encode(), post_text(title="Control name"))):
        with open(raw + b"/" + name, "wb") as fh:
            fh.write(data.encode())


def test_file_names_that_are_not_utf8_or_have_control_characters(cli: Any, make_app: Any, content_dir: Path) -> None:
    """The OS hands undecodable names over as surrogate escapes: they must not crash the build,
    /healthz or `feedsvc check`, and each problem stays on one line."""
    _hostile_names(content_dir)
    result = cli("check", str(content_dir))
    assert result.exit_code == 1
    assert result.stdout.splitlines() == ["bad caf\\xe9.md: no front matter (the first line must be --- or +++)",
                                          "new\\x0aline.md: no front matter (the first line must be --- or +++)"]
    client = make_app().test_client()
    health = client.get("/healthz")
    assert health.status_code == 200
    assert {e["path"] for e in health.get_json()["errors"]} == {"bad caf\\xe9.md", "new\\x0aline.md"}
    rss = client.get("/rss.xml")
    assert rss.status_code == 200 and rss.data.count(b"<item>") == 3
    assert client.get("/").status_code == 200
