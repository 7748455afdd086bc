"""compile_rollout: the step-by-step rollout through torch.compile gives the plain rollout's results.

The test compiles with the ``aot_eager`` backend (dynamo's graph capture and AOTAutograd's joint forward-backward,
without inductor's C++ code generation, which takes tens of seconds on two cores).
"""

from __future__ import annotations

import torch

import ram_lightning.model as model_module
from ram_lightning.losses import hybrid_loss
from ram_lightning.model import RAMOutput, RecurrentAttention

SMALL = {"num_glimpses": 3, "patch_size": 4, "glimpse_hidden": 16, "location_hidden": 8, "glimpse_size": 24}


def _run(compiled: bool, sample: bool) -> tuple[RAMOutput, dict[str, torch.Tensor]]:
    torch.manual_seed(0)
    model = RecurrentAttention(hidden_size=16, compile_rollout=compiled, fused_rollout=False, **SMALL)
    generator = torch.Generator().manual_seed(1)
    images, targets = torch.rand(8, 1, 16, 16, generator=generator), torch.randint(0, 10, (8,), generator=generator)
    torch.manual_seed(2)
    output = model(images, sample=sample)
    hybrid_loss(output, targets, per_step_weight=0.5).total.backward()
    return output, {name: p.grad for name, p in model.named_parameters()}


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


def test_compiled_equals_plain(monkeypatch):
    monkeypatch.setattr(model_module, "COMPILE_BACKEND", "aot_eager")
    for sample in (True, False):
        plain, plain_grads = _run(False, sample)
        compiled, compiled_grads = _run(True, sample)
        assert "CompiledFunctionBackward" in _node_names(compiled.log_probs), "the rollout was not compiled"
        for field in RAMOutput._fields:
            torch.testing.assert_close(getattr(compiled, field), getattr(plain, field), atol=1e-5, rtol=1e-5)
        for name, grad in plain_grads.items():
            torch.testing.assert_close(compiled_grads[name], grad, atol=1e-6, rtol=1e-4, msg=name)
