"""Lightning callbacks of ram-lightning, usable from YAML as ``class_path: callbacks.<Name>``.

- :class:`StdAnnealingOnPlateau`: shrink the location policy's std when a metric stops improving.
- :class:`StdSchedule`: a fixed linear or exponential decay of the policy std.
- :class:`RandomGlimpsePretraining`: train with uniformly random glimpses first, then hand over to the policy.
- :class:`AttentionTrajectoryLogger`: glimpse trajectories of fixed validation images as TensorBoard images.
- :class:`GlimpseMapLogger`: per-step heatmaps of where the glimpses land, and how often they are on the object.
"""

from callbacks.glimpse_map import GlimpseMapLogger
from callbacks.random_glimpses import RandomGlimpsePretraining
from callbacks.std_annealing import StdAnnealingOnPlateau
from callbacks.std_schedule import StdSchedule
from callbacks.trajectories import AttentionTrajectoryLogger

__all__ = [
    "AttentionTrajectoryLogger",
    "GlimpseMapLogger",
    "RandomGlimpsePretraining",
    "StdAnnealingOnPlateau",
    "StdSchedule",
]
