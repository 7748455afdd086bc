"""Loss terms against values computed by hand."""

import math

import pytest
import torch

from ram_lightning.losses import baseline_loss, classification_loss, hybrid_loss, reinforce_loss, reward
from ram_lightning.model import RAMOutput


def test_reward_is_one_for_correct_final_predictions():
    log_probs = torch.log(torch.tensor([[0.7, 0.3], [0.2, 0.8], [0.6, 0.4]]))
    assert reward(log_probs, torch.tensor([0, 0, 1])).tolist() == [1.0, 0.0, 0.0]


def test_classification_loss_uses_the_last_step():
    log_probs = torch.log(torch.tensor([[[0.5, 0.5], [0.8, 0.2]], [[0.1, 0.9], [0.25, 0.75]]]))  # (B=2, T=2, C=2)
    targets = torch.tensor([0, 1])
    expected = -(math.log(0.8) + math.log(0.75)) / 2
    assert classification_loss(log_probs, targets).item() == pytest.approx(expected)
    per_step = -(math.log(0.5) + math.log(0.9)) / 2
    assert classification_loss(log_probs, targets, per_step_weight=0.5).item() == pytest.approx(
        expected + 0.5 * per_step
    )


def test_reinforce_loss_by_hand():
    log_pi = torch.tensor([[0.0, -1.0, -2.0], [0.0, 0.5, -0.5]])
    rewards = torch.tensor([1.0, 0.0])
    baselines = torch.tensor([[0.5, 0.25, 0.75], [0.5, 0.5, 0.5]])
    # sample 0: -1*(1-0.25) + -2*(1-0.75) = -1.25 ; sample 1: 0.5*(0-0.5) + -0.5*(0-0.5) = 0
    assert reinforce_loss(log_pi, rewards, baselines).item() == pytest.approx(-(-1.25 + 0.0) / 2)


def test_reinforce_loss_gives_no_gradient_to_the_baseline():
    baselines = torch.tensor([[0.3, 0.6]], requires_grad=True)
    log_pi = torch.tensor([[-1.0, -2.0]], requires_grad=True)
    reinforce_loss(log_pi, torch.tensor([1.0]), baselines).backward()
    assert baselines.grad is None
    assert torch.allclose(log_pi.grad, -torch.tensor([[0.7, 0.4]]))


def test_baseline_loss_by_hand():
    baselines = torch.tensor([[0.5, 1.0], [0.0, 0.25]])
    rewards = torch.tensor([1.0, 0.0])
    expected = (0.25 + 0.0 + 0.0 + 0.0625) / 4
    assert baseline_loss(baselines, rewards).item() == pytest.approx(expected)


def test_hybrid_loss_combines_named_terms():
    log_probs = torch.log(torch.tensor([[[0.5, 0.5], [0.9, 0.1]], [[0.5, 0.5], [0.4, 0.6]]]))
    output = RAMOutput(
        log_probs=log_probs,
        locations=torch.zeros(2, 2, 2),
        log_pi=torch.tensor([[0.0, -1.0], [0.0, -2.0]]),
        baselines=torch.tensor([[0.5, 0.5], [0.5, 0.5]]),
    )
    targets = torch.tensor([0, 0])  # sample 0 correct, sample 1 wrong
    terms = hybrid_loss(output, targets, reinforce_weight=2.0, baseline_weight=0.5)
    classification = -(math.log(0.9) + math.log(0.4)) / 2
    reinforce = -((-1.0) * 0.5 + (-2.0) * (-0.5)) / 2
    baseline = 0.25
    assert terms.classification.item() == pytest.approx(classification)
    assert terms.reinforce.item() == pytest.approx(reinforce)
    assert terms.baseline.item() == pytest.approx(baseline)
    assert terms.reward.item() == pytest.approx(0.5)
    assert terms.total.item() == pytest.approx(classification + 2.0 * reinforce + 0.5 * baseline)
