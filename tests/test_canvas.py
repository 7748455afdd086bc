"""Canvas variants: where images and clutter land, what is preserved, and which canvases are fixed."""

from __future__ import annotations

from itertools import islice
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from torch import Tensor
from torch.utils.data import DataLoader

from ram_lightning import preview
from ram_lightning.data import CanvasDataset, CanvasGenerator, MNISTFamily, Placement, RAMDataModule
from ram_lightning.data.dataset import collate_batch
from ram_lightning.data.samplers import EpochSeededSampler


def _images(count: int, size: int = 28, seed: int = 0) -> Tensor:
    """``(N, 1, size, size)`` uint8 images with no zero pixel, so that every pixel of an image can be found."""
    generator = torch.Generator().manual_seed(seed)
    return torch.randint(1, 256, (count, 1, size, size), generator=generator, dtype=torch.uint8)


def _bounding_box(canvas: Tensor) -> tuple[int, int, int, int]:
    """``(top, left, height, width)`` of the non-zero pixels of a ``(C, S, S)`` canvas."""
    rows = canvas.amax(dim=(0, 2)).nonzero().squeeze(1)
    cols = canvas.amax(dim=(0, 1)).nonzero().squeeze(1)
    return int(rows[0]), int(cols[0]), int(rows[-1] - rows[0] + 1), int(cols[-1] - cols[0] + 1)


def _loader_canvases(dataset: CanvasDataset, batch_size: int, workers: int = 0) -> Tensor:
    """Every canvas of ``dataset`` in order, read through a DataLoader: ``(N, C, S, S)``."""
    loader = DataLoader(dataset, batch_size=batch_size, num_workers=workers, collate_fn=collate_batch)
    return torch.cat([images for images, _ in loader])


def test_centered_returns_the_images_unchanged() -> None:
    images = _images(4)
    dataset = CanvasDataset(images, torch.arange(4), CanvasGenerator("centered", 28))
    canvases, labels = dataset.__getitems__([2, 0])
    assert torch.equal(canvases, images[[2, 0]])
    assert labels.tolist() == [2, 0]


def test_translated_image_lies_wholly_inside_the_canvas_with_its_pixels_intact() -> None:
    images = _images(64)
    dataset = CanvasDataset(images, torch.arange(64), CanvasGenerator("translated", 28, canvas_size=60))
    tops, lefts = [], []
    for _ in range(8):
        canvases, labels = dataset.__getitems__(list(range(64)))
        assert canvases.shape == (64, 1, 60, 60) and canvases.dtype == torch.uint8
        for canvas, label in zip(canvases, labels, strict=True):
            top, left, height, width = _bounding_box(canvas)
            assert (height, width) == (28, 28)  # every pixel of the image is non-zero: none was cut off
            assert torch.equal(canvas[:, top : top + 28, left : left + 28], images[label])
            assert canvas.sum(dtype=torch.int64) == images[label].sum(dtype=torch.int64)
            tops.append(top)
            lefts.append(left)
    # Uniform over the 33 possible offsets: 512 draws reach both edges.
    assert min(tops) == min(lefts) == 0 and max(tops) == max(lefts) == 60 - 28


def test_training_placements_differ_between_draws() -> None:
    dataset = CanvasDataset(_images(32), torch.arange(32), CanvasGenerator("translated", 28, canvas_size=60))
    first, _ = dataset.__getitems__(list(range(32)))
    second, _ = dataset.__getitems__(list(range(32)))
    moved = [not torch.equal(a, b) for a, b in zip(first, second, strict=True)]
    assert sum(moved) >= 30  # two draws agree with probability 1/33**2 per sample


@pytest.mark.parametrize("variant", ["translated", "cluttered"])
def test_evaluation_canvases_are_fixed_whatever_the_batch_size_and_run(variant: str) -> None:
    images, labels = _images(50), torch.arange(50) % 10
    canvas = CanvasGenerator(variant, 28, canvas_size=60, num_distractors=4)
    dataset = CanvasDataset(images, labels, canvas, fixed_seed=1)
    first = _loader_canvases(dataset, batch_size=16)
    assert torch.equal(first, _loader_canvases(dataset, batch_size=16))  # a second pass (epoch)
    assert torch.equal(first, _loader_canvases(dataset, batch_size=7))  # another batch size
    assert torch.equal(first[[9, 3]], dataset.__getitems__([9, 3])[0])  # any subset, as a DDP rank reads it
    again = CanvasDataset(images, labels, CanvasGenerator(variant, 28, canvas_size=60, num_distractors=4), 1)
    assert torch.equal(first, _loader_canvases(again, batch_size=50))  # another run
    other_seed = _loader_canvases(CanvasDataset(images, labels, canvas, fixed_seed=2), batch_size=50)
    assert not torch.equal(first, other_seed)


