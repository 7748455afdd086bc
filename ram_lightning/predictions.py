"""PredictionWriter: ``ram predict``'s output, one row per image in one CSV or JSON-lines file."""

from __future__ import annotations

import csv
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

import pytorch_lightning as pl
import torch
from pytorch_lightning.callbacks import BasePredictionWriter
from pytorch_lightning.utilities import rank_zero_info
from torch import Tensor

from ram_lightning.data.image_files import ImageFileDataset
from ram_lightning.errors import ConfigError

Format = Literal["csv", "jsonl"]
FORMATS = ("csv", "jsonl")
# Decimals of the probabilities and locations written.
DECIMALS = 6


class PredictionWriter(BasePredictionWriter):
    """Writes what ``RAMSystem.predict_step`` returns to ``output``: one row per image, in dataset order.

    Each row has the image's ``index`` in the predicted dataset, its ``file`` name (image folders; empty
    otherwise), its true ``label`` (empty when the data has none), the predicted class ``pred`` and its probability
    ``prob``, and where each glimpse ``t = 1..T`` was taken, twice: ``x<t>``, ``y<t>`` in ``[-1, 1]`` (``(-1, -1)``
    is the top-left corner of the canvas, ``(0, 0)`` its centre) and ``x<t>_px``, ``y<t>_px`` in the canvas's
    pixel coordinates (``(x + 1) / 2 * width``: 0 is the canvas's left edge, ``width`` its right edge). In JSON
    lines the locations are the lists ``locations`` and ``locations_px`` of ``[x, y]`` pairs.

    Under DDP every process keeps the rows of its share of the images; at the end of the epoch process 0 gathers
    them (as tensors, through the strategy: no shared file system is needed), sorts them by index and writes the
    one file. Rows are held in memory until then (a few hundred bytes per image).

    Args:
        output: the file to write (its folder is created if needed).
        format: ``"csv"`` or ``"jsonl"`` (JSON lines); from the file's suffix if ``None`` (``.jsonl``: JSON lines,
            anything else: CSV).

    Raises:
        ConfigError: no output file, or an unknown format.
    """

    def __init__(self, output: str | None = None, format: Format | None = None) -> None:
        super().__init__(write_interval="batch_and_epoch")
        if not output:
            raise ConfigError(
                "ram predict writes its predictions to a file: add --prediction.output predictions.csv "
                "(or predictions.jsonl for JSON lines)"
            )
        self.output = Path(output).expanduser()
        if format is None:
            format = "jsonl" if self.output.suffix.lower() == ".jsonl" else "csv"
        if format not in FORMATS:
            raise ConfigError(f"prediction.format must be one of {FORMATS}, got {format!r}")
        self.format = format
        self._parts: list[dict[str, Tensor]] = []

    def on_predict_epoch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._parts = []

    def write_on_batch_end(
        self,
        trainer: pl.Trainer,
        pl_module: pl.LightningModule,
        prediction: dict[str, Tensor],
        batch_indices: Sequence[int] | None,
        batch: tuple[Tensor, Tensor],
        batch_idx: int,
        dataloader_idx: int,
    ) -> None:
        """Keeps the batch's rows (on the CPU), with their dataset indices."""
        if not batch_indices:  # Lightning tracks them for DataLoaders only
            raise RuntimeError("PredictionWriter needs the dataset indices of each batch: predict from a DataLoader")
        height, width = batch[0].shape[-2:]
        locations = prediction["locations"].detach().float()  # (B, T, 2)
        scale = locations.new_tensor([width, height]) * 0.5
        self._parts.append(
            {
                "index": torch.as_tensor(batch_indices, dtype=torch.long),
                "label": prediction["targets"].detach().long().cpu(),
                "pred": prediction["preds"].detach().long().cpu(),
                "prob": prediction["probs"].detach().float().cpu(),
                "locations": locations.cpu(),
                "pixels": ((locations + 1.0) * scale).cpu(),  # (B, T, 2)
            }
        )

    def write_on_epoch_end(
        self,
        trainer: pl.Trainer,
        pl_module: pl.LightningModule,
        predictions: Sequence[Any],
        batch_indices: Sequence[Any],
    ) -> None:
        """Gathers every process's rows on process 0, which writes the file in dataset order."""
        steps = pl_module.model.num_glimpses
        table = _gather(trainer, pl_module, self._table(steps))
        self._parts = []
        if trainer.is_global_zero:
            order = torch.argsort(table["index"])
            rows = _rows({key: values[order] for key, values in table.items()}, _file_names(trainer))
            self.output.parent.mkdir(parents=True, exist_ok=True)
            if self.format == "jsonl":
                _write_jsonl(rows, self.output)
            else:
                _write_csv(rows, self.output, steps)
            rank_zero_info(f"Wrote {len(rows)} predictions to {self.output}")
        trainer.strategy.barrier("prediction_writer")

    def _table(self, steps: int) -> dict[str, Tensor]:
        """This process's rows as columns: ``(N,)`` tensors, and ``(N, T, 2)`` locations and pixels."""
        if not self._parts:  # a process with no image (fewer images than processes)
            no_rows, no_steps = torch.zeros(0, dtype=torch.long), torch.zeros(0, steps, 2)
            return {
                "index": no_rows,
                "label": no_rows,
                "pred": no_rows,
                "prob": torch.zeros(0),
                "locations": no_steps,
                "pixels": no_steps,
            }
        return {key: torch.cat([part[key] for part in self._parts]) for key in self._parts[0]}


