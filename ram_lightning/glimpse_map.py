"""Where the glimpses land: per-step heatmaps over the canvas, and how often the finest patch is on the object.

Pure functions on tensors; :class:`callbacks.GlimpseMapLogger` applies them to validation images during training.
"""

from __future__ import annotations

import torch
from torch import Tensor

from ram_lightning.retina import Retina


def location_heatmaps(locations: Tensor, bins: int = 32) -> Tensor:
    """Histograms of the glimpse centres of each step over the canvas.

    Args:
        locations: ``(N, T, 2)`` glimpse centres ``(x, y)`` in ``[-1, 1]``.
        bins: cells per side of the histogram.

    Returns:
        ``(T, bins, bins)`` share of the ``N`` glimpses of each step in each cell (rows: ``y``, columns: ``x``).
    """
    count, steps = locations.shape[:2]
    cells = ((locations.detach().float().clamp(-1, 1) + 1) * 0.5 * bins).long().clamp_(0, bins - 1)  # (N, T, 2)
    flat = cells[..., 1] * bins + cells[..., 0] + torch.arange(steps, device=cells.device) * bins * bins  # (N, T)
    histogram = torch.bincount(flat.flatten(), minlength=steps * bins * bins).float()
    return histogram.view(steps, bins, bins) / max(count, 1)


def ink_boxes(images: Tensor, positions: Tensor, threshold: float = 0.0) -> Tensor:
    """Bounding boxes of the object's pixels on the canvas.

    Args:
        images: ``(N, C, H, W)`` the objects before placement (MNIST digits: their ink is the non-zero pixels).
        positions: ``(N, 2)`` top-left ``(y, x)`` of each image on its canvas.
        threshold: pixels above it belong to the object.

    Returns:
        ``(N, 4)`` boxes ``(x0, y0, x1, y1)`` in canvas pixels, ``x1``/``y1`` exclusive; an empty image gives its
        whole frame.
    """
    ink = (images > threshold).any(dim=1)  # (N, H, W)
    height, width = ink.shape[1:]
    rows, cols = ink.any(dim=2), ink.any(dim=1)  # (N, H), (N, W)
    empty = ~rows.any(dim=1)
    rows[empty], cols[empty] = True, True
    y0 = rows.float().argmax(dim=1)
    y1 = height - rows.flip(1).float().argmax(dim=1)
    x0 = cols.float().argmax(dim=1)
    x1 = width - cols.flip(1).float().argmax(dim=1)
    offset_y, offset_x = positions[:, 0], positions[:, 1]
    return torch.stack([x0 + offset_x, y0 + offset_y, x1 + offset_x, y1 + offset_y], dim=1)


def on_object_share(retina: Retina, locations: Tensor, boxes: Tensor, canvas_size: int) -> Tensor:
    """Share of the glimpses of each step whose finest retina patch overlaps the object's box.

    Args:
        retina: the model's sensor (its finest patch is used).
        locations: ``(N, T, 2)`` glimpse centres in ``[-1, 1]``.
        boxes: ``(N, 4)`` object boxes ``(x0, y0, x1, y1)``, exclusive ends, in canvas pixels.
        canvas_size: side of the canvas.

    Returns:
        ``(T,)`` shares in ``[0, 1]``.
    """
    count, steps = locations.shape[:2]
    patches = retina.patch_boxes(locations.reshape(-1, 2), canvas_size, canvas_size)[:, 0]  # (N*T, 4), finest
    patches = patches.view(count, steps, 4)
    boxes = boxes[:, None].to(patches.device)  # (N, 1, 4)
    overlap_x = torch.minimum(patches[..., 2], boxes[..., 2]) > torch.maximum(patches[..., 0], boxes[..., 0])
    overlap_y = torch.minimum(patches[..., 3], boxes[..., 3]) > torch.maximum(patches[..., 1], boxes[..., 1])
    return (overlap_x & overlap_y).float().mean(dim=0)
