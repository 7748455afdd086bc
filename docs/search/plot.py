"""Draws the figures of docs/experiments.md from the CSVs beside it: ``search.png`` (one-rollout validation accuracy
and attention gain against wall time, every arm of the recipe search) and ``shipped_curves.png`` (one-rollout
validation error of the shipped cluttered runs against training time: the round-2 arm, its continuation and the
fine-tuning stages after it), ``finetune.png``, ``finetune_rounds6_7.png`` and ``finetune_round9.png`` (the
fine-tuning arms of rounds 4, 6, 7 and 9, one panel per task). Needs matplotlib (`pip install matplotlib`); run
from the repository root:

    python docs/search/plot.py
"""

import csv
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.ticker import ScalarFormatter  # noqa: E402

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


# The shipped cluttered runs, stage by stage (training time only, the restarts not counted): the round-2 arm
# (8 minutes), its continuation, the fine-tuning arm of round 4 on one H200; then cluttered 60x60 had a CPU stage
# (round 5) and two more H200 stages (rounds 6 and 7), cluttered 100x100 a CPU stage (round 8). CPU stages are
# shaded. Translated 60x60 had a CPU stage before round 4, so it is not drawn here.
SHIPPED = {
    "cluttered60": (
        [("round2.csv", "c60_b128_m10_std015"), ("round3_continued.csv", "cluttered60"),
         ("round4_finetune.csv", "c60_std015_lr5e4"), ("round5_cpu.csv", "c60_std01_lr2e4"),
         ("round6_finetune.csv", "c60_ema_lr5e4"), ("round7_finetune.csv", "c60_ema_std005_lr3e4")],
        4.04,
    ),
    "cluttered100": (
        [("round2.csv", "c100_b128_m10"), ("round3_continued.csv", "cluttered100"),
         ("round4_finetune.csv", "c100_std015_lr5e4"), ("round8_cpu.csv", "c100_ema_std005_lr3e4")],
        8.11,
    ),
}  # fmt: skip
figure, axis = plt.subplots(figsize=(9, 5))
for (task, (stages, paper)), color in zip(SHIPPED.items(), ("C0", "C1"), strict=True):
    rows: list[tuple[float, float]] = []
    for name, arm in stages:
        offset = rows[-1][0] if rows else 0.0
        stage = [(offset + row["wall_s"], row["val/acc"]) for row in read(name)[arm]]
        if name.endswith("_cpu.csv"):
            axis.axvspan(offset / 60, stage[-1][0] / 60, color=color, alpha=0.08, label=f"{task}: CPU stage")
        rows += stage
    axis.plot([t / 60 for t, _ in rows], [100 * (1 - acc) for _, acc in rows], color=color, label=task)
    axis.axhline(paper, color=color, linestyle="--", linewidth=1, label=f"{task}: paper ({paper}%)")
axis.axhline(2.63, color="C0", linestyle=":", linewidth=1, label="cluttered60: best public (2.63%)")
axis.axhline(5.9, color="C1", linestyle=":", linewidth=1, label="cluttered100: best public (5.9%)")
axis.set_yscale("log")
axis.set_xlabel(
    "training time (minutes; one H100 shared with other runs, then one H200 shared by 8 arms;\n"
    "shaded: a 2-core CPU, one thread on 60x60, two on 100x100)"
)
axis.yaxis.set_major_formatter(ScalarFormatter())
axis.yaxis.set_minor_formatter(ScalarFormatter())
axis.set_ylabel("validation error, one rollout (%)")
axis.grid(alpha=0.3, which="both")
axis.legend(fontsize=8)
figure.tight_layout()
figure.savefig(HERE / "shipped_curves.png", dpi=80)


def finetune_panel(axis, arms: dict[str, list[dict[str, float]]], task: str, title: str) -> None:
    """One-rollout validation error of the fine-tuning arms of ``task`` (arms named ``<task>_...``) by epoch."""
    for arm, rows in sorted(arms.items()):
        if arm.split("_")[0] == task:
            axis.plot([row["epoch"] + 1 for row in rows], [100 * (1 - row["val/acc"]) for row in rows], label=arm)
    axis.set_title(title)
    axis.set_xlabel("fine-tuning epoch")
    axis.set_ylabel("validation error, one rollout (%)")
    axis.grid(alpha=0.3)


# Round 4: fine-tuning the shipped models, 8 arms at once on one H200, one panel per task.
PAPER = {"mnist": 1.12, "t60": 1.20, "c60": 4.04, "c100": 8.11}
round4 = read("round4_finetune.csv")
figure, axes = plt.subplots(1, 4, figsize=(16, 4))
for axis, (task, paper) in zip(axes, PAPER.items(), strict=True):
    finetune_panel(axis, round4, task, task)
    axis.axhline(paper, color="black", linestyle="--", linewidth=1, label=f"paper ({paper}%)")
    axis.legend(fontsize=7)
figure.tight_layout()
figure.savefig(HERE / "finetune.png", dpi=80)


# Rounds 6 and 7: fine-tuning again on one H200, 8 arms at once; round 7 starts from round 6's selected arms.
figure, axes = plt.subplots(2, 3, figsize=(15, 8))
for row_axes, name in zip(axes, ("round6_finetune.csv", "round7_finetune.csv"), strict=True):
    arms = read(name)
    for axis, task in zip(row_axes, ("mnist", "t60", "c60"), strict=True):
        finetune_panel(axis, arms, task, f"{name.split('_')[0]}: {task}")
        axis.legend(fontsize=7)
figure.tight_layout()
figure.savefig(HERE / "finetune_rounds6_7.png", dpi=80)


# Round 9: jittered training images against a control arm per task, 8 arms at once on one H100.
BEST_PUBLIC = {"mnist": 0.85, "t60": 0.94}
round9 = read("round9_finetune.csv")
figure, axes = plt.subplots(1, 2, figsize=(11, 4))
for axis, (task, best) in zip(axes, BEST_PUBLIC.items(), strict=True):
    finetune_panel(axis, round9, task, f"round9: {task}")
    axis.axhline(best, color="black", linestyle="--", linewidth=1, label=f"best public ({best}%)")
    axis.legend(fontsize=7)
figure.tight_layout()
figure.savefig(HERE / "finetune_round9.png", dpi=80)
