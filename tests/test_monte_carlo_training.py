"""Monte-Carlo training: M rollouts of each image as one batch of B * M episodes, and the leave-one-out baseline."""

from __future__ import annotations

import pytest
import torch

from ram_lightning.errors import ConfigError
from ram_lightning.losses import hybrid_loss, leave_one_out_baselines
from ram_lightning.model import RAMOutput, RecurrentAttention
from ram_lightning.system import RAMSystem

SMALL = {
    "num_classes": 10,
    "num_glimpses": 4,
    "patch_size": 4,
    "num_scales": 2,
    "core_type": "lstm",
    "glimpse_hidden": 24,
    "location_hidden": 16,
    "glimpse_size": 40,
    "hidden_size": 32,
    "std": 0.2,
    "init_location": "random",
}


def _batch(count: int = 6) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(1)
    images = torch.rand(count, 1, 24, 24, generator=generator)
    return images, torch.randint(0, 10, (count,), generator=generator)


def test_one_sample_per_image_reproduces_the_losses_and_gradients_recorded_before_monte_carlo_training():
    # Recorded with the code before model.train_samples existed, from these seeds and this configuration.
    torch.manual_seed(0)
    system = RAMSystem(image_size=24, autocast="off", per_step_weight=0.5, **SMALL)
    images, targets = _batch()
    torch.manual_seed(2)
    output, terms = system.training_loss(images, targets)
    terms.total.backward()
    terms = [value.detach() for value in terms]
    recorded = [3.5911782, 3.365401, 0.08452, 0.1412574, 0.1666667]
    assert [float(value) for value in terms] == pytest.approx(recorded, rel=1e-5, abs=1e-6)
    assert float(output.locations.sum()) == pytest.approx(1.3291056, rel=1e-5)
    grad_norms = {name: float(p.grad.norm()) for name, p in system.named_parameters() if p.grad is not None}
    assert grad_norms["model.policy.mean.weight"] == pytest.approx(0.4313619, rel=1e-4)
    assert grad_norms["model.core.cell.weight_ih"] == pytest.approx(0.0807093, rel=1e-4)
    assert grad_norms["model.glimpse.what.weight"] == pytest.approx(0.0567615, rel=1e-4)
    assert grad_norms["model.baseline.linear.weight"] == pytest.approx(0.0268181, rel=1e-4)


@pytest.mark.parametrize("fused", [True, False])
def test_m_rollouts_per_image_are_the_rollouts_of_the_image_repeated_m_times(fused: bool):
    torch.manual_seed(0)
    model = RecurrentAttention(fused_rollout=fused, **SMALL)
    images, _ = _batch(5)
    torch.manual_seed(3)
    grouped = model(images, sample=True, samples_per_image=3)
    torch.manual_seed(3)
    repeated = model(images.repeat_interleave(3, dim=0), sample=True)
    assert grouped.log_probs.shape == (15, 4, 10)
    for field in RAMOutput._fields:
        torch.testing.assert_close(getattr(grouped, field), getattr(repeated, field), msg=field)
    # Different rollouts of one image differ (their noise does).
    assert not torch.equal(grouped.locations[0], grouped.locations[1])


def _monte_carlo_step(fused: bool, options: dict) -> tuple[RAMOutput, dict[str, torch.Tensor]]:
    torch.manual_seed(0)
    model = RecurrentAttention(fused_rollout=fused, **{**SMALL, **options})
    images, targets = _batch(16)
    torch.manual_seed(2)
    output = model(images, sample=True, samples_per_image=10)
    loss = hybrid_loss(output, targets.repeat_interleave(10), per_step_weight=0.5, leave_one_out_samples=10)
    loss.total.backward()
    return output, {name: parameter.grad for name, parameter in model.named_parameters()}


@pytest.mark.parametrize(
    "options",
    [
        {"baseline": "leave_one_out", "std": 1.0},
        {"baseline": "leave_one_out", "std": 1.0, "detach_policy_input": False, "core_type": "rnn"},
    ],
    ids=["lstm", "rnn_policy_gradient_into_core"],
)
def test_ten_rollouts_per_image_fused_equal_plain(options: dict):
    plain, plain_grads = _monte_carlo_step(False, options)
    fused, fused_grads = _monte_carlo_step(True, options)
    for field in RAMOutput._fields:
        torch.testing.assert_close(getattr(fused, field), getattr(plain, field), atol=1e-5, rtol=1e-5, msg=field)
    for name, grad in plain_grads.items():
        assert (grad is None) == (fused_grads[name] is None), name
        if grad is not None:
            torch.testing.assert_close(fused_grads[name], grad, atol=1e-6, rtol=1e-4, msg=name)
    assert fused_grads["policy.mean.weight"].abs().sum() > 0