@pytest.mark.parametrize("variant", ["translated", "cluttered"])
def test_real_validation_and_test_canvases_are_identical_with_0_and_2_workers(data_dir: Path, variant: str) -> None:
    def canvases(workers: int, batch_size: int) -> tuple[Tensor, Tensor]:
        data = RAMDataModule(
            data_dir=str(data_dir),
            variant=variant,
            canvas_size=60,
            eval_batch_size=batch_size,
            val_size=300,
            num_workers=workers,
            download=False,
        )
        data.setup()
        val = torch.cat([images for images, *_ in data.val_dataloader()])
        test = torch.cat([images for images, *_ in islice(data.test_dataloader(), 3)])
        return val, test

    val_0, test_0 = canvases(workers=0, batch_size=64)
    val_2, test_2 = canvases(workers=2, batch_size=50)
    assert val_0.shape == (300, 1, 60, 60)
    assert torch.equal(val_0, val_2)
    assert torch.equal(test_0[:150], test_2[:150])


def _separated(targets: Tensor, size: int) -> bool:
    """Whether ``targets`` ``(D, 2)`` boxes of ``size`` are pairwise apart by at least one pixel (no touching)."""
    gap = (targets[:, None, :] - targets[None, :, :]).abs()  # (D, D, 2)
    apart = (gap > size).any(dim=-1)
    return bool((apart | torch.eye(len(targets), dtype=torch.bool)).all())


@pytest.mark.parametrize(("canvas_size", "distractors", "size"), [(60, 4, 8), (100, 8, 8), (60, 3, 5)])
def test_cluttered_blank_image_shows_exactly_the_configured_pieces(canvas_size: int, distractors: int, size: int):
    # Sample 0 is blank; every other image of the split is white, so each piece is a white size x size square.
    images = torch.full((20, 1, 28, 28), 255, dtype=torch.uint8)
    images[0] = 0
    canvas = CanvasGenerator("cluttered", 28, canvas_size, num_distractors=distractors, distractor_size=size)
    blank = torch.zeros(200, dtype=torch.long)
    placement = canvas.draw(200, blank, 20, torch.Generator().manual_seed(0))
    masks = (canvas.render(images[blank], placement, images)[:, 0] > 0).int()  # (200, S, S)
    checked = 0
    for mask, targets in zip(masks, placement.targets, strict=True):
        assert size * size <= mask.sum() <= distractors * size * size
        if not _separated(targets, size):
            continue
        # Count squares by their top-left corners (lit, with dark pixels above and to the left).
        padded = torch.nn.functional.pad(mask, (1, 0, 1, 0))
        corners = (mask == 1) & (padded[:-1, 1:] == 0) & (padded[1:, :-1] == 0)
        assert int(corners.sum()) == distractors
        for row, col in corners.nonzero().tolist():
            assert mask[row : row + size, col : col + size].sum() == size * size
        assert mask.sum() == distractors * size * size
        checked += 1
    assert checked >= 20


def test_cluttered_dataset_draws_its_pieces_from_the_other_images_of_the_split() -> None:
    images = torch.zeros(30, 1, 28, 28, dtype=torch.uint8)
    images[1:, :, 10:18, 10:18] = 255  # every other image has a white centre
    canvas = CanvasGenerator("cluttered", 28, 60, num_distractors=4, distractor_size=8)
    dataset = CanvasDataset(images, torch.zeros(30, dtype=torch.long), canvas)
    canvases, _ = dataset.__getitems__([0] * 100)
    lit = canvases.flatten(1).gt(0).sum(dim=1)  # (100,)
    assert lit.max() <= 4 * 64 and (lit > 0).float().mean() > 0.5  # crops of the others' centres, often lit


def _assert_pieces_hold_their_source_crops(clutter: Tensor, placement: Placement, pool: Tensor, size: int) -> None:
    """Every piece no other piece overlaps shows the pixels (all channels) of its crop of its source image."""
    for sample in range(clutter.shape[0]):
        for piece in range(placement.targets.shape[1]):
            (ty, tx), (cy, cx) = placement.targets[sample, piece].tolist(), placement.crops[sample, piece].tolist()
            others = torch.cat([placement.targets[sample, :piece], placement.targets[sample, piece + 1 :]])
            if ((others - placement.targets[sample, piece]).abs() < size).all(dim=1).any():
                continue
            source = pool[placement.sources[sample, piece], :, cy : cy + size, cx : cx + size]
            assert torch.equal(clutter[sample, :, ty : ty + size, tx : tx + size], source)


