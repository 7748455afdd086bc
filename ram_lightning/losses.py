"""The hybrid loss of RAM as pure functions: classification, REINFORCE with baseline, baseline regression."""

from __future__ import annotations

from typing import NamedTuple

import torch.nn.functional as F
from torch import Tensor

from ram_lightning.model import RAMOutput


class LossTerms(NamedTuple):
    """Every term of the hybrid loss, each a scalar tensor, so that each can be logged.

    Attributes:
        total: ``classification + reinforce_weight * reinforce + baseline_weight * baseline`` (terms of weight 0
            are left out of the graph).
        classification: negative log-likelihood of the targets (last step, plus the weighted per-step term).
        reinforce: REINFORCE surrogate for the location policy.
        baseline: mean squared error of the baselines against the reward.
        reward: mean reward of the batch (not a loss; detached).
    """

    total: Tensor
    classification: Tensor
    reinforce: Tensor
    baseline: Tensor
    reward: Tensor


def reward(final_log_probs: Tensor, targets: Tensor) -> Tensor:
    """Reward ``R = 1`` where the final prediction is correct, else ``0``.

    Args:
        final_log_probs: ``(B, C)`` class log-probabilities after the last glimpse.
        targets: ``(B,)`` class indices.

    Returns:
        ``(B,)`` float rewards.
    """
    return (final_log_probs.argmax(dim=-1) == targets).to(final_log_probs.dtype)


def classification_loss(log_probs: Tensor, targets: Tensor, per_step_weight: float = 0.0) -> Tensor:
    """NLL of the last step, plus ``per_step_weight`` times the mean NLL of the earlier steps.

    Args:
        log_probs: ``(B, T, C)`` class log-probabilities after each glimpse.
        targets: ``(B,)`` class indices.
        per_step_weight: weight of the earlier steps' classification (0 disables it).

    Returns:
        Scalar loss.
    """
    loss = F.nll_loss(log_probs[:, -1], targets)
    if per_step_weight > 0 and log_probs.shape[1] > 1:
        earlier = log_probs[:, :-1]  # (B, T-1, C)
        steps = earlier.shape[1]
        loss = loss + per_step_weight * F.nll_loss(
            earlier.reshape(-1, earlier.shape[-1]), targets.repeat_interleave(steps)
        )
    return loss


def reinforce_loss(log_pi: Tensor, rewards: Tensor, baselines: Tensor) -> Tensor:
    """REINFORCE with baseline: ``-1/B sum_i sum_t log pi(l_t^i) (R^i - b_t^i)``.

    The baseline is detached: it reduces variance without receiving a gradient from this term.

    Args:
        log_pi: ``(B, T)`` log-density of each location (``0`` where the policy did not choose it).
        rewards: ``(B,)`` rewards.
        baselines: ``(B, T)`` baselines.

    Returns:
        Scalar loss whose gradient is the (negated) policy-gradient estimate.
    """
    advantage = rewards.detach()[:, None] - baselines.detach()  # (B, T)
    return -(log_pi * advantage).sum(dim=1).mean()


def leave_one_out_baselines(rewards: Tensor, samples_per_image: int) -> Tensor:
    """For each episode, the mean reward of the same image's other ``M - 1`` rollouts.

    Args:
        rewards: ``(B * M,)`` rewards, the ``M`` rollouts of each image contiguous (episode ``b * M + m``).
        samples_per_image: ``M >= 2``.

    Returns:
        ``(B * M,)`` baselines, detached.
    """
    if samples_per_image < 2:
        raise ValueError(f"the leave-one-out baseline needs >= 2 rollouts per image, got {samples_per_image}")
    grouped = rewards.detach().view(-1, samples_per_image)  # (B, M)
    others = grouped.sum(dim=1, keepdim=True) - grouped  # (B, M)
    return (others / (samples_per_image - 1)).view(-1)


def baseline_loss(baselines: Tensor, rewards: Tensor) -> Tensor:
    """Mean squared error between the baselines ``(B, T)`` and the reward ``(B,)`` of every step."""
    return F.mse_loss(baselines, rewards.detach()[:, None].expand_as(baselines))


def hybrid_loss(
    output: RAMOutput,
    targets: Tensor,
    reinforce_weight: float = 1.0,
    baseline_weight: float = 1.0,
    per_step_weight: float = 0.0,
    leave_one_out_samples: int | None = None,
) -> LossTerms:
    """The hybrid supervised + reinforcement loss of RAM, averaged over the ``B`` episodes of a rollout.

    Args:
        output: a rollout of the model (``B`` episodes; ``B / M`` images when each has ``M`` rollouts).
        targets: ``(B,)`` class index of each episode's image.
        reinforce_weight: weight of the REINFORCE term.
        baseline_weight: weight of the baseline regression term.
        per_step_weight: weight of the classification after the earlier glimpses.
        leave_one_out_samples: ``M``: replace the output's baselines by the mean reward of the same image's
            other ``M - 1`` rollouts (:func:`leave_one_out_baselines`); ``None`` keeps them.

    Returns:
        The :class:`LossTerms`.
    """
    rewards = reward(output.log_probs[:, -1].detach(), targets)
    baselines = output.baselines
    if leave_one_out_samples is not None:
        baselines = leave_one_out_baselines(rewards, leave_one_out_samples)[:, None].expand_as(output.log_pi)
    classification = classification_loss(output.log_probs, targets, per_step_weight)
    reinforce = reinforce_loss(output.log_pi, rewards, baselines)
    baseline = baseline_loss(baselines, rewards)
    total = classification
    # A term of weight 0 is left out, so its parameters get no gradient at all (rather than a zero one, which
    # optimizers with momentum or weight decay would still act on).
    if reinforce_weight > 0:
        total = total + reinforce_weight * reinforce
    if baseline_weight > 0:
        total = total + baseline_weight * baseline
    return LossTerms(total, classification, reinforce, baseline, rewards.mean())
