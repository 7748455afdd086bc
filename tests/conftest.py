"""Shared fixtures. Real data is found through the environment variable ``RAM_DATA_DIR`` (default: ``./data``)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent
MNIST_FILES = (
    "train-images-idx3-ubyte.gz",
    "train-labels-idx1-ubyte.gz",
    "t10k-images-idx3-ubyte.gz",
    "t10k-labels-idx1-ubyte.gz",
)


@pytest.fixture(scope="session")
def data_dir() -> Path:
    """Directory holding ``MNIST/raw/`` with the four genuine MNIST files."""
    root = Path(os.environ.get("RAM_DATA_DIR", REPO_ROOT / "data")).resolve()
    raw = root / "MNIST" / "raw"
    missing = [name for name in MNIST_FILES if not (raw / name).is_file()]
    if missing:
        pytest.fail(
            f"real MNIST not found in {raw} (missing {', '.join(missing)}): copy the MNIST folder there "
            "(e.g. `cp -r ../shared/datasets/MNIST data/`) or point RAM_DATA_DIR at a directory that has it"
        )
    return root
