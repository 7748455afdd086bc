"""AttentionTrajectoryLogger: TensorBoard image summaries of fixed validation images, or one warning without TB."""

from __future__ import annotations

import io
import warnings

import pytest
import torch
from PIL import Image
from pytorch_lightning.loggers import TensorBoardLogger
from tensorboard.backend.event_processing.event_accumulator import IMAGES, EventAccumulator
from tiny_training import IMAGE_SIZE, MemoryLogger, ToyData, tiny_system, tiny_trainer

from callbacks import AttentionTrajectoryLogger
from ram_lightning.errors import ConfigError

TAGS = ("attention/trajectories", "attention/glimpses")


def image_events(log_dir):
    accumulator = EventAccumulator(str(log_dir), size_guidance={IMAGES: 0})
    accumulator.Reload()
    return {tag: accumulator.Images(tag) for tag in accumulator.Tags()[IMAGES]}


def test_fit_writes_images_tensorboard_can_read(tmp_path):
    logger = TensorBoardLogger(tmp_path, name="tb", version=0)
    callback = AttentionTrajectoryLogger(num_images=6)
    data = ToyData(batch_size=4)  # the 6 images come from two validation batches
    trainer = tiny_trainer(tmp_path, [callback], 2, logger, limit_val_batches=2)
    trainer.fit(tiny_system(), data)

    events = image_events(logger.log_dir)
    assert set(TAGS) <= set(events)
    for tag in TAGS:
        assert [event.step for event in events[tag]] == [2, 4]  # after each epoch's validation, at its global step
    grid = events["attention/trajectories"][-1]
    picture = Image.open(io.BytesIO(grid.encoded_image_string))
    assert picture.size == (grid.width, grid.height)
    cell = IMAGE_SIZE * 10 + 4  # 16 px magnified to 160, plus the grid's padding
    assert grid.width == 4 + 3 * cell  # 6 images: 3 per row
    # The same first validation images, every time.
    images, labels = data.val.tensors
    assert torch.equal(callback.images, images[:6]) and torch.equal(callback.labels, labels[:6])


def test_every_n_epochs(tmp_path):
    logger = TensorBoardLogger(tmp_path, name="tb", version=0)
    callback = AttentionTrajectoryLogger(every_n_epochs=2, num_images=2, tag="look")
    tiny_trainer(tmp_path, [callback], 3, logger).fit(tiny_system(), ToyData())
    events = image_events(logger.log_dir)
    assert [event.step for event in events["look/trajectories"]] == [4]  # epoch 1 only (epochs 0 and 2 skipped)


@pytest.mark.parametrize("logger", [False, "memory"])
def test_without_tensorboard_warns_once_and_training_works(tmp_path, logger):
    callback = AttentionTrajectoryLogger(num_images=2)
    trainer = tiny_trainer(tmp_path, [callback], 2, MemoryLogger() if logger == "memory" else False)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        trainer.fit(tiny_system(), ToyData())
        trainer.validate(trainer.lightning_module, ToyData(), verbose=False)
    messages = [str(w.message) for w in caught if "no TensorBoardLogger" in str(w.message)]
    assert len(messages) == 1
    assert callback.images is None
    assert trainer.current_epoch == 2


def test_bad_arguments_name_the_argument():
    with pytest.raises(ConfigError, match="AttentionTrajectoryLogger.every_n_epochs"):
        AttentionTrajectoryLogger(every_n_epochs=0)
    with pytest.raises(ConfigError, match="AttentionTrajectoryLogger.num_images"):
        AttentionTrajectoryLogger(num_images=0)