def test_cluttered_keeps_the_target_intact_and_takes_pieces_from_other_images() -> None:
    images = _images(40)
    canvas = CanvasGenerator("cluttered", 28, 60, num_distractors=8, distractor_size=8)
    indices = torch.arange(40)
    placement = canvas.draw(40, indices, 40, torch.Generator().manual_seed(0))
    cluttered = canvas.render(images, placement, images)  # (B, 1, 60, 60)
    assert (placement.sources != indices[:, None]).all()  # never cut from the sample itself
    alone = canvas.render(images, placement, torch.zeros_like(images))  # the same placement without clutter
    clutter = canvas.render(torch.zeros_like(images), placement, images)  # the clutter without the target
    assert torch.equal(cluttered, torch.maximum(alone, clutter))  # composited with a pixel-wise maximum
    for sample, (top, left) in enumerate(placement.positions.tolist()):
        box = cluttered[sample, :, top : top + 28, left : left + 28]
        assert (box >= images[sample]).all()  # no pixel of the target is darkened or erased
        assert torch.equal(alone[sample, :, top : top + 28, left : left + 28], images[sample])
    _assert_pieces_hold_their_source_crops(clutter, placement, images, 8)


def test_rgb_images_keep_their_channels_on_the_canvas() -> None:
    images = torch.randint(1, 256, (6, 3, 16, 16), dtype=torch.uint8)
    canvas = CanvasGenerator("cluttered", 16, 40, num_distractors=3, distractor_size=4)
    placement = canvas.draw(6, torch.arange(6), 6, torch.Generator().manual_seed(0))
    alone = canvas.render(images, placement, torch.zeros_like(images))
    assert alone.shape == (6, 3, 40, 40)
    for sample, (top, left) in enumerate(placement.positions.tolist()):
        assert torch.equal(alone[sample, :, top : top + 16, left : left + 16], images[sample])
    clutter = canvas.render(torch.zeros_like(images), placement, images)
    _assert_pieces_hold_their_source_crops(clutter, placement, images, 4)


@pytest.mark.parametrize(
    ("kwargs", "key"),
    [
        ({"variant": "translated"}, "canvas_size"),
        ({"variant": "translated", "canvas_size": 20}, "canvas_size"),
        ({"variant": "centered", "canvas_size": 60}, "canvas_size"),
        ({"variant": "cluttered", "canvas_size": 60, "num_distractors": 0}, "num_distractors"),
        ({"variant": "cluttered", "canvas_size": 60, "distractor_size": 0}, "distractor_size"),
        ({"variant": "cluttered", "canvas_size": 60, "distractor_size": 40}, "distractor_size"),
        ({"variant": "tilted"}, "variant"),
    ],
)
def test_bad_variant_parameters_fail_naming_the_parameter(kwargs: dict, key: str) -> None:
    with pytest.raises(ValueError, match=rf"^{key}\b"):
        CanvasGenerator(image_size=28, **kwargs)


def test_preview_writes_a_png_with_a_row_per_variant(data_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "docs" / "variants.png"
    preview.main(["--out", str(out), "--data-dir", str(data_dir), "--samples", "3", "--scale", "1"])
    picture = Image.open(out)
    rows = preview.paper_rows()
    sides = [row.canvas.canvas_size + 2 for row in rows]  # canvas + border, at scale 1
    gap = preview.GAP
    assert picture.size == (preview.LABEL_WIDTH + 3 * (max(sides) + gap) + gap, sum(sides) + gap * (len(rows) + 1))
    # The last row's first cell is the first fixed test canvas of the 100x100 cluttered variant.
    expected = preview.render_rows(*_test_split(data_dir), rows[-1:], samples=1, seed=2)[0][0, 0]
    top, left = sum(sides[:-1]) + gap * len(rows) + 1, preview.LABEL_WIDTH + gap + 1
    cell = torch.from_numpy(np.asarray(picture))[top : top + 100, left : left + 100, 0]
    assert torch.equal(cell, expected)


def _test_split(data_dir: Path) -> tuple[Tensor, Tensor]:
    return tuple(MNISTFamily("mnist", data_dir).load(train=False))


def test_ddp_ranks_without_workers_draw_different_training_placements() -> None:
    dataset = CanvasDataset(_images(16), torch.arange(16), CanvasGenerator("cluttered", 28, 60, 4, 8))

    def canvases(rank: int) -> Tensor:
        torch.manual_seed(7)  # every rank is seeded alike
        sampler = EpochSeededSampler(dataset, seed=7, num_replicas=2, rank=rank)
        sampler.set_epoch(0)  # re-seeds per rank
        indices = list(sampler)
        return torch.cat([dataset.__getitems__(indices)[0] for _ in range(2)])

    assert torch.equal(canvases(0), canvases(0))  # reproducible
    assert not torch.equal(canvases(0)[:4], canvases(1)[:4])
