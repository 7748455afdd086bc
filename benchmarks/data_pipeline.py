"""Samples per second of the data pipeline alone against the training step alone, for each config.

    PYTHONPATH=. python benchmarks/data_pipeline.py --data-dir data configs/*.yaml

- data: the config's training DataLoader (as the trainer builds it: batches rendered in ``__getitems__``, no
  workers unless the config sets some) plus the uint8 -> float conversion of ``on_after_batch_transfer``;
- step: the model's forward, hybrid loss, backward and optimizer step on one batch already in memory (no
  Lightning, no data).

Both at the same batch size (default 128), after a warm-up, as the median of several repeats. In the trainer the
two run one after the other in the main process, so ``data / step`` is the share the pipeline adds to an epoch.
"""

from __future__ import annotations

import argparse
import logging
import statistics
import time
import warnings
from collections.abc import Callable
from pathlib import Path

import torch

from ram_lightning.cli import create_cli
from ram_lightning.losses import hybrid_loss


def median_seconds(run: Callable[[], None], warmup: int, repeats: int) -> float:
    """Median wall time of ``run`` over ``repeats`` calls, after ``warmup`` calls."""
    for _ in range(warmup):
        run()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def measure(config: Path, data_dir: str, batch_size: int, batches: int, repeats: int) -> dict[str, float]:
    """Seconds per batch of the data pipeline and of the training step for ``config``."""
    args = ["--config", str(config), "--data.data_dir", data_dir, "--data.download", "false"]
    args += ["--data.batch_size", str(batch_size), "--trainer.logger", "false"]
    cli = create_cli(args, run=False)
    data, system = cli.datamodule, cli.model
    data.prepare_data()
    data.setup("fit")
    loader = data.train_dataloader()

    def read_batches() -> None:
        iterator = iter(loader)
        for _ in range(batches):
            data.on_after_batch_transfer(next(iterator), 0)

    images, labels = data.on_after_batch_transfer(next(iter(loader)), 0)  # (B, C, S, S), (B,)
    model, hparams = system.model, system.hparams
    optimizer = system.configure_optimizers()
    optimizer = optimizer["optimizer"] if isinstance(optimizer, dict) else optimizer

    def train_steps() -> None:
        for _ in range(batches):
            output = model(images, sample=True)
            terms = hybrid_loss(
                output,
                labels,
                reinforce_weight=hparams.reinforce_weight,
                baseline_weight=hparams.baseline_weight,
                per_step_weight=hparams.per_step_weight,
            )
            optimizer.zero_grad(set_to_none=True)
            terms.total.backward()
            optimizer.step()
            model.baseline.update(terms.reward)

    data_time = median_seconds(read_batches, warmup=1, repeats=repeats) / batches
    step_time = median_seconds(train_steps, warmup=1, repeats=repeats) / batches
    return {"canvas": data.image_size, "data": data_time, "step": step_time}


def main() -> None:
    parser = argparse.ArgumentParser(description="Data pipeline vs training step throughput, per config.")
    parser.add_argument("configs", nargs="+", type=Path, help="YAML configs to measure")
    parser.add_argument("--data-dir", default="data", help="data.data_dir for every config")
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--batches", type=int, default=10, help="batches per timed repeat")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice)")
    args = parser.parse_args()
    warnings.filterwarnings("ignore")  # LightningCLI's note on sys.argv, deprecations
    logging.getLogger("pytorch_lightning").setLevel(logging.ERROR)  # the trainer's hardware banner, tips
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    print(f"batch {args.batch_size}, torch threads {torch.get_num_threads()}, median of {args.repeats} x "
          f"{args.batches} batches")  # fmt: skip
    print("| config | canvas | data pipeline (samples/s) | training step (samples/s) | data / step time |")
    print("|---|---|---|---|---|")
    for config in args.configs:
        result = measure(config, args.data_dir, args.batch_size, args.batches, args.repeats)
        data_rate, step_rate = args.batch_size / result["data"], args.batch_size / result["step"]
        print(
            f"| {config.stem} | {result['canvas']}x{result['canvas']} | {data_rate:,.0f} | {step_rate:,.0f} | "
            f"{result['data'] / result['step']:.1%} |",
            flush=True,
        )


if __name__ == "__main__":
    main()
