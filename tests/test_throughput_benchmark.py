"""benchmarks/throughput.py runs in its quick mode and reports every measurement (the format, not the speed)."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent
SCRIPT = REPO_ROOT / "benchmarks" / "throughput.py"


@pytest.fixture(scope="module")
def throughput():
    spec = importlib.util.spec_from_file_location("throughput", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_quick_run_prints_the_table_and_writes_json(throughput, data_dir, tmp_path, capsys):
    report = tmp_path / "throughput.json"
    config = REPO_ROOT / "configs" / "mnist.yaml"
    throughput.main(
        ["--quick", "--config", str(config), "--batch-size", "16", "--data-dir", str(data_dir), "--json", str(report)]
    )
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[-3] == ("| config | batch | M | step images/s | step episodes/s | data | fit | fit / step | eval |")
    cells = [cell.strip() for cell in lines[-1].strip("|").split("|")]
    assert cells[:3] == ["mnist.yaml", "16", "10"]  # the config's model.train_samples
    medians = [_median(cell) for cell in cells[3:7] + cells[8:]]
    assert all(value > 0 for value in medians)
    assert medians[1] == pytest.approx(10 * medians[0], rel=0.01), "10 rollouts per image: 10 episodes each"
    assert cells[7].endswith("%")

    content = json.loads(report.read_text())
    assert {"torch", "threads", "cores", "load_average_1min"} <= content["machine"].keys()
    (result,) = content["results"]
    assert result["config"] == str(config) and result["batch_size"] == 16
    for key in ("step", "data", "fit", "eval"):
        assert len(result[key]) == 1 and result[key][0] > 0, key
        assert result["median"][key] == result[key][0]


def test_only_some_measurements_and_overrides(throughput, data_dir, capsys):
    config = REPO_ROOT / "configs" / "mnist.yaml"
    args = ["--quick", "--config", str(config), "--batch-size", "8", "--data-dir", str(data_dir), "--only", "step"]
    overrides = ["model.fused_rollout=false", "model.autocast=off", "model.train_samples=4"]
    throughput.main([*args, *(item for override in overrides for item in ("--set", override))])
    cells = [cell.strip() for cell in capsys.readouterr().out.strip().splitlines()[-1].strip("|").split("|")]
    assert cells[1:3] == ["8", "4"]
    assert _median(cells[4]) == pytest.approx(4 * _median(cells[3]), rel=0.01), "M episodes per image"
    assert cells[5:] == ["-", "-", "-", "-"]


def _median(cell: str) -> float:
    """The median of a ``"1,234 (1,100-1,300)"`` cell."""
    return float(cell.split(" ")[0].replace(",", ""))


def test_experiment_configs_skip_overlays(throughput, tmp_path):
    (tmp_path / "b_experiment.yaml").write_text("model:\n  num_glimpses: 2\ndata:\n  batch_size: 4\n")
    (tmp_path / "a_ddp.yaml").write_text("trainer:\n  devices: 2\n")
    (tmp_path / "notes.txt").write_text("not a config")
    assert throughput.experiment_configs(tmp_path) == [tmp_path / "b_experiment.yaml"]
