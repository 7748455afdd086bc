"""What every base dataset provides: its shape, known before loading, and its splits as in-memory uint8 tensors."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import NamedTuple

from torch import Tensor


class ImageSet(NamedTuple):
    """A split held in memory: ``images`` ``(N, C, H, W)`` uint8 and ``labels`` ``(N,)`` int64."""

    images: Tensor
    labels: Tensor


class ImageSource(ABC):
    """A base dataset with a training and a test split of square images.

    ``num_classes``, ``channels`` and ``image_size`` are known as soon as the source is built (from the dataset's
    definition or a scan of its folders, without decoding images), so that a configuration is checked, and the
    model built, before any data is read.

    Attributes:
        num_classes: number of classes.
        channels: image channels ``C``.
        image_size: side ``H = W`` of the images.
    """

    num_classes: int
    channels: int
    image_size: int

    @abstractmethod
    def prepare(self) -> None:
        """Makes sure both splits can be loaded (checks, downloads or extracts files); called once per machine.

        Raises:
            DataError: the files are missing, corrupt or unreadable; the message says how to provide them.
        """

    @abstractmethod
    def load(self, train: bool) -> ImageSet:
        """Loads the official training split (``train=True``) or the test split into memory.

        Returns:
            An :class:`ImageSet` with images ``(N, channels, image_size, image_size)``.

        Raises:
            DataError: the files are missing, corrupt or unreadable.
        """
