"""Draws the figures of docs/experiments.md from the CSVs beside it: ``search.png`` (one-rollout validation accuracy
and attention gain against wall time, every arm of the recipe search) and ``shipped_curves.png`` (one-rollout
validation error of the shipped cluttered runs against training time: the round-2 arm, its continuation and the
fine-tuning of round 4) and ``finetune.png`` (the fine-tuning arms of round 4, one panel per task). Needs matplotlib
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
        values = {key: float(value) for key, value in row.items() if key != "arm" and value != ""}  # "": not logged
        arms.setdefault(row["arm"], []).append(values)
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


# The shipped cluttered runs: the round-2 arm (8 minutes), its continuation, then the fine-tuning arm of round 4
# (training time only, the restarts not counted). Translated 60x60 had a CPU stage between, so it is not drawn here.
SHIPPED = {
    "cluttered60": ("c60_b128_m10_std015", "c60_std015_lr5e4", 4.04),
    "cluttered100": ("c100_b128_m10", "c100_std015_lr5e4", 8.11),
}
first, second, third = read("round2.csv"), read("round3_continued.csv"), read("round4_finetune.csv")
figure, axis = plt.subplots(figsize=(8, 5))
for (task, (arm, finetune, paper)), color in zip(SHIPPED.items(), ("C0", "C1"), strict=True):
    rows = [(row["wall_s"], row["val/acc"]) for row in first[arm]]
    for stage in (second[task], third[finetune]):
        offset = rows[-1][0]
        rows += [(offset + row["wall_s"], row["val/acc"]) for row in stage]
    axis.plot([t / 60 for t, _ in rows], [100 * (1 - acc) for _, acc in rows], color=color, label=task)
    axis.axhline(paper, color=color, linestyle="--", linewidth=1, label=f"{task}: paper ({paper}%)")
axis.set_yscale("log")
axis.set_xlabel("training time (minutes; one H100 shared with other runs, then one H200 for the last 30 epochs)")
axis.set_ylabel("validation error, one rollout (%)")
axis.grid(alpha=0.3, which="both")
axis.legend(fontsize=8)
figure.tight_layout()
figure.savefig(HERE / "shipped_curves.png", dpi=80)


# Round 4: fine-tuning the shipped models, 8 arms at once on one H200, one panel per task.
PAPER = {"mnist": 1.12, "t60": 1.20, "c60": 4.04, "c100": 8.11}
figure, axes = plt.subplots(1, 4, figsize=(16, 4))
for axis, (task, paper) in zip(axes, PAPER.items(), strict=True):
    for arm, rows in sorted(third.items()):
        if arm.split("_")[0] == task:
            axis.plot([row["epoch"] + 1 for row in rows], [100 * (1 - row["val/acc"]) for row in rows], label=arm)
    axis.axhline(paper, color="black", linestyle="--", linewidth=1, label=f"paper ({paper}%)")
    axis.set_title(task)
    axis.set_xlabel("fine-tuning epoch")
    axis.set_ylabel("validation error, one rollout (%)")
    axis.grid(alpha=0.3)
    axis.legend(fontsize=7)
figure.tight_layout()
figure.savefig(HERE / "finetune.png", dpi=80)
