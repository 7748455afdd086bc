"""Multi-scale glimpse sensor (the "retina" of Mnih et al. 2014)."""

from __future__ import annotations

from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn


class _PaddedGeometry(NamedTuple):
    """Constants of :meth:`Retina.read` for one padded image size.

    Attributes:
        half_size: ``(2,)`` half the unpadded width and height, float.
        lowest: ``(2,)`` smallest top-left corner ``(x, y)`` in the padded image (zeros).
        highest: ``(2,)`` largest top-left corner ``(x, y)`` that keeps the patch inside the padded image.
    """

    half_size: Tensor
    lowest: Tensor
    highest: Tensor


class Retina(nn.Module):
    """Extracts ``num_scales`` square patches centred on a location and resizes each to ``patch_size``.

    The first patch is ``patch_size`` x ``patch_size`` pixels; each next one is ``scale_factor`` times wider.
    Every patch is area-averaged down to ``patch_size`` x ``patch_size``; pixels outside the image read as zero.

    Locations are real ``(x, y)`` pairs in ``[-1, 1]``: ``(0, 0)`` is the image centre, ``(-1, -1)`` the top-left
    corner and ``(1, 1)`` the bottom-right one. The whole batch is read at once (see :meth:`read`): all scales
    share the centre, so the smaller patches are central crops of the largest.

    Args:
        patch_size: side ``g`` of the first (finest) patch and of every resized patch.
        num_scales: number of patches ``k``.
        scale_factor: how much wider each next patch is than the previous one (the paper uses 2).
    """

    def __init__(self, patch_size: int = 8, num_scales: int = 1, scale_factor: float = 2.0) -> None:
        super().__init__()
        if patch_size < 1:
            raise ValueError(f"patch_size must be >= 1, got {patch_size}")
        if num_scales < 1:
            raise ValueError(f"num_scales must be >= 1, got {num_scales}")
        if scale_factor < 1:
            raise ValueError(f"scale_factor must be >= 1, got {scale_factor}")
        self.patch_size = patch_size
        self.num_scales = num_scales
        self.scale_factor = scale_factor
        self.sizes = [int(round(patch_size * scale_factor**s)) for s in range(num_scales)]
        largest = self.sizes[-1]
        # Offset of each scale's patch inside the largest one (all share the same centre).
        self.offsets = [(largest - size) // 2 for size in self.sizes]
        self._geometries: dict[tuple[int, int, str], _PaddedGeometry] = {}

    @property
    def largest_size(self) -> int:
        """Side in pixels of the widest patch."""
        return self.sizes[-1]

    def output_size(self, channels: int) -> int:
        """Number of values in one flattened glimpse: ``num_scales * channels * patch_size**2``."""
        return self.num_scales * channels * self.patch_size**2

    def patch_boxes(self, locations: Tensor, height: int, width: int) -> Tensor:
        """Pixel boxes ``(x0, y0, x1, y1)`` of every scale, as read by :meth:`forward`.

        Args:
            locations: ``(B, 2)`` glimpse centres in ``[-1, 1]``.
            height: image height in pixels.
            width: image width in pixels.

        Returns:
            ``(B, num_scales, 4)`` integer boxes, ``x1``/``y1`` exclusive.
        """
        half_size = torch.tensor([0.5 * width, 0.5 * height], device=locations.device)
        x0, y0 = self._corners(locations, half_size).unbind(-1)
        boxes = []
        for size, offset in zip(self.sizes, self.offsets, strict=True):
            boxes.append(torch.stack([x0 + offset, y0 + offset, x0 + offset + size, y0 + offset + size], dim=-1))
        return torch.stack(boxes, dim=1)

    def forward(self, images: Tensor, locations: Tensor) -> Tensor:
        """Reads one glimpse per image.

        Args:
            images: ``(B, C, H, W)`` images.
            locations: ``(B, 2)`` glimpse centres ``(x, y)`` in ``[-1, 1]``.

        Returns:
            ``(B, num_scales, C, patch_size, patch_size)`` glimpses, finest scale first.
        """
        return self.read(self.pad(images), locations)

    @property
    def margin(self) -> int:
        """Zero border that :meth:`pad` adds on each side: every patch centred in ``[-1, 1]^2`` then fits inside."""
        return self.largest_size // 2 + 1

    def pad(self, images: Tensor) -> Tensor:
        """Adds the zero border once, for :meth:`read`: ``(B, C, H, W)`` -> ``(B, C, H + 2m, W + 2m)``."""
        m = self.margin
        return F.pad(images, (m, m, m, m))

    def read(
        self, padded: Tensor, locations: Tensor, out: Tensor | None = None, image_index: Tensor | None = None
    ) -> Tensor:
        """Same glimpses as :meth:`forward`, from images already padded by :meth:`pad` (no bounds checks).

        Meant for a rollout that reads the same images many times: the border is added once, and each read copies
        the windows out of a strided view of every window of the padded images (no index tensor, no validity mask).
        Locations outside ``[-1, 1]`` read the nearest patch inside the padded image instead of a partly blank one.

        Args:
            padded: ``(N, C, H + 2m, W + 2m)`` output of :meth:`pad`.
            locations: ``(B, 2)`` glimpse centres ``(x, y)`` in ``[-1, 1]`` of the unpadded image.
            out: optional ``(B, num_scales, C, patch_size, patch_size)`` tensor to write the glimpses to.
            image_index: ``(B,)`` which of the ``N`` images each glimpse reads (``None``: glimpse ``b`` reads
                image ``b``, ``N = B``), so that several glimpses of one image need no copies of it.

        Returns:
            ``(B, num_scales, C, patch_size, patch_size)`` glimpses, finest scale first.
        """
        _, _, padded_height, padded_width = padded.shape
        m, largest = self.margin, self.largest_size
        geometry = self._geometry(padded_height, padded_width, padded.device)
        corner = (self._corners(locations, geometry.half_size) + m).clamp_(min=geometry.lowest, max=geometry.highest)
        windows = padded.unfold(2, largest, 1).unfold(3, largest, 1)  # (B, C, H'', W'', P, P), a view
        if image_index is None:
            image_index = torch.arange(locations.shape[0], device=padded.device)
        patch = windows[image_index, :, corner[:, 1], corner[:, 0]]  # (B, C, P, P)
        return self._scales(patch, out)

    def _geometry(self, padded_height: int, padded_width: int, device: torch.device) -> _PaddedGeometry:
        """Constants of :meth:`read` for one padded image size, computed once and cached."""
        key = (padded_height, padded_width, str(device))
        geometry = self._geometries.get(key)
        if geometry is None:
            m, largest = self.margin, self.largest_size
            geometry = _PaddedGeometry(
                half_size=torch.tensor([0.5 * (padded_width - 2 * m), 0.5 * (padded_height - 2 * m)], device=device),
                lowest=torch.zeros(2, dtype=torch.long, device=device),
                highest=torch.tensor([padded_width - largest, padded_height - largest], device=device),
            )
            self._geometries[key] = geometry
        return geometry

    def _scales(self, patch: Tensor, out: Tensor | None = None) -> Tensor:
        """The largest patch ``(B, C, P, P)`` -> every scale ``(B, num_scales, C, patch_size, patch_size)``.

        A scale whose width is a whole multiple of ``patch_size`` is average-pooled by that factor (the same
        values as adaptive pooling, faster); the others are adaptive-pooled.
        """
        if self.num_scales == 1:
            return patch.unsqueeze(1) if out is None else out.copy_(patch.unsqueeze(1))
        batch, channels, g = patch.shape[0], patch.shape[1], self.patch_size
        out = patch.new_empty(batch, self.num_scales, channels, g, g) if out is None else out
        for scale, (size, offset) in enumerate(zip(self.sizes, self.offsets, strict=True)):
            crop = patch[:, :, offset : offset + size, offset : offset + size]
            if size == g:
                out[:, scale] = crop
            elif size % g == 0:
                out[:, scale] = F.avg_pool2d(crop, size // g)
            else:
                out[:, scale] = F.adaptive_avg_pool2d(crop, g)
        return out

    def _corners(self, locations: Tensor, half_size: Tensor) -> Tensor:
        """Integer pixel coordinates ``(x0, y0)`` ``(B, 2)`` of the largest patch's top-left corner in the unpadded
        image, for glimpse centres ``locations`` ``(B, 2)`` and ``half_size`` ``(2,)``, half the image's width and
        height: ``floor(centre - largest / 2 + 1/2)``."""
        centre = (locations.detach() + 1.0) * half_size  # (B, 2)
        return torch.floor(centre - 0.5 * self.largest_size + 0.5).long()

    def extra_repr(self) -> str:
        return f"patch_size={self.patch_size}, num_scales={self.num_scales}, scale_factor={self.scale_factor}"
