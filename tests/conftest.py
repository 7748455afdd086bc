"""Shared fixtures.

Real MNIST is found through the environment variable ``RAM_DATA_DIR`` (default: ``./data``); when it is not there
and a shared offline copy sits beside the repository (``../shared/datasets/MNIST``), it is copied in first.
Fashion-MNIST through ``RAM_FASHION_DIR`` (default ``/usr/share/datasets/fashion-mnist``, Debian's
``dataset-fashion-mnist``).

A test whose data is missing is skipped, with a reason that says how to provide the data. Where every dataset is
installed (CI sets ``RAM_REQUIRE_DATA=1``), it fails instead, so that no test is silently left out there.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import NoReturn

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent
SHARED_MNIST = REPO_ROOT.parent / "shared" / "datasets" / "MNIST"
MNIST_FILES = (
    "train-images-idx3-ubyte.gz",
    "train-labels-idx1-ubyte.gz",
    "t10k-images-idx3-ubyte.gz",
    "t10k-labels-idx1-ubyte.gz",
)
# Set (to anything but 0) where every dataset is installed: missing data then fails the tests that need it.
REQUIRE_DATA = "RAM_REQUIRE_DATA"


def missing_data(reason: str) -> NoReturn:
    """Skips the running test for ``reason`` (what is missing, how to provide it); fails it under ``REQUIRE_DATA``."""
    if os.environ.get(REQUIRE_DATA, "0") != "0":
        pytest.fail(f"{reason} [{REQUIRE_DATA} is set: missing data is an error here]", pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="session")
def data_dir() -> Path:
    """Directory holding ``MNIST/raw/`` with the four genuine MNIST files."""
    root = Path(os.environ.get("RAM_DATA_DIR", REPO_ROOT / "data")).resolve()
    raw = root / "MNIST" / "raw"
    missing = [name for name in MNIST_FILES if not (raw / name).is_file()]
    if missing and (SHARED_MNIST / "raw").is_dir():
        shutil.copytree(SHARED_MNIST, root / "MNIST", dirs_exist_ok=True)
        for path in (root / "MNIST").rglob("*"):
            path.chmod(path.stat().st_mode | 0o200)  # writable: torchvision extracts next to the archives
        missing = [name for name in MNIST_FILES if not (raw / name).is_file()]
    if missing:
        missing_data(
            f"real MNIST not found in {raw} (missing {', '.join(missing)}): copy the MNIST folder there "
            "(e.g. `cp -r ../shared/datasets/MNIST data/`), point RAM_DATA_DIR at a directory that has it, or, with "
            f"a network, download it: `python -c \"import torchvision; torchvision.datasets.MNIST('{root}', "
            'download=True)"`'
        )
    return root


FASHION_DEFAULT_DIR = Path("/usr/share/datasets/fashion-mnist")


@pytest.fixture(scope="session")
def fashion_data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A data directory holding ``FashionMNIST/raw/`` with the four Fashion-MNIST files.

    The files are copied from ``RAM_FASHION_DIR`` (default: ``/usr/share/datasets/fashion-mnist``, where Debian's
    package ``dataset-fashion-mnist`` installs them), as archives or extracted, into a fresh temporary directory.
    """
    source = Path(os.environ.get("RAM_FASHION_DIR", FASHION_DEFAULT_DIR))
    found = {}
    for name in MNIST_FILES:
        for candidate in (source / name, source / name.removesuffix(".gz")):
            if candidate.is_file():
                found[name] = candidate
                break
    missing = [name for name in MNIST_FILES if name not in found]
    if missing:
        missing_data(
            f"Fashion-MNIST not found in {source} (missing {', '.join(missing)}): run "
            "`apt-get install -y dataset-fashion-mnist`, point RAM_FASHION_DIR at a folder holding the four files, "
            'or, with a network, download them: `python -c "import torchvision; '
            "torchvision.datasets.FashionMNIST('data', download=True)\"` and set RAM_FASHION_DIR=data/FashionMNIST/raw"
        )
    root = tmp_path_factory.mktemp("fashion_data")
    raw = root / "FashionMNIST" / "raw"
    raw.mkdir(parents=True)
    for path in found.values():
        shutil.copy(path, raw / path.name)
    return root
