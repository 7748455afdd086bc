"""MNIST, Fashion-MNIST and KMNIST through torchvision, read whole into memory, with errors that say how to fix them."""

from __future__ import annotations

import gzip
import hashlib
import os
import shutil
from pathlib import Path

from torchvision import datasets

from ram_lightning.data.sources import ImageSet, ImageSource
from ram_lightning.errors import DataError

# Torchvision classes of the MNIST family: same four-file layout in <data_dir>/<ClassName>/raw/.
MNIST_FAMILY: dict[str, type[datasets.MNIST]] = {
    "mnist": datasets.MNIST,
    "fashion_mnist": datasets.FashionMNIST,
    "kmnist": datasets.KMNIST,
}

# Archives that hold the published data under another compression: their md5 differs from the one torchvision
# checks, the files extracted from them do not. Debian's package dataset-fashion-mnist recompresses the four
# Fashion-MNIST archives (each 24 bytes shorter: no file name in the gzip header).
REPACKAGED_MD5: dict[str, dict[str, str]] = {
    "FashionMNIST": {
        "train-images-idx3-ubyte.gz": "cf8536b0aa1a6ac5fa3f23001093305c",
        "train-labels-idx1-ubyte.gz": "10bea18fdb374794d4bb42e356e600c9",
        "t10k-images-idx3-ubyte.gz": "f78720b4224f21cce2f2ccf2d7a94c9a",
        "t10k-labels-idx1-ubyte.gz": "0d30e22e447f3c33dab9ed536400ac01",
    },
}


class MNISTFamily(ImageSource):
    """One of MNIST, Fashion-MNIST, KMNIST: 10 classes of 28x28 grayscale images, 60,000 train and 10,000 test.

    Files are looked for in ``<data_dir>/<ClassName>/raw/`` (``MNIST``, ``FashionMNIST``, ``KMNIST``), as the four
    ``.gz`` archives or the files extracted from them. Archives are checked (md5) and extracted here, so offline
    copies work without ``download``; with ``download`` torchvision fetches what is missing.

    Args:
        name: ``"mnist"``, ``"fashion_mnist"`` or ``"kmnist"``.
        data_dir: root directory of the datasets.
        download: let torchvision download missing files (needs network access).
    """

    num_classes = 10
    channels = 1
    image_size = 28

    def __init__(self, name: str, data_dir: str | Path, download: bool = False) -> None:
        if name not in MNIST_FAMILY:
            raise ValueError(f"unknown dataset {name!r}; choose one of {sorted(MNIST_FAMILY)}")
        self.name = name
        self.data_dir = Path(data_dir)
        self.download = download
        self.dataset_class = MNIST_FAMILY[name]
        self.raw_dir = self.data_dir / self.dataset_class.__name__ / "raw"

    def prepare(self) -> None:
        """Checks and extracts the archives; downloads missing files if allowed."""
        self._ensure_files()

    def load(self, train: bool) -> ImageSet:
        """The official training split (60,000 images) or test split (10,000), ``C = 1``."""
        self._ensure_files()
        name = self.dataset_class.__name__
        try:
            dataset = self.dataset_class(str(self.data_dir), train=train, download=False)
            images, labels = dataset.data, dataset.targets
        except Exception as error:  # torchvision raises RuntimeError, AssertionError, OSError, ValueError...
            raise DataError(_unreadable_message(self.dataset_class, self.raw_dir, error)) from error
        if images.ndim != 3 or images.shape[0] != labels.shape[0] or images.shape[0] == 0:
            raise DataError(
                f"unreadable {name} files in {self.raw_dir}: got images {tuple(images.shape)} and labels "
                f"{tuple(labels.shape)}. Delete the extracted files (without .gz) so they are extracted again."
            )
        return ImageSet(images.unsqueeze(1).contiguous(), labels.long())

    def _ensure_files(self) -> None:
        """Extracts the archives present; downloads (if allowed) or explains what is still missing."""
        _extract_archives(self.dataset_class, self.raw_dir)
        if all(path.is_file() for path in _extracted_paths(self.dataset_class, self.raw_dir)):
            return
        if not self.download:
            raise DataError(_missing_message(self.dataset_class, self.raw_dir, download=False))
        try:
            self.dataset_class(str(self.data_dir), train=True, download=True)
        except Exception as error:  # no network: URLError, RuntimeError, OSError...
            message = _missing_message(self.dataset_class, self.raw_dir, download=True)
            raise DataError(f"{message}\n(download failed: {type(error).__name__}: {error})".strip()) from error


