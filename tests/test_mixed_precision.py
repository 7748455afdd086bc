"""Mixed precision on CPU stand-ins for GPUs: bfloat16 and float16 autocast, float16 with an explicit GradScaler."""

from __future__ import annotations

from functools import partial
from pathlib import Path

import pytest
import torch
from pytorch_lightning.plugins import MixedPrecision
from tiny_training import ToyData, tiny_system, tiny_trainer, toy_images
from torch.utils.data import DataLoader, TensorDataset

from ram_lightning.divergence import SKIPPED_STEPS_LIMIT
from ram_lightning.errors import TrainingDivergedError


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


def _overflowing_loader(batches: int, overflowing: int, factor: float = 1e6) -> DataLoader:
    """``batches`` toy batches of 8 images; the pixels of the first ``overflowing`` are multiplied by ``factor``:
    by default beyond float16's range (finite in float32, infinite where the rollout computes in float16)."""
    images, labels = toy_images(8 * batches, seed=3)
    images[: 8 * overflowing] *= factor
    return DataLoader(TensorDataset(images, labels), batch_size=8)


def test_an_overflow_the_grad_scaler_skips_does_not_stop_training(tmp_path: Path):
    system = tiny_system()
    trainer = tiny_trainer(tmp_path, [], 1, limit_train_batches=4, limit_val_batches=0, **_precision("16-mixed"))
    trainer.fit(system, train_dataloaders=_overflowing_loader(batches=4, overflowing=1))
    assert trainer.state.finished and trainer.global_step == 4
    assert trainer.precision_plugin.scaler.get_scale() == 2.0**9  # the first step was skipped, its scale halved
    assert all(torch.isfinite(parameter).all() for parameter in system.parameters())


def test_a_loss_that_stays_non_finite_under_the_grad_scaler_stops_training(tmp_path: Path):
    batches = SKIPPED_STEPS_LIMIT + 4
    trainer = tiny_trainer(tmp_path, [], 1, limit_train_batches=batches, limit_val_batches=0, **_precision("16-mixed"))
    with pytest.raises(TrainingDivergedError, match=f"global steps 0 to {SKIPPED_STEPS_LIMIT - 1} "):
        # Infinite pixels: a non-finite loss whichever operations this torch version's autocast runs in float16
        # (with 1e6 pixels, torch 2.11 did not fail every step, and this training went on).
        loader = _overflowing_loader(batches=batches, overflowing=batches, factor=float("inf"))
        trainer.fit(tiny_system(), train_dataloaders=loader)


def test_steps_the_grad_scaler_keeps_skipping_stop_training_even_with_a_finite_loss(tmp_path: Path):
    # Gradients that overflow while the loss stays finite (float16 activations' gradients can, where the forward
    # pass did not): every step is skipped, which is divergence just as surely as a non-finite loss.
    system = tiny_system()
    system.model.action.classifier.weight.register_hook(lambda gradient: torch.full_like(gradient, float("inf")))
    batches = SKIPPED_STEPS_LIMIT + 4
    trainer = tiny_trainer(tmp_path, [], 1, limit_train_batches=batches, limit_val_batches=0, **_precision("16-mixed"))
    with pytest.raises(TrainingDivergedError, match=f"global steps 0 to {SKIPPED_STEPS_LIMIT - 1} "):
        trainer.fit(system, train_dataloaders=_overflowing_loader(batches=batches, overflowing=0))
