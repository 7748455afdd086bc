"""A training step reads no device value on the host (which would make a GPU's host wait for its kernels), except on
the steps whose values the logger writes."""

from __future__ import annotations

from functools import partial
from pathlib import Path
from typing import Any

import pytest
import pytorch_lightning as pl
import torch
from tiny_training import ToyData, tiny_system, tiny_trainer
from torch.overrides import TorchFunctionMode

# Tensor methods that copy a value to the host, and operations whose output size depends on the values.
HOST_READS = {"__bool__", "__int__", "__float__", "__index__", "item", "tolist", "nonzero", "unique", "masked_select"}


class HostReads(TorchFunctionMode):
    """Records the names of :data:`HOST_READS` calls."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[str] = []

    def __torch_function__(self, func: Any, types: Any, args: tuple = (), kwargs: dict | None = None) -> Any:
        name = getattr(func, "__name__", "")
        if name in HOST_READS:
            self.calls.append(name)
        return func(*args, **(kwargs or {}))


class PerBatchHostReads(pl.Callback):
    """The host reads of each training batch, from its start to its end (step, backward, optimizer step)."""

    def __init__(self) -> None:
        self.batches: list[list[str]] = []
        self.mode: HostReads | None = None

    def on_train_batch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule, batch: Any, idx: int) -> None:
        self.mode = HostReads()
        self.mode.__enter__()

    def on_train_batch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule, *args: Any) -> None:
        self.mode.__exit__(None, None, None)
        self.batches.append(self.mode.calls)


@pytest.mark.parametrize(
    "options",
    [{}, {"baseline": "leave_one_out", "train_samples": 2, "gradient_clip_norm": 1.0}],
    ids=["default", "leave_one_out_clipped"],
)
def test_no_host_reads_between_logged_steps(tmp_path: Path, options: dict):
    probe = PerBatchHostReads()
    system = tiny_system(optimizer=partial(torch.optim.Adam, fused=True), **options)
    trainer = tiny_trainer(tmp_path, [probe], 1, limit_train_batches=4, limit_val_batches=0, log_every_n_steps=50)
    trainer.fit(system, ToyData())
    assert len(probe.batches) == 4
    assert probe.batches[:3] == [[], [], []]  # the logger writes at the epoch's last batch only
