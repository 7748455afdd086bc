"""Affine jitter of training images: exact warps, per-image random draws, checked options, evaluation untouched."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch
from torch import Tensor

from ram_lightning.data import CanvasDataset, CanvasGenerator, RAMDataModule
from ram_lightning.data.augmentation import AffineJitter, affine_warp
from ram_lightning.errors import ConfigError


def _warp(image: Tensor, angle: float = 0.0, zoom: float = 1.0, shift: tuple[float, float] = (0.0, 0.0)) -> Tensor:
    """``affine_warp`` of one ``(C, H, W)`` image."""
    return affine_warp(image[None], torch.tensor([angle]), torch.tensor([zoom]), torch.tensor([shift]))[0]


def _digit(size: int = 28, top: int = 6, left: int = 9) -> Tensor:
    """``(1, size, size)`` uint8: an asymmetric "L" stroke, like a drawn digit."""
    image = torch.zeros(1, size, size, dtype=torch.uint8)
    image[:, top : top + 16, left : left + 3] = 255
    image[:, top + 13 : top + 16, left : left + 10] = 180
    return image


def _write_tiny_mnist(root: Path, train: int = 30, test: int = 10) -> Path:
    """``root/MNIST/raw/`` with the four extracted idx files (no archives to check): shifted "L" images."""
    raw = root / "MNIST" / "raw"
    raw.mkdir(parents=True)
    for prefix, count in (("train", train), ("t10k", test)):
        images = torch.stack([_digit(top=4 + index % 5, left=6 + index % 7)[0] for index in range(count)])
        header = b"".join(number.to_bytes(4, "big") for number in (2051, count, 28, 28))  # magic, N, H, W
        (raw / f"{prefix}-images-idx3-ubyte").write_bytes(header + images.numpy().tobytes())
        labels = bytes(index % 10 for index in range(count))
        (raw / f"{prefix}-labels-idx1-ubyte").write_bytes((2049).to_bytes(4, "big") + count.to_bytes(4, "big") + labels)
    return root


def test_integer_shift_moves_a_pixel_exactly_and_content_pushed_outside_is_lost() -> None:
    image = torch.zeros(1, 16, 16, dtype=torch.uint8)
    image[0, 5, 4] = 200  # (y, x)
    expected = torch.zeros_like(image)
    expected[0, 6, 7] = 200  # 3 right, 1 down
    assert torch.equal(_warp(image, shift=(3.0, 1.0)), expected)
    assert torch.equal(_warp(image, shift=(12.0, 0.0)), torch.zeros_like(image))  # x = 16: off the right edge
    noise = torch.randint(0, 256, (3, 16, 16), generator=torch.Generator().manual_seed(0), dtype=torch.uint8)
    assert torch.equal(_warp(noise), noise)  # the identity leaves every channel as it is


@pytest.mark.parametrize("size", [16, 15])
def test_quarter_turn_is_counter_clockwise_as_displayed_and_exact(size: int) -> None:
    image = torch.zeros(1, size, size, dtype=torch.uint8)
    image[0, 2:5, 1:12] = 255  # a bar along the top, left of centre, and a dot near the bottom left
    image[0, size - 3, 2] = 90
    expected = torch.rot90(image, 1, dims=(-2, -1))  # the top bar turns to the left side
    assert torch.equal(_warp(image, angle=math.pi / 2), expected)
    assert torch.equal(_warp(image, angle=-math.pi / 2), torch.rot90(image, -1, dims=(-2, -1)))


def test_a_quarter_turn_of_a_wide_image_keeps_the_shape_of_its_content() -> None:
    image = torch.zeros(1, 11, 31, dtype=torch.uint8)
    image[0, 5, 10:21] = 200  # an 11-pixel horizontal bar through the centre
    rows, columns = _warp(image, angle=math.pi / 2)[0].nonzero().unbind(1)
    assert columns.unique().tolist() == [15]  # one column wide, through the centre, not stretched by 31 / 11
    assert (rows.min().item(), rows.max().item()) == (0, 10)  # 11 pixels long, as many as the image's rows


@pytest.mark.parametrize(("zoom", "width"), [(2.0, 16), (0.5, 4), (1.0, 8)])
def test_zoom_scales_a_centred_blob_about_its_centre(zoom: float, width: int) -> None:
    image = torch.zeros(1, 32, 32, dtype=torch.uint8)
    image[0, 12:20, 12:20] = 255  # 8x8, centred on the image's centre (15.5, 15.5)
    warped = _warp(image, zoom=zoom)
    row, col = warped[0, 15], warped[0, :, 15]
    assert abs(int((row > 0).sum()) - width) <= 2 and abs(int((col > 0).sum()) - width) <= 2
    cols = row.nonzero().squeeze(1)
    assert abs((cols[0] + cols[-1]).item() / 2 - 15.5) <= 0.5  # still centred


def test_jitter_off_is_a_no_op_and_on_draws_one_transform_per_image() -> None:
    batch = _digit().expand(8, 1, 28, 28).contiguous()  # 8 identical copies
    off = AffineJitter()
    assert not off.enabled and off(batch) is batch
    jitter = AffineJitter(degrees=20, scale=0.1, shift=2)
    assert jitter.enabled and AffineJitter(shift=1).enabled
    out = jitter(batch, torch.Generator().manual_seed(3))
    assert out.shape == batch.shape and out.dtype == torch.uint8
    assert len({tuple(image.flatten().tolist()) for image in out}) == 8  # every copy got its own draw
    assert torch.equal(out, jitter(batch, torch.Generator().manual_seed(3)))  # equal seeds, equal output
    assert not torch.equal(out, jitter(batch, torch.Generator().manual_seed(4)))


@pytest.mark.parametrize(
    ("kwargs", "name"), [({"degrees": -1}, "degrees"), ({"scale": 1.0}, "scale"), ({"shift": -2}, "shift")]
)
def test_bad_jitter_arguments_raise_naming_the_argument(tmp_path: Path, kwargs: dict, name: str) -> None:
    with pytest.raises(ValueError, match=rf"^{name}\b"):
        AffineJitter(**kwargs)
    with pytest.raises(ConfigError, match=rf"^data\.jitter_{name}\b"):
        RAMDataModule(data_dir=str(tmp_path), **{f"jitter_{key}": value for key, value in kwargs.items()})


def test_datamodule_rejects_a_jitter_scale_above_one(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"^data\.jitter_scale\b"):
        RAMDataModule(data_dir=str(tmp_path), jitter_scale=1.5)


def test_fixed_evaluation_canvases_cannot_be_jittered() -> None:
    images = _digit().expand(4, 1, 28, 28)
    with pytest.raises(ValueError, match="jitter"):
        CanvasDataset(images, torch.arange(4), CanvasGenerator(), fixed_seed=1, jitter=AffineJitter(10))


@pytest.mark.parametrize("variant", ["centered", "translated"])
def test_only_training_canvases_are_jittered(tmp_path: Path, variant: str) -> None:
    root = str(_write_tiny_mnist(tmp_path))

    def module(**jitter: float) -> RAMDataModule:
        data = RAMDataModule(root, download=False, variant=variant, canvas_size=None if variant == "centered" else 40,
                             val_size=10, batch_size=8, **jitter)  # fmt: skip
        data.setup()
        return data

    plain, jittered = module(), module(jitter_degrees=30, jitter_scale=0.2, jitter_shift=2)
    assert plain.train_set.jitter is None and plain.jitter is None
    assert isinstance(jittered.train_set.jitter, AffineJitter) and jittered.train_set.jitter.degrees == 30
    assert jittered.val_set.jitter is None and jittered.test_set.jitter is None
    for split in ("val_set", "test_set"):
        everything = list(range(10))
        assert torch.equal(getattr(plain, split).__getitems__(everything)[0],
                           getattr(jittered, split).__getitems__(everything)[0])  # fmt: skip
    if variant == "centered":  # the canvas is the image itself: what differs is the jitter
        torch.manual_seed(0)
        indices = list(range(len(jittered.train_set)))
        canvases, _ = jittered.train_set.__getitems__(indices)
        assert torch.equal(plain.train_set.__getitems__(indices)[0], plain.train_set.images)
        assert all(not torch.equal(a, b) for a, b in zip(canvases, jittered.train_set.images, strict=True))
