"""A PNG grid of samples of every canvas variant: ``python -m ram_lightning.data.preview --out docs/variants.png``.

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
from PIL import Image, ImageDraw, ImageFont
from torch import Tensor

from ram_lightning.data.canvas import CanvasGenerator
from ram_lightning.data.datamodule import TEST_CANVAS_SEED
from ram_lightning.data.dataset import CanvasDataset
from ram_lightning.data.mnist import MNIST_FAMILY, MNISTFamily
from ram_lightning.errors import DataError

LABEL_WIDTH = 190  # pixels left of each row for its name
GAP = 8  # pixels between cells and rows
BORDER = (90, 90, 90)  # outline of each canvas, so that its extent shows on the black background


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
    heights = [batch.shape[-1] * scale + 2 for batch in canvases]
    width = LABEL_WIDTH + samples * (largest + GAP) + GAP
    height = sum(heights) + GAP * (len(rows) + 1)
    picture = Image.new("RGB", (width, height), (255, 255, 255))
    draw = ImageDraw.Draw(picture)
    font = ImageFont.load_default(size=15)
    top = GAP
    for row, batch, row_height in zip(rows, canvases, heights, strict=True):
        draw.text((GAP, top + row_height // 2), row.name, fill=(0, 0, 0), font=font, anchor="lm")
        for sample, canvas in enumerate(batch):
            left = LABEL_WIDTH + GAP + sample * (largest + GAP)
            tile = Image.fromarray(_to_rgb(canvas).numpy()).resize(
                (canvas.shape[-1] * scale,) * 2, Image.Resampling.NEAREST
            )
            draw.rectangle((left, top, left + tile.width + 1, top + tile.height + 1), outline=BORDER)
            picture.paste(tile, (left + 1, top + 1))
        top += row_height + GAP
    return picture


def _to_rgb(canvas: Tensor) -> Tensor:
    """``(C, S, S)`` uint8 with ``C`` = 1 or 3 -> ``(S, S, 3)`` uint8."""
    return canvas.expand(3, -1, -1).permute(1, 2, 0).contiguous() if canvas.shape[0] == 1 else canvas.permute(1, 2, 0)


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
