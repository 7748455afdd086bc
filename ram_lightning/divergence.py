"""Watching the training loss for NaN and infinity without reading it on the host at every step."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

# Under a GradScaler (16-mixed) a step whose loss or gradients are not finite is skipped (the weights stay as they
# were) and the scale halves; training has diverged only when that goes on: after this many consecutive steps, each
# on another batch, with the scale 2^20 times lower.
SKIPPED_STEPS_LIMIT = 20
# The first step of a run of non-finite losses, while there is none.
NO_RUN = 2**62


class NonFiniteLosses:
    """Counts, on the loss's device, the consecutive training steps whose loss is not finite.

    ``if not torch.isfinite(loss)`` at every step makes the host wait until the device has computed the loss before
    it may queue the backward pass, which costs a GPU model that is limited by kernel launches the overlap of the
    host's launches with the device's work. :meth:`update` queues a few tiny kernels instead, and :meth:`read`
    copies the count to the host only when asked.
    """

    def __init__(self) -> None:
        self._run: Tensor | None = None  # () consecutive non-finite losses, up to the last update
        self._first_step: Tensor | None = None  # () the global step of the first of them (NO_RUN: no run)

    def update(self, loss: Tensor, step: int) -> None:
        """Counts ``loss`` (a scalar) of global step ``step``, on its device."""
        finite = torch.isfinite(loss.detach())
        if self._run is None or self._run.device != loss.device:
            self._run = torch.zeros((), dtype=torch.long, device=loss.device)
            self._first_step = torch.full_like(self._run, NO_RUN)
        self._first_step = torch.where(finite, NO_RUN, torch.where(self._run > 0, self._first_step, step))
        self._run = torch.where(finite, 0, self._run + 1)

    def read(self, reduce_max: Callable[[Tensor], Tensor] | None = None) -> tuple[int, int]:
        """``(consecutive non-finite losses up to the last update, global step of the first)``, copied to the host
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
