"""Random affine jitter of training images (rotation, scale, shift), each image of a batch with its own draw."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor


class AffineJitter:
    """Rotates, scales and shifts every image of a batch by its own uniformly drawn amounts, before it is placed
    on its canvas (training images only: the evaluation canvases are never jittered).

    Pixels that come from outside the image are black (0), like the canvas around it. Invalid arguments raise a
    ``ValueError`` whose message starts with the argument's name.

    Args:
        degrees: rotation drawn from ``[-degrees, degrees]``.
        scale: zoom factor drawn from ``[1 - scale, 1 + scale]``.
        shift: shift along each axis drawn from ``[-shift, shift]`` pixels.
    """

    def __init__(self, degrees: float = 0.0, scale: float = 0.0, shift: float = 0.0) -> None:
        if not 0.0 <= degrees <= 180.0:
            raise ValueError(f"degrees must be between 0 and 180, got {degrees}")
        if not 0.0 <= scale < 1.0:
            raise ValueError(f"scale must be in [0, 1) (a zoom factor in [1 - scale, 1 + scale]), got {scale}")
        if shift < 0.0:
            raise ValueError(f"shift must be >= 0 pixels, got {shift}")
        self.degrees = degrees
        self.scale = scale
        self.shift = shift

    @property
    def enabled(self) -> bool:
        """Whether any jitter is configured (all zero: images pass through unchanged)."""
        return self.degrees > 0 or self.scale > 0 or self.shift > 0

    def __call__(self, images: Tensor, generator: torch.Generator | None = None) -> Tensor:
        """``images`` ``(B, C, H, W)`` uint8 -> jittered ``(B, C, H, W)`` uint8 (bilinear, rounded)."""
        if not self.enabled:
            return images
        batch = images.shape[0]

        def uniform(bound: float) -> Tensor:  # (B,) in [-bound, bound]
            return (torch.rand(batch, generator=generator) * 2.0 - 1.0) * bound

        angle = uniform(math.radians(self.degrees))
        zoom = 1.0 + uniform(self.scale)
        shift = torch.stack((uniform(self.shift), uniform(self.shift)), dim=1)
        return affine_warp(images, angle, zoom, shift)


def affine_warp(images: Tensor, angle: Tensor, zoom: Tensor, shift: Tensor) -> Tensor:
    """Rotates each image about its centre by ``angle`` ``(B,)`` radians (counter-clockwise as displayed, the first
    row at the top), zooms it by ``zoom`` ``(B,)``, then shifts it by ``shift`` ``(B, 2)`` pixels ``(x, y)`` (right,
    down). ``images`` ``(B, C, H, W)`` uint8 -> ``(B, C, H, W)`` uint8, bilinear, rounded; outside pixels are 0."""
    _, _, height, width = images.shape
    # affine_grid maps each output pixel to the input point it samples, in [-1, 1] coordinates: the inverse of
    # "rotate, zoom, then shift". The y axis points down, so a display-counter-clockwise turn is -angle there.
    # The rotation is in pixels, so on a non-square image its off-diagonal terms take the aspect ratio.
    cos, sin = torch.cos(angle) / zoom, torch.sin(-angle) / zoom
    sin_xy, sin_yx = sin * height / width, sin * width / height
    shift_x, shift_y = shift[:, 0] * 2.0 / width, shift[:, 1] * 2.0 / height
    theta = torch.stack(
        (
            torch.stack((cos, sin_xy, -(cos * shift_x + sin_xy * shift_y)), dim=1),
            torch.stack((-sin_yx, cos, -(-sin_yx * shift_x + cos * shift_y)), dim=1),
        ),
        dim=1,
    )  # (B, 2, 3)
    grid = F.affine_grid(theta, list(images.shape), align_corners=False)
    warped = F.grid_sample(images.float(), grid, mode="bilinear", padding_mode="zeros", align_corners=False)
    return warped.round_().clamp_(0, 255).to(images.dtype)
