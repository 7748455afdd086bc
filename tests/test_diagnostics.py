"""The attention diagnostics tell a policy that looks at the object from one that looks elsewhere."""

from __future__ import annotations

import math

import torch

from ram_lightning.diagnostics import AttentionDiagnostics, GlimpseAccuracy
from ram_lightning.model import RecurrentAttention

CANVAS = 32
SQUARE = (5, 11)  # rows and columns 5..10 hold the object: centred on (-0.5, -0.5)


def _canvases(count: int = 200) -> tuple[torch.Tensor, torch.Tensor]:
    """Blank canvases; label 1 has a bright 6x6 square at (-0.5, -0.5), label 0 has nothing."""
    labels = torch.arange(count) % 2
    images = torch.zeros(count, 1, CANVAS, CANVAS)
    images[labels == 1, :, SQUARE[0] : SQUARE[1], SQUARE[0] : SQUARE[1]] = 1.0
    return images, labels


def _hand_built_model(look_at: float) -> RecurrentAttention:
    """Two glimpses; the policy always looks at ``(look_at, look_at)``; the class is read off the last glimpse:
    1 if its mean intensity is above one half, else 0."""
    model = RecurrentAttention(
        num_classes=2,
        num_glimpses=2,
        patch_size=6,
        glimpse_hidden=2,
        location_hidden=2,
        glimpse_size=2,
        hidden_size=2,
        std=0.1,
    )
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.zero_()
        model.glimpse.what.weight[0].fill_(1.0 / 36)  # what_0: mean intensity of the glimpse
        model.glimpse.fuse.weight[0, 0] = 1.0  # g_0 = what_0
        model.core.cell.weight_ih[0, 0] = 1.0  # h_0 = g_0 of the last glimpse (no recurrence)
        model.policy.mean.bias.fill_(math.atanh(look_at))
        model.action.classifier.weight[1, 0] = 20.0
        model.action.classifier.bias[1] = -10.0
    return model.eval()


def _diagnostics(model: RecurrentAttention, batch_size: int = 50) -> dict[str, float]:
    images, labels = _canvases()
    diagnostics = AttentionDiagnostics(num_glimpses=2)
    for chunk, targets, ids in zip(
        images.split(batch_size), labels.split(batch_size), torch.arange(len(labels)).split(batch_size), strict=True
    ):
        diagnostics.update(model, chunk, targets, ids)
    return {key: float(value) for key, value in diagnostics.compute("val").items()}


def test_attention_gain_is_high_for_a_policy_on_the_object_and_not_for_one_looking_elsewhere():
    on_object = _diagnostics(_hand_built_model(-0.5))
    elsewhere = _diagnostics(_hand_built_model(0.6))
    assert on_object["val/acc_policy_mean"] == 1.0
    assert elsewhere["val/acc_policy_mean"] == 0.5  # always answers "nothing there"
    # Random glimpses rarely land on the object: both models are near chance with them.
    assert 0.45 <= on_object["val/acc_random_locations"] <= 0.65
    assert on_object["val/attention_gain"] > 0.3
    assert elsewhere["val/attention_gain"] < 0.05
    # The first glimpse, at the centre, sees nothing: chance level after one glimpse.
    assert on_object["val/acc_after_glimpse_1"] == 0.5
    assert on_object["val/acc_after_glimpse_2"] == 1.0


def test_random_location_figures_do_not_depend_on_the_batch_size_and_leave_the_global_stream_alone():
    model = _hand_built_model(-0.5)
    torch.manual_seed(0)
    first = _diagnostics(model)
    after = torch.rand(1)
    torch.manual_seed(0)
    assert _diagnostics(model, batch_size=200) == first
    assert torch.equal(torch.rand(1), after)


def test_glimpse_accuracy_counts_each_step():
    metric = GlimpseAccuracy(3)
    log_probs = torch.log_softmax(torch.tensor([[[3.0, 0.0], [0.0, 3.0], [0.0, 3.0]]] * 2), dim=-1)  # (2, 3, 2)
    metric.update(log_probs, torch.tensor([1, 0]))
    torch.testing.assert_close(metric.compute(), torch.tensor([0.5, 0.5, 0.5]))
    metric.update(log_probs[:1], torch.tensor([1]))
    torch.testing.assert_close(metric.compute(), torch.tensor([1 / 3, 2 / 3, 2 / 3]))
