"""Drawing functions: boxes where the retina reads, captions coloured by correctness, strips of what it saw."""

from __future__ import annotations

import numpy as np
import torch

from ram_lightning import viz
from ram_lightning.model import RecurrentAttention
from ram_lightning.recorded_rollout import glimpse_boxes, record_rollout
from ram_lightning.retina import Retina


def red_pixels(picture, top):
    """Number of clearly red pixels below row ``top``."""
    band = torch.from_numpy(np.array(picture))[top:].int()  # (h, W, 3)
    return int(((band[..., 0] > 180) & (band[..., 1] < 110) & (band[..., 2] < 110)).sum())


def test_boxes_are_drawn_where_the_retina_reads():
    retina = Retina(patch_size=4, num_scales=2)
    image = torch.zeros(1, 16, 16)
    locations = torch.tensor([[0.0, 0.0], [0.5, -0.5]])  # (T, 2)
    boxes = glimpse_boxes(retina, locations[None], 16, 16)[0]  # (T, k, 4)
    assert boxes[0].tolist() == [[6, 6, 10, 10], [4, 4, 12, 12]]
    assert boxes[1, 0].tolist() == [10, 2, 14, 6]

    picture = viz.draw_trajectory(image, locations, boxes, steps=1, scale=10)
    assert picture.size == (160, 160)
    assert picture.getpixel((60, 70)) == viz.step_color(0)  # left edge of the finest box of step 1
    assert picture.getpixel((40, 100)) != (0, 0, 0)  # the coarser box, dimmed
    assert picture.getpixel((130, 20)) == (0, 0, 0)  # step 2 not drawn yet
    both = viz.draw_trajectory(image, locations, boxes, steps=2, scale=10)
    assert both.getpixel((130, 20)) == viz.step_color(1)  # top edge of step 2's finest box


def test_caption_is_red_only_for_a_wrong_prediction():
    image, locations = torch.zeros(1, 16, 16), torch.zeros(2, 2)
    boxes = glimpse_boxes(Retina(4), locations[None], 16, 16)[0]
    right = viz.draw_trajectory(image, locations, boxes, pred=3, label=3, scale=10)
    wrong = viz.draw_trajectory(image, locations, boxes, pred=2, label=3, scale=10)
    assert right.size == wrong.size and right.height > 160  # a caption band under the image
    assert red_pixels(right, 160) == 0
    assert red_pixels(wrong, 160) > 10


def test_glimpse_strip_shows_the_sensor_values():
    glimpses = torch.zeros(2, 3, 2, 1, 4, 4)  # (B, T, k, C, g, g)
    glimpses[1, 2, 1] = 1.0  # image 2, step 3, coarse scale: white
    strip = viz.draw_glimpse_strip(glimpses, scale=10)
    cell, gap, header = 40, 4, 16
    assert strip.size == (3 * (cell + gap) + gap, header + 2 * (2 * cell + 1 + gap) + gap)
    left = gap + 2 * (cell + gap)
    top = header + (2 * cell + 1 + gap) + (cell + 1)
    assert strip.getpixel((left + 20, top + 20)) == (255, 255, 255)
    assert strip.getpixel((left + 20, top - 20)) == (0, 0, 0)  # the fine scale of the same step


def test_record_rollout_matches_the_retina_and_keeps_the_global_random_state():
    torch.manual_seed(0)
    model = RecurrentAttention(
        num_classes=4,
        num_glimpses=3,
        patch_size=4,
        num_scales=2,
        hidden_size=16,
        glimpse_size=16,
        glimpse_hidden=8,
        location_hidden=8,
        std=0.3,
    ).eval()
    images = torch.rand(5, 1, 16, 16)
    state = torch.get_rng_state()
    first = record_rollout(model, images, sample=True, seed=3)
    assert torch.equal(state, torch.get_rng_state())
    second = record_rollout(model, images, sample=True, seed=3)
    assert torch.equal(first.locations, second.locations)
    assert first.locations.shape == (5, 3, 2) and first.boxes.shape == (5, 3, 2, 4)
    assert first.glimpses.shape == (5, 3, 2, 1, 4, 4) and first.preds.shape == (5,)
    assert torch.equal(first.glimpses[:, 2], model.retina(images, first.locations[:, 2]))

    grid = viz.trajectory_grid(first, torch.zeros(5, dtype=torch.long), nrow=2)
    frames = viz.animation_frames(first, nrow=2)
    assert len(frames) == 3 and frames[0].size == grid.size
    assert viz.pil_to_tensor(grid).shape == (3, grid.height, grid.width)
