"""A test whose data is missing is skipped, saying how to provide the data, except where RAM_REQUIRE_DATA is set."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
FASHION_TEST = "tests/test_datasets.py::test_fashion_mnist_from_the_debian_package_loads"


def _run(test: str, tmp_path: Path, **env: str) -> subprocess.CompletedProcess:
    """Runs ``test`` in a fresh pytest whose Fashion-MNIST folder is empty."""
    settings = {**os.environ, "RAM_FASHION_DIR": str(tmp_path / "none")}
    settings.pop("RAM_REQUIRE_DATA", None)
    command = [sys.executable, "-m", "pytest", test, "-q", "-rsf", "-p", "no:cacheprovider"]
    return subprocess.run(command, capture_output=True, text=True, cwd=REPO_ROOT, env={**settings, **env}, timeout=300)


def test_missing_data_skips_saying_how_to_provide_it(tmp_path: Path) -> None:
    result = _run(FASHION_TEST, tmp_path)
    assert result.returncode == 0, result.stdout[-3000:]
    assert "1 skipped" in result.stdout
    assert "apt-get install -y dataset-fashion-mnist" in result.stdout and "download=True" in result.stdout


def test_missing_data_fails_where_every_dataset_is_required(tmp_path: Path) -> None:
    result = _run(FASHION_TEST, tmp_path, RAM_REQUIRE_DATA="1")
    assert result.returncode == 1, result.stdout[-3000:]
    assert "1 error" in result.stdout and "RAM_REQUIRE_DATA is set" in result.stdout
