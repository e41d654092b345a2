"""Fixtures of the monitoring checks: promtool and prometheus, installed when missing."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def prometheus_tool(name: str) -> str:
    """``promtool`` or ``prometheus`` from Debian's ``prometheus`` package, installed if missing.

    A fresh CI machine may not have it: the tests install it rather than skip.
    """
    found = shutil.which(name)
    if found is None:
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        for command in (
            ["apt-get", "update"],
            ["apt-get", "install", "-y", "--no-install-recommends", "prometheus"],
        ):
            subprocess.run(command, check=True, env=env, capture_output=True, timeout=600)
        found = shutil.which(name)
    assert found is not None, f"{name} is still missing after installing Debian's prometheus"
    return found


@pytest.fixture(scope="session")
def promtool() -> str:
    """The path of promtool."""
    return prometheus_tool("promtool")
