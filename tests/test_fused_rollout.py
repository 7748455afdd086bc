"""The fused rollout gives the plain rollout's outputs and gradients (float32: to 1e-5), whatever the options."""

from __future__ import annotations

import pytest
import torch

from ram_lightning.losses import hybrid_loss
from ram_lightning.model import RAMOutput, RecurrentAttention
from ram_lightning.retina import Retina

SMALL = {"glimpse_hidden": 24, "location_hidden": 16, "glimpse_size": 40, "hidden_size": 32}
OPTIONS = {
    "rnn_relu": {},
    "rnn_tanh": {"activation": "tanh"},
    "lstm": {"core_type": "lstm"},
    "three_scales": {"patch_size": 6, "num_scales": 3, "num_glimpses": 5},
    "policy_gradient_into_core": {"detach_policy_input": False, "core_type": "lstm"},
    "linear_mean_random_start": {"tanh_mean": False, "init_location": "random"},
    "clamped_mean_policy_gradient_into_core": {"tanh_mean": False, "clamp_mean": True, "detach_policy_input": False},
    "running_mean_baseline": {"baseline": "running_mean", "in_channels": 3},
}
MODES = {"sampled": (True, False), "mean": (False, False), "random_glimpses": (True, True)}


def rollout(fused: bool, options: dict, sample: bool, random_glimpses: bool) -> tuple[RAMOutput, dict]:
    """Outputs and parameter gradients of one rollout and hybrid loss (per-step term on), from fixed seeds."""
    torch.manual_seed(0)
    model = RecurrentAttention(fused_rollout=fused, **{"num_glimpses": 4, "patch_size": 4, **SMALL, **options})
    model.random_glimpses = random_glimpses
    generator = torch.Generator().manual_seed(1)
    images = torch.rand(8, options.get("in_channels", 1), 24, 24, generator=generator)
    targets = torch.randint(0, 10, (8,), generator=generator)
    torch.manual_seed(2)
    output = model(images, sample=sample)
    hybrid_loss(output, targets, per_step_weight=0.5).total.backward()
    return output, {name: parameter.grad for name, parameter in model.named_parameters()}


@pytest.mark.parametrize("mode", sorted(MODES))
@pytest.mark.parametrize("name", sorted(OPTIONS))
def test_fused_equals_plain(name: str, mode: str):
    sample, random_glimpses = MODES[mode]
    plain, plain_grads = rollout(False, OPTIONS[name], sample, random_glimpses)
    fused, fused_grads = rollout(True, OPTIONS[name], sample, random_glimpses)
    for field in RAMOutput._fields:
        a, b = getattr(plain, field), getattr(fused, field)
        assert a.shape == b.shape, field
        torch.testing.assert_close(b, a, atol=1e-5, rtol=1e-5, msg=field)
    for key, grad in plain_grads.items():
        assert (grad is None) == (fused_grads[key] is None), key
        if grad is not None:
            torch.testing.assert_close(fused_grads[key], grad, atol=1e-6, rtol=1e-4, msg=key)
    assert any(grad is not None and grad.abs().sum() > 0 for grad in fused_grads.values())


def _node_names(tensor: torch.Tensor) -> set[str]:
    """Names of every autograd node behind ``tensor``."""
    names, stack, seen = set(), [tensor.grad_fn], set()
    while stack:
        node = stack.pop()
        if node is None or node in seen:
            continue
        seen.add(node)
        names.add(type(node).__name__)
        stack.extend(next_node for next_node, _ in node.next_functions)
    return names


def test_the_flag_chooses_the_implementation():
    images = torch.rand(2, 1, 28, 28)
    assert "_FusedRolloutBackward" in _node_names(RecurrentAttention()(images).log_probs)
    assert "_FusedRolloutBackward" not in _node_names(RecurrentAttention(fused_rollout=False)(images).log_probs)


def test_images_that_need_a_gradient_get_it_from_the_plain_path():
    torch.manual_seed(0)
    model = RecurrentAttention(num_glimpses=3)
    images = torch.rand(4, 1, 28, 28, requires_grad=True)
    model(images, sample=False).log_probs[:, -1].sum().backward()
    assert images.grad is not None and images.grad.abs().sum() > 0


@pytest.mark.parametrize(("patch_size", "num_scales", "channels", "size"), [(8, 1, 1, (28, 28)), (5, 3, 2, (30, 41))])
def test_padded_read_equals_forward(patch_size: int, num_scales: int, channels: int, size: tuple[int, int]):
    retina = Retina(patch_size, num_scales)
    height, width = size
    generator = torch.Generator().manual_seed(0)
    images = torch.rand(64, channels, height, width, generator=generator)
    locations = torch.rand(64, 2, generator=generator) * 2 - 1  # (B, 2)
    locations[:5] = torch.tensor([[-1.0, -1.0], [1.0, 1.0], [0.0, 0.0], [1.0, -1.0], [-1.0, 0.3]])
    expected = retina(images, locations)
    assert torch.equal(retina.read(retina.pad(images), locations), expected)
    out = torch.empty_like(expected)
    retina.read(retina.pad(images), locations, out=out)
    assert torch.equal(out, expected)
