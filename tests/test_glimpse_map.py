"""Where the glimpses land: heatmaps, object boxes, the on-object share, and the callback that logs them."""

from __future__ import annotations

from pathlib import Path

import pytest
import pytorch_lightning as pl
import torch
from pytorch_lightning.loggers import TensorBoardLogger
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from callbacks import GlimpseMapLogger
from ram_lightning.data import RAMDataModule
from ram_lightning.glimpse_map import ink_boxes, location_heatmaps, on_object_share
from ram_lightning.retina import Retina
from ram_lightning.system import RAMSystem


def test_heatmaps_count_each_step_in_its_cell():
    locations = torch.tensor([[[-1.0, -1.0], [0.9, -0.9]], [[-0.99, -0.99], [0.0, 0.99]]])  # (N=2, T=2, 2)
    maps = location_heatmaps(locations, bins=4)
    assert maps.shape == (2, 4, 4)
    assert maps[0, 0, 0] == 1.0  # both first glimpses in the top-left cell
    assert maps[1, 0, 3] == 0.5  # x = 0.9 -> last column, y = -0.9 -> first row
    assert maps[1, 3, 2] == 0.5  # x = 0 -> column 2, y = 0.99 -> last row
    torch.testing.assert_close(maps.sum(dim=(1, 2)), torch.ones(2))


def test_ink_boxes_are_the_object_pixels_shifted_by_the_placement():
    images = torch.zeros(2, 1, 10, 10)
    images[0, 0, 2:5, 3:8] = 1.0  # rows 2..4, columns 3..7
    positions = torch.tensor([[10, 20], [0, 0]])  # (y, x); the second image is empty
    boxes = ink_boxes(images, positions)
    assert boxes.tolist() == [[23, 12, 28, 15], [0, 0, 10, 10]]


def test_on_object_share_counts_finest_patches_touching_the_box():
    retina = Retina(patch_size=4, num_scales=2)
    boxes = torch.tensor([[0, 0, 10, 10]])  # top-left corner of a 40x40 canvas
    locations = torch.tensor([[[-0.8, -0.8], [0.8, 0.8], [-0.5, -0.5]]])  # on, off, on (pixels 6..10 vs box)
    share = on_object_share(retina, locations, boxes, canvas_size=40)
    assert share.tolist() == [1.0, 0.0, 1.0]


@pytest.mark.slow
def test_callback_logs_shares_and_heatmaps_from_the_validation_canvases(data_dir: Path, tmp_path: Path):
    data = RAMDataModule(
        data_dir=str(data_dir), download=False, variant="translated", canvas_size=40, batch_size=64, val_size=200
    )
    model = RAMSystem(image_size=40, num_glimpses=3, patch_size=8, num_scales=2, autocast="off")
    logger = TensorBoardLogger(str(tmp_path), name="map")
    trainer = pl.Trainer(
        max_epochs=1,
        limit_train_batches=2,
        logger=logger,
        callbacks=[GlimpseMapLogger(num_images=150, bins=8)],
        enable_progress_bar=False,
        enable_model_summary=False,
        enable_checkpointing=False,
        num_sanity_val_steps=0,
    )
    trainer.fit(model, datamodule=data)
    metrics = trainer.callback_metrics
    shares = [float(metrics[f"val/on_object_glimpse_{t}"]) for t in (1, 2, 3)]
    assert all(0.0 <= share <= 1.0 for share in shares)
    # The first glimpse is at the centre of a 40x40 canvas, which a 28x28 digit placed anywhere covers: its finest
    # patch misses the ink only for the narrowest digits (a thin "1" at the edge of its frame).
    assert shares[0] > 0.95
    assert float(metrics["val/on_object_share"]) == pytest.approx(sum(shares[1:]) / 2)
    events = EventAccumulator(logger.log_dir)
    events.Reload()
    assert "attention/glimpse_heatmaps" in events.Tags()["images"]
