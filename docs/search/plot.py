"""Draws docs/search/search.png from the CSVs beside it: one-rollout validation accuracy and attention gain against
wall time for every arm of the recipe search. Needs matplotlib (`pip install matplotlib`); run from the repository root:

    python docs/search/plot.py
"""

import csv
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

HERE = Path(__file__).resolve().parent
ROUNDS = [("round1_cluttered60.csv", "round 1: cluttered 60x60, batch and M"), ("round2.csv", "round 2: combinations")]


def read(name: str) -> dict[str, list[dict[str, float]]]:
    arms: dict[str, list[dict[str, float]]] = {}
    for row in csv.DictReader((HERE / name).open()):
        arms.setdefault(row["arm"], []).append({key: float(value) for key, value in row.items() if key != "arm"})
    return arms


figure, axes = plt.subplots(2, 2, figsize=(13, 8), sharex=True)
for column, (name, title) in enumerate(ROUNDS):
    for arm, rows in sorted(read(name).items()):
        minutes = [row["wall_s"] / 60 for row in rows]
        axes[0, column].plot(minutes, [100 * row["val/acc"] for row in rows], label=arm)
        axes[1, column].plot(minutes, [100 * row["val/attention_gain"] for row in rows], label=arm)
    axes[0, column].set_title(title)
    axes[0, column].set_ylabel("validation accuracy, one rollout (%)")
    axes[0, column].set_ylim(50, 100)
    axes[1, column].set_ylabel("attention gain (points)")
    axes[1, column].set_xlabel("wall time (minutes, 8 arms at once on one H100)")
    axes[0, column].legend(fontsize=7, loc="lower right")
    for axis in axes[:, column]:
        axis.grid(alpha=0.3)
figure.tight_layout()
figure.savefig(HERE / "search.png", dpi=80)
