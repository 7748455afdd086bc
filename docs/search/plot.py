"""Draws the figures of docs/experiments.md from the CSVs beside it: ``search.png`` (one-rollout validation accuracy
and attention gain against wall time, every arm of the recipe search) and ``shipped_curves.png`` (one-rollout
validation error of the shipped GPU runs against training time, round 2 then its continuation). Needs matplotlib
(`pip install matplotlib`); run from the repository root:

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


# The shipped runs: the round-2 arm (8 minutes), then its continuation (training time only, the restart not counted).
SHIPPED = {
    "cluttered60": ("c60_b128_m10_std015", 4.04),
    "cluttered100": ("c100_b128_m10", 8.11),
    "translated60": ("t60_b128_m10", 1.20),
}
first, second = read("round2.csv"), read("round3_continued.csv")
figure, axis = plt.subplots(figsize=(8, 5))
for (task, (arm, paper)), color in zip(SHIPPED.items(), ("C0", "C1", "C2"), strict=True):
    offset = first[arm][-1]["wall_s"]
    rows = [(row["wall_s"], row["val/acc"]) for row in first[arm]]
    rows += [(offset + row["wall_s"], row["val/acc"]) for row in second[task]]
    axis.plot([t / 60 for t, _ in rows], [100 * (1 - acc) for _, acc in rows], color=color, label=task)
    axis.axhline(paper, color=color, linestyle="--", linewidth=1, label=f"{task}: paper ({paper}%)")
axis.set_yscale("log")
axis.set_xlabel("training time (minutes on one H100, shared with other runs)")
axis.set_ylabel("validation error, one rollout (%)")
axis.grid(alpha=0.3, which="both")
axis.legend(fontsize=8)
figure.tight_layout()
figure.savefig(HERE / "shipped_curves.png", dpi=80)