def _gather(trainer: pl.Trainer, pl_module: pl.LightningModule, table: dict[str, Tensor]) -> dict[str, Tensor]:
    """Every process's columns, concatenated in rank order (processes may hold different numbers of rows)."""
    if trainer.world_size == 1:
        return table
    device = pl_module.device
    counts = trainer.strategy.all_gather(torch.tensor(len(table["index"]), device=device)).cpu()  # (W,)
    longest = int(counts.max())
    gathered = {}
    for key, values in table.items():
        padded = values.new_zeros(longest, *values.shape[1:])
        padded[: len(values)] = values
        every = trainer.strategy.all_gather(padded.to(device)).cpu()  # (W, longest, ...)
        gathered[key] = torch.cat([every[rank, : int(count)] for rank, count in enumerate(counts)])
    return gathered


def _file_names(trainer: pl.Trainer) -> list[str] | None:
    """File names of the predicted images when they come from a folder, else ``None``."""
    loaders = trainer.predict_dataloaders
    loader = loaders[0] if isinstance(loaders, (list, tuple)) else loaders
    dataset = getattr(loader, "dataset", None)
    return dataset.names if isinstance(dataset, ImageFileDataset) else None


def _rows(table: dict[str, Tensor], names: list[str] | None) -> list[dict[str, Any]]:
    """One dict per image: index, file, label (``None`` if unknown), pred, prob, locations and pixels."""
    rows = []
    for i, index in enumerate(table["index"].tolist()):
        label = int(table["label"][i])
        rows.append(
            {
                "index": index,
                "file": names[index] if names is not None else None,
                "label": label if label >= 0 else None,
                "pred": int(table["pred"][i]),
                "prob": round(float(table["prob"][i]), DECIMALS),
                "locations": [[round(value, DECIMALS) for value in xy] for xy in table["locations"][i].tolist()],
                "locations_px": [[round(value, DECIMALS) for value in xy] for xy in table["pixels"][i].tolist()],
            }
        )
    return rows


def _write_jsonl(rows: list[dict[str, Any]], path: Path) -> None:
    with path.open("w") as handle:
        for row in rows:
            handle.write(json.dumps(row) + "\n")


def _write_csv(rows: list[dict[str, Any]], path: Path, steps: int) -> None:
    """Writes the rows with one column per coordinate of the ``steps`` glimpses (``x1, y1, x1_px, y1_px, x2, ...``)
    and empty cells for ``None``."""
    coordinates = [name for t in range(1, steps + 1) for name in (f"x{t}", f"y{t}", f"x{t}_px", f"y{t}_px")]
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["index", "file", "label", "pred", "prob", *coordinates])
        for row in rows:
            cells = [row["index"], row["file"], row["label"], row["pred"], row["prob"]]
            for xy, xy_px in zip(row["locations"], row["locations_px"], strict=True):
                cells += [*xy, *xy_px]
            writer.writerow(["" if cell is None else cell for cell in cells])
