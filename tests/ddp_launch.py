"""Runs a script that trains with several CPU processes, and reads the ``RESULT <json>`` line it prints."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest


def run_ddp_script(script: Path, *args: str, timeout: int = 240, unseeded: bool = False) -> Any:
    """Runs ``script`` with ``args`` in a fresh Python (one thread a process) and returns its parsed ``RESULT``;
    fails the test with the script's output if it exits with an error or prints none. ``unseeded`` removes the
    ``PL_GLOBAL_SEED`` an earlier test may have left in this process's environment."""
    env = {key: value for key, value in os.environ.items() if not (unseeded and key == "PL_GLOBAL_SEED")}
    env.update(OMP_NUM_THREADS="1", PYTHONWARNINGS="ignore")
    done = subprocess.run(
        [sys.executable, str(script), *args], capture_output=True, text=True, timeout=timeout, env=env
    )
    lines = [line for line in done.stdout.splitlines() if line.startswith("RESULT ")]
    if done.returncode != 0 or not lines:
        pytest.fail(f"DDP run failed (exit {done.returncode}):\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
    return json.loads(lines[0].removeprefix("RESULT "))
