"""Weights files: where they live, how they are read (safely), and which release a file belongs to.

Checkpoints are read with ``torch.load(weights_only=True)`` or safetensors, never by unpickling code. A file
whose tensors do not fit the requested release is refused with the names of the releases it does fit.
"""

from __future__ import annotations

import os
import pickle
import zipfile
from functools import cache
from pathlib import Path

import torch

from .ifnet import IFNet, IFNetConfig
from .registry import MODELS, ModelSpec

# Tensors that official checkpoints carry for training only (teacher block, context and refinement nets).
TRAINING_ONLY_PREFIXES: tuple[str, ...] = ("block_tea.", "contextnet.", "unet.")
REPO_WEIGHTS_DIR = Path(__file__).resolve().parent.parent / "weights"


class WeightsError(ValueError):
    """A weights file is missing, unreadable, unsafe or belongs to another release."""


def user_model_dir() -> Path:
    """Per-user download directory: $VSRIFE_MODEL_DIR, else the XDG/platform cache directory."""
    env = os.environ.get("VSRIFE_MODEL_DIR")
    if env:
        return Path(env).expanduser()
    if os.name == "nt":
        base = Path(os.environ.get("LOCALAPPDATA", Path.home() / "AppData" / "Local"))
    else:
        base = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache"))
    return base / "vsrife" / "models"


def model_dirs() -> tuple[Path, ...]:
    """Directories searched for weights, in order."""
    dirs = [user_model_dir()]
    if REPO_WEIGHTS_DIR.is_dir():
        dirs.append(REPO_WEIGHTS_DIR)
    return tuple(dirs)


def find_weights(spec: ModelSpec) -> Path | None:
    stem = spec.filename.removesuffix(".pkl")
    for d in model_dirs():
        for name in (spec.filename, stem + ".pth", stem + ".safetensors"):
            p = d / name
            if p.is_file() and p.stat().st_size > 0:
                return p
    return None


def missing_weights_message(spec: ModelSpec, where: str = "RIFE") -> str:
    dirs = ", ".join(str(d) for d in model_dirs())
    return (
        f"{where}: weights for model {spec.version} ({spec.filename}) not found in {dirs}; "
        f"download them with `vsrife download {spec.version}` (or `python -m vsrife download {spec.version}`), "
        f"or pass the file to load_weights()"
    )


def read_state_dict(path: str | os.PathLike[str]) -> dict[str, torch.Tensor]:
    """Read a checkpoint's tensors without executing anything from it."""
    path = Path(path)
    if not path.is_file():
        raise WeightsError(f"weights file {path} does not exist")
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            raw: object = load_file(str(path), device="cpu")
        else:
            raw = torch.load(str(path), map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as e:
        raise WeightsError(
            f"{path} was refused: it is not a plain tensor checkpoint (it would need to run pickled code, "
            f"which vsrife never does): {str(e).splitlines()[0]}"
        ) from None
    except (RuntimeError, EOFError, OSError, zipfile.BadZipFile, ValueError, KeyError) as e:
        raise WeightsError(f"{path} is not a readable checkpoint (truncated or corrupt?): {e}") from None
    except Exception as e:  # safetensors raises its own error types
        raise WeightsError(f"{path} is not a readable checkpoint: {e}") from None
    if isinstance(raw, dict) and "state_dict" in raw and isinstance(raw["state_dict"], dict):
        raw = raw["state_dict"]
    if not isinstance(raw, dict) or not raw or not all(isinstance(v, torch.Tensor) for v in raw.values()):
        raise WeightsError(f"{path} holds no state dict of tensors")
    return {str(k).removeprefix("module."): v for k, v in raw.items()}


def strip_training_only(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    return {k: v for k, v in state.items() if not k.startswith(TRAINING_ONLY_PREFIXES)}


@cache
def expected_shapes(cfg: IFNetConfig) -> dict[str, tuple[int, ...]]:
    with torch.device("meta"):
        net = IFNet(cfg)
    return {k: tuple(v.shape) for k, v in net.state_dict().items()}


def _shapes(state: dict[str, torch.Tensor]) -> dict[str, tuple[int, ...]]:
    return {k: tuple(v.shape) for k, v in state.items()}


def matching_versions(state: dict[str, torch.Tensor]) -> list[str]:
    """Releases whose architecture has exactly these keys and shapes (training-only tensors ignored)."""
    shapes = _shapes(strip_training_only(state))
    return [v for v, spec in MODELS.items() if expected_shapes(spec.config) == shapes]


def check_layout(state: dict[str, torch.Tensor], spec: ModelSpec, source: str) -> dict[str, torch.Tensor]:
    """Return the tensors for ``spec`` or raise a WeightsError that says what the file is instead."""
    state = strip_training_only(state)
    want = expected_shapes(spec.config)
    got = _shapes(state)
    if got == want:
        return state
    others = matching_versions(state)
    if others:
        raise WeightsError(
            f"{source} holds weights of RIFE {', '.join(others)}, not {spec.version}; "
            f"use model={others[0]!r} or the {spec.filename} file"
        )
    missing = sorted(set(want) - set(got))
    unknown = sorted(set(got) - set(want))
    wrong = sorted(k for k in set(want) & set(got) if want[k] != got[k])
    parts = []
    if missing:
        parts.append(f"{len(missing)} missing (e.g. {missing[0]})")
    if unknown:
        parts.append(f"{len(unknown)} unknown (e.g. {unknown[0]})")
    if wrong:
        k = wrong[0]
        parts.append(f"{len(wrong)} mis-shaped (e.g. {k}: {got[k]} instead of {want[k]})")
    raise WeightsError(
        f"{source} does not match RIFE {spec.version} nor any other release: tensors {'; '.join(parts)}"
    )


def load_for(spec: ModelSpec, path: str | os.PathLike[str]) -> dict[str, torch.Tensor]:
    return check_layout(read_state_dict(path), spec, str(path))
