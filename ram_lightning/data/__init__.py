"""Datasets, canvas variants and the LightningDataModule."""

from ram_lightning.data.canvas import CanvasGenerator, Placement
from ram_lightning.data.datamodule import RAMDataModule
from ram_lightning.data.dataset import CanvasDataset
from ram_lightning.data.sources import ImageSet, load_mnist_family

__all__ = [
    "CanvasDataset",
    "CanvasGenerator",
    "ImageSet",
    "Placement",
    "RAMDataModule",
    "load_mnist_family",
]
