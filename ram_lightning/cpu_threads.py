"""CPU threads of each training process: several processes on one machine share its cores."""

from __future__ import annotations

import os

import pytorch_lightning as pl
import torch
from pytorch_lightning.accelerators import CPUAccelerator


def share_cpu_cores(trainer: pl.Trainer) -> None:
    """On CPU with several processes, gives each process ``cores // processes`` threads: two processes that each run
    torch on every core slow a training step down many times (oversubscription), not twice."""
    # The accelerator, not the module's device: the strategy moves the model to its device only after setup.
    if trainer.world_size > 1 and isinstance(trainer.accelerator, CPUAccelerator):
        cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
        torch.set_num_threads(max(1, cores // trainer.num_devices))
