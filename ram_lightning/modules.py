"""The networks of RAM: glimpse, core, location policy, action and baseline.

Shapes use ``B`` for the batch, ``H`` for the core's hidden size, ``C`` for the number of classes.
"""

from __future__ import annotations

import math
from typing import Literal, NamedTuple

import torch
from torch import Tensor, nn

from ram_lightning.retina import Retina

CoreType = Literal["rnn", "lstm"]
Activation = Literal["relu", "tanh"]


class GlimpseNetwork(nn.Module):
    """Glimpse network ``f_g``: what and where, fused into one vector.

    ``h_g = ReLU(W_g rho(x, l))``, ``h_l = ReLU(W_l l)``, ``g = ReLU(W [h_g; h_l])``.
    The last layer is one linear map over the concatenation, which equals the paper's
    ``Linear(h_g) + Linear(h_l)`` with one matrix multiplication instead of two.

    Args:
        retina: the glimpse sensor.
        in_channels: image channels.
        glimpse_hidden: units of ``h_g`` (paper: 128).
        location_hidden: units of ``h_l`` (paper: 128).
        output_size: units of ``g`` (paper: 256).
    """

    def __init__(
        self, retina: Retina, in_channels: int, glimpse_hidden: int, location_hidden: int, output_size: int
    ) -> None:
        super().__init__()
        self.retina = retina
        self.what = nn.Linear(retina.output_size(in_channels), glimpse_hidden)
        self.where = nn.Linear(2, location_hidden)
        self.fuse = nn.Linear(glimpse_hidden + location_hidden, output_size)

    def forward(self, images: Tensor, locations: Tensor) -> Tensor:
        """``images`` ``(B, C_in, H_img, W_img)``, ``locations`` ``(B, 2)`` -> ``g`` ``(B, output_size)``."""
        glimpse = self.retina(images, locations).flatten(1)  # (B, k*C_in*g*g)
        what = torch.relu(self.what(glimpse))  # (B, glimpse_hidden)
        where = torch.relu(self.where(locations))  # (B, location_hidden)
        return torch.relu(self.fuse(torch.cat([what, where], dim=1)))  # (B, output_size)


class CoreState(NamedTuple):
    """Recurrent state: ``hidden`` ``(B, H)``; ``cell`` ``(B, H)`` for an LSTM core, else ``None``."""

    hidden: Tensor
    cell: Tensor | None


class CoreNetwork(nn.Module):
    """Core network ``f_h``: ``h_t = act(W_h h_{t-1} + W_g g_t)`` (``rnn``) or an LSTM cell (``lstm``).

    Args:
        input_size: size of ``g_t``.
        hidden_size: size of ``h_t`` (paper: 256).
        core_type: ``"rnn"`` (the paper's 28x28 and translated runs) or ``"lstm"`` (cluttered).
        activation: ``"relu"`` or ``"tanh"``, for the ``rnn`` core (an LSTM has its own gates).
    """

    def __init__(self, input_size: int, hidden_size: int, core_type: CoreType, activation: Activation) -> None:
        super().__init__()
        if core_type not in ("rnn", "lstm"):
            raise ValueError(f"core_type must be 'rnn' or 'lstm', got {core_type!r}")
        if activation not in ("relu", "tanh"):
            raise ValueError(f"activation must be 'relu' or 'tanh', got {activation!r}")
        self.core_type = core_type
        self.activation = activation
        self.hidden_size = hidden_size
        if core_type == "lstm":
            self.cell: nn.Module = nn.LSTMCell(input_size, hidden_size)
        else:
            self.cell = nn.RNNCell(input_size, hidden_size, nonlinearity=activation)

    def initial_state(self, batch_size: int, device: torch.device, dtype: torch.dtype) -> CoreState:
        """Zero state for ``batch_size`` sequences."""
        zeros = torch.zeros(batch_size, self.hidden_size, device=device, dtype=dtype)
        return CoreState(zeros, zeros if self.core_type == "lstm" else None)

    def forward(self, g: Tensor, state: CoreState) -> CoreState:
        """``g`` ``(B, input_size)`` and the previous state -> the next state."""
        if self.core_type == "lstm":
            hidden, cell = self.cell(g, (state.hidden, state.cell))
            return CoreState(hidden, cell)
        return CoreState(self.cell(g, state.hidden), None)


