"""A PNG grid of samples of every canvas variant: ``python -m ram_lightning.preview --out docs/variants.png``.

Each row is one variant of the paper (the geometry of ``configs/``), drawn at the same pixel scale, so that the
digit's size relative to its canvas reads off the picture. Samples are the fixed evaluation canvases of the test
split: the picture is identical on every run.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path
from typing import NamedTuple

import torch
import torch.nn.functional as F
from PIL import Image, ImageDraw, ImageFont
from torch import Tensor
from torchvision.transforms.functional import to_pil_image

from ram_lightning.data.canvas import CanvasGenerator
from ram_lightning.data.datamodule import TEST_CANVAS_SEED
from ram_lightning.data.dataset import CanvasDataset
from ram_lightning.data.mnist import MNIST_FAMILY, MNISTFamily
from ram_lightning.errors import DataError
from ram_lightning.viz import image_grid, to_rgb

LABEL_WIDTH = 190  # pixels left of each row for its name
GAP = 8  # pixels between cells and rows
BORDER = 90  # grey level of the outline of each canvas, so that its extent shows on the black background
WHITE = 255


class Row(NamedTuple):
    """One variant shown: its name and the canvas it puts 28x28 images on."""

    name: str
    canvas: CanvasGenerator


def paper_rows(image_size: int = 28) -> list[Row]:
    """The variants of the paper's experiments, as configured in ``configs/``."""
    return [
        Row("centered 28x28", CanvasGenerator("centered", image_size)),
        Row("translated 60x60", CanvasGenerator("translated", image_size, 60)),
        Row("cluttered 60x60, 4 pieces", CanvasGenerator("cluttered", image_size, 60, 4, 8)),
        Row("cluttered 100x100, 8 pieces", CanvasGenerator("cluttered", image_size, 100, 8, 8)),
    ]


def render_rows(images: Tensor, labels: Tensor, rows: Sequence[Row], samples: int, seed: int = 0) -> list[Tensor]:
    """The first ``samples`` fixed evaluation canvases of each row.

    Args:
        images: ``(N, C, H, W)`` uint8 images of a split.
        labels: ``(N,)`` labels.
        rows: the variants to draw.
        samples: canvases per row.
        seed: seed of the fixed placements.

    Returns:
        One ``(samples, C, S, S)`` uint8 tensor per row.
    """
    indices = list(range(samples))
    return [CanvasDataset(images, labels, row.canvas, fixed_seed=seed).__getitems__(indices)[0] for row in rows]


def grid_image(rows: Sequence[Row], canvases: Sequence[Tensor], scale: int = 2) -> Image.Image:
    """Lays out the rows: name on the left, then the canvases, each enlarged ``scale`` times (nearest neighbour).

    Args:
        rows: the variants, for their names.
        canvases: one ``(K, C, S, S)`` uint8 tensor per row (``C`` = 1 or 3).
        scale: enlargement of every canvas.

    Returns:
        An RGB image.
    """
    largest = max(batch.shape[-1] for batch in canvases) * scale + 2  # + the border
    samples = max(batch.shape[0] for batch in canvases)
    bands = []  # one per row: GAP above, then the row's bordered canvases in cells `largest` pixels wide
    for batch in canvases:
        tiles = [F.pad(to_rgb(canvas, scale), (1, 1, 1, 1), value=BORDER) for canvas in batch]
        grid = image_grid(tiles, nrow=samples, padding=GAP, background=WHITE, cell=(tiles[0].shape[-2], largest))
        bands.append(grid[:, : tiles[0].shape[-2] + GAP])  # its padding below is the next band's above
    rows_picture = F.pad(torch.cat(bands, dim=1), (LABEL_WIDTH, 0, 0, GAP), value=WHITE)  # names' room, last GAP
    picture = to_pil_image(rows_picture)
    draw = ImageDraw.Draw(picture)
    font = ImageFont.load_default(size=15)
    top = GAP
    for row, band in zip(rows, bands, strict=True):
        row_height = band.shape[-2] - GAP
        draw.text((GAP, top + row_height // 2), row.name, fill=(0, 0, 0), font=font, anchor="lm")
        top += row_height + GAP
    return picture


def main(argv: Sequence[str] | None = None) -> None:
    """Command line: loads the test split, renders every variant, writes the PNG."""
    parser = argparse.ArgumentParser(description="Writes a PNG grid of samples of every canvas variant.")
    parser.add_argument("--out", type=Path, default=Path("docs/variants.png"), help="PNG file to write")
    parser.add_argument("--data-dir", default="data", help="root of the datasets (<data-dir>/MNIST/raw/...)")
    parser.add_argument("--dataset", default="mnist", choices=sorted(MNIST_FAMILY), help="base dataset")
    parser.add_argument("--samples", type=int, default=6, help="canvases per variant")
    parser.add_argument("--scale", type=int, default=2, help="enlargement of every canvas")
    parser.add_argument(
        "--seed", type=int, default=TEST_CANVAS_SEED, help="seed of the placements (default: the test canvases')"
    )
    args = parser.parse_args(argv)
    if args.samples < 1 or args.scale < 1:
        parser.error("--samples and --scale must be >= 1")
    try:
        test = MNISTFamily(args.dataset, args.data_dir).load(train=False)
    except DataError as error:
        parser.exit(2, f"error: {error}\n")
    rows = paper_rows(test.images.shape[-1])
    with torch.no_grad():
        picture = grid_image(rows, render_rows(test.images, test.labels, rows, args.samples, args.seed), args.scale)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    picture.save(args.out)
    print(f"wrote {args.out} ({picture.width}x{picture.height})")


if __name__ == "__main__":
    main()
