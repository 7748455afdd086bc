"""Watching for failed training steps (a NaN or infinite loss; under a GradScaler, a skipped step) without reading
anything on the host at every step."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import NamedTuple

import pytorch_lightning as pl
import torch
from torch import Tensor

from ram_lightning.errors import TrainingDivergedError
from ram_lightning.precision import grad_scaler

# Under a GradScaler (16-mixed) a step whose loss or gradients are not finite is skipped (the weights stay as they
# were) and the scale halves; training has diverged only when that goes on: after this many consecutive skipped
# steps, each on another batch, with the scale 2^20 times lower.
SKIPPED_STEPS_LIMIT = 20
# The first step of a run of failed steps, while there is none.
NO_RUN = 2**62


class FailedSteps:
    """Counts, on the device, the consecutive training steps that failed: without a GradScaler, those whose loss is
    not finite; under one, those it skipped (a non-finite loss, or gradients that overflowed while the loss did not).

    ``if not torch.isfinite(loss)`` at every step makes the host wait until the device has computed the loss before
    it may queue the backward pass, which costs a GPU model that is limited by kernel launches the overlap of the
    host's launches with the device's work. :meth:`update` queues a few tiny kernels instead, and :meth:`read`
    copies the count to the host only when asked.
    """

    def __init__(self) -> None:
        self._run: Tensor | None = None  # () consecutive failed steps, up to the last update
        self._first_step: Tensor | None = None  # () the global step of the first of them (NO_RUN: no run)

    def update(self, failed: Tensor, step: int) -> None:
        """Counts global step ``step``, which failed if ``failed`` (a boolean scalar, on its device)."""
        if self._run is None or self._run.device != failed.device:
            self._run = torch.zeros((), dtype=torch.long, device=failed.device)
            self._first_step = torch.full_like(self._run, NO_RUN)
        self._first_step = torch.where(failed, torch.where(self._run > 0, self._first_step, step), NO_RUN)
        self._run = torch.where(failed, self._run + 1, 0)

    def read(self, reduce_max: Callable[[Tensor], Tensor] | None = None) -> tuple[int, int]:
        """``(consecutive failed steps up to the last update, global step of the first)``, copied to the host
        (one synchronisation); ``(0, NO_RUN)`` before any update.

        Args:
            reduce_max: the elementwise maximum over processes (e.g. the strategy's ``reduce``), so that every
                process reads the longest run, and the earliest step it began at, and all stop together.
        """
        if self._run is None:
            return 0, NO_RUN
        state = torch.stack([self._run, -self._first_step])  # (2,): the maximum of -first is the earliest first
        if reduce_max is not None:
            state = reduce_max(state)
        run, negative_first = state.tolist()
        return run, -negative_first


def raise_if_diverged(steps: FailedSteps, trainer: pl.Trainer, epoch: int, terms: NamedTuple | None) -> None:
    """Stops training if the last training step failed (under a GradScaler, which skips such steps: the last
    :data:`SKIPPED_STEPS_LIMIT` steps), naming the steps, the loss ``terms`` of this step and where the last good
    checkpoint is."""
    scaled = grad_scaler(trainer.precision_plugin) is not None
    # The longest run over all processes: under DDP they stop together rather than one waiting for the others.
    run, first = steps.read(partial(trainer.strategy.reduce, reduce_op="max"))
    if run < (SKIPPED_STEPS_LIMIT if scaled else 1):
        return
    which = f"global step {first}" if run == 1 else f"global steps {first} to {first + run - 1}"
    if terms is not None:
        which += " (" + ", ".join(f"{k}={float(v.detach()):.4g}" for k, v in terms._asdict().items()) + ")"
    checkpoint = getattr(trainer.checkpoint_callback, "dirpath", None)
    where = f"the last good checkpoint is in {checkpoint}" if checkpoint else "no checkpoint was written yet"
    failure = "steps skipped by the GradScaler (non-finite loss or gradients)" if scaled else "non-finite loss"
    raise TrainingDivergedError(
        f"{failure} at epoch {epoch}, {which}; {where}. "
        "Lower the learning rate, set model.gradient_clip_norm, or raise model.std"
        + (" (or train in bf16-mixed: float16 overflows above 65504)" if scaled else "")
    )
