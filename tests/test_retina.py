"""The glimpse sensor reads the right pixels, at every scale and at the border."""

import pytest
import torch

from ram_lightning.retina import Retina


def _ramp(height: int, width: int, channels: int = 1) -> torch.Tensor:
    """``(1, C, H, W)`` image whose pixel (c, y, x) holds ``1 + c * 10000 + y * 100 + x``."""
    ys = torch.arange(height).view(height, 1) * 100
    xs = torch.arange(width).view(1, width)
    image = (ys + xs + 1).float()
    return torch.stack([image + 10000 * c for c in range(channels)]).unsqueeze(0)


def _location(x_pixel: float, y_pixel: float, size: int) -> torch.Tensor:
    """Location in [-1, 1] whose centre falls on the pixel corner ``(x_pixel, y_pixel)``."""
    return torch.tensor([[x_pixel / size * 2 - 1, y_pixel / size * 2 - 1]])


def test_output_shape_for_batch_and_channels():
    retina = Retina(patch_size=6, num_scales=3)
    images = torch.rand(5, 3, 40, 40)
    out = retina(images, torch.rand(5, 2) * 2 - 1)
    assert out.shape == (5, 3, 3, 6, 6)
    assert retina.output_size(3) == 3 * 3 * 36


def test_centre_patch_has_expected_pixels():
    image = _ramp(28, 28)
    out = Retina(patch_size=8)(image, torch.zeros(1, 2))
    # Centre (0, 0) is pixel corner (14, 14): the 8x8 patch covers rows and columns 10..17.
    assert torch.equal(out[0, 0, 0], image[0, 0, 10:18, 10:18])


def test_patch_at_known_off_centre_location():
    image = _ramp(28, 28)
    out = Retina(patch_size=4)(image, _location(x_pixel=6, y_pixel=20, size=28))
    assert torch.equal(out[0, 0, 0], image[0, 0, 18:22, 4:8])


def test_coarser_scales_are_area_averages_of_wider_patches():
    image = _ramp(32, 32, channels=2)
    out = Retina(patch_size=4, num_scales=3)(image, _location(x_pixel=16, y_pixel=12, size=32))
    # Scale 1: 8x8 patch at rows 8..15, cols 12..19, averaged in 2x2 blocks.
    wide = image[0, :, 8:16, 12:20]
    expected = wide.reshape(2, 4, 2, 4, 2).mean(dim=(2, 4))
    assert torch.allclose(out[0, 1], expected)
    # Scale 2: 16x16 patch at rows 4..19, cols 8..23, averaged in 4x4 blocks.
    wider = image[0, :, 4:20, 8:24]
    assert torch.allclose(out[0, 2], wider.reshape(2, 4, 4, 4, 4).mean(dim=(2, 4)))
    assert torch.equal(out[0, 0], image[0, :, 10:14, 14:18])


def test_outside_the_image_reads_zero_at_the_border():
    image = _ramp(28, 28)
    out = Retina(patch_size=8, num_scales=2)(image, torch.tensor([[-1.0, -1.0]]))
    finest = out[0, 0, 0]
    # Centre on the top-left corner: the top-left quarter of the patch is outside the image.
    assert torch.all(finest[:4, :] == 0) and torch.all(finest[:, :4] == 0)
    assert torch.equal(finest[4:, 4:], image[0, 0, :4, :4])
    coarse = out[0, 1, 0]  # 16x16 at rows/cols -8..7 averaged 2x2: only the bottom-right quarter is inside
    assert torch.all(coarse[:4, :] == 0) and torch.all(coarse[:, :4] == 0)
    assert torch.allclose(coarse[4:, 4:], image[0, 0, :8, :8].reshape(4, 2, 4, 2).mean(dim=(1, 3)))


def test_bottom_right_corner():
    image = _ramp(20, 20)
    out = Retina(patch_size=6)(image, torch.tensor([[1.0, 1.0]]))
    assert torch.equal(out[0, 0, 0, :3, :3], image[0, 0, 17:20, 17:20])
    assert torch.all(out[0, 0, 0, 3:, :] == 0) and torch.all(out[0, 0, 0, :, 3:] == 0)


def test_each_sample_reads_its_own_location():
    images = torch.cat([_ramp(16, 16), _ramp(16, 16) * 2])
    locations = torch.cat([_location(4, 4, 16), _location(12, 8, 16)])
    out = Retina(patch_size=2)(images, locations)
    assert torch.equal(out[0, 0, 0], images[0, 0, 3:5, 3:5])
    assert torch.equal(out[1, 0, 0], images[1, 0, 7:9, 11:13])


def test_patch_boxes_match_what_is_read():
    boxes = Retina(patch_size=4, num_scales=3).patch_boxes(_location(16, 12, 32), 32, 32)
    assert boxes.tolist() == [[[14, 10, 18, 14], [12, 8, 20, 16], [8, 4, 24, 20]]]


@pytest.mark.parametrize("kwargs", [{"patch_size": 0}, {"num_scales": 0}, {"scale_factor": 0.5}])
def test_invalid_geometry_is_rejected(kwargs):
    with pytest.raises(ValueError, match=next(iter(kwargs))):
        Retina(**kwargs)
