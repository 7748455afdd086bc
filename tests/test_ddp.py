"""Two CPU processes (gloo) train and test through the CLI, with the results of one process."""

import subprocess
import sys
from pathlib import Path

import pytest
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from ram_lightning.cli import create_cli

REPO_ROOT = Path(__file__).resolve().parent.parent
CONFIGS = ["--config", str(REPO_ROOT / "configs/mnist.yaml"), "--config", str(REPO_ROOT / "configs/trainer/ddp.yaml")]
# Evaluation along the policy mean: Monte-Carlo evaluation seeds its noise by each process's batch index, so with two
# processes the same image gets other noise than with one (an equally valid estimate, not the same number).
MEAN_PATH = ["--model.eval_samples", "0"]


def _scalars(log_dir: Path, tag: str) -> list[float]:
    events = EventAccumulator(str(log_dir), size_guidance={"scalars": 0})
    events.Reload()
    return [event.value for event in events.Scalars(tag)] if tag in events.Tags()["scalars"] else []


@pytest.mark.slow
def test_two_process_fit_and_test_match_single_process(data_dir, tmp_path):
    common = [
        "--data.data_dir",
        str(data_dir),
        "--data.download",
        "false",
        "--data.eval_batch_size",
        "1000",
        "--trainer.logger.init_args.save_dir",
        str(tmp_path),
        "--trainer.accelerator",
        "cpu",
        "--trainer.devices",
        "2",
        "--trainer.enable_progress_bar",
        "false",
        *MEAN_PATH,
    ]
    fit = [
        *CONFIGS,
        *common,
        "--trainer.max_epochs",
        "1",
        "--trainer.limit_train_batches",
        "4",
        "--trainer.limit_val_batches",
        "1",
    ]
    run = subprocess.run(
        [sys.executable, "-m", "ram_lightning", "fit", *fit], capture_output=True, text=True, cwd=tmp_path, timeout=600
    )
    assert run.returncode == 0, run.stderr[-3000:]
    versions = sorted(p.name for p in (tmp_path / "mnist").iterdir())
    assert versions == ["version_0"], "one run directory, written by rank 0 only"
    checkpoint = tmp_path / "mnist" / "version_0" / "checkpoints" / "last.ckpt"
    assert checkpoint.is_file()

    run = subprocess.run(
        [sys.executable, "-m", "ram_lightning", "test", *CONFIGS, *common, "--ckpt_path", str(checkpoint)],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=600,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    ddp_acc = _scalars(tmp_path / "mnist" / "version_1", "test/acc")
    assert len(ddp_acc) == 1

    single_args = ["test", "--config", str(REPO_ROOT / "configs" / "mnist.yaml"), *common[:6], "--ckpt_path"]
    single_args += [str(checkpoint), "--trainer.logger", "false", "--trainer.enable_progress_bar", "false", *MEAN_PATH]
    single = create_cli([*single_args, "--trainer.default_root_dir", str(tmp_path / "single")])
    assert single.trainer.world_size == 1
    assert ddp_acc[0] == pytest.approx(float(single.trainer.callback_metrics["test/acc"]), abs=1e-7)
