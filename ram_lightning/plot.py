"""The ``ram-plot`` command: glimpse trajectories of test images from a checkpoint, as PNG files and an animated GIF.

    ram-plot --ckpt logs/mnist/version_0/checkpoints/last.ckpt --num-images 16 --out plots/
    ram-plot --ckpt results/mnist/model.ckpt --images my_digits/ --evaluation --out plots/   # as `ram predict`

The model and the data are rebuilt from the configuration that ``ram fit`` saves in every checkpoint
(``hyper_parameters`` and ``datamodule_hyper_parameters``), so no config file is needed.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from ram_lightning import viz
from ram_lightning.checkpoint import load_checkpoint, state_mismatch
from ram_lightning.data import ImageFileDataset, RAMDataModule
from ram_lightning.errors import CheckpointError, ConfigError, DataError
from ram_lightning.recorded_rollout import Rollout, record_rollout, recorded
from ram_lightning.system import RAMSystem

SPLITS = ("test", "val")


def build_system(checkpoint: dict[str, Any], path: str | Path) -> RAMSystem:
    """The :class:`RAMSystem` described by the checkpoint's config, with its weights, in evaluation mode."""
    hparams = {key: value for key, value in checkpoint["hyper_parameters"].items() if not key.startswith("_")}
    try:
        system = RAMSystem(**hparams)
    except (TypeError, ConfigError) as error:
        raise CheckpointError(f"{path}: its model config does not fit this version of RAMSystem ({error})") from None
    mismatch = state_mismatch(system.state_dict(), checkpoint["state_dict"])
    if mismatch:
        raise CheckpointError(f"{path}: its weights do not fit the model its config describes ({mismatch})")
    system.load_state_dict(checkpoint["state_dict"])
    return system.eval()


def build_datamodule(checkpoint: dict[str, Any], path: str | Path, data_dir: str | None = None) -> RAMDataModule:
    """The :class:`RAMDataModule` of the checkpoint's config, reading from ``data_dir`` if given."""
    hparams = {
        key: value for key, value in checkpoint["datamodule_hyper_parameters"].items() if not key.startswith("_")
    }
    if data_dir is not None:
        hparams["data_dir"] = data_dir
    hparams["num_workers"] = 0  # a few images: no worker processes
    try:
        return RAMDataModule(**hparams)
    except (TypeError, ConfigError) as error:
        raise CheckpointError(f"{path}: its data config does not fit this version of RAMDataModule ({error})") from None


def load_images(datamodule: RAMDataModule, split: str, num_images: int) -> tuple[Tensor, Tensor]:
    """The first ``num_images`` images of ``split`` as the model sees them: ``(N, C, H, W)`` floats and ``(N,)``."""
    datamodule.setup("test" if split == "test" else "validate")
    loader = datamodule.test_dataloader() if split == "test" else datamodule.val_dataloader()
    images, labels, count = [], [], 0
    for batch in loader:
        batch_images, batch_labels = datamodule.on_after_batch_transfer(batch, 0)[:2]  # (B, C, H, W) floats, (B,)
        images.append(batch_images[: num_images - count])
        labels.append(batch_labels[: num_images - count])
        count += images[-1].shape[0]
        if count >= num_images:
            break
    return torch.cat(images), torch.cat(labels)


def evaluation_rollout(system: RAMSystem, images: Tensor) -> Rollout:
    """The rollouts of ``images`` ``(B, C, H, W)`` as evaluation and ``ram predict`` make them for a first batch
    (``RAMSystem.predict_step``): the class from the model's ``eval_samples`` rollouts, the locations of the first.
    ``images`` are the first ones of their split or folder: indices ``0 .. B-1`` seed their Monte-Carlo noise."""
    count = images.shape[0]
    prediction = system.predict_step((images, torch.full((count,), -1), torch.arange(count)), 0)
    return recorded(system.model.retina, images, prediction["locations"], prediction["preds"])


