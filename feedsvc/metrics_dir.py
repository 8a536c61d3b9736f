"""The folder of prometheus-client's multiprocess mode, set up before prometheus_client is
imported (it picks its storage at import time): emptied, and named by PROMETHEUS_MULTIPROC_DIR
for this process and every worker it forks."""

from __future__ import annotations

import os

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"


def use_multiprocess_metrics(path: str) -> str:
    os.makedirs(path, exist_ok=True)
    for name in os.listdir(path):
        if name.endswith(".db"):  # stale samples of a previous run would add to the counts
            os.unlink(os.path.join(path, name))
    os.environ[MULTIPROC_ENV] = path
    return path
