"""The randomness of a rollout, drawn before it starts (:meth:`RecurrentAttention.draw_noise`), and per-image seeded
noise for evaluations that come out the same whatever the batch, process or device."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import NamedTuple

import torch
from torch import Tensor


class RolloutNoise(NamedTuple):
    """All the randomness of one rollout of ``B`` images, drawn before it starts.

    Attributes:
        first_location: ``(B, 2)`` location of the first glimpse.
        steps: ``(T-1, B, 2)``: the locations of the next glimpses when they are random, else standard normal noise
            of the policy's samples; ``None`` when the rollout follows the policy mean.
    """

    first_location: Tensor
    steps: Tensor | None


def seeded_generators(base_seed: int, ids: Tensor) -> list[torch.Generator]:
    """One CPU generator per image, seeded with ``base_seed`` plus the image's id ``ids[i]`` (its dataset index):
    an image's noise is then the same whatever batch, process or device draws it."""
    return [torch.Generator().manual_seed(base_seed + int(index)) for index in ids.tolist()]


def per_image_noise(
    draw: Callable[[torch.Generator], RolloutNoise],
    generators: Sequence[torch.Generator],
    device: torch.device,
    dtype: torch.dtype,
) -> RolloutNoise:
    """The noise of ``M`` rollouts of each of ``B`` images, image ``i``'s drawn by ``draw(generators[i])`` (``M``
    episodes), laid out rollout-major as ``images.repeat(M, 1, 1, 1)`` lays out the batch: row ``m * B + i``."""
    per_image = [draw(generator) for generator in generators]
    steps = None
    if per_image[0].steps is not None:
        steps = torch.stack([n.steps for n in per_image], dim=2).flatten(1, 2)  # (T-1, M*B, 2)
    noise = RolloutNoise(torch.stack([n.first_location for n in per_image], dim=1).flatten(0, 1), steps)  # (M*B, 2)
    return RolloutNoise(*(None if part is None else part.to(device, dtype) for part in noise))


def check_noise(noise: RolloutNoise, num_glimpses: int, batch: int, needs_steps: bool) -> None:
    """Rejects given noise whose shapes do not fit a rollout of ``batch`` images (``needs_steps``: a sampled or
    random-glimpse rollout)."""
    first, steps = noise
    if tuple(first.shape) != (batch, 2):
        raise ValueError(f"noise.first_location must be ({batch}, 2), got {tuple(first.shape)}")
    expected = (num_glimpses - 1, batch, 2)
    if needs_steps and (steps is None or tuple(steps.shape) != expected):
        got = None if steps is None else tuple(steps.shape)
        raise ValueError(f"noise.steps must be {expected} for a sampled or random-glimpse rollout, got {got}")


def uniform_locations(
    shape: tuple[int, ...],
    device: torch.device | None = None,
    dtype: torch.dtype | None = None,
    generator: torch.Generator | None = None,
) -> Tensor:
    """``(*shape, 2)`` locations drawn uniformly from ``[-1, 1]^2``."""
    return torch.rand(*shape, 2, device=device, dtype=dtype, generator=generator) * 2.0 - 1.0
