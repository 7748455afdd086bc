"""Attention diagnostics: does the policy's choice of locations help, and after how many glimpses?

Evaluation logs, beside the error of the configured protocol:

- ``<stage>/acc_policy_mean``: accuracy of one deterministic rollout that follows the policy mean (the paper's
  protocol);
- ``<stage>/acc_random_locations``: the same model with every location, the first one included, drawn uniformly
  (from a generator seeded by each image's dataset index: the figure is the same for every batch size, process
  count and device);
- ``<stage>/attention_gain``: the difference of the two. Near zero, the policy does nothing useful: the classifier
  has learned to do without attention;
- ``<stage>/acc_after_glimpse_<t>``: accuracy of the policy-mean rollout classifying after ``t`` glimpses.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn
from torchmetrics import Metric

from ram_lightning.evaluation import seeded_noise
from ram_lightning.model import RecurrentAttention
from ram_lightning.noise import seeded_generators

# Base seed of the random-location rollouts (plus each image's dataset index).
RANDOM_LOCATION_SEED = 71828


class GlimpseAccuracy(Metric):
    """Accuracy after each of ``T`` glimpses, summed over batches (and processes)."""

    full_state_update = False

    def __init__(self, num_glimpses: int) -> None:
        super().__init__()
        self.add_state("correct", torch.zeros(num_glimpses, dtype=torch.long), dist_reduce_fx="sum")
        self.add_state("total", torch.zeros((), dtype=torch.long), dist_reduce_fx="sum")

    def update(self, log_probs: Tensor, targets: Tensor) -> None:
        """``log_probs`` ``(B, T, C)`` after each glimpse, ``targets`` ``(B,)``."""
        self.correct += (log_probs.argmax(dim=-1) == targets[:, None]).sum(dim=0)
        self.total += targets.numel()

    def compute(self) -> Tensor:
        """``(T,)`` accuracy after each glimpse."""
        return self.correct.float() / self.total.clamp(min=1)


class AttentionDiagnostics(nn.Module):
    """Accumulates the diagnostics of one evaluation stage (see the module docstring).

    Args:
        num_glimpses: ``T``.
    """

    def __init__(self, num_glimpses: int) -> None:
        super().__init__()
        self.policy_mean = GlimpseAccuracy(num_glimpses)
        self.random_locations = GlimpseAccuracy(num_glimpses)

    @torch.no_grad()
    def update(self, model: RecurrentAttention, images: Tensor, targets: Tensor, sample_ids: Tensor) -> Tensor:
        """Runs the policy-mean and the random-location rollouts of ``images`` ``(B, C, H, W)``; ``sample_ids``
        ``(B,)`` (dataset indices) seed each image's random locations.

        Returns:
            The policy-mean rollout's class log-probabilities after each glimpse ``(B, T, C)``.
        """
        mean_log_probs = model(images, sample=False).log_probs
        self.policy_mean.update(mean_log_probs, targets)
        generators = seeded_generators(RANDOM_LOCATION_SEED, sample_ids)
        self.random_locations.update(random_location_log_probs(model, images, generators), targets)
        return mean_log_probs

    def compute(self, stage: str) -> dict[str, Tensor]:
        """The scalars to log, named ``<stage>/...``, then resets the accumulated counts."""
        per_glimpse = self.policy_mean.compute()  # (T,)
        random = self.random_locations.compute()[-1]
        self.policy_mean.reset()
        self.random_locations.reset()
        values = {
            f"{stage}/acc_policy_mean": per_glimpse[-1],
            f"{stage}/acc_random_locations": random,
            f"{stage}/attention_gain": per_glimpse[-1] - random,
        }
        values.update({f"{stage}/acc_after_glimpse_{t + 1}": acc for t, acc in enumerate(per_glimpse)})
        return values


@torch.no_grad()
def random_location_log_probs(
    model: RecurrentAttention, images: Tensor, generators: Sequence[torch.Generator] | None = None
) -> Tensor:
    """Class log-probabilities ``(B, T, C)`` after each glimpse when every location, the first one included, is
    drawn uniformly from ``[-1, 1]^2`` instead of by the policy: what the model does without attention.

    ``generators``: one CPU generator per image, that draws its locations (see
    :func:`~ram_lightning.evaluation.predict_log_probs`); ``None``: the global random stream.
    """
    previous = model.random_glimpses
    model.random_glimpses = True
    try:
        noise = None if generators is None else seeded_noise(model, images, generators, 1)
        return model(images, sample=True, noise=noise).log_probs
    finally:
        model.random_glimpses = previous
