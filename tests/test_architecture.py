"""The layers are a checked contract: import-linter's contracts in pyproject.toml pass, and the
package root and the core load no web framework, scheduler or feed generator."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import ROOT


def test_import_contracts_are_kept() -> None:
    exe = Path(sys.executable).parent / "lint-imports"
    command = [str(exe)] if exe.exists() else [shutil.which("lint-imports") or "lint-imports"]
    proc = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    assert "BROKEN" not in proc.stdout and "0 broken" in proc.stdout


@pytest.mark.parametrize("module", ["feedsvc", "feedsvc.posts", "feedsvc.config", "feedsvc.index", "feedsvc.loader", "feedsvc.http"])
def test_core_modules_load_no_framework(module: str, tmp_path: Path) -> None:
    code = (
        "import json, logging, sys\n"
        f"import {module}\n"
        "heavy = sorted({m.split('.')[0] for m in sys.modules} & {'flask', 'apscheduler', 'feedgen', 'sqlalchemy'})\n"
        "filters = [f for n in list(logging.root.manager.loggerDict) for f in logging.getLogger(n).filters]\n"
        "print(json.dumps([heavy, len(filters)]))\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path, check=True)
    assert json.loads(proc.stdout) == [[], 0]
