"""The evaluation protocol: one rollout that follows the policy mean (``eval_samples: 0``), or the average of the
class probabilities of ``M`` sampled rollouts, whose noise is seeded by each image's dataset index so that an error
depends neither on the evaluation batch size, nor on the number of processes, nor on the device."""

from __future__ import annotations

import torch
from torch import Tensor

from ram_lightning.model import RecurrentAttention
from ram_lightning.noise import seeded_generators

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
    return model.predict_log_probs(images, samples, generators)


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