class LocationPolicy(nn.Module):
    """Gaussian location policy ``pi(l | h) = N(l; mu(h), std^2 I)`` with ``mu(h) = W h``, optionally bounded.

    ``std`` is a buffer, not a parameter: it is saved in checkpoints and annealed by callbacks through
    ``policy.std``. Sampled locations are detached (they are actions, not functions of the parameters), so the
    gradient of ``log pi`` reaches ``mu``. ``log pi`` is evaluated on the raw sample; the returned location is
    clamped to ``[-1, 1]``.

    Args:
        hidden_size: size of ``h``.
        std: standard deviation of the policy, shared by both coordinates.
        tanh_mean: squash the mean into ``(-1, 1)`` with ``tanh``.
        clamp_mean: clamp the mean to ``[-1, 1]`` (no gradient reaches a mean outside it); exclusive with
            ``tanh_mean``.
    """

    def __init__(self, hidden_size: int, std: float, tanh_mean: bool = True, clamp_mean: bool = False) -> None:
        super().__init__()
        if not std > 0:
            raise ValueError(f"std must be > 0, got {std}")
        if tanh_mean and clamp_mean:
            raise ValueError("tanh_mean and clamp_mean both bound the policy mean; set one of them to false")
        self.mean = nn.Linear(hidden_size, 2)
        self.tanh_mean = tanh_mean
        self.clamp_mean = clamp_mean
        self.register_buffer("std", torch.tensor(float(std)))

    def mean_location(self, hidden: Tensor) -> Tensor:
        """``hidden`` ``(B, H)`` -> policy mean ``(B, 2)``."""
        mean = self.mean(hidden)
        if self.tanh_mean:
            return torch.tanh(mean)
        return mean.clamp(-1.0, 1.0) if self.clamp_mean else mean

    def forward(self, hidden: Tensor, sample: bool, noise: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """Chooses the next location (any leading dimensions, e.g. ``(T, B, H)``, work as ``(B, H)``).

        Args:
            hidden: ``(B, H)`` core state the policy looks at.
            sample: draw from the Gaussian; otherwise take its mean.
            noise: ``(B, 2)`` standard normal noise of the sample (drawn here if ``None``).

        Returns:
            ``location`` ``(B, 2)`` clamped to ``[-1, 1]`` and detached, and ``log_pi`` ``(B,)`` of the raw sample.
        """
        mean = self.mean_location(hidden)
        std = self.std.to(mean.dtype)
        if not sample:
            raw = mean.detach()
        else:
            noise = torch.randn_like(mean) if noise is None else noise
            raw = (mean + std * noise.to(mean.dtype)).detach()
        log_pi = self.log_prob(raw, mean)
        return raw.clamp(-1.0, 1.0), log_pi

    def log_prob(self, location: Tensor, mean: Tensor) -> Tensor:
        """Log density of ``location`` ``(B, 2)`` under ``N(mean, std^2 I)``, summed over x and y: ``(B,)``."""
        std = self.std.to(mean.dtype)
        z = (location - mean) / std
        return -0.5 * (z * z).sum(dim=-1) - 2.0 * (torch.log(std) + 0.5 * math.log(2.0 * math.pi))


class ActionNetwork(nn.Module):
    """Action network ``f_a``: linear softmax classifier, ``log p(y | h) = log_softmax(W h)``."""

    def __init__(self, hidden_size: int, num_classes: int) -> None:
        super().__init__()
        self.classifier = nn.Linear(hidden_size, num_classes)

    def forward(self, hidden: Tensor) -> Tensor:
        """``hidden`` ``(..., H)`` -> class log-probabilities ``(..., C)``."""
        return torch.log_softmax(self.classifier(hidden), dim=-1)


class LearnedBaseline(nn.Module):
    """Learned baseline ``b_t = w . h_t + c``, trained by regression on the reward; ``h_t`` is detached."""

    def __init__(self, hidden_size: int) -> None:
        super().__init__()
        self.linear = nn.Linear(hidden_size, 1)

    def forward(self, hidden: Tensor) -> Tensor:
        """``hidden`` ``(B, T, H)`` -> baselines ``(B, T)``."""
        return self.linear(hidden.detach()).squeeze(-1)

    def update(self, reward: Tensor) -> None:
        """Nothing to do: this baseline learns through its loss term."""


class LeaveOneOutBaseline(nn.Module):
    """Baseline of ``M`` rollouts of the same image: the mean reward of the image's other ``M - 1`` rollouts.

    It depends on the rewards, which exist only after the rollout, so the loss computes it
    (:func:`ram_lightning.losses.leave_one_out_baselines`); in the rollout's output it is zero.
    """

    def forward(self, hidden: Tensor) -> Tensor:
        """``hidden`` ``(B, T, H)`` -> zeros ``(B, T)`` (the loss replaces them)."""
        return hidden.new_zeros(hidden.shape[:-1])

    def update(self, reward: Tensor) -> None:
        """Nothing to keep between steps."""


class RunningMeanBaseline(nn.Module):
    """Baseline equal to an exponential moving average of the reward, the same for every step.

    Args:
        momentum: weight of the newest batch mean reward in the average.
    """

    def __init__(self, momentum: float = 0.05) -> None:
        super().__init__()
        if not 0.0 < momentum <= 1.0:
            raise ValueError(f"baseline_momentum must be in (0, 1], got {momentum}")
        self.momentum = momentum
        self.register_buffer("mean_reward", torch.tensor(0.0))

    def forward(self, hidden: Tensor) -> Tensor:
        """``hidden`` ``(B, T, H)`` -> baselines ``(B, T)``, all equal to the running mean reward."""
        return self.mean_reward.to(hidden.dtype).expand(hidden.shape[:-1])

    @torch.no_grad()
    def update(self, reward: Tensor) -> None:
        """Moves the average towards the mean of ``reward`` ``(B,)``."""
        self.mean_reward.lerp_(reward.detach().float().mean(), self.momentum)
