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

from .errors import WeightsError
from .ifnet import IFNet, IFNetConfig
from .registry import MODELS, ModelSpec

# Tensors that official checkpoints carry for training only (teacher block, context and refinement nets).
TRAINING_ONLY_PREFIXES: tuple[str, ...] = ("block_tea.", "contextnet.", "unet.")
REPO_WEIGHTS_DIR = Path(__file__).resolve().parent.parent / "weights"


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


def missing_weights_message(spec: ModelSpec, hint: str = "pass the file to load_weights()") -> str:
    """One line: where the weights were looked for and how to get them. ``hint`` names the caller's own way
    of passing a file (``weights=`` in the filter, ``load_weights(path)`` in the model API)."""
    dirs = ", ".join(str(d) for d in model_dirs())
    return (
        f"weights for model {spec.version} ({spec.filename}) not found in {dirs}; "
        f"download them with `vsrife download {spec.version}` "
        f"(or `python -m vsrife download {spec.version}`), "
        f"or {hint}"
    )


_ZIP_MAGIC = b"PK\x03\x04"  # PyTorch's own format since 1.6: a zip archive
_PICKLE_MAGIC = b"\x80"  # the legacy format: a pickle stream (protocol >= 2)


def _describe_unreadable(head: bytes) -> str:
    """What a file that is not a loadable checkpoint is, in a few words."""
    if not head:
        return "is empty"
    if head.startswith(_ZIP_MAGIC):
        return "is truncated (a cut-off or damaged zip archive; download it again)"
    if head.startswith(_PICKLE_MAGIC):
        return "is truncated or damaged (download it again)"
    text = head.lstrip().lower()
    if text.startswith((b"<!doctype", b"<html", b"<?xml", b"<")):
        return "is not a PyTorch checkpoint (it is an HTML/XML page, e.g. a download error page)"
    if all(32 <= c < 127 or c in b"\t\r\n" for c in head):
        return "is not a PyTorch checkpoint (it is a text file)"
    return "is not a PyTorch checkpoint"


def read_state_dict(path: str | os.PathLike[str]) -> dict[str, torch.Tensor]:
    """Read a checkpoint's tensors without executing anything from it. Every failure is one WeightsError
    line that says what the file is (missing, a directory, empty, text or HTML, truncated, carrying pickled
    code); PyTorch's own message, with its advice to turn ``weights_only`` off, is never passed on."""
    path = Path(path)
    if path.is_dir():
        raise WeightsError(f"{path} is a directory, not a weights file")
    if not path.is_file():
        raise WeightsError(f"weights file {path} does not exist")
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        try:
            raw: object = load_file(str(path), device="cpu")
        except Exception:
            raise WeightsError(f"{path} is not a readable safetensors file (truncated or damaged)") from None
    else:
        with open(path, "rb") as f:
            head = f.read(64)
        if head.startswith(_ZIP_MAGIC) and not zipfile.is_zipfile(path):
            raise WeightsError(f"{path} {_describe_unreadable(head)}")
        try:
            raw = torch.load(str(path), map_location="cpu", weights_only=True)
        except pickle.UnpicklingError:
            if head.startswith((_ZIP_MAGIC, _PICKLE_MAGIC)):
                raise WeightsError(f"{path} carries pickled code (refused: vsrife never runs it)") from None
            raise WeightsError(f"{path} {_describe_unreadable(head)}") from None
        except (RuntimeError, EOFError, OSError, zipfile.BadZipFile, ValueError, KeyError, IndexError):
            raise WeightsError(f"{path} {_describe_unreadable(head)}") from None
    if isinstance(raw, dict) and "state_dict" in raw and isinstance(raw["state_dict"], dict):
        raw = raw["state_dict"]
    if not isinstance(raw, dict) or not raw or not all(isinstance(v, torch.Tensor) for v in raw.values()):
        raise WeightsError(f"{path} is a PyTorch file but holds no state dict of tensors")
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
