"""Shared fixtures: the real assets the setup fetched, and helpers that read real frames."""

from __future__ import annotations

import math
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

ROOT = Path(__file__).resolve().parent.parent
ASSETS = ROOT / "assets"
BBB = ASSETS / "bigbuckbunny.mp4"
CARPHONE = ASSETS / "carphone_pristine.mp4"
WEIGHTS_V40 = ROOT / "weights" / "flownet_v4.0.pkl"
ORACLE_DIR = ROOT / ".cache" / "oracle"


def _require(path: Path) -> Path:
    if not path.is_file():
        pytest.fail(f"{path} is missing: run `make test` (or scripts/setup.sh), which fetches it")
    return path


@pytest.fixture(scope="session")
def bbb_path() -> Path:
    return _require(BBB)


@pytest.fixture(scope="session")
def carphone_path() -> Path:
    return _require(CARPHONE)


@pytest.fixture(scope="session")
def v40_weights() -> Path:
    return _require(WEIGHTS_V40)


@pytest.fixture(scope="session")
def oracle():
    """vs-rife 5.7.0's reference IFNet modules (downloaded by the setup, kept out of the package)."""
    if not (ORACLE_DIR / "rife_oracle" / "__init__.py").is_file():
        pytest.fail("the reference oracle is missing: run scripts/setup.sh")
    sys.path.insert(0, str(ORACLE_DIR))
    import importlib

    def load(version: str):
        return importlib.import_module("rife_oracle.IFNet_HDv3_v" + version.replace(".", "_"))

    return load


def random_official_state(model: torch.nn.Module, seed: int = 0) -> dict[str, torch.Tensor]:
    """Random weights in the official layout, scaled so activations stay in a sane range."""
    g = torch.Generator().manual_seed(seed)
    out = {}
    for k, t in model.state_dict().items():
        if k.endswith("beta"):
            out[k] = 1 + 0.1 * torch.randn(t.shape, generator=g)
        elif t.ndim == 1:
            out[k] = 0.1 * torch.randn(t.shape, generator=g)
        else:
            out[k] = torch.randn(t.shape, generator=g) / math.sqrt(t[0].numel())
    return out


def psnr(a: torch.Tensor | np.ndarray, b: torch.Tensor | np.ndarray, peak: float = 1.0) -> float:
    a = torch.as_tensor(a, dtype=torch.float64)
    b = torch.as_tensor(b, dtype=torch.float64)
    mse = float(((a - b) ** 2).mean())
    return float("inf") if mse == 0 else 10 * math.log10(peak * peak / mse)
