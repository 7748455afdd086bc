"""Drawing attention trajectories and glimpses: pure functions from tensors to Pillow images.

Used by the TensorBoard callback (``callbacks.AttentionTrajectoryLogger``) and by the ``ram-plot`` command, so the
pictures made during training and from a checkpoint are the same. Shapes use ``B`` images of ``C`` channels and
``H x W`` pixels, ``T`` glimpses, ``k`` retina scales of ``g x g`` pixels.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import NamedTuple

import numpy as np
import torch
from PIL import Image, ImageDraw, ImageFont
from torch import Tensor

from ram_lightning.model import RecurrentAttention
from ram_lightning.retina import Retina
from ram_lightning.seeding import seeded_random_state

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
BACKGROUND: RGB = (48, 48, 48)


class Rollout(NamedTuple):
    """Everything needed to draw ``B`` rollouts of ``T`` glimpses.

    Attributes:
        images: ``(B, C, H, W)`` images in ``[0, 1]``.
        locations: ``(B, T, 2)`` glimpse centres ``(x, y)`` in ``[-1, 1]``.
        boxes: ``(B, T, k, 4)`` pixel boxes ``(x0, y0, x1, y1)`` of every scale, ``x1``/``y1`` exclusive.
        glimpses: ``(B, T, k, C, g, g)`` what the sensor read at each step.
        preds: ``(B,)`` predicted class after the last glimpse.
    """

    images: Tensor
    locations: Tensor
    boxes: Tensor
    glimpses: Tensor
    preds: Tensor


def step_color(step: int) -> RGB:
    """Colour of glimpse ``step`` (0-based)."""
    return STEP_COLORS[step % len(STEP_COLORS)]


def glimpse_boxes(retina: Retina, locations: Tensor, height: int, width: int) -> Tensor:
    """Pixel boxes of every glimpse: ``locations`` ``(B, T, 2)`` -> ``(B, T, k, 4)``."""
    batch, steps = locations.shape[:2]
    boxes = retina.patch_boxes(locations.reshape(batch * steps, 2), height, width)  # (B*T, k, 4)
    return boxes.view(batch, steps, *boxes.shape[1:])


def read_glimpses(retina: Retina, images: Tensor, locations: Tensor) -> Tensor:
    """What the sensor saw: ``images`` ``(B, C, H, W)``, ``locations`` ``(B, T, 2)`` -> ``(B, T, k, C, g, g)``."""
    steps = locations.shape[1]
    return torch.stack([retina(images, locations[:, t]) for t in range(steps)], dim=1)


@torch.no_grad()
def record_rollout(model: RecurrentAttention, images: Tensor, sample: bool = False, seed: int = 0) -> Rollout:
    """Runs ``model`` on ``images`` ``(B, C, H, W)`` and gathers what the drawing functions need.

    The global random state is left untouched (a forked generator seeded with ``seed`` serves sampled rollouts), so
    drawing during training does not change the training's random numbers.

    Args:
        model: the attention model (its current ``training`` mode and ``random_glimpses`` flag are used as they are).
        images: ``(B, C, H, W)`` images in ``[0, 1]`` on the model's device.
        sample: sample locations from the policy instead of following its mean.
        seed: seed of the sampled locations.

    Returns:
        A :class:`Rollout` with every tensor on the CPU.
    """
    with seeded_random_state(images.device, seed):
        output = model(images, sample=sample)
    height, width = images.shape[-2:]
    locations = output.locations  # (B, T, 2)
    return Rollout(
        images=images.detach().float().cpu(),
        locations=locations.float().cpu(),
        boxes=glimpse_boxes(model.retina, locations, height, width).cpu(),
        glimpses=read_glimpses(model.retina, images, locations).float().cpu(),
        preds=output.log_probs[:, -1].argmax(dim=-1).cpu(),
    )


def auto_scale(size: int, target: int) -> int:
    """Integer magnification that brings ``size`` pixels close to ``target`` pixels (at least 1)."""
    return max(1, round(target / size))


def to_pil(image: Tensor, scale: int = 1) -> Image.Image:
    """``(C, H, W)`` image in ``[0, 1]`` (``C`` = 1 or 3) -> RGB Pillow image magnified ``scale`` times."""
    if image.ndim != 3 or image.shape[0] not in (1, 3):
        raise ValueError(f"expected a (C, H, W) image with C = 1 or 3, got shape {tuple(image.shape)}")
    pixels = (image.detach().float().clamp(0, 1) * 255).round().to(torch.uint8).cpu()
    pixels = pixels.expand(3, -1, -1).permute(1, 2, 0).contiguous().numpy()  # (H, W, 3)
    picture = Image.fromarray(pixels)
    if scale != 1:
        picture = picture.resize((picture.width * scale, picture.height * scale), Image.Resampling.NEAREST)
    return picture


def pil_to_tensor(image: Image.Image) -> Tensor:
    """RGB Pillow image -> ``(3, H, W)`` uint8 tensor (the layout TensorBoard's ``add_image`` expects)."""
    return torch.from_numpy(np.array(image.convert("RGB"))).permute(2, 0, 1).contiguous()


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
    picture = to_pil(image, scale)
    draw = ImageDraw.Draw(picture)
    centres = [(float(x + 1) * 0.5 * width * scale, float(y + 1) * 0.5 * height * scale) for x, y in locations.tolist()]
    for s in reversed(range(boxes.shape[1])):  # coarse scales first (thin, dimmed), the finest on top
        for t in range(shown):
            x0, y0, x1, y1 = boxes[t, s].tolist()
            color = step_color(t) if s == 0 else _dim(step_color(t))
            draw.rectangle(
                [x0 * scale, y0 * scale, x1 * scale - 1, y1 * scale - 1], outline=color, width=2 if s == 0 else 1
            )
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
    cell = size * scale
    gap, header = 4, 16
    width = steps * (cell + gap) + gap
    height = header + batch * (scales * cell + (scales - 1) + gap) + gap
    strip = Image.new("RGB", (width, height), BACKGROUND)
    draw = ImageDraw.Draw(strip)
    font = _font(12)
    for t in range(steps):
        left = gap + t * (cell + gap)
        draw.text((left + 2, 1), str(t + 1), fill=step_color(t), font=font)
        draw.line([left, header - 3, left + cell - 1, header - 3], fill=step_color(t), width=2)
        for b in range(batch):
            top = header + b * (scales * cell + (scales - 1) + gap)
            for s in range(scales):
                strip.paste(to_pil(glimpses[b, t, s], scale), (left, top + s * (cell + 1)))
    return strip


def image_grid(pictures: Sequence[Image.Image], nrow: int | None = None, padding: int = 4) -> Image.Image:
    """Pastes pictures on a grid with ``nrow`` pictures per row (about square if ``None``)."""
    if not pictures:
        raise ValueError("image_grid needs at least one picture")
    nrow = nrow or math.ceil(math.sqrt(len(pictures)))
    rows = math.ceil(len(pictures) / nrow)
    cell_w = max(p.width for p in pictures)
    cell_h = max(p.height for p in pictures)
    grid = Image.new("RGB", (padding + nrow * (cell_w + padding), padding + rows * (cell_h + padding)), BACKGROUND)
    for i, picture in enumerate(pictures):
        row, col = divmod(i, nrow)
        grid.paste(picture, (padding + col * (cell_w + padding), padding + row * (cell_h + padding)))
    return grid


def trajectory_grid(
    rollout: Rollout,
    labels: Tensor | None = None,
    nrow: int | None = None,
    steps: int | None = None,
    scale: int | None = None,
) -> Image.Image:
    """All ``B`` trajectories of a rollout on one grid (see :func:`draw_trajectory`)."""
    return image_grid(draw_trajectories(rollout, labels, steps=steps, scale=scale), nrow=nrow)


def animation_frames(
    rollout: Rollout, labels: Tensor | None = None, nrow: int | None = None, scale: int | None = None
) -> list[Image.Image]:
    """``T`` grids, the ``t``-th showing the first ``t + 1`` glimpses of every rollout (frames of a GIF)."""
    steps = rollout.locations.shape[1]
    return [trajectory_grid(rollout, labels, nrow=nrow, steps=t + 1, scale=scale) for t in range(steps)]


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
