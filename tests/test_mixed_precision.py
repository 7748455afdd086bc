"""Mixed precision on CPU stand-ins for GPUs: bfloat16 and float16 autocast, float16 with an explicit GradScaler."""

from __future__ import annotations

from functools import partial
from pathlib import Path

import pytest
import torch
from pytorch_lightning.plugins import MixedPrecision
from tiny_training import ToyData, tiny_system, tiny_trainer


def _precision(name: str) -> dict:
    """Trainer arguments for ``name`` on CPU; float16 gets an explicit GradScaler (Lightning's CPU default is none)."""
    if name == "16-mixed":
        return {"plugins": [MixedPrecision("16-mixed", "cpu", torch.amp.GradScaler("cpu", init_scale=2.0**10))]}
    return {"precision": name}


@pytest.mark.parametrize("fused", [False, True], ids=["foreach", "fused"])
@pytest.mark.parametrize("precision", ["32-true", "bf16-mixed", "16-mixed"])
def test_gradient_clipping_bounds_the_unscaled_update(tmp_path: Path, precision: str, fused: bool):
    clip = 1e-3  # far below the gradient's norm: every step is clipped
    system = tiny_system(gradient_clip_norm=clip, optimizer=partial(torch.optim.SGD, lr=1.0, fused=fused))
    before = [parameter.detach().clone() for parameter in system.parameters()]
    trainer = tiny_trainer(tmp_path, [], 1, limit_train_batches=1, limit_val_batches=0, **_precision(precision))
    trainer.fit(system, ToyData())
    # Plain SGD with lr 1 moves the weights by the clipped gradient: its norm is the clip value, whatever the
    # precision. Clipping the GradScaler's scaled gradient would move them 1024 times less.
    update = torch.cat([(p.detach() - b).flatten() for p, b in zip(system.parameters(), before, strict=True)])
    assert update.norm().item() == pytest.approx(clip, rel=1e-3)
