"""Debian tools the deployment tests run (nginx, systemd-analyze), installed when missing.

Standard library only; bench/nginx_cache.py uses it too.
"""

from __future__ import annotations

import os
import shutil
import subprocess

SBIN = ("/usr/sbin", "/sbin")


def which(command: str) -> str | None:
    """``command`` on PATH or in an sbin folder (not on a non-root PATH on Debian)."""
    found = shutil.which(command)
    for folder in SBIN:
        candidate = os.path.join(folder, command)
        if found is None and os.access(candidate, os.X_OK):
            found = candidate
    return found


def ensure_command(command: str, package: str) -> str | None:
    """The path of ``command``; when missing, Debian's ``package`` is installed with apt-get
    (root only, lists updated if the first attempt fails). None when it cannot be had."""
    if (found := which(command)) is not None:
        return found
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        return None
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    install = ["apt-get", "install", "-y", "--no-install-recommends", package]
    if subprocess.run(install, env=env, capture_output=True, check=False).returncode != 0:
        subprocess.run(["apt-get", "update"], env=env, capture_output=True, check=False)
        subprocess.run(install, env=env, capture_output=True, check=False)
    return which(command)
