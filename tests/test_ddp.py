"""Two CPU processes (gloo) train and test through the CLI, with the results of one process (Monte-Carlo evaluation
included: each image's noise is seeded by its dataset index)."""

import subprocess
import sys
from pathlib import Path

import pytest
from ddp_launch import run_ddp_script
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from ram_lightning.cli import create_cli

REPO_ROOT = Path(__file__).resolve().parent.parent
CONFIGS = ["--config", str(REPO_ROOT / "configs/mnist.yaml"), "--config", str(REPO_ROOT / "configs/trainer/ddp.yaml")]


def _scalars(log_dir: Path, tag: str) -> list[float]:
    events = EventAccumulator(str(log_dir), size_guidance={"scalars": 0})
    events.Reload()
    return [event.value for event in events.Scalars(tag)] if tag in events.Tags()["scalars"] else []


@pytest.mark.slow
def test_two_process_fit_and_test_match_single_process(data_dir, tmp_path):
    data = ["--data.data_dir", str(data_dir), "--data.download", "false"]
    quiet = ["--trainer.enable_progress_bar", "false"]
    two_processes = ["--trainer.accelerator", "cpu", "--trainer.devices", "2"]
    ten_rollouts = ["--model.eval_samples", "10"]
    common = [*data, *quiet, *two_processes, *ten_rollouts, "--trainer.logger.init_args.save_dir", str(tmp_path)]
    # Monte-Carlo training: 4 rollouts of every image, leave-one-out baseline (the config's), on both processes.
    fit = [*CONFIGS, *common, "--trainer.max_epochs", "1", "--trainer.limit_train_batches", "30"]
    fit += ["--model.train_samples", "4"]
    fit += ["--trainer.limit_val_batches", "1", "--data.eval_batch_size", "500"]
    run = subprocess.run(
        [sys.executable, "-m", "ram_lightning", "fit", *fit], capture_output=True, text=True, cwd=tmp_path, timeout=600
    )
    assert run.returncode == 0, run.stderr[-3000:]
    versions = sorted(p.name for p in (tmp_path / "mnist").iterdir())
    assert versions == ["version_0"], "one run directory, written by rank 0 only"
    checkpoint = tmp_path / "mnist" / "version_0" / "checkpoints" / "last.ckpt"
    assert checkpoint.is_file()

    # The first 1,000 test images with 10-rollout evaluation: 500 per process, then 1,000 in one.
    first_1000 = ["--trainer.limit_test_batches", "1", "--ckpt_path", str(checkpoint)]
    test = [*CONFIGS, *common, *first_1000, "--data.eval_batch_size", "500"]
    command = [sys.executable, "-m", "ram_lightning", "test", *test]
    run = subprocess.run(command, capture_output=True, text=True, cwd=tmp_path, timeout=600)
    assert run.returncode == 0, run.stderr[-3000:]
    ddp_acc = _scalars(tmp_path / "mnist" / "version_1", "test/acc")
    assert len(ddp_acc) == 1

    single_args = ["test", "--config", str(REPO_ROOT / "configs" / "mnist.yaml"), *data, *quiet, *ten_rollouts]
    single_args += first_1000
    single_args += ["--data.eval_batch_size", "1000", "--trainer.logger", "false"]
    single = create_cli([*single_args, "--trainer.default_root_dir", str(tmp_path / "single")])
    assert single.trainer.world_size == 1 and single.model.hparams.eval_samples == 10
    assert ddp_acc[0] == pytest.approx(float(single.trainer.callback_metrics["test/acc"]), abs=1e-7)


BASELINE_SCRIPT = Path(__file__).resolve().parent / "ddp_baseline_script.py"


def test_running_mean_baseline_counts_every_process_and_an_unseeded_run_shares_one_shuffling_seed(data_dir, tmp_path):
    result = run_ddp_script(BASELINE_SCRIPT, str(data_dir), str(tmp_path), timeout=300, unseeded=True)  # no seed
    # Rank 0 rewards 0, rank 1 rewards 1: every step the average moves halfway towards their mean, 0.5.
    expected = 0.5 * (1.0 - 0.5 ** result["steps"])
    assert result["steps"] == 3
    assert result["mean_reward"] == pytest.approx([expected, expected])
    seeds = result["seed"]
    assert seeds[0] == seeds[1], "both processes shuffle with the same permutation"
