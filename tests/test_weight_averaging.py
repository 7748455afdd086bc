"""Lightning's EMAWeightAveraging (used by the shipped fine-tunings) averages RAMSystem's weights after every
manual-optimization step, and its checkpoints load as RAMSystem checkpoints holding the average."""

from __future__ import annotations

from pathlib import Path

import pytorch_lightning as pl
import torch
from pytorch_lightning.callbacks import EMAWeightAveraging, ModelCheckpoint
from tiny_training import ToyData, tiny_system, tiny_trainer
from torch import Tensor

from ram_lightning.system import RAMSystem

DECAY = 0.5


class WeightRecorder(pl.Callback):
    """Keeps a copy of the module's floating-point state after every training step."""

    def __init__(self) -> None:
        self.steps: list[dict[str, Tensor]] = []

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        state = pl_module.state_dict()
        self.steps.append({key: value.detach().clone() for key, value in state.items() if value.is_floating_point()})


def exponential_average(steps: list[dict[str, Tensor]], decay: float) -> dict[str, Tensor]:
    """What an EMA updated after each step holds: the first step's weights, then ``decay * avg + (1 - decay) * w``."""
    average = dict(steps[0])
    for weights in steps[1:]:
        average = {key: decay * average[key] + (1 - decay) * weights[key] for key in average}
    return average


def test_ema_averages_every_optimizer_step_and_its_checkpoint_loads_the_average(tmp_path: Path):
    recorder = WeightRecorder()
    checkpoints = ModelCheckpoint(dirpath=tmp_path / "checkpoints", save_last=True)
    callbacks = [recorder, EMAWeightAveraging(decay=DECAY), checkpoints]
    trainer = tiny_trainer(tmp_path, callbacks, max_epochs=3, enable_checkpointing=True)
    system = tiny_system()
    trainer.fit(system, ToyData())

    assert trainer.global_step == len(recorder.steps) == 6, "one optimizer step per training batch"
    expected = exponential_average(recorder.steps, DECAY)
    last = recorder.steps[-1]
    moved = [key for key in expected if not torch.allclose(expected[key], last[key])]
    assert moved, "the average differs from the last weights, so the test can tell them apart"

    # After fit, the module holds the average.
    for key, value in expected.items():
        torch.testing.assert_close(system.state_dict()[key], value, msg=key)
    # The checkpoint's weights are the average, and it loads as a RAMSystem checkpoint.
    loaded = RAMSystem.load_from_checkpoint(Path(checkpoints.dirpath) / "last.ckpt", map_location="cpu")
    for key, value in expected.items():
        torch.testing.assert_close(loaded.state_dict()[key], value, msg=key)
