"""A seeded stretch of the global random stream that leaves the stream as it was."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch


@contextlib.contextmanager
def seeded_random_state(device: torch.device, seed: int) -> Iterator[None]:
    """Runs the block with the global random stream of the CPU (and of ``device``, if it is a GPU) seeded to
    ``seed``, then restores both streams as they were, so that the block does not shift anyone else's numbers."""
    devices = [device] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(seed)
        yield
