"""A user's own images in torchvision's ``ImageFolder`` layout, resized and held in memory as uint8 tensors."""

from __future__ import annotations

from functools import partial
from pathlib import Path

import torch
from PIL import Image
from torchvision import transforms
from torchvision.datasets import ImageFolder
from torchvision.datasets.folder import IMG_EXTENSIONS

from ram_lightning.data.sources import ImageSet, ImageSource
from ram_lightning.errors import DataError

SPLITS = {True: "train", False: "test"}
MODES = {1: "L", 3: "RGB"}


class ImageFolderSource(ImageSource):
    """Images of ``<root>/train/<class>/*`` and ``<root>/test/<class>/*`` (any format Pillow reads).

    Classes are the sub-folders of ``train/``, in alphabetical order; ``test/`` may lack some of them but may not
    add others. Every image is converted to grayscale (``channels=1``) or RGB (``channels=3``), its shorter side
    resized to ``image_size`` and its centre cropped to ``image_size x image_size`` (the aspect ratio is kept).
    A split is decoded once, when it is loaded, into an ``(N, C, image_size, image_size)`` uint8 tensor.

    Args:
        root: the folder holding ``train/`` and ``test/``.
        channels: ``1`` (grayscale) or ``3`` (RGB).
        image_size: side of the square images after resizing.

    Raises:
        DataError: ``root/train`` is missing or has no class folder.
    """

    def __init__(self, root: str | Path, channels: int = 3, image_size: int = 64) -> None:
        if channels not in MODES:
            raise ValueError(f"channels must be 1 (grayscale) or 3 (RGB), got {channels}")
        if image_size < 1:
            raise ValueError(f"image_size must be >= 1, got {image_size}")
        self.root = Path(root).expanduser()
        self.channels = channels
        self.image_size = image_size
        if not self.root.is_dir():
            raise DataError(
                f"image folder {self.root} does not exist: data.data_dir must be the folder holding "
                "train/<class>/<image> and test/<class>/<image>"
            )
        self.classes = _class_folders(self.root / SPLITS[True])
        if not self.classes:
            raise DataError(
                f"no class folder in {self.root / 'train'}: put each class's images in its own sub-folder, "
                f"e.g. {self.root / 'train' / 'cat' / '001.png'}"
            )
        self.num_classes = len(self.classes)
        self.class_to_idx = {name: index for index, name in enumerate(self.classes)}

    def prepare(self) -> None:
        """Lists both splits' files, so that an empty or ill-formed folder is reported before any decoding."""
        for train in (True, False):
            self._folder(train)

    def load(self, train: bool) -> ImageSet:
        """Decodes every image of the split: images ``(N, channels, image_size, image_size)`` uint8, labels ``(N,)``."""
        folder = self._folder(train)
        images = torch.empty(len(folder), self.channels, self.image_size, self.image_size, dtype=torch.uint8)
        for index, (path, _) in enumerate(folder.samples):
            try:
                images[index] = folder[index][0]  # (C, S, S)
            except Exception as error:  # Pillow raises UnidentifiedImageError, OSError, SyntaxError, ValueError...
                raise DataError(
                    f"unreadable image {path} ({type(error).__name__}: {error}); delete or replace it"
                ) from error
        return ImageSet(images, torch.as_tensor(folder.targets, dtype=torch.long))

    def _folder(self, train: bool) -> ImageFolder:
        """torchvision's ``ImageFolder`` over one split, with the classes of ``train/`` and the resizing transform.

        Raises:
            DataError: the split's folder is missing, holds an unknown class, or has no image at all.
        """
        directory = self.root / SPLITS[train]
        if not directory.is_dir():
            raise DataError(
                f"missing folder {directory}: an image folder dataset needs {self.root}/train/<class>/<image> and "
                f"{self.root}/test/<class>/<image> (data.data_dir is the folder holding train/ and test/)"
            )
        unknown = sorted(set(_class_folders(directory)) - set(self.classes))
        if unknown:
            raise DataError(f"{directory} has classes that {self.root / 'train'} lacks: {', '.join(unknown)}")
        try:
            folder = _FixedClassFolder(
                str(directory),
                classes=self.classes,
                transform=square_transform(self.image_size),
                loader=partial(_open_image, mode=MODES[self.channels]),
                allow_empty=not train,  # a test split may lack some classes; every training class needs images
            )
        except FileNotFoundError as error:  # a training class without any image
            raise DataError(f"{directory}: {error}") from error
        if len(folder) == 0:
            raise DataError(f"no image in {directory} (extensions read: {', '.join(IMG_EXTENSIONS)})")
        return folder


class _FixedClassFolder(ImageFolder):
    """``ImageFolder`` whose class indices come from a given list (those of the training split)."""

    def __init__(self, root: str, classes: list[str], **kwargs) -> None:
        self._given_classes = classes
        super().__init__(root, **kwargs)

    def find_classes(self, directory: str | Path) -> tuple[list[str], dict[str, int]]:
        return self._given_classes, {name: index for index, name in enumerate(self._given_classes)}


def square_transform(size: int) -> transforms.Compose:
    """Pillow image -> ``(C, size, size)`` uint8 tensor: the shorter side resized to ``size`` (bilinear,
    antialiased), the centre cropped to a square."""
    return transforms.Compose([transforms.Resize(size), transforms.CenterCrop(size), transforms.PILToTensor()])


def _class_folders(directory: Path) -> list[str]:
    """Sorted names of the sub-folders of ``directory`` (empty if it does not exist)."""
    if not directory.is_dir():
        return []
    return sorted(entry.name for entry in directory.iterdir() if entry.is_dir() and not entry.name.startswith("."))


def _open_image(path: str, mode: str) -> Image.Image:
    """Reads an image file into memory, converted to ``mode`` (``"L"`` or ``"RGB"``)."""
    with open(path, "rb") as file:
        return Image.open(file).convert(mode)
