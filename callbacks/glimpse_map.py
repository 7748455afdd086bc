"""GlimpseMapLogger: where the policy's glimpses land on the validation canvases, step by step."""

from __future__ import annotations

import pytorch_lightning as pl
import torch
from pytorch_lightning.loggers import TensorBoardLogger
from pytorch_lightning.utilities import rank_zero_only, rank_zero_warn
from torchvision.utils import make_grid
from typing_extensions import override

from ram_lightning.errors import ConfigError
from ram_lightning.glimpse_map import ink_boxes, location_heatmaps, on_object_share


class GlimpseMapLogger(pl.Callback):
    """After validation, follows the policy mean on the first ``num_images`` validation canvases and logs:

    - ``val/on_object_glimpse_<t>``: the share of step ``t``'s glimpses whose finest retina patch overlaps the
      object's ink box (the canvas generator knows where it put the object), and ``val/on_object_share``, the
      same over the steps the policy chose (all but the first);
    - ``<tag>/glimpse_heatmaps`` (with a TensorBoard logger): one heatmap of the glimpse centres per step, left to
      right, each scaled to its own maximum.

    Needs the validation set of :class:`~ram_lightning.data.RAMDataModule` (fixed canvases); warns and does nothing
    otherwise.

    Args:
        every_n_epochs: log after the validation of every n-th epoch.
        num_images: validation canvases to follow.
        bins: heatmap cells per side.
        tag: prefix of the TensorBoard image tag.
    """

    def __init__(self, every_n_epochs: int = 1, num_images: int = 1000, bins: int = 32, tag: str = "attention") -> None:
        super().__init__()
        name = type(self).__name__
        for key, value in (("every_n_epochs", every_n_epochs), ("num_images", num_images), ("bins", bins)):
            if value < 1:
                raise ConfigError(f"{name}.{key} must be >= 1, got {value}")
        self.every_n_epochs = every_n_epochs
        self.num_images = num_images
        self.bins = bins
        self.tag = tag
        self._warned = False

    @override
    @torch.no_grad()
    def on_validation_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if trainer.sanity_checking or (trainer.current_epoch + 1) % self.every_n_epochs != 0:
            return
        dataset = getattr(getattr(trainer, "datamodule", None), "val_set", None)
        if dataset is None or getattr(dataset, "fixed", None) is None:
            if not self._warned:
                self._warned = True
                rank_zero_warn(f"{type(self).__name__}: no fixed validation canvases (RAMDataModule); nothing logged")
            return
        count = min(self.num_images, len(dataset))
        canvases = dataset.__getitems__(list(range(count)))[0]  # (N, C, S, S) uint8
        images = canvases.to(pl_module.device).float().div_(255.0)
        model = pl_module.model
        locations = model(images, sample=False).locations  # (N, T, 2)
        boxes = ink_boxes(dataset.images[:count], dataset.fixed.positions[:count])
        shares = on_object_share(model.retina, locations, boxes, images.shape[-1])  # (T,)
        values = {f"val/on_object_glimpse_{t + 1}": share for t, share in enumerate(shares)}
        if shares.numel() > 1:
            values["val/on_object_share"] = shares[1:].mean()
        pl_module.log_dict(values)  # the same on every process: same images, same weights
        self._log_heatmaps(trainer, location_heatmaps(locations, self.bins))

    @rank_zero_only
    def _log_heatmaps(self, trainer: pl.Trainer, heatmaps: torch.Tensor) -> None:
        """``heatmaps`` ``(T, bins, bins)`` as one grey image, one tile per step, in TensorBoard."""
        logger = next((lg for lg in trainer.loggers if isinstance(lg, TensorBoardLogger)), None)
        if logger is None:
            return
        peaks = heatmaps.flatten(1).amax(dim=1).clamp(min=1e-12)[:, None, None]
        tiles = (heatmaps / peaks).sqrt()[:, None]  # (T, 1, bins, bins); sqrt shows the tails
        scale = max(1, 96 // self.bins)
        tiles = tiles.repeat_interleave(scale, dim=2).repeat_interleave(scale, dim=3)
        grid = make_grid(tiles.cpu(), nrow=tiles.shape[0], padding=2, pad_value=0.3)
        logger.experiment.add_image(f"{self.tag}/glimpse_heatmaps", grid, trainer.global_step)
