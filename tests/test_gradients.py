"""Each loss term trains what it should, and only that."""

import pytest
import torch
from torch.distributions import Normal

from ram_lightning.losses import baseline_loss, classification_loss, reinforce_loss, reward
from ram_lightning.model import RecurrentAttention
from ram_lightning.modules import LocationPolicy
from ram_lightning.system import RAMSystem


def _grad_norms(model: torch.nn.Module, loss: torch.Tensor) -> dict[str, float]:
    model.zero_grad(set_to_none=True)
    loss.backward()
    norms = {}
    for name, module in [
        ("glimpse", model.glimpse),
        ("core", model.core),
        ("policy", model.policy),
        ("action", model.action),
        ("baseline", model.baseline),
    ]:
        grads = [p.grad.norm() for p in module.parameters() if p.grad is not None]
        norms[name] = float(torch.stack(grads).norm()) if grads else 0.0
    return norms


def _rollout(detach_policy_input: bool = True):
    torch.manual_seed(0)
    model = RecurrentAttention(num_glimpses=4, std=0.2, detach_policy_input=detach_policy_input)
    images = torch.rand(32, 1, 28, 28)
    targets = torch.randint(0, 10, (32,))
    return model, model(images, sample=True), targets


def test_reinforce_trains_only_the_policy():
    model, output, targets = _rollout()
    rewards = torch.rand(32)  # any non-constant reward: the gradient must not vanish
    norms = _grad_norms(model, reinforce_loss(output.log_pi, rewards, output.baselines))
    assert norms["policy"] > 1e-4
    assert norms["core"] == 0.0 and norms["glimpse"] == 0.0 and norms["action"] == 0.0
    assert norms["baseline"] == 0.0


def test_reinforce_reaches_the_core_when_not_detached():
    model, output, _ = _rollout(detach_policy_input=False)
    norms = _grad_norms(model, reinforce_loss(output.log_pi, torch.rand(32), output.baselines))
    assert norms["policy"] > 1e-4 and norms["core"] > 0.0


def test_classification_does_not_train_the_policy():
    model, output, targets = _rollout()
    norms = _grad_norms(model, classification_loss(output.log_probs, targets, per_step_weight=1.0))
    assert norms["policy"] == 0.0 and norms["baseline"] == 0.0
    assert norms["action"] > 0 and norms["core"] > 0 and norms["glimpse"] > 0


def test_baseline_loss_trains_only_the_baseline():
    model, output, targets = _rollout()
    rewards = reward(output.log_probs[:, -1], targets)
    norms = _grad_norms(model, baseline_loss(output.baselines, rewards))
    assert norms["baseline"] > 0
    assert norms["core"] == 0.0 and norms["glimpse"] == 0.0 and norms["policy"] == 0.0


def test_log_prob_is_the_log_density_of_the_gaussian_policy():
    torch.manual_seed(0)
    policy = LocationPolicy(hidden_size=8, std=0.3)
    mean, location = torch.randn(16, 2), 2 * torch.randn(16, 2)
    torch.testing.assert_close(policy.log_prob(location, mean), Normal(mean, 0.3).log_prob(location).sum(-1))
    hidden, noise = torch.randn(16, 8), 3 * torch.randn(16, 2)  # samples often outside [-1, 1]
    sampled, log_pi = policy(hidden, sample=True, noise=noise)
    raw = policy.mean_location(hidden) + 0.3 * noise
    torch.testing.assert_close(log_pi, Normal(policy.mean_location(hidden), 0.3).log_prob(raw).sum(-1))
    torch.testing.assert_close(sampled, raw.clamp(-1, 1))  # log pi of the raw sample; the location is clamped


@pytest.mark.parametrize("advantage", [1.0, -1.0])
def test_a_reinforce_step_makes_a_rewarded_location_more_likely_and_a_penalised_one_less(advantage):
    torch.manual_seed(0)
    policy = LocationPolicy(hidden_size=8, std=0.2)
    hidden, noise = torch.randn(32, 8), torch.randn(32, 2)
    _, log_pi = policy(hidden, sample=True, noise=noise)
    raw = (policy.mean_location(hidden) + 0.2 * noise).detach()  # the sampled locations, before clamping
    rewards = torch.full((32,), advantage)
    loss = reinforce_loss(log_pi[:, None], rewards, torch.zeros(32, 1))  # baseline 0: advantage = reward
    optimizer = torch.optim.SGD(policy.parameters(), lr=0.01)
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    after = policy.log_prob(raw, policy.mean_location(hidden))
    assert (after.mean() - log_pi.detach().mean()) * advantage > 1e-3


def test_reinforce_weight_0_leaves_the_policy_without_a_gradient():
    images, targets = torch.rand(8, 1, 28, 28), torch.randint(0, 10, (8,))
    grads = {}
    for weight in (0.0, 1.0):
        torch.manual_seed(0)
        system = RAMSystem(num_glimpses=3, std=0.2, reinforce_weight=weight, autocast="off")
        system.training_loss(images, targets)[1].total.backward()
        grads[weight] = [p.grad for p in system.model.policy.parameters()]
        assert system.model.core.cell.weight_hh.grad is not None, "classification still trains the core"
    assert all(grad is None for grad in grads[0.0]), "no gradient at all, not a zero one"
    assert all(grad is not None and grad.abs().sum() > 0 for grad in grads[1.0])
