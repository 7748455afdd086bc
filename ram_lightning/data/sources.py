"""Base datasets loaded into memory as uint8 tensors, with errors that say how to provide missing data."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import NamedTuple

from torch import Tensor
from torchvision import datasets

from ram_lightning.errors import DataError

# Torchvision classes of the MNIST family: same four-file layout, read whole into memory.
MNIST_FAMILY: dict[str, type[datasets.MNIST]] = {
    "mnist": datasets.MNIST,
    "fashion_mnist": datasets.FashionMNIST,
    "kmnist": datasets.KMNIST,
}


class ImageSet(NamedTuple):
    """A split held in memory: ``images`` ``(N, C, H, W)`` uint8 and ``labels`` ``(N,)`` int64."""

    images: Tensor
    labels: Tensor


def load_mnist_family(name: str, data_dir: str | Path, train: bool, download: bool) -> ImageSet:
    """Loads one split of MNIST, Fashion-MNIST or KMNIST through torchvision.

    Args:
        name: one of ``"mnist"``, ``"fashion_mnist"``, ``"kmnist"``.
        data_dir: root directory; files live in ``<data_dir>/<ClassName>/raw/``.
        train: the official training split (60,000 images) or test split (10,000 images).
        download: let torchvision download missing files.

    Returns:
        The split as an :class:`ImageSet` with ``C = 1``.

    Raises:
        DataError: the files are missing and could not be downloaded, or are corrupt.
    """
    if name not in MNIST_FAMILY:
        raise ValueError(f"unknown dataset {name!r}; choose one of {sorted(MNIST_FAMILY)}")
    dataset_class = MNIST_FAMILY[name]
    raw_dir = Path(data_dir) / dataset_class.__name__ / "raw"
    corrupt = _corrupt_archives(dataset_class, raw_dir)
    if corrupt:
        raise DataError(
            f"corrupt {dataset_class.__name__} files in {raw_dir}: {', '.join(corrupt)} (md5 differs from the "
            "published files). Delete them and the files extracted from them, then provide genuine copies "
            "(or set download: true with network access)."
        )
    try:
        dataset = dataset_class(str(data_dir), train=train, download=download)
        images, labels = dataset.data, dataset.targets
    except Exception as error:  # torchvision raises RuntimeError, URLError, AssertionError, OSError, EOFError...
        raise DataError(_missing_message(dataset_class, raw_dir, download, error)) from error
    if images.ndim != 3 or images.shape[0] != labels.shape[0] or images.shape[0] == 0:
        raise DataError(
            f"unreadable {dataset_class.__name__} files in {raw_dir}: got images {tuple(images.shape)} and "
            f"labels {tuple(labels.shape)}. Delete the extracted files (without .gz) so they are extracted again."
        )
    return ImageSet(images.unsqueeze(1).contiguous(), labels.long())


def _corrupt_archives(dataset_class: type[datasets.MNIST], raw_dir: Path) -> list[str]:
    """Names of the ``.gz`` archives present in ``raw_dir`` whose md5 is not the published one."""
    corrupt = []
    for filename, md5 in dataset_class.resources:
        path = raw_dir / filename
        if path.is_file() and hashlib.md5(path.read_bytes()).hexdigest() != md5:
            corrupt.append(filename)
    return corrupt


def _missing_message(dataset_class: type[datasets.MNIST], raw_dir: Path, download: bool, error: Exception) -> str:
    """Explains which files were expected where, which are missing or unreadable, and how to provide them."""
    lines = [f"could not load {dataset_class.__name__} from {raw_dir} ({type(error).__name__}: {error})".strip()]
    lines.append("expected files (an archive, or the file extracted from it):")
    missing = False
    for filename, _ in dataset_class.resources:
        archive = raw_dir / filename
        present = archive.is_file() or archive.with_suffix("").is_file()
        missing |= not present
        lines.append(f"  {filename:<32} {'present' if present else 'MISSING'}")
    if missing:
        lines.append(
            f"to fix: copy the four files into {raw_dir}"
            + ("" if download else ", or set data.download: true with network access")
            + "; offline, copy a local copy of the dataset there (see the README, section 'Data')."
        )
    else:
        lines.append(
            "the files are there but cannot be read (truncated or corrupt): delete the extracted files (the names "
            "without .gz) so they are extracted again from the archives, or replace all of them with genuine copies."
        )
    return "\n".join(lines)
