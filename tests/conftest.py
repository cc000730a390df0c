"""Shared test helpers: real config folders and a real ``dgate`` process."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).parent
SAMPLES = HERE / "samples"
REPO = HERE.parent


def run_dgate(args: list[str], cwd: Path, timeout: float = 60, **kw) -> subprocess.CompletedProcess:
    """Run ``python -m dgate`` as a user would, in ``cwd``."""
    env = dict(os.environ, PYTHONPATH=str(REPO), TCP_NODELAY="1")
    return subprocess.run([sys.executable, "-m", "dgate", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=timeout, **kw)


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    """A folder holding the default configuration set."""
    from dgate.config.defaults import create_default_config
    create_default_config(tmp_path)
    return tmp_path


@pytest.fixture(params=["sqlite", "postgres", "mysql", "odbc"])
def driver(request) -> str:
    """Run a test once per database driver (servers from dbdrivers.py)."""
    return request.param