def test_leave_one_out_baseline_by_hand():
    rewards = torch.tensor([1.0, 0.0, 1.0, 1.0, 0.0, 0.0, 0.0, 1.0])  # 2 images, 4 rollouts each
    expected = torch.tensor([2 / 3, 1.0, 2 / 3, 2 / 3, 1 / 3, 1 / 3, 1 / 3, 0.0])
    torch.testing.assert_close(leave_one_out_baselines(rewards, 4), expected)
    with pytest.raises(ValueError, match=">= 2 rollouts"):
        leave_one_out_baselines(rewards, 1)


def test_hybrid_loss_uses_the_leave_one_out_baselines():
    # Two images, two rollouts each, 1 glimpse chosen by the policy: advantages are R - (other rollout's R).
    log_probs = torch.log_softmax(torch.tensor([[5.0, 0.0], [0.0, 5.0], [5.0, 0.0], [5.0, 0.0]]), dim=-1)
    output = RAMOutput(
        log_probs=log_probs[:, None],  # (4, 1, 2)
        locations=torch.zeros(4, 1, 2),
        log_pi=torch.tensor([[2.0], [3.0], [5.0], [7.0]]),
        baselines=torch.full((4, 1), 0.5),  # replaced
    )
    targets = torch.tensor([0, 0, 0, 0])  # rewards 1, 0, 1, 1
    terms = hybrid_loss(output, targets, leave_one_out_samples=2)
    advantages = torch.tensor([1 - 0, 0 - 1, 1 - 1, 1 - 1])
    expected = -(output.log_pi[:, 0] * advantages).mean()
    torch.testing.assert_close(terms.reinforce, expected)


def test_system_trains_with_several_rollouts_per_image():
    torch.manual_seed(0)
    system = RAMSystem(
        image_size=24,
        autocast="off",
        train_samples=4,
        baseline="leave_one_out",
        **{key: value for key, value in SMALL.items() if key != "baseline"},
    )
    images, targets = _batch(6)
    output, terms = system.training_loss(images, targets)
    assert output.log_probs.shape == (24, 4, 10)
    terms.total.backward()
    assert system.model.policy.mean.weight.grad.abs().sum() > 0
    assert torch.isfinite(terms.total)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"baseline": "leave_one_out"}, "model.baseline=leave_one_out .* model.train_samples >= 2"),
        ({"train_samples": 0}, "model.train_samples must be >= 1"),
        ({"clamp_mean": True}, "model.tanh_mean and clamp_mean both bound the policy mean"),
    ],
)
def test_bad_monte_carlo_settings_are_config_errors(overrides: dict, message: str):
    with pytest.raises(ConfigError, match=message):
        RAMSystem(**overrides)


def test_clamped_mean_policy_log_prob_matches_torch_distributions():
    from ram_lightning.modules import LocationPolicy

    torch.manual_seed(0)
    policy = LocationPolicy(8, std=0.3, tanh_mean=False, clamp_mean=True)
    with torch.no_grad():
        policy.mean.weight.mul_(20.0)  # some means fall outside [-1, 1] and are clamped
    hidden = torch.randn(64, 8)
    locations, log_pi = policy(hidden, sample=True)
    mean = policy.mean(hidden).clamp(-1.0, 1.0)
    assert (policy.mean(hidden).abs() > 1).any()
    raw = policy.mean_location(hidden)
    torch.testing.assert_close(raw, mean)
    assert locations.abs().max() <= 1.0
    # log pi of the raw (unclamped) sample: recover it from a second call with known noise.
    noise = torch.randn(64, 2)
    _, log_pi = policy(hidden, sample=True, noise=noise)
    expected = torch.distributions.Normal(mean, 0.3).log_prob(mean + 0.3 * noise).sum(-1)
    torch.testing.assert_close(log_pi, expected)
    # No gradient reaches a mean coordinate outside [-1, 1]; the others get one.
    captured = []
    policy.mean.register_forward_hook(lambda module, inputs, output: captured.append(output) or output.retain_grad())
    _, log_pi = policy(hidden, sample=True, noise=noise)
    log_pi.sum().backward()
    pre_activation = captured[-1]
    outside = pre_activation.detach().abs() > 1
    assert (pre_activation.grad[outside] == 0).all()
    assert (pre_activation.grad[~outside] != 0).all()
