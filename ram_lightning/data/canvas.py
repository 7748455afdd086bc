"""Canvas variants: centered, translated and cluttered images, generated for a whole batch at once."""

from __future__ import annotations

from typing import Literal, NamedTuple

import torch
from torch import Tensor

Variant = Literal["centered", "translated", "cluttered"]
VARIANTS = ("centered", "translated", "cluttered")


class Placement(NamedTuple):
    """Where everything goes on the canvases of ``B`` samples with ``D`` distractors each.

    Attributes:
        positions: ``(B, 2)`` top-left ``(y, x)`` of each image on its canvas.
        sources: ``(B, D)`` indices (into the split) of the images the distractors are cut from.
        crops: ``(B, D, 2)`` top-left ``(y, x)`` of each distractor inside its source image.
        targets: ``(B, D, 2)`` top-left ``(y, x)`` of each distractor on the canvas.
    """

    positions: Tensor
    sources: Tensor
    crops: Tensor
    targets: Tensor

    def select(self, indices: Tensor) -> Placement:
        """The placements of the samples at ``indices`` ``(B,)``."""
        return Placement(*(field[indices] for field in self))


class CanvasGenerator:
    """Puts ``H x W`` images on ``canvas_size x canvas_size`` canvases, batched, without a Python loop over samples.

    - ``centered``: the image as it is (``canvas_size`` must be ``None`` or the image size).
    - ``translated``: the image at a uniformly random position, wholly inside a blank canvas.
    - ``cluttered``: translated, plus ``num_distractors`` pieces of ``distractor_size`` x ``distractor_size``
      pixels cut at random from other images of the same split, at random positions on the canvas. Pieces are
      composited with a pixel-wise maximum, so the target image is never erased.

    Invalid arguments raise a ``ValueError`` whose message starts with the argument's name.

    Args:
        variant: ``"centered"``, ``"translated"`` or ``"cluttered"``.
        image_size: side of the (square) base images.
        canvas_size: side of the canvas: ``None`` (or ``image_size``) for ``centered``, ``>= image_size`` otherwise.
        num_distractors: pieces of clutter per canvas (``cluttered`` only; paper: 4 on 60x60, 8 on 100x100).
        distractor_size: side of each piece (paper: 8).
    """

    def __init__(
        self,
        variant: Variant = "centered",
        image_size: int = 28,
        canvas_size: int | None = None,
        num_distractors: int = 4,
        distractor_size: int = 8,
    ) -> None:
        # Every message starts with the name of the argument at fault, so that callers can prefix their config key.
        if variant not in VARIANTS:
            raise ValueError(f"variant must be one of {VARIANTS}, got {variant!r}")
        if image_size < 1:
            raise ValueError(f"image_size must be >= 1, got {image_size}")
        if canvas_size is None:
            if variant != "centered":
                raise ValueError(f"canvas_size must be set for variant {variant!r} (the paper uses 60 or 100)")
            canvas_size = image_size
        if variant == "centered" and canvas_size != image_size:
            raise ValueError(
                f"canvas_size={canvas_size} needs variant 'translated' or 'cluttered'; 'centered' keeps the "
                f"image size {image_size} (leave canvas_size unset)"
            )
        if canvas_size < image_size:
            raise ValueError(
                f"canvas_size={canvas_size} is smaller than the {image_size}x{image_size} images; "
                f"it must be >= {image_size}"
            )
        if variant == "cluttered":
            if num_distractors < 1:
                raise ValueError(f"num_distractors must be >= 1 for variant 'cluttered', got {num_distractors}")
            if not 1 <= distractor_size <= image_size:
                raise ValueError(
                    f"distractor_size={distractor_size} must be between 1 and the image size {image_size} "
                    "(pieces are cut from other images, and the canvas is at least as large)"
                )
        self.variant = variant
        self.image_size = image_size
        self.canvas_size = canvas_size
        self.num_distractors = num_distractors if variant == "cluttered" else 0
        self.distractor_size = distractor_size

    def draw(
        self, batch_size: int, indices: Tensor, pool_size: int, generator: torch.Generator | None = None
    ) -> Placement:
        """Draws random placements.

        Args:
            batch_size: number of samples ``B``.
            indices: ``(B,)`` indices of the samples in their split (a distractor never comes from the sample itself).
            pool_size: number of images in the split the distractors are cut from.
            generator: random source; the global one if ``None``.

        Returns:
            A :class:`Placement` for the ``B`` samples.
        """
        free = self.canvas_size - self.image_size
        positions = torch.randint(0, free + 1, (batch_size, 2), generator=generator)
        distractors = self.num_distractors
        if distractors == 0:
            no_pieces = torch.zeros(batch_size, 0, 2, dtype=torch.long)  # (B, 0, 2)
            return Placement(positions, torch.zeros(batch_size, 0, dtype=torch.long), no_pieces, no_pieces)
        if pool_size < 2:
            raise ValueError(f"the cluttered variant needs at least 2 images to cut distractors from, got {pool_size}")
        # Uniform over the other pool_size - 1 images: draw from [0, pool_size - 1) and skip the sample's own index.
        sources = torch.randint(0, pool_size - 1, (batch_size, distractors), generator=generator)
        sources = sources + (sources >= indices[:, None]).long()
        piece = self.distractor_size
        crops = torch.randint(0, self.image_size - piece + 1, (batch_size, distractors, 2), generator=generator)
        targets = torch.randint(0, self.canvas_size - piece + 1, (batch_size, distractors, 2), generator=generator)
        return Placement(positions, sources, crops, targets)

    def render(self, images: Tensor, placement: Placement, pool: Tensor) -> Tensor:
        """Builds the canvases.

        Args:
            images: ``(B, C, H, W)`` base images.
            placement: where everything goes (from :meth:`draw`).
            pool: ``(N, C, H, W)`` images of the split the distractors are cut from.

        Returns:
            ``(B, C, canvas_size, canvas_size)`` canvases, same dtype as ``images``.
        """
        if self.variant == "centered":
            return images
        batch, channels, height, width = images.shape
        size = self.canvas_size
        canvas = images.new_zeros(batch, channels, size * size)
        index = _flat_index(placement.positions, height, width, size)  # (B, H*W)
        canvas.scatter_(2, index[:, None].expand(-1, channels, -1), images.reshape(batch, channels, -1))
        if placement.sources.shape[1] > 0:
            pieces = _cut_pieces(pool, placement.sources, placement.crops, self.distractor_size)  # (B, C, D*s*s)
            piece_index = _flat_index(placement.targets, self.distractor_size, self.distractor_size, size)
            piece_index = piece_index.reshape(batch, 1, -1).expand(-1, channels, -1)  # (B, C, D*s*s)
            canvas.scatter_reduce_(2, piece_index, pieces, reduce="amax")
        return canvas.view(batch, channels, size, size)


def _flat_index(top_left: Tensor, height: int, width: int, canvas_size: int) -> Tensor:
    """Flat canvas indices of ``height x width`` blocks at ``top_left`` ``(..., 2)`` -> ``(..., height * width)``."""
    rows = top_left[..., 0:1] + torch.arange(height)  # (..., H)
    cols = top_left[..., 1:2] + torch.arange(width)  # (..., W)
    return (rows[..., :, None] * canvas_size + cols[..., None, :]).flatten(-2)


def _cut_pieces(pool: Tensor, sources: Tensor, crops: Tensor, piece: int) -> Tensor:
    """Cuts ``piece x piece`` blocks from ``pool`` ``(N, C, H, W)`` -> ``(B, C, D * piece * piece)``."""
    batch, distractors = sources.shape
    channels, width = pool.shape[1], pool.shape[3]
    index = _flat_index(crops, piece, piece, width)  # (B, D, s*s)
    flat_sources = pool.reshape(pool.shape[0], channels, -1)[sources]  # (B, D, C, H*W)
    pieces = flat_sources.gather(3, index[:, :, None].expand(-1, -1, channels, -1))  # (B, D, C, s*s)
    return pieces.permute(0, 2, 1, 3).reshape(batch, channels, distractors * piece * piece)
