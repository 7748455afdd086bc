"""Bad checkpoints and diverging training stop with clear messages."""

from functools import partial
from pathlib import Path

import pytest
import pytorch_lightning as pl
import torch
from pytorch_lightning.callbacks import ModelCheckpoint
from torch.utils.data import DataLoader, TensorDataset

from ram_lightning.cli import main
from ram_lightning.errors import ConfigError, TrainingDivergedError
from ram_lightning.system import RAMSystem

REPO_ROOT = Path(__file__).resolve().parent.parent


def _small_system(**kwargs) -> RAMSystem:
    return RAMSystem(
        num_glimpses=2,
        hidden_size=16,
        glimpse_size=16,
        glimpse_hidden=8,
        location_hidden=8,
        optimizer=partial(torch.optim.SGD, lr=0.1),
        **kwargs,
    )


def _loader(images: torch.Tensor) -> DataLoader:
    return DataLoader(TensorDataset(images, torch.randint(0, 10, (len(images),))), batch_size=8)


def _trainer(tmp_path: Path, max_epochs: int) -> pl.Trainer:
    return pl.Trainer(
        max_epochs=max_epochs,
        logger=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        callbacks=[ModelCheckpoint(dirpath=tmp_path, filename="last", save_top_k=1, monitor=None)],
    )


def test_non_finite_loss_names_the_step_and_keeps_the_last_good_checkpoint(tmp_path):
    system = _small_system()
    _trainer(tmp_path, 1).fit(system, _loader(torch.rand(16, 1, 28, 28)))
    good = (tmp_path / "last.ckpt").read_bytes()

    poisoned = torch.rand(16, 1, 28, 28)
    poisoned[8:] = float("nan")  # the second batch of the next epoch
    expected = r"non-finite loss at epoch 1, global step 3 .*last good checkpoint"
    with pytest.raises(TrainingDivergedError, match=expected):
        _trainer(tmp_path, 2).fit(system, _loader(poisoned), ckpt_path=tmp_path / "last.ckpt")
    assert (tmp_path / "last.ckpt").read_bytes() == good


def test_checkpoint_of_another_architecture_is_rejected_with_the_shapes():
    other = _small_system(num_scales=2)
    system = _small_system()
    with pytest.raises(ConfigError, match=r"model.glimpse.what.weight \(8, 128\) instead of \(8, 64\)"):
        system.on_load_checkpoint({"state_dict": other.state_dict()})


@pytest.mark.parametrize(
    ("content", "message"),
    [(None, "checkpoint not found"), (b"not a checkpoint at all", "is not a PyTorch checkpoint")],
)
def test_unusable_checkpoint_path_fails_with_one_line(tmp_path, capsys, content, message):
    path = tmp_path / "model.ckpt"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(SystemExit) as exit_info:
        main(["test", "--config", str(REPO_ROOT / "configs" / "mnist.yaml"), "--ckpt_path", str(path)])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert message in err and str(path) in err
    assert "Traceback" not in err


@pytest.mark.parametrize("save_every_step", [False, True])
def test_non_finite_loss_between_logged_steps_names_its_first_step_and_is_never_saved(tmp_path, save_every_step):
    images = torch.rand(32, 1, 28, 28)
    images[8:16] = float("nan")  # the second of 4 batches: global step 1, not a step the logger writes
    checkpoint = ModelCheckpoint(dirpath=tmp_path, every_n_train_steps=1 if save_every_step else None)
    trainer = pl.Trainer(
        max_epochs=1,
        logger=False,
        log_every_n_steps=50,
        enable_progress_bar=False,
        enable_model_summary=False,
        callbacks=[checkpoint],
    )
    # Saved after every step: the save after step 1 stops it. Otherwise the check at the epoch's last batch does,
    # the weights being non-finite since step 1.
    expected = "global step 1;" if save_every_step else r"global steps 1 to 3 \(total=nan"
    with pytest.raises(TrainingDivergedError, match=expected):
        trainer.fit(_small_system(), _loader(images))
    assert [path.name for path in tmp_path.glob("*.ckpt")] == (["epoch=0-step=1.ckpt"] if save_every_step else [])
