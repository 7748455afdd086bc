"""The evaluation protocol: one rollout that follows the policy mean (``eval_samples: 0``), or the average of the
class probabilities of ``M`` sampled rollouts, whose noise is seeded by each image's dataset index so that an error
depends neither on the evaluation batch size, nor on the number of processes, nor on the device."""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import Tensor

from ram_lightning.model import RecurrentAttention
from ram_lightning.noise import RolloutNoise, per_image_noise, seeded_generators

# Base seed of the Monte-Carlo evaluation's noise; each image's generator is seeded with it plus the image's index.
EVALUATION_SEED = 20141
# An evaluation batch: images (B, C, H, W), labels (B,) and, from RAMDataModule, the images' dataset indices (B,).
EvalBatch = tuple[Tensor, Tensor] | tuple[Tensor, Tensor, Tensor]


def evaluate(model: RecurrentAttention, images: Tensor, indices: Tensor | None, samples: int) -> tuple[Tensor, Tensor]:
    """Final class log-probabilities ``(B, num_classes)`` and locations ``(B, T, 2)`` of ``images`` under the
    protocol of ``samples`` rollouts (``model.eval_samples``).

    Monte-Carlo evaluation gives image ``i`` its own CPU generator, seeded with ``EVALUATION_SEED + indices[i]``:
    its noise is the same whatever batch, process or device evaluates it, and the training's random stream is left
    untouched. ``indices`` ``None`` draws the noise from the global random stream.
    """
    generators = None
    if samples > 0 and indices is not None:
        generators = seeded_generators(EVALUATION_SEED, indices)
    return predict_log_probs(model, images, samples, generators)


@torch.no_grad()
def predict_log_probs(
    model: RecurrentAttention,
    images: Tensor,
    num_samples: int = 0,
    generators: Sequence[torch.Generator] | None = None,
) -> tuple[Tensor, Tensor]:
    """Class log-probabilities of the final glimpse, for evaluation.

    Args:
        model: the model to evaluate.
        images: ``(B, C_in, H_img, W_img)`` images.
        num_samples: ``0`` follows the policy mean (deterministic); ``M >= 1`` averages the final class
            probabilities of ``M`` sampled rollouts.
        generators: with ``M >= 1``, one CPU generator per image: image ``i``'s rollouts draw their noise from
            ``generators[i]`` on the CPU, then move to the images' device, so that its prediction depends neither
            on the other images of the batch nor on the device. ``None``: the global random stream.

    Returns:
        ``log_probs`` ``(B, C)``: the log of the class probabilities averaged over the rollouts (normalised:
        their exponentials sum to 1), and the locations ``(B, T, 2)`` of the first rollout.
    """
    if num_samples <= 0:
        output = model(images, sample=False)
        return output.log_probs[:, -1], output.locations
    batch = images.shape[0]
    noise = None if generators is None else seeded_noise(model, images, generators, num_samples)
    output = model(images.repeat(num_samples, 1, 1, 1), sample=True, noise=noise)
    log_probs = output.log_probs[:, -1].view(num_samples, batch, -1)  # (M, B, C)
    return torch.logsumexp(log_probs, dim=0) - math.log(num_samples), output.locations[:batch]


def seeded_noise(
    model: RecurrentAttention, images: Tensor, generators: Sequence[torch.Generator], samples: int
) -> RolloutNoise:
    """The noise of ``samples`` sampled rollouts of ``model`` on each of ``images``, image ``i``'s from
    ``generators[i]`` (on the CPU, then moved to the images' device), laid out as
    ``images.repeat(samples, 1, 1, 1)``."""
    batch = images.shape[0]
    if len(generators) != batch:
        raise ValueError(f"one generator per image needed: {len(generators)} generators for {batch} images")

    def draw(generator: torch.Generator) -> RolloutNoise:
        return model.draw_noise(samples, True, generator=generator)

    return per_image_noise(draw, generators, images.device, images.dtype)


def require_indices(indices: Tensor | None, samples: int) -> Tensor | None:
    """Monte-Carlo evaluation needs the images' dataset indices, to seed their noise reproducibly."""
    if indices is None and samples > 0:
        raise ValueError(
            f"model.eval_samples={samples} seeds each image's noise with its dataset index: evaluation batches must "
            "be (images, labels, indices), as RAMDataModule's are; or set model.eval_samples: 0"
        )
    return indices


def split_batch(batch: EvalBatch) -> tuple[Tensor, Tensor, Tensor | None]:
    """``(images, labels)`` or ``(images, labels, indices)`` -> the three, ``indices`` ``None`` if absent."""
    images, targets, *rest = batch
    return images, targets, rest[0] if rest else None


def sample_ids(indices: Tensor | None, batch_idx: int, images: Tensor) -> Tensor:
    """``(B,)`` the images' dataset indices; without them, their positions in the evaluation (which then depend on
    the batch size)."""
    if indices is not None:
        return indices
    batch = images.shape[0]
    return torch.arange(batch_idx * batch, (batch_idx + 1) * batch)
