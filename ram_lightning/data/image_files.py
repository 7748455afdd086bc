"""A folder of unlabelled image files to predict on, converted and resized to the model's input."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import torch
from PIL import Image
from torch import Tensor
from torch.utils.data import Dataset
from torchvision.datasets.folder import IMG_EXTENSIONS

from ram_lightning.data.folder import MODES, square_transform
from ram_lightning.errors import DataError

# Pillow modes that convert to grayscale or RGB without losing anything but colour: bilevel, 8-bit grayscale,
# palette (without transparency) and RGB. Transparency, CMYK, 16-bit and float pixels are refused.
READABLE_MODES = ("1", "L", "P", "RGB")
# Label of an image without one.
NO_LABEL = -1


class ImageFileDataset(Dataset):
    """The image files directly inside ``folder`` (sorted by name), as the model sees them.

    Every image is converted to grayscale (``channels=1``, ITU-R 601-2 luma for colour images) or RGB
    (``channels=3``, grey replicated), its shorter side resized to ``size`` (bilinear, antialiased) and its centre
    cropped to ``size x size``: the resizing of the image-folder dataset. All files are decoded when the dataset
    is built, so a bad file is reported before any prediction, into an ``(N, channels, size, size)`` uint8 tensor.
    Sub-folders and files of other types are not read. Samples are ``(image (C, S, S) uint8, label)`` with the
    label ``-1`` (none), so that batches look like those of the labelled splits.

    Args:
        folder: the folder holding the images (any format and size Pillow reads: PNG, JPEG, ...).
        channels: ``1`` (grayscale) or ``3`` (RGB): what the model takes.
        size: side of the model's square input.

    Attributes:
        names: ``N`` file names, relative to ``folder``.
        images: ``(N, channels, size, size)`` uint8 images.

    Raises:
        DataError: the folder is missing or has no image file; a file is unreadable, or has transparency or
            pixels that are neither grayscale nor RGB.
    """

    def __init__(self, folder: str | Path, channels: int, size: int) -> None:
        folder = Path(folder).expanduser()
        if not folder.is_dir():
            raise DataError(f"data.predict_dir: {folder} is not a folder; point it at a folder of image files")
        files = sorted(path for path in folder.iterdir() if path.is_file() and not path.name.startswith("."))
        paths = [path for path in files if path.suffix.lower() in IMG_EXTENSIONS]
        if not paths:
            others = f" ({len(files)} files of other types)" if files else ""
            raise DataError(
                f"no image in {folder}{others}: data.predict_dir must hold image files directly "
                f"({', '.join(IMG_EXTENSIONS)}); sub-folders are not read"
            )
        transform = square_transform(size)
        self.names = [path.name for path in paths]
        self.images = torch.empty(len(paths), channels, size, size, dtype=torch.uint8)
        for index, path in enumerate(paths):
            self.images[index] = transform(_read_image(path, channels))  # (C, S, S)
        self.labels = torch.full((len(paths),), NO_LABEL, dtype=torch.long)

    def __len__(self) -> int:
        return len(self.names)

    def __getitem__(self, index: int) -> tuple[Tensor, Tensor, Tensor]:
        """One sample: image ``(C, S, S)`` uint8, label ``()`` (``-1``) and index ``()``."""
        images, labels, indices = self.__getitems__([index])
        return images[0], labels[0], indices[0]

    def __getitems__(self, indices: Sequence[int]) -> tuple[Tensor, Tensor, Tensor]:
        """A batch: images ``(B, C, S, S)`` uint8, labels ``(B,)`` (``-1``) and the files' indices ``(B,)``, which
        seed each image's Monte-Carlo evaluation noise."""
        index = torch.as_tensor(indices, dtype=torch.long)
        return self.images[index], self.labels[index], index


def _read_image(path: Path, channels: int) -> Image.Image:
    """Decodes ``path`` and converts it to grayscale or RGB, refusing pixels that would not convert faithfully."""
    try:
        with Image.open(path) as image:
            image.load()
    except Exception as error:  # Pillow raises UnidentifiedImageError, OSError, SyntaxError, ValueError...
        reason = " ".join(str(error).split())
        raise DataError(f"unreadable image {path} ({type(error).__name__}: {reason}); delete or replace it") from None
    transparent = image.mode == "P" and "transparency" in image.info
    if image.mode not in READABLE_MODES or transparent:
        bands = "".join(image.getbands())
        what = "grayscale (1 channel)" if channels == 1 else "RGB (3 channels)"
        raise DataError(
            f"{path} has {'transparency' if transparent else f'{len(bands)}-channel {image.mode} pixels'}, which a "
            f"model of {what} images cannot take: save it as 8-bit grayscale or RGB, without transparency (alpha)"
        )
    return image.convert(MODES[channels])
