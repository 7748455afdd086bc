"""What RAMSystem checks and sets for DDP before training: parameters that get no gradient, threads per process."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
from ddp_launch import run_ddp_script
from pytorch_lightning.accelerators import CPUAccelerator, CUDAAccelerator
from tiny_training import ToyData, tiny_system, tiny_trainer

from ram_lightning.errors import ConfigError

SCRIPT = Path(__file__).resolve().parent / "ddp_mixed_precision_script.py"


@pytest.fixture
def ddp_in_this_process() -> Iterator[None]:
    """A port of its own for DDP in the test process; afterwards the process group is destroyed and the environment
    restored (Lightning sets LOCAL_RANK and NODE_RANK, which would make a later test's DDP launch wait for processes
    it believes someone else starts)."""
    saved = dict(os.environ)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(probe.getsockname()[1]))
    yield
    if torch.distributed.is_initialized():
        torch.distributed.destroy_process_group()
    os.environ.clear()
    os.environ.update(saved)


def _fit_ddp(tmp_path: Path, strategy: str, **options) -> None:
    """Three steps under DDP in this one process (the failure of unused parameters shows from the second step)."""
    trainer = tiny_trainer(tmp_path, [], 1, limit_train_batches=3, limit_val_batches=0, strategy=strategy, devices=1)
    trainer.fit(tiny_system(**options), ToyData())


@pytest.mark.parametrize(
    ("options", "setting"),
    [
        ({"reinforce_weight": 0.0}, "model.reinforce_weight=0"),
        ({"baseline_weight": 0.0}, "model.baseline_weight=0"),
        ({"num_glimpses": 1}, "model.num_glimpses=1"),
    ],
)
@pytest.mark.usefixtures("ddp_in_this_process")
def test_parameters_without_gradient_under_plain_ddp_fail_before_training(tmp_path, options, setting):
    with pytest.raises(ConfigError, match=f"{setting} .*trainer.strategy: ddp_find_unused_parameters_true"):
        _fit_ddp(tmp_path, "ddp", **options)
    _fit_ddp(tmp_path, "ddp_find_unused_parameters_true", **options)


@pytest.mark.usefixtures("ddp_in_this_process")
def test_baselines_without_parameters_train_under_plain_ddp(tmp_path):
    _fit_ddp(tmp_path, "ddp", baseline="leave_one_out", train_samples=2)
    _fit_ddp(tmp_path, "ddp", baseline="running_mean")


@pytest.mark.parametrize(
    ("accelerator", "device", "limited"), [(CPUAccelerator(), "cpu", True), (CUDAAccelerator(), "cuda", False)]
)
def test_only_processes_on_cpu_share_the_cores(monkeypatch, accelerator, device: str, limited: bool):
    calls: list[int] = []
    monkeypatch.setattr(torch, "set_num_threads", calls.append)
    system = tiny_system()  # on the CPU until the strategy moves it, after setup
    strategy = SimpleNamespace(root_device=torch.device(device))
    system.trainer = SimpleNamespace(
        world_size=2, num_devices=2, accelerator=accelerator, precision="32-true", strategy=strategy
    )
    system.setup("fit")
    assert len(calls) == (1 if limited else 0)


def test_two_processes_train_identically_under_plain_ddp_with_float16_and_clipping(tmp_path):
    result = run_ddp_script(SCRIPT, str(tmp_path))
    (sum_0, abs_0, threads_0), (sum_1, abs_1, threads_1) = result["ranks"]
    assert result["steps"] == 4  # 2 epochs of 2 batches, none skipped as diverged
    assert (sum_0, abs_0) == (sum_1, abs_1)  # the same gradients, unscaled and clipped alike on both ranks
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    assert threads_0 == threads_1 == max(1, cores // 2)


def test_a_non_finite_loss_on_one_process_stops_every_process_with_the_diverged_error(tmp_path):
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONWARNINGS": "ignore"}
    done = subprocess.run(
        [sys.executable, str(SCRIPT), str(tmp_path), "nan"], capture_output=True, text=True, timeout=120, env=env
    )
    files = [tmp_path / f"outcome_{rank}.txt" for rank in (0, 1)]
    assert all(path.is_file() for path in files), f"{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    outcomes = messages = [path.read_text() for path in files]
    assert messages[0].startswith("diverged: non-finite loss at epoch 0, global step "), outcomes
    assert messages[1].split(" (")[0] == messages[0].split(" (")[0], outcomes  # the same step on both