def load_mnist_family(name: str, data_dir: str | Path, train: bool, download: bool) -> ImageSet:
    """Loads one split of MNIST, Fashion-MNIST or KMNIST (see :class:`MNISTFamily`).

    Returns:
        The split as an :class:`ImageSet`: images ``(N, 1, 28, 28)`` uint8, labels ``(N,)``.

    Raises:
        DataError: the files are missing and could not be downloaded, or are corrupt.
    """
    return MNISTFamily(name, data_dir, download).load(train)


def _extracted_paths(dataset_class: type[datasets.MNIST], raw_dir: Path) -> list[Path]:
    """The four files torchvision reads: the archives' names without ``.gz``."""
    return [raw_dir / Path(filename).stem for filename, _ in dataset_class.resources]


def _extract_archives(dataset_class: type[datasets.MNIST], raw_dir: Path) -> None:
    """Checks every archive present in ``raw_dir`` and extracts those not extracted yet.

    Raises:
        DataError: an archive's md5 is neither the published one nor a known repackaging, or it is truncated.
    """
    name = dataset_class.__name__
    repackaged = REPACKAGED_MD5.get(name, {})
    for filename, md5 in dataset_class.resources:
        archive = raw_dir / filename
        if not archive.is_file():
            continue
        if hashlib.md5(archive.read_bytes()).hexdigest() not in (md5, repackaged.get(filename)):
            raise DataError(
                f"corrupt {name} file {archive} (md5 differs from the published file). Delete it and the file "
                "extracted from it, then provide a genuine copy (or set data.download: true with network access)."
            )
        extracted = archive.with_suffix("")
        if extracted.is_file():
            continue
        partial = extracted.with_name(f"{extracted.name}.{os.getpid()}.partial")
        try:
            with gzip.open(archive, "rb") as source, open(partial, "wb") as target:
                shutil.copyfileobj(source, target)
            partial.replace(extracted)  # atomic: another process never reads a half-written file
        except (OSError, EOFError) as error:
            partial.unlink(missing_ok=True)
            raise DataError(f"could not extract {archive} ({type(error).__name__}: {error}); replace it") from error


def _missing_message(dataset_class: type[datasets.MNIST], raw_dir: Path, download: bool) -> str:
    """Explains which files were expected where, which are missing, and how to provide them."""
    name = dataset_class.__name__
    lines = [f"{name} not found in {raw_dir}", "expected files (an archive, or the file extracted from it):"]
    for filename, _ in dataset_class.resources:
        archive = raw_dir / filename
        state = "present" if archive.is_file() or archive.with_suffix("").is_file() else "MISSING"
        lines.append(f"  {filename:<32} {state}")
    fix = f"to fix: copy the four files into {raw_dir}"
    if not download:
        fix += ", or set data.download: true with network access"
    if name == "FashionMNIST":
        fix += "; offline on Debian/Ubuntu: `apt-get install dataset-fashion-mnist` puts them in "
        fix += "/usr/share/datasets/fashion-mnist/"
    else:
        fix += "; offline, copy a machine's shared copy there (see the README, section 'Data')"
    lines.append(fix)
    return "\n".join(lines)


def _unreadable_message(dataset_class: type[datasets.MNIST], raw_dir: Path, error: Exception) -> str:
    """The files are all there but torchvision cannot parse them (e.g. a truncated extracted file)."""
    return (
        f"could not read {dataset_class.__name__} from {raw_dir} ({type(error).__name__}: {error}). The files are "
        "present but unreadable (truncated or corrupt?): delete the extracted files (without .gz) so they are "
        "extracted again from the archives, or replace them."
    )
