"""A recorded rollout: where the model looked, what its sensor read and what it predicted, as plain tensors.

This is what the drawing functions of :mod:`ram_lightning.viz` take. It is recorded here, by running the model
(:func:`record_rollout`), or assembled from locations and predictions computed elsewhere (:func:`recorded`, used by
the ``ram-plot`` command for the rollouts of evaluation). Shapes use ``B`` images of ``C`` channels and ``H x W``
pixels, ``T`` glimpses, ``k`` retina scales of ``g x g`` pixels.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import Tensor

from ram_lightning.model import RecurrentAttention
from ram_lightning.retina import Retina
from ram_lightning.seeding import seeded_random_state


class Rollout(NamedTuple):
    """Everything needed to draw ``B`` rollouts of ``T`` glimpses.

    Attributes:
        images: ``(B, C, H, W)`` images in ``[0, 1]``.
        locations: ``(B, T, 2)`` glimpse centres ``(x, y)`` in ``[-1, 1]``.
        boxes: ``(B, T, k, 4)`` pixel boxes ``(x0, y0, x1, y1)`` of every scale, ``x1``/``y1`` exclusive.
        glimpses: ``(B, T, k, C, g, g)`` what the sensor read at each step.
        preds: ``(B,)`` predicted class after the last glimpse.
    """

    images: Tensor
    locations: Tensor
    boxes: Tensor
    glimpses: Tensor
    preds: Tensor


def glimpse_boxes(retina: Retina, locations: Tensor, height: int, width: int) -> Tensor:
    """Pixel boxes of every glimpse: ``locations`` ``(B, T, 2)`` -> ``(B, T, k, 4)``."""
    batch, steps = locations.shape[:2]
    boxes = retina.patch_boxes(locations.reshape(batch * steps, 2), height, width)  # (B*T, k, 4)
    return boxes.view(batch, steps, *boxes.shape[1:])


def read_glimpses(retina: Retina, images: Tensor, locations: Tensor) -> Tensor:
    """What the sensor saw: ``images`` ``(B, C, H, W)``, ``locations`` ``(B, T, 2)`` -> ``(B, T, k, C, g, g)``."""
    steps = locations.shape[1]
    return torch.stack([retina(images, locations[:, t]) for t in range(steps)], dim=1)


@torch.no_grad()
def recorded(retina: Retina, images: Tensor, locations: Tensor, preds: Tensor) -> Rollout:
    """The :class:`Rollout` of ``images`` ``(B, C, H, W)`` glimpsed at ``locations`` ``(B, T, 2)`` by ``retina``,
    ending in the classes ``preds`` ``(B,)``; every tensor on the CPU, in float32 (``preds`` as they are)."""
    height, width = images.shape[-2:]
    locations = locations.float()
    return Rollout(
        images=images.detach().float().cpu(),
        locations=locations.cpu(),
        boxes=glimpse_boxes(retina, locations, height, width).cpu(),
        glimpses=read_glimpses(retina, images, locations).float().cpu(),
        preds=preds.cpu(),
    )


@torch.no_grad()
def record_rollout(model: RecurrentAttention, images: Tensor, sample: bool = False, seed: int = 0) -> Rollout:
    """Runs ``model`` on ``images`` ``(B, C, H, W)`` and records what the drawing functions need.

    The global random state is left untouched (a forked generator seeded with ``seed`` serves sampled rollouts), so
    drawing during training does not change the training's random numbers.

    Args:
        model: the attention model (its current ``training`` mode and ``random_glimpses`` flag are used as they are).
        images: ``(B, C, H, W)`` images in ``[0, 1]`` on the model's device.
        sample: sample locations from the policy instead of following its mean.
        seed: seed of the sampled locations.

    Returns:
        A :class:`Rollout` with every tensor on the CPU.
    """
    with seeded_random_state(images.device, seed):
        output = model(images, sample=sample)
    return recorded(model.retina, images, output.locations, output.log_probs[:, -1].argmax(dim=-1))
