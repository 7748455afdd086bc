"""Datasets, canvas variants and the LightningDataModule."""

from ram_lightning.data.canvas import CanvasGenerator, Placement
from ram_lightning.data.datamodule import DATASETS, RAMDataModule
from ram_lightning.data.dataset import CanvasDataset
from ram_lightning.data.folder import ImageFolderSource
from ram_lightning.data.image_files import ImageFileDataset
from ram_lightning.data.mnist import MNISTFamily, load_mnist_family
from ram_lightning.data.sources import ImageSet, ImageSource

__all__ = [
    "DATASETS",
    "CanvasDataset",
    "CanvasGenerator",
    "ImageFileDataset",
    "ImageFolderSource",
    "ImageSet",
    "ImageSource",
    "MNISTFamily",
    "Placement",
    "RAMDataModule",
    "load_mnist_family",
]
