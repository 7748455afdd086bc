"""The measurements of ``benchmarks/throughput.py`` for one config (described there): samples per second of its
training steps, its data pipeline, its ``Trainer.fit`` epochs and its evaluation steps."""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
import torch
from pytorch_lightning.loggers import TensorBoardLogger
from torch import Tensor

from ram_lightning.cli import create_cli
from ram_lightning.data import RAMDataModule
from ram_lightning.system import RAMSystem

MEASUREMENTS = ("step", "data", "fit", "eval")


def timed(run: Callable[[], None], samples: int, warmup: int, repeats: int, sync: Callable[[], None]) -> list[float]:
    """Samples per second of each of ``repeats`` calls of ``run`` (``samples`` each), after ``warmup`` calls."""
    for _ in range(warmup):
        run()
    sync()
    rates = []
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        sync()
        rates.append(samples / (time.perf_counter() - start))
    return rates


class EpochTimer(pl.Callback):
    """Wall time of every training epoch (data loading, steps, logging: everything between its start and end).

    Args:
        between_epochs: called after each epoch is timed, e.g. to interleave another measurement with the epochs.
    """

    def __init__(self, between_epochs: Callable[[], None] | None = None) -> None:
        self.seconds: list[float] = []
        self.between_epochs = between_epochs
        self._start = 0.0

    def on_train_epoch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._start = time.perf_counter()

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if pl_module.device.type == "cuda":
            torch.cuda.synchronize()
        self.seconds.append(time.perf_counter() - self._start)
        if self.between_epochs is not None:
            self.between_epochs()


def measure_config(config: Path, args: argparse.Namespace) -> dict[str, Any]:
    """Every measurement of ``args.only`` for one config: samples/s of each timed run.

    When both are asked for, the training-step runs alternate with the fit epochs (one after each), so that their
    ratio compares runs made under the same load.
    """
    cli_args = ["--config", str(config)]
    if args.batch_size:
        cli_args += ["--data.batch_size", str(args.batch_size)]
    if args.data_dir:
        cli_args += ["--data.data_dir", args.data_dir]
    for override in args.set:
        key, _, value = override.partition("=")
        cli_args += [f"--{key}", value]
    cli = create_cli(cli_args, run=False)
    system, data = cli.model, cli.datamodule
    device = torch.device(args.accelerator)
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    batch = data.hparams.batch_size
    data.prepare_data()
    data.setup("fit")
    images, targets = data.on_after_batch_transfer(next(iter(data.train_dataloader())), 0)
    images, targets = images.to(device), targets.to(device)  # (B, C, H, W), (B,)
    indices = torch.arange(images.shape[0])  # (B,): seed the Monte-Carlo evaluation noise, as evaluation batches do
    system.to(device)
    wanted = args.only.split(",")
    samples = system.hparams.train_samples
    result: dict[str, Any] = {"config": str(config), "batch_size": batch, "train_samples": samples}

    if "eval" in wanted:
        system.eval()

        def eval_steps() -> None:
            with torch.no_grad():
                for _ in range(args.steps):
                    system.validation_step((images, targets, indices), 0)
            system.val_acc.reset()

        result["eval"] = timed(eval_steps, args.steps * batch, args.warmup, args.repeats, sync)
        system.train()

    if "data" in wanted:
        loader = data.train_dataloader()
        pin = bool(loader.pin_memory) and device.type == "cuda"

        def read_batches() -> None:
            iterator = iter(loader)
            for _ in range(args.data_batches):
                images, labels = next(iterator)
                data.on_after_batch_transfer((images.to(device, non_blocking=pin), labels.to(device)), 0)

        result["data"] = timed(read_batches, args.data_batches * batch, args.warmup, args.repeats, sync)

    train_steps = training_steps(system, images, targets, args.steps) if "step" in wanted else None
    step_rates: list[float] = []
    if "fit" in wanted:

        def step_between_epochs() -> None:
            step_rates.extend(timed(train_steps, args.steps * batch, 0, 1, sync))

        result["fit"] = measure_fit(cli, system, data, batch, args, step_between_epochs if train_steps else None)
        if train_steps is not None:
            result["step"] = step_rates[args.warmup :]
    elif train_steps is not None:
        result["step"] = timed(train_steps, args.steps * batch, args.warmup, args.repeats, sync)
    return result


def training_steps(system: RAMSystem, images: Tensor, targets: Tensor, steps: int) -> Callable[[], None]:
    """``steps`` training steps on one batch in memory, without Lightning: the system's loss, the config's
    optimizer (a fresh one) and gradient clipping, the baseline's update."""
    system.train()
    optimizer = system.configure_optimizers()
    optimizer = optimizer["optimizer"] if isinstance(optimizer, dict) else optimizer
    clip = system.hparams.gradient_clip_norm

    def run() -> None:
        for _ in range(steps):
            _, terms = system.training_loss(images, targets)
            optimizer.zero_grad(set_to_none=True)
            terms.total.backward()
            if clip is not None:
                torch.nn.utils.clip_grad_norm_(system.parameters(), clip)
            optimizer.step()
            system.model.baseline.update(terms.reward)

    return run


def measure_fit(
    cli: Any,
    system: RAMSystem,
    data: RAMDataModule,
    batch: int,
    args: argparse.Namespace,
    between_epochs: Callable[[], None] | None = None,
) -> list[float]:
    """Samples/s of each timed ``Trainer.fit`` epoch (the first ``args.warmup`` epochs are not kept)."""
    timer = EpochTimer(between_epochs)
    trainer_config = cli.config.get("trainer", {})
    with tempfile.TemporaryDirectory() as logs:
        trainer = pl.Trainer(
            accelerator=args.accelerator,
            devices=1,
            max_epochs=args.warmup + args.repeats,
            limit_train_batches=args.fit_batches,
            limit_val_batches=0,
            num_sanity_val_steps=0,
            precision=trainer_config.get("precision") or "32-true",
            log_every_n_steps=trainer_config.get("log_every_n_steps") or 50,
            logger=TensorBoardLogger(logs, name="throughput"),
            callbacks=[timer],
            enable_checkpointing=False,
            enable_progress_bar=False,
            enable_model_summary=False,
        )
        trainer.fit(system, datamodule=data)
    return [args.fit_batches * batch / seconds for seconds in timer.seconds[args.warmup :]]
