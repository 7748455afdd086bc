"""Optimizers and schedulers are one config line away; a scheduler is stepped by hand once per epoch, ReduceLROnPlateau
after each validation."""

from pathlib import Path

import pytest
import pytorch_lightning as pl
import torch
from tiny_training import MemoryLogger, ToyData, tiny_system, tiny_trainer
from torch.optim.lr_scheduler import ReduceLROnPlateau
from torch.utils.data import DataLoader, TensorDataset

from ram_lightning.cli import create_cli
from ram_lightning.errors import ConfigError

REPO_ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize("name", ["SGD", "Adam", "Adagrad", "Adadelta"])
def test_optimizer_from_the_command_line(name):
    cli = create_cli(
        [
            "--config",
            str(REPO_ROOT / "configs" / "mnist.yaml"),
            "--model.optimizer",
            f"torch.optim.{name}",
            "--model.optimizer.lr",
            "0.05",
        ],
        run=False,
    )
    configured = cli.model.configure_optimizers()  # the config's scheduler makes it a dict
    optimizer = configured["optimizer"] if isinstance(configured, dict) else configured
    assert type(optimizer).__name__ == name
    assert optimizer.param_groups[0]["lr"] == pytest.approx(0.05)


def test_linear_decay_scheduler_is_stepped_each_epoch(tmp_path):
    scheduler = ["--model.lr_scheduler", "torch.optim.lr_scheduler.LinearLR"]
    scheduler += ["--model.lr_scheduler.start_factor", "1.0", "--model.lr_scheduler.end_factor", "0.0"]
    scheduler += ["--model.lr_scheduler.total_iters", "4"]
    sgd = ["--model.optimizer", "torch.optim.SGD", "--model.optimizer.lr", "0.1", "--model.optimizer.momentum", "0.9"]
    cli = create_cli(["--config", str(REPO_ROOT / "configs" / "mnist.yaml"), *sgd, *scheduler], run=False)
    data = TensorDataset(torch.rand(16, 1, 28, 28), torch.randint(0, 10, (16,)))
    trainer = pl.Trainer(
        max_epochs=2, logger=False, enable_checkpointing=False, enable_progress_bar=False,
        enable_model_summary=False, default_root_dir=tmp_path,
    )  # fmt: skip
    trainer.fit(cli.model, train_dataloaders=DataLoader(data, batch_size=8))
    optimizer = cli.model.optimizers().optimizer
    assert optimizer.param_groups[0]["lr"] == pytest.approx(0.05), "0.1 decayed linearly over 4 epochs, 2 done"
    assert trainer.callback_metrics["train/lr"] == pytest.approx(0.075), "logged at the start of epoch 2"


def test_reduce_on_plateau_steps_on_each_fresh_validation_only(tmp_path):
    def plateau(optimizer: torch.optim.Optimizer) -> ReduceLROnPlateau:
        # Every error after the first counts as a plateau (an improvement would need a drop of 2).
        return ReduceLROnPlateau(optimizer, factor=0.5, patience=0, threshold=2.0, threshold_mode="abs")

    system = tiny_system(optimizer=lambda params: torch.optim.SGD(params, lr=0.1), lr_scheduler=plateau)
    logger = MemoryLogger()
    trainer = tiny_trainer(tmp_path, [], max_epochs=4, logger=logger, check_val_every_n_epoch=2)
    trainer.fit(system, ToyData())
    assert len(logger.series("val/err")) == 2, "validations after epochs 1 and 3"
    # The first validation sets the best error, the second is a plateau: one halving. Stepping at every epoch end
    # on the last logged val/err would count epoch 2's stale error as a plateau too (and halve the rate twice).
    assert system.optimizers().optimizer.param_groups[0]["lr"] == pytest.approx(0.05)
    assert logger.series("train/lr") == pytest.approx([0.1, 0.1, 0.1, 0.1])


@pytest.mark.parametrize("key", ["optimizer", "lr_scheduler"])
def test_a_factory_that_is_not_callable_is_rejected_when_the_system_is_built(key):
    mapping = {"class_path": "torch.optim.Adam", "init_args": {"lr": 0.01}}
    with pytest.raises(ConfigError, match=rf"^model\.{key} must be a callable .* got the dict"):
        tiny_system(**{key: mapping})
