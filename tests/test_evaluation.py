"""Evaluation on real MNIST: Monte-Carlo errors and predictions do not depend on the batch size; predict_step."""

from __future__ import annotations

from pathlib import Path

import pytest
import pytorch_lightning as pl
import torch

from ram_lightning.data import RAMDataModule
from ram_lightning.evaluation import predict_log_probs
from ram_lightning.system import RAMSystem

SMALL = {"glimpse_hidden": 16, "location_hidden": 16, "glimpse_size": 32, "hidden_size": 32, "num_glimpses": 4}
IMAGES = 1000  # the first test images


@pytest.fixture(scope="module")
def trained(data_dir: Path) -> dict[str, torch.Tensor]:
    """Weights of a small model trained for 100 steps: its predictions depend on where it looks."""
    data = RAMDataModule(data_dir=str(data_dir), download=False, batch_size=32, val_size=100)
    pl.seed_everything(0)
    system = _system(optimizer=lambda params: torch.optim.Adam(params, lr=3e-3))
    trainer = pl.Trainer(
        accelerator="cpu", devices=1, logger=False, enable_progress_bar=False, enable_model_summary=False,
        enable_checkpointing=False, max_epochs=1, limit_train_batches=100, limit_val_batches=0,
    )  # fmt: skip
    trainer.fit(system, datamodule=data)
    return system.state_dict()


def _system(state_dict: dict[str, torch.Tensor] | None = None, **overrides) -> RAMSystem:
    """A small model with glimpses spread widely (std 0.3), so that its predictions depend on the noise."""
    torch.manual_seed(0)
    settings = {"eval_samples": 3, "std": 0.3, "init_location": "random", "autocast": "off", **SMALL}
    system = RAMSystem(**{**settings, **overrides})
    if state_dict is not None:
        system.load_state_dict(state_dict)
    return system


def _trainer(batches: int) -> pl.Trainer:
    return pl.Trainer(
        accelerator="cpu", devices=1, logger=False, enable_progress_bar=False, enable_model_summary=False,
        limit_test_batches=batches, limit_predict_batches=batches,
    )  # fmt: skip


def _test_and_predict(
    data_dir: Path, weights: dict[str, torch.Tensor], eval_batch_size: int
) -> tuple[float, dict[str, torch.Tensor]]:
    """Test error and predictions of the model with ``weights`` on the first ``IMAGES`` test images."""
    data = RAMDataModule(data_dir=str(data_dir), download=False, eval_batch_size=eval_batch_size)
    system, trainer = _system(weights), _trainer(IMAGES // eval_batch_size)
    error = trainer.test(system, datamodule=data, verbose=False)[0]["test/err"]
    batches = trainer.predict(system, datamodule=data)
    return error, {key: torch.cat([batch[key] for batch in batches]) for key in batches[0]}


def test_monte_carlo_error_and_predictions_do_not_depend_on_the_evaluation_batch_size(
    data_dir: Path, trained: dict[str, torch.Tensor]
) -> None:
    error_100, predicted_100 = _test_and_predict(data_dir, trained, 100)
    error_1000, predicted_1000 = _test_and_predict(data_dir, trained, 1000)
    assert predicted_1000["preds"].shape == (IMAGES,)
    assert error_100 == error_1000
    assert torch.equal(predicted_100["targets"], predicted_1000["targets"])
    assert torch.equal(predicted_100["preds"], predicted_1000["preds"])
    torch.testing.assert_close(predicted_100["locations"], predicted_1000["locations"], rtol=0, atol=1e-5)
    assert error_1000 == pytest.approx((predicted_1000["preds"] != predicted_1000["targets"]).float().mean().item())


def test_predict_step_returns_the_predictions_labels_and_first_rollout(
    data_dir: Path, trained: dict[str, torch.Tensor]
) -> None:
    data = RAMDataModule(data_dir=str(data_dir), download=False, eval_batch_size=50)
    system = _system(trained)
    (predicted,) = _trainer(1).predict(system, datamodule=data)
    images, labels, indices = data.on_after_batch_transfer(next(iter(data.predict_dataloader())), 0)
    assert torch.equal(indices, torch.arange(50))
    log_probs, locations = predict_log_probs(
        system.model, images, 3, [torch.Generator().manual_seed(20141 + index) for index in range(50)]
    )
    assert torch.equal(predicted["targets"], labels)
    assert torch.equal(predicted["preds"], log_probs.argmax(dim=-1))
    assert predicted["locations"].shape == (50, SMALL["num_glimpses"], 2)
    torch.testing.assert_close(predicted["locations"], locations)
    assert predicted["locations"].abs().max() <= 1 and predicted["locations"][:, 1:].std() > 0.1


def test_monte_carlo_evaluation_without_dataset_indices_is_refused_naming_the_fix() -> None:
    images, labels = torch.rand(4, 1, 28, 28), torch.randint(0, 10, (4,))
    with pytest.raises(ValueError, match=r"model.eval_samples=3 .* \(images, labels, indices\)"):
        _system().eval().validation_step((images, labels), 0)
    mean_path = _system(eval_samples=0).eval()
    mean_path.validation_step((images, labels), 0)  # the policy mean needs no indices
    assert mean_path.val_acc.update_count == 1
