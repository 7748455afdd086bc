"""Missing, corrupt and truncated dataset files give errors that say what is wrong and how to fix it."""

import shutil
from pathlib import Path

import pytest

from ram_lightning.data.sources import load_mnist_family
from ram_lightning.errors import DataError


@pytest.fixture
def mnist_copy(data_dir: Path, tmp_path: Path) -> Path:
    """A private copy of the MNIST archives (no extracted files) that a test may damage."""
    raw = tmp_path / "MNIST" / "raw"
    raw.mkdir(parents=True)
    for archive in (data_dir / "MNIST" / "raw").glob("*.gz"):
        shutil.copy(archive, raw / archive.name)
    return tmp_path


def test_missing_files_are_listed_with_the_directory(tmp_path):
    with pytest.raises(DataError) as info:
        load_mnist_family("mnist", tmp_path, train=True, download=False)
    message = str(info.value)
    assert str(tmp_path / "MNIST" / "raw") in message
    assert message.count("MISSING") == 4
    assert "data.download: true" in message


def test_corrupt_archive_is_named(mnist_copy):
    archive = mnist_copy / "MNIST" / "raw" / "train-labels-idx1-ubyte.gz"
    archive.write_bytes(archive.read_bytes()[:1000])
    with pytest.raises(DataError, match=r"corrupt MNIST files .*train-labels-idx1-ubyte.gz.*md5"):
        load_mnist_family("mnist", mnist_copy, train=True, download=True)


def test_truncated_extracted_file_says_to_extract_again(mnist_copy):
    load_mnist_family("mnist", mnist_copy, train=False, download=True)  # extracts the test files
    extracted = mnist_copy / "MNIST" / "raw" / "t10k-images-idx3-ubyte"
    extracted.write_bytes(extracted.read_bytes()[:5000])
    with pytest.raises(DataError, match="cannot be read .*delete the extracted files"):
        load_mnist_family("mnist", mnist_copy, train=False, download=False)


def test_genuine_files_load_with_the_expected_shapes(mnist_copy):
    images, labels = load_mnist_family("mnist", mnist_copy, train=False, download=True)
    assert images.shape == (10_000, 1, 28, 28) and images.dtype.is_floating_point is False
    assert labels.shape == (10_000,) and set(labels.unique().tolist()) == set(range(10))
