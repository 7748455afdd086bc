"""Each loss term trains what it should, and only that."""

import torch

from ram_lightning.losses import baseline_loss, classification_loss, reinforce_loss, reward
from ram_lightning.model import RecurrentAttention


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
