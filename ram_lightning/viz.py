"""Drawing attention trajectories, glimpses and learning curves: pure functions from tensors to pictures.

Used by the TensorBoard callback (``callbacks.AttentionTrajectoryLogger``), the ``ram-plot`` and ``ram-export``
commands and the variants preview (``python -m ram_lightning.preview``), so the pictures made during training and
from a checkpoint are the same. The rollouts drawn are recorded by :mod:`ram_lightning.recorded_rollout`. Boxes,
grids and conversions are torchvision's (:func:`~torchvision.utils.draw_bounding_boxes`,
:func:`~torchvision.utils.make_grid`); paths, dots, numbers, captions and curves are drawn with Pillow. Shapes use
``B`` images of ``C`` channels and ``H x W`` pixels, ``T`` glimpses, ``k`` retina scales of ``g x g`` pixels.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from PIL import Image, ImageDraw, ImageFont
from torch import Tensor
from torchvision.transforms.functional import pil_to_tensor, to_pil_image
from torchvision.utils import draw_bounding_boxes, make_grid

from ram_lightning.recorded_rollout import Rollout

RGB = tuple[int, int, int]

# One colour per glimpse step (cycled), bright enough to read on black MNIST backgrounds.
STEP_COLORS: tuple[RGB, ...] = (
    (0, 191, 255),
    (127, 255, 0),
    (255, 215, 0),
    (255, 140, 0),
    (255, 105, 180),
    (0, 255, 204),
    (191, 127, 255),
    (255, 255, 255),
)
CORRECT_COLOR: RGB = (60, 220, 60)
WRONG_COLOR: RGB = (255, 40, 40)
BACKGROUND = 48  # grey level between the cells of grids and strips


def step_color(step: int) -> RGB:
    """Colour of glimpse ``step`` (0-based)."""
    return STEP_COLORS[step % len(STEP_COLORS)]


def auto_scale(size: int, target: int) -> int:
    """Integer magnification that brings ``size`` pixels close to ``target`` pixels (at least 1)."""
    return max(1, round(target / size))


def to_rgb(image: Tensor, scale: int = 1) -> Tensor:
    """``(C, H, W)`` image (``C`` = 1 or 3), floats in ``[0, 1]`` or uint8 -> ``(3, H * scale, W * scale)`` uint8,
    magnified by repeating pixels (nearest neighbour)."""
    if image.ndim != 3 or image.shape[0] not in (1, 3):
        raise ValueError(f"expected a (C, H, W) image with C = 1 or 3, got shape {tuple(image.shape)}")
    image = image.detach().cpu()
    if image.is_floating_point():
        image = (image.float().clamp(0, 1) * 255).round().to(torch.uint8)
    return image.expand(3, -1, -1).repeat_interleave(scale, dim=-2).repeat_interleave(scale, dim=-1)


def image_grid(
    tiles: Sequence[Tensor],
    nrow: int | None = None,
    padding: int = 4,
    background: int = BACKGROUND,
    cell: tuple[int, int] | None = None,
) -> Tensor:
    """Lays ``(3, h, w)`` uint8 tiles out on a grid, ``nrow`` per row (about square if ``None``), ``padding`` pixels
    of grey level ``background`` around and between them.

    Each tile sits at the top left of a cell of the largest tile's size (or of ``cell`` ``(height, width)``).

    Returns:
        A ``(3, padding + rows * (height + padding), padding + nrow * (width + padding))`` uint8 tensor.
    """
    if not tiles:
        raise ValueError("image_grid needs at least one tile")
    height, width = cell or (max(tile.shape[-2] for tile in tiles), max(tile.shape[-1] for tile in tiles))
    cells = [F.pad(tile, (0, width - tile.shape[-1], 0, height - tile.shape[-2]), value=background) for tile in tiles]
    if len(cells) == 1:  # make_grid returns a single image without its padding
        return F.pad(cells[0], (padding,) * 4, value=background)
    return make_grid(cells, nrow=nrow or math.ceil(math.sqrt(len(cells))), padding=padding, pad_value=background)


def draw_trajectory(
    image: Tensor,
    locations: Tensor,
    boxes: Tensor,
    pred: int | None = None,
    label: int | None = None,
    steps: int | None = None,
    scale: int | None = None,
) -> Image.Image:
    """One image with its glimpses: every scale's box, the path between glimpse centres and the step numbers.

    A caption under the image reads ``pred P / true Y``, green when right and red when wrong (only ``pred P``
    without a label).

    Args:
        image: ``(C, H, W)`` image in ``[0, 1]``.
        locations: ``(T, 2)`` glimpse centres in ``[-1, 1]``.
        boxes: ``(T, k, 4)`` pixel boxes of every scale (see :meth:`Retina.patch_boxes`).
        pred: predicted class, or ``None`` for no caption.
        label: true class, or ``None``.
        steps: draw only the first ``steps`` glimpses (animation frames); all if ``None``.
        scale: magnification; chosen so the image is about 160 pixels wide if ``None``.

    Returns:
        An RGB image of ``W * scale`` x ``H * scale`` pixels, plus the caption band.
    """
    height, width = image.shape[-2:]
    scale = scale or auto_scale(max(height, width), 160)
    shown = locations.shape[0] if steps is None else max(0, min(steps, locations.shape[0]))
    font = _font(12 if width * scale >= 96 else 9)
    picture = to_rgb(image, scale)  # (3, H * scale, W * scale)
    for s in reversed(range(boxes.shape[1]) if shown else ()):  # coarse scales first (thin, dimmed), the finest on top
        colors = [step_color(t) if s == 0 else _dim(step_color(t)) for t in range(shown)]
        outlines = boxes[:shown, s] * scale - torch.tensor([0, 0, 1, 1])  # (shown, 4), the last pixels inclusive
        picture = draw_bounding_boxes(picture, outlines, colors=colors, width=2 if s == 0 else 1)
    picture = to_pil_image(picture)
    draw = ImageDraw.Draw(picture)
    centres = [(float(x + 1) * 0.5 * width * scale, float(y + 1) * 0.5 * height * scale) for x, y in locations.tolist()]
    if shown > 1:
        draw.line(centres[:shown], fill=(200, 200, 200), width=1)
    radius = max(2, scale // 2)
    for t in range(shown):
        cx, cy = centres[t]
        draw.ellipse([cx - radius, cy - radius, cx + radius, cy + radius], fill=step_color(t))
        draw.text(
            (cx + radius + 1, cy - radius - 1),
            str(t + 1),
            fill=step_color(t),
            font=font,
            stroke_width=1,
            stroke_fill=(0, 0, 0),
        )
    if pred is None:
        return picture
    return _with_caption(picture, pred, label, font)


def draw_trajectories(
    rollout: Rollout, labels: Tensor | None = None, steps: int | None = None, scale: int | None = None
) -> list[Image.Image]:
    """:func:`draw_trajectory` for each of the ``B`` rollouts; ``labels`` ``(B,)`` or ``None``."""
    pictures = []
    for i in range(rollout.images.shape[0]):
        label = None if labels is None else int(labels[i])
        pictures.append(
            draw_trajectory(
                rollout.images[i],
                rollout.locations[i],
                rollout.boxes[i],
                pred=int(rollout.preds[i]),
                label=label,
                steps=steps,
                scale=scale,
            )
        )
    return pictures


def draw_glimpse_strip(glimpses: Tensor, scale: int | None = None) -> Image.Image:
    """What the sensor saw: one row per image, one column per step, the ``k`` scales stacked (finest on top).

    Pixels are shown as read (zeros outside the image), not rescaled per patch. A header gives the step numbers
    in the step colours used by :func:`draw_trajectory`.

    Args:
        glimpses: ``(B, T, k, C, g, g)`` glimpses in ``[0, 1]``.
        scale: magnification of each ``g x g`` patch; about 40 pixels wide if ``None``.

    Returns:
        An RGB image.
    """
    if glimpses.ndim != 6:
        raise ValueError(f"expected glimpses of shape (B, T, k, C, g, g), got {tuple(glimpses.shape)}")
    batch, steps, scales, _, size, _ = glimpses.shape
    scale = scale or auto_scale(size, 40)
    cell, gap, header = size * scale, 4, 16
    # One tile per image and step: its k scales one above the other, 1 pixel apart (the grid's outer padding cut).
    tiles = [
        image_grid([to_rgb(patch, scale) for patch in glimpses[b, t]], nrow=1, padding=1)[:, 1:-1, 1:-1]
        for b in range(batch)
        for t in range(steps)
    ]
    grid = image_grid(tiles, nrow=steps, padding=gap)  # rows start gap + b * (k * cell + k - 1 + gap)
    strip = to_pil_image(F.pad(grid, (0, 0, header - gap, gap), value=BACKGROUND))  # the header above, a margin below
    draw = ImageDraw.Draw(strip)
    font = _font(12)
    for t in range(steps):
        left = gap + t * (cell + gap)
        draw.text((left + 2, 1), str(t + 1), fill=step_color(t), font=font)
        draw.line([left, header - 3, left + cell - 1, header - 3], fill=step_color(t), width=2)
    return strip


def trajectory_grid(
    rollout: Rollout,
    labels: Tensor | None = None,
    nrow: int | None = None,
    steps: int | None = None,
    scale: int | None = None,
) -> Image.Image:
    """All ``B`` trajectories of a rollout on one grid (see :func:`draw_trajectory`)."""
    pictures = draw_trajectories(rollout, labels, steps=steps, scale=scale)
    return to_pil_image(image_grid([pil_to_tensor(picture) for picture in pictures], nrow=nrow))


def animation_frames(
    rollout: Rollout, labels: Tensor | None = None, nrow: int | None = None, scale: int | None = None
) -> list[Image.Image]:
    """``T`` grids, the ``t``-th showing the first ``t + 1`` glimpses of every rollout (frames of a GIF)."""
    steps = rollout.locations.shape[1]
    return [trajectory_grid(rollout, labels, nrow=nrow, steps=t + 1, scale=scale) for t in range(steps)]


def draw_error_curve(points: Sequence[tuple[float, float]], title: str) -> Image.Image:
    """A learning curve: error (%) per epoch, ``points`` ``(epoch, error)``, on a log scale, as a 640x400 picture
    with grid lines at 0.5, 1, 2, 5... % and the best error written under it."""
    width, height, margin = 640, 400, 60
    picture = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(picture)
    draw.text((margin, 10), title, fill="black")
    if not points:
        return picture
    logs = [math.log10(max(error, 0.1)) for _, error in points]
    low, high = min(logs), max(max(logs), min(logs) + 0.3)
    last_epoch = max(points[-1][0], 1)

    def to_xy(epoch: float, error: float) -> tuple[float, float]:
        x = margin + (width - 2 * margin) * epoch / last_epoch
        y = height - margin - (height - 2 * margin) * (math.log10(max(error, 0.1)) - low) / (high - low)
        return x, y

    draw.rectangle([margin, margin, width - margin, height - margin], outline="gray")
    for level in (0.5, 1, 2, 5, 10, 20, 50, 100):
        if low - 0.05 <= math.log10(level) <= high + 0.05:
            y = to_xy(0, level)[1]
            draw.line([margin, y, width - margin, y], fill=(225, 225, 225))
            draw.text((8, y - 6), f"{level:g}%", fill="black")
    draw.line([to_xy(epoch, error) for epoch, error in points], fill="blue", width=2)
    draw.text((width - margin - 60, height - margin + 10), f"epoch {last_epoch:g}", fill="black")
    best = min(points, key=lambda point: point[1])
    draw.text((margin + 10, height - margin + 25), f"best {best[1]:.2f}% at epoch {best[0]:g}", fill="blue")
    return picture


def _with_caption(picture: Image.Image, pred: int, label: int | None, font: ImageFont.ImageFont) -> Image.Image:
    """Adds a band under ``picture`` with ``pred P / true Y`` (green if right, red if wrong)."""
    band = 16 if picture.width >= 96 else 12
    framed = Image.new("RGB", (picture.width, picture.height + band), (0, 0, 0))
    framed.paste(picture, (0, 0))
    if label is None:
        text, color = f"pred {pred}", (255, 255, 255)
    else:
        text, color = f"pred {pred} / true {label}", CORRECT_COLOR if pred == label else WRONG_COLOR
    ImageDraw.Draw(framed).text((2, picture.height + 1), text, fill=color, font=font)
    return framed


def _dim(color: RGB, amount: float = 0.45) -> RGB:
    """``color`` darkened by ``amount`` (for the coarser retina scales)."""
    r, g, b = color
    return (round(r * (1 - amount)), round(g * (1 - amount)), round(b * (1 - amount)))


def _font(size: int) -> ImageFont.ImageFont:
    """Pillow's built-in font at ``size`` pixels (a fixed-size bitmap font on Pillow < 10.1)."""
    try:
        return ImageFont.load_default(size=size)
    except TypeError:
        return ImageFont.load_default()
