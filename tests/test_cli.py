"""The real command line: fast_dev_run, resume from last.ckpt, clean errors."""

import logging
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from ram_lightning.cli import create_cli, main
from ram_lightning.system import RAMSystem

REPO_ROOT = Path(__file__).resolve().parent.parent

MNIST_CONFIG = str(REPO_ROOT / "configs" / "mnist.yaml")


def _fit_args(data_dir: Path, log_dir: Path, *extra: str) -> list[str]:
    return [
        "fit",
        "--config",
        MNIST_CONFIG,
        "--data.data_dir",
        str(data_dir),
        "--data.download",
        "false",
        "--trainer.logger.init_args.save_dir",
        str(log_dir),
        "--trainer.enable_progress_bar",
        "false",
        *extra,
    ]


def test_fast_dev_run_through_the_console_entry_point(data_dir, tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "ram_lightning", *_fit_args(data_dir, tmp_path, "--trainer.fast_dev_run", "true")],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "max_steps=1" in result.stdout + result.stderr


def test_resume_from_last_checkpoint_restores_epoch_optimizer_and_std(data_dir, tmp_path):
    short = ["--trainer.limit_train_batches", "3", "--trainer.limit_val_batches", "2"]
    main(_fit_args(data_dir, tmp_path, "--trainer.max_epochs", "1", *short))
    last = tmp_path / "mnist" / "version_0" / "checkpoints" / "last.ckpt"
    assert last.is_file()
    checkpoint = torch.load(last, weights_only=False)
    assert checkpoint["epoch"] == 0 and checkpoint["global_step"] == 3
    checkpoint["state_dict"]["model.policy.std"].fill_(0.037)
    torch.save(checkpoint, last)

    main(_fit_args(data_dir, tmp_path, "--trainer.max_epochs", "2", "--ckpt_path", str(last), *short))
    resumed = torch.load(tmp_path / "mnist" / "version_1" / "checkpoints" / "last.ckpt", weights_only=False)
    assert resumed["epoch"] == 1
    assert resumed["global_step"] == 6, "training continued from step 3"
    assert resumed["state_dict"]["model.policy.std"].item() == pytest.approx(0.037)
    adam_steps = {int(state["step"]) for state in resumed["optimizer_states"][0]["state"].values()}
    assert adam_steps == {6}, "the optimizer state (Adam step count) was restored, not restarted"


