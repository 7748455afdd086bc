"""AttentionTrajectoryLogger: where the model looks, on fixed validation images, as TensorBoard images."""

from __future__ import annotations

from typing import Any

import pytorch_lightning as pl
import torch
from pytorch_lightning.loggers import TensorBoardLogger
from pytorch_lightning.utilities import rank_zero_only, rank_zero_warn
from torch import Tensor
from typing_extensions import override

from ram_lightning import viz
from ram_lightning.errors import ConfigError
from ram_lightning.recorded_rollout import record_rollout


class AttentionTrajectoryLogger(pl.Callback):
    """Logs the glimpse trajectories of a fixed set of validation images to TensorBoard every ``every_n_epochs``.

    The first ``num_images`` images of the first validation pass (the sanity check, if there is one) are kept and
    reused at every logging, so the pictures of successive epochs show the same images. Two images are logged:

    - ``<tag>/trajectories``: a grid with every glimpse of each rollout (the box of each retina scale, the step
      numbers, the path) and the caption ``pred P / true Y``, red when the prediction is wrong;
    - ``<tag>/glimpses``: what the glimpse sensor read at each step, one row per image, scales stacked.

    Rollouts follow the policy mean (``sample: false``, as validation does by default) or a sample drawn with a
    fixed ``seed``; either way the training's random numbers are not touched. Drawing happens on rank zero only.
    Without a :class:`~pytorch_lightning.loggers.TensorBoardLogger` the callback warns once (when fitting or validating)
    and does nothing.
    The rollouts are recorded by :mod:`ram_lightning.recorded_rollout` and drawn by :mod:`ram_lightning.viz`, shared
    with the ``ram-plot`` command.

    Args:
        every_n_epochs: log after the validation of every n-th epoch (epochs ``n - 1``, ``2n - 1``, ...).
        num_images: number of validation images to follow.
        nrow: images per row of the grid (about square if ``None``).
        sample: sample the locations from the policy instead of following its mean.
        seed: seed of the sampled locations.
        tag: prefix of the TensorBoard tags.
        scale: magnification of the images (chosen for about 160 pixels if ``None``).
    """

    def __init__(
        self,
        every_n_epochs: int = 1,
        num_images: int = 16,
        nrow: int | None = None,
        sample: bool = False,
        seed: int = 0,
        tag: str = "attention",
        scale: int | None = None,
    ) -> None:
        super().__init__()
        name = type(self).__name__
        if every_n_epochs < 1:
            raise ConfigError(f"{name}.every_n_epochs must be >= 1, got {every_n_epochs}")
        if num_images < 1:
            raise ConfigError(f"{name}.num_images must be >= 1, got {num_images}")
        if nrow is not None and nrow < 1:
            raise ConfigError(f"{name}.nrow must be >= 1 or null, got {nrow}")
        if scale is not None and scale < 1:
            raise ConfigError(f"{name}.scale must be >= 1 or null, got {scale}")
        self.every_n_epochs = every_n_epochs
        self.num_images = num_images
        self.nrow = nrow
        self.sample = sample
        self.seed = seed
        self.tag = tag
        self.scale = scale
        self.images: Tensor | None = None  # (N, C, H, W), kept on the CPU
        self.labels: Tensor | None = None  # (N,)
        self._frozen = False
        self._logger: TensorBoardLogger | None = None
        self._warned = False

    @override
    def setup(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        self._logger = next((lg for lg in trainer.loggers if isinstance(lg, TensorBoardLogger)), None)
        if self._logger is None and stage in ("fit", "validate") and not self._warned:  # it draws after validation
            self._warned = True
            rank_zero_warn(
                f"{type(self).__name__}: no TensorBoardLogger in the trainer; attention trajectories are not logged"
            )

    @override
    def on_validation_batch_end(
        self,
        trainer: pl.Trainer,
        pl_module: pl.LightningModule,
        outputs: Any,
        batch: Any,
        batch_idx: int,
        dataloader_idx: int = 0,
    ) -> None:
        if self._logger is None or self._frozen or not trainer.is_global_zero or dataloader_idx != 0:
            return
        images, labels = batch[0], batch[1]  # (B, C, H, W), (B,)
        have = 0 if self.images is None else self.images.shape[0]
        take = min(self.num_images - have, images.shape[0])
        new_images, new_labels = images[:take].detach().cpu().clone(), labels[:take].detach().cpu().clone()
        if self.images is None or self.labels is None:
            self.images, self.labels = new_images, new_labels
        else:
            self.images = torch.cat([self.images, new_images])
            self.labels = torch.cat([self.labels, new_labels])
        self._frozen = self.images.shape[0] >= self.num_images

    @override
    def on_validation_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if self._logger is None or self.images is None:
            return
        self._frozen = True  # the first validation pass decides the images, even if it had fewer than num_images
        if trainer.sanity_checking or (trainer.current_epoch + 1) % self.every_n_epochs != 0:
            return
        self._log_images(trainer, pl_module)

    @rank_zero_only
    def _log_images(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        """Draws the rollouts of the kept images and adds them to TensorBoard at the current global step."""
        model = pl_module.model
        images = self.images.to(device=pl_module.device, dtype=next(model.parameters()).dtype)
        rollout = record_rollout(model, images, sample=self.sample, seed=self.seed)
        grid = viz.trajectory_grid(rollout, self.labels, nrow=self.nrow, scale=self.scale)
        strip = viz.draw_glimpse_strip(rollout.glimpses)
        experiment = self._logger.experiment
        step = trainer.global_step
        experiment.add_image(f"{self.tag}/trajectories", viz.pil_to_tensor(grid), step, dataformats="CHW")
        experiment.add_image(f"{self.tag}/glimpses", viz.pil_to_tensor(strip), step, dataformats="CHW")
