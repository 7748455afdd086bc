"""RecurrentAttention returns the documented shapes whatever its options."""

import pytest
import torch

from ram_lightning.evaluation import predict_log_probs
from ram_lightning.model import RAMOutput, RecurrentAttention, RolloutNoise


@pytest.mark.parametrize("core_type", ["rnn", "lstm"])
@pytest.mark.parametrize("baseline", ["learned", "running_mean"])
@pytest.mark.parametrize("init_location", ["center", "random"])
def test_output_shapes(core_type, baseline, init_location):
    model = RecurrentAttention(
        num_classes=7,
        in_channels=3,
        num_glimpses=5,
        patch_size=4,
        num_scales=2,
        hidden_size=32,
        glimpse_hidden=16,
        location_hidden=8,
        glimpse_size=24,
        core_type=core_type,
        baseline=baseline,
        init_location=init_location,
    )
    output = model(torch.rand(6, 3, 20, 20), sample=True)
    assert isinstance(output, RAMOutput)
    assert output.log_probs.shape == (6, 5, 7)
    assert output.locations.shape == (6, 5, 2)
    assert output.log_pi.shape == (6, 5)
    assert output.baselines.shape == (6, 5)
    assert torch.allclose(output.log_probs.exp().sum(-1), torch.ones(6, 5))
    assert output.locations.abs().max() <= 1.0
    assert torch.all(output.log_pi[:, 0] == 0), "the first location is not chosen by the policy"
    assert torch.all(output.log_pi[:, 1:] != 0)


def test_first_glimpse_at_centre_and_deterministic_evaluation():
    model = RecurrentAttention(init_location="random").eval()
    images = torch.rand(4, 1, 28, 28)
    first = model(images, sample=False)
    second = model(images, sample=False)
    assert torch.equal(first.locations, second.locations)
    assert torch.equal(first.locations[:, 0], torch.zeros(4, 2))


def test_sampling_explores_around_the_mean():
    torch.manual_seed(0)
    model = RecurrentAttention(std=0.2)
    images = torch.rand(64, 1, 28, 28)
    mean = model(images, sample=False).locations
    sampled = model(images, sample=True).locations
    spread = (sampled[:, 1:] - mean[:, 1:]).std()
    assert 0.1 < spread < 0.3


def test_random_glimpses_ignore_the_policy():
    torch.manual_seed(0)
    model = RecurrentAttention(num_glimpses=4)
    model.random_glimpses = True
    output = model(torch.rand(256, 1, 28, 28), sample=True)
    assert torch.all(output.log_pi == 0)
    locations = output.locations.reshape(-1, 2)
    assert locations.min() < -0.9 and locations.max() > 0.9
    assert locations.mean(0).abs().max() < 0.1


def _generators(seeds: list[int]) -> list[torch.Generator]:
    return [torch.Generator().manual_seed(seed) for seed in seeds]


def test_monte_carlo_evaluation_averages_the_probabilities_of_its_rollouts():
    torch.manual_seed(0)
    model = RecurrentAttention(num_classes=10, std=0.5, init_location="random").eval()
    images = torch.rand(3, 1, 28, 28)
    seeds, samples = [5, 6, 7], 4
    log_probs, locations = predict_log_probs(model, images, samples, _generators(seeds))

    # The same rollouts one by one: rollout m of image i takes the m-th noise drawn from image i's generator.
    per_image = [model.draw_noise(samples, True, generator=generator) for generator in _generators(seeds)]
    rollouts = []
    for m in range(samples):
        first = torch.stack([noise.first_location[m] for noise in per_image])  # (B, 2)
        steps = torch.stack([noise.steps[:, m] for noise in per_image], dim=1)  # (T-1, B, 2)
        rollouts.append(model(images, sample=True, noise=RolloutNoise(first, steps)))
    final = torch.stack([rollout.log_probs[:, -1] for rollout in rollouts])  # (M, B, C)
    assert not torch.allclose(final[0], final[1], atol=1e-3), "the rollouts differ"
    torch.testing.assert_close(log_probs, final.exp().mean(dim=0).log())  # log of the mean probability
    torch.testing.assert_close(log_probs.exp().sum(dim=-1), torch.ones(3))
    torch.testing.assert_close(locations, rollouts[0].locations)

    alone, _ = predict_log_probs(model, images[1:2], samples, _generators(seeds[1:2]))
    torch.testing.assert_close(alone, log_probs[1:2])  # an image's prediction does not depend on its batch
    mean_path, _ = predict_log_probs(model, images, num_samples=0)
    torch.testing.assert_close(mean_path, model(images, sample=False).log_probs[:, -1])


def test_given_noise_of_the_wrong_shape_is_rejected():
    model = RecurrentAttention(num_glimpses=4)
    noise = model.draw_noise(3, sample=True)
    with pytest.raises(ValueError, match=r"noise.steps must be \(3, 5, 2\)"):
        model(torch.rand(5, 1, 28, 28), noise=RolloutNoise(torch.zeros(5, 2), noise.steps))
    with pytest.raises(ValueError, match="noise.first_location"):
        model(torch.rand(5, 1, 28, 28), noise=noise)
    with pytest.raises(ValueError, match="one generator per image"):
        predict_log_probs(model, torch.rand(5, 1, 28, 28), 2, _generators([1, 2]))


def test_std_is_a_saved_buffer():
    model = RecurrentAttention(std=0.17)
    assert "policy.std" in model.state_dict()
    assert "std" not in dict(model.named_parameters())
    model.policy.std.fill_(0.05)
    clone = RecurrentAttention(std=0.17)
    clone.load_state_dict(model.state_dict())
    assert clone.policy.std.item() == pytest.approx(0.05)


@pytest.mark.parametrize(
    ("kwargs", "key"),
    [
        ({"std": 0.0}, "std"),
        ({"num_glimpses": 0}, "num_glimpses"),
        ({"core_type": "gru"}, "core_type"),
        ({"activation": "gelu"}, "activation"),
        ({"baseline": "none"}, "baseline"),
    ],
)
def test_bad_options_are_rejected(kwargs, key):
    with pytest.raises(ValueError, match=key):
        RecurrentAttention(**kwargs)