@pytest.mark.parametrize(
    ("override", "message"),
    [
        (["--model.std", "0"], "model.std must be > 0"),
        (["--data.batch_size", "0"], "data.batch_size must be >= 1"),
        (["--model.patch_size", "40"], "model.patch_size=40"),
        (["--model.num_scales", "4"], "lower model.num_scales"),
        (["--model.num_glimpses", "0"], "model.num_glimpses must be >= 1"),
    ],
)
def test_bad_config_values_fail_early_with_one_line(data_dir, tmp_path, override, message, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(_fit_args(data_dir, tmp_path, "--trainer.fast_dev_run", "true", *override))
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert message in err
    assert "Traceback" not in err


def test_missing_data_names_the_files_and_the_fix(tmp_path, capsys):
    with pytest.raises(SystemExit):
        main(_fit_args(tmp_path / "empty", tmp_path, "--trainer.fast_dev_run", "true"))
    err = capsys.readouterr().err
    assert "train-images-idx3-ubyte.gz" in err and "MISSING" in err
    assert str(tmp_path / "empty" / "MNIST" / "raw") in err
    assert "download" in err


SHIPPED_MNIST = REPO_ROOT / "results" / "mnist" / "model.ckpt"  # saved with eval_samples 0, std 0.1, hidden 512


def test_a_checkpoint_is_evaluated_as_the_command_line_says(data_dir, tmp_path):
    args = [
        "test", "--ckpt_path", str(SHIPPED_MNIST), "--data.data_dir", str(data_dir), "--data.download", "false",
        "--data.eval_batch_size", "100", "--trainer.limit_test_batches", "1", "--trainer.logger", "false",
        "--trainer.enable_progress_bar", "false", "--trainer.default_root_dir", str(tmp_path),
    ]  # fmt: skip
    saved = create_cli(args).model
    assert (saved.hparams.eval_samples, saved.hparams.std, saved.hparams.hidden_size) == (0, 0.1, 512)

    changed = ["--model.eval_samples", "3", "--model.std", "0.05", "--model.per_step_weight", "0.5"]
    with pytest.warns(UserWarning, match="model.hidden_size=64 replaced by the checkpoint's 512"):
        cli = create_cli([*args, *changed, "--model.hidden_size", "64"])
    system = cli.model
    assert (system.hparams.eval_samples, system.hparams.std, system.hparams.per_step_weight) == (3, 0.05, 0.5)
    assert system.model.policy.std.item() == pytest.approx(0.05), "the given std replaced the saved buffer"
    assert system.hparams.hidden_size == 512 and system.model.core.hidden_size == 512
    # The test error is the 3-rollout ensemble's with std 0.05, as a direct evaluation of the checkpoint's weights
    # with those settings finds it.
    images, labels, indices = cli.datamodule.on_after_batch_transfer(next(iter(cli.datamodule.test_dataloader())), 0)
    reference = RAMSystem.load_from_checkpoint(SHIPPED_MNIST, eval_samples=3).eval()
    reference.model.policy.std.fill_(0.05)
    with torch.no_grad():
        errors = (reference(images, indices).argmax(dim=-1) != labels).float().mean()
    assert float(cli.trainer.callback_metrics["test/err"]) == pytest.approx(float(errors))


def test_resuming_follows_the_std_and_loss_weights_of_the_command_line(data_dir, tmp_path, caplog):
    short = ["--trainer.limit_train_batches", "2", "--trainer.limit_val_batches", "1"]
    main(_fit_args(data_dir, tmp_path, "--trainer.max_epochs", "1", *short))
    last = tmp_path / "mnist" / "version_0" / "checkpoints" / "last.ckpt"

    changed = ["--model.std", "0.05", "--model.reinforce_weight", "0.5"]
    with caplog.at_level(logging.INFO):
        main(_fit_args(data_dir, tmp_path, "--trainer.max_epochs", "2", "--ckpt_path", str(last), *short, *changed))
    assert "model.std=0.05 replaces the checkpoint's policy std 0.15" in caplog.text
    resumed = torch.load(tmp_path / "mnist" / "version_1" / "checkpoints" / "last.ckpt", weights_only=False)
    assert resumed["epoch"] == 1
    assert resumed["state_dict"]["model.policy.std"].item() == pytest.approx(0.05)
    assert (resumed["hyper_parameters"]["std"], resumed["hyper_parameters"]["reinforce_weight"]) == (0.05, 0.5)


def test_save_last_is_honoured_or_refused(data_dir, tmp_path, capsys):
    one_epoch = ["--trainer.max_epochs", "1", "--trainer.limit_train_batches", "1", "--trainer.limit_val_batches", "1"]
    main(_fit_args(data_dir, tmp_path, *one_epoch, "--checkpoint.save_last", "false"))
    written = [path.name for path in (tmp_path / "mnist" / "version_0" / "checkpoints").iterdir()]
    assert len(written) == 1 and written[0].startswith("epoch=0-val_err="), "the best checkpoint, no last.ckpt"

    with pytest.raises(SystemExit) as exit_info:
        main(_fit_args(data_dir, tmp_path, *one_epoch, "--checkpoint.save_last", "link"))
    assert exit_info.value.code == 2
    assert "checkpoint.save_last must be true" in capsys.readouterr().err
    assert sorted(path.name for path in (tmp_path / "mnist").iterdir()) == ["version_0"], "refused before training"
