"""Under DDP (2 CPU processes) the callbacks keep every process identical and log images once."""

from __future__ import annotations

from pathlib import Path

from ddp_launch import run_ddp_script

SCRIPT = Path(__file__).resolve().parent / "ddp_callbacks_script.py"


def test_ddp_same_std_on_every_process_frozen_policy_images_once(tmp_path):
    epochs = run_ddp_script(SCRIPT, str(tmp_path))

    stds = [epoch["std"] for epoch in epochs]
    assert all(a == b for a, b in stds)  # rank one's improving metric did not make it disagree
    assert [round(a, 4) for a, _ in stds] == [0.2, 0.2, 0.2, 0.1, 0.1]  # rank zero's stall decided
    policy = [epoch["policy"] for epoch in epochs]
    assert policy[0] == policy[1] == policy[2]  # random-glimpse phase: epochs 0-1 leave the policy alone
    assert policy[3] != policy[2] and policy[3][0] == policy[3][1]  # then it trains, identically on both ranks
    event_files = list((tmp_path / "ddp" / "version_0").glob("events.out.tfevents.*"))
    assert len(event_files) == 1  # rank zero only
