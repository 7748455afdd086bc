"""The dependency floors in pyproject.toml cover the APIs the code calls."""

from __future__ import annotations

import re
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
# torch APIs the package relies on, and the release that brought them.
TORCH_APIS = {
    "torch.get_autocast_dtype(device_type) in ram_lightning/rollout.py": (2, 4),
    "torch.is_autocast_enabled(device_type) in ram_lightning/rollout.py": (2, 4),
    "fused Adam on CPU (optimizer.init_args.fused: true in configs/)": (2, 4),
}
# torchvision releases paired with each torch release.
TORCHVISION_FOR_TORCH = {(2, 4): (0, 19)}


def _floor(package: str) -> tuple[int, int]:
    text = (REPO_ROOT / "pyproject.toml").read_text()
    major, minor = re.search(rf'"{package}>=(\d+)\.(\d+)', text).groups()
    return int(major), int(minor)


def test_torch_and_torchvision_floors_cover_the_apis_used():
    needed = max(TORCH_APIS.values())
    assert _floor("torch") >= needed, [api for api, version in TORCH_APIS.items() if version > _floor("torch")]
    assert _floor("torchvision") >= TORCHVISION_FOR_TORCH[needed]