def plot_checkpoint(
    ckpt: str | Path,
    out: str | Path,
    num_images: int = 16,
    data_dir: str | None = None,
    split: str = "test",
    sample: bool = False,
    seed: int = 0,
    nrow: int | None = None,
    frame_ms: int = 700,
    images_dir: str | None = None,
    evaluation: bool = False,
) -> list[Path]:
    """Renders the trajectories of ``num_images`` images of ``split`` (or of the image files in ``images_dir``,
    converted and resized to the model's input as ``ram predict`` does) with the checkpoint's model.

    A rollout follows the policy mean, or is sampled (``sample``, with ``seed``), or is the one evaluation and
    ``ram predict`` report (``evaluation``: see :func:`evaluation_rollout`; the same as ``ram predict``'s rows when
    the images are its first batch).

    Writes ``trajectory_000.png``... (one per image), ``trajectories.png`` (the grid), ``glimpses.png`` (what the
    sensor read) and ``trajectories.gif`` (the grid, one glimpse more per frame) into ``out``.

    Returns:
        The paths written.
    """
    if num_images < 1:
        raise ConfigError(f"--num-images must be >= 1, got {num_images}")
    if sample and evaluation:
        raise ConfigError("--sample and --evaluation exclude each other: evaluation samples as the model's config says")
    if split not in SPLITS:
        raise ConfigError(f"--split must be one of {SPLITS}, got {split!r}")
    checkpoint = load_checkpoint(ckpt)
    system = build_system(checkpoint, ckpt)
    datamodule = build_datamodule(checkpoint, ckpt, data_dir)
    if datamodule.image_size != system.hparams.image_size or datamodule.in_channels != system.hparams.in_channels:
        raise CheckpointError(
            f"{ckpt}: the model expects {system.hparams.in_channels}x{system.hparams.image_size}px images but its data "
            f"config gives {datamodule.in_channels}x{datamodule.image_size}px"
        )
    if images_dir is None:
        images, labels = load_images(datamodule, split, num_images)
    else:
        files = ImageFileDataset(images_dir, datamodule.in_channels, datamodule.image_size)
        images, labels = files.images[:num_images].float() / 255.0, None  # (N, C, H, W) in [0, 1], no labels
    if evaluation:
        rollout = evaluation_rollout(system, images)
    else:
        rollout = record_rollout(system.model, images, sample=sample, seed=seed)

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for i, picture in enumerate(viz.draw_trajectories(rollout, labels)):
        written.append(out / f"trajectory_{i:03d}.png")
        picture.save(written[-1])
    written.append(out / "trajectories.png")
    viz.trajectory_grid(rollout, labels, nrow=nrow).save(written[-1])
    written.append(out / "glimpses.png")
    viz.draw_glimpse_strip(rollout.glimpses).save(written[-1])
    frames = viz.animation_frames(rollout, labels, nrow=nrow)
    durations = [frame_ms] * (len(frames) - 1) + [3 * frame_ms]  # hold the complete picture a little longer
    written.append(out / "trajectories.gif")
    frames[0].save(written[-1], save_all=True, append_images=frames[1:], duration=durations, loop=0)
    return written


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """Command-line arguments of ``ram-plot``."""
    parser = argparse.ArgumentParser(
        prog="ram-plot", description="Draw glimpse trajectories of a trained RAM checkpoint (PNG files and a GIF)."
    )
    parser.add_argument("--ckpt", required=True, help="checkpoint written by `ram fit` (e.g. .../last.ckpt)")
    parser.add_argument("--num-images", type=int, default=16, help="number of images to draw (default: 16)")
    parser.add_argument("--out", default="plots", help="output directory (default: plots/)")
    parser.add_argument("--data-dir", default=None, help="dataset root, if not the one saved in the checkpoint")
    parser.add_argument("--split", choices=SPLITS, default="test", help="images of the test or validation split")
    parser.add_argument("--images", default=None, help="a folder of image files to draw instead of the split")
    rollouts = parser.add_mutually_exclusive_group()
    rollouts.add_argument("--sample", action="store_true", help="sample locations instead of following the mean")
    rollouts.add_argument(
        "--evaluation", action="store_true", help="the rollouts and classes of evaluation and `ram predict`"
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of the sampled locations (with --sample)")
    parser.add_argument("--nrow", type=int, default=None, help="images per row of the grid (default: about square)")
    parser.add_argument("--frame-ms", type=int, default=700, help="milliseconds per GIF frame (default: 700)")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> None:
    """Entry point of ``ram-plot``: prints the files written; errors exit with status 2 and a message."""
    args = parse_args(argv)
    try:
        written = plot_checkpoint(
            args.ckpt,
            args.out,
            num_images=args.num_images,
            data_dir=args.data_dir,
            split=args.split,
            sample=args.sample,
            seed=args.seed,
            nrow=args.nrow,
            frame_ms=args.frame_ms,
            images_dir=args.images,
            evaluation=args.evaluation,
        )
    except (CheckpointError, ConfigError, DataError) as error:
        print(f"error: {error}", file=sys.stderr)
        raise SystemExit(2) from None
    for path in written:
        print(path)


if __name__ == "__main__":
    main()
