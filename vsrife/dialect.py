"""Calls written for the RIFE ncnn-Vulkan plugin, which also registers ``core.rife.RIFE``.

Scripts written for that plugin (``styler00dollar/VapourSynth-RIFE-ncnn-Vulkan``, identifier
``com.holywu.rife``) may reach vsrife's ``core.rife.RIFE`` instead. :func:`translate_ncnn` maps each of its
arguments to ours where the result means the same, and refuses the others with one line naming vsrife's
equivalent, so such a script never runs silently with other semantics. Facts about the ncnn plugin were
read from its ``RIFE/plugin.cpp`` and ``RIFE/rife.cpp`` (2025-06):

* ``model`` is an integer index into a list of exported model folders (0..76, default 5 = rife-v2.3).
* ``uhd`` and ``tta`` are not used by its RIFE 4.x code path at all; ``tta=True`` is refused for 4.x models.
* ``skip=True`` copies the left frame when PSNR-Y of the pair (VMAF plugin, YUV420P8 at most 512x512) is at
  least ``skip_threshold`` (0..60 dB, default 60).
* ``gpu_id`` is a Vulkan device index; ``gpu_thread`` is how many frames run on the GPU at once.

Pure: no VapourSynth, no torch. Validators raise ``ValueError`` with plain text; the caller adds ``RIFE:``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

# ncnn model index -> (vsrife release, ensemble). The ncnn folders are exports of the official releases;
# "fastTrue"/"fastFalse" is an export detail that goes with ensembleFalse/ensembleTrue respectively.
NCNN_MODELS: dict[int, tuple[str, bool]] = {
    11: ("4.0", False),
    12: ("4.0", True),
    13: ("4.1", False),
    14: ("4.1", True),
    15: ("4.2", False),
    16: ("4.2", True),
    17: ("4.3", False),
    18: ("4.3", True),
    19: ("4.4", False),
    20: ("4.4", True),
    21: ("4.5", False),
    22: ("4.5", True),
    23: ("4.6", False),
    24: ("4.6", True),
    25: ("4.7", False),
    26: ("4.7", True),
    27: ("4.8", False),
    28: ("4.8", True),
    29: ("4.9", False),
    30: ("4.9", True),
    31: ("4.10", False),
    32: ("4.10", True),
    33: ("4.11", False),
    34: ("4.11", True),
    35: ("4.12", False),
    36: ("4.12", True),
    37: ("4.12.lite", False),
    38: ("4.12.lite", True),
    39: ("4.13", False),
    40: ("4.13", True),
    41: ("4.13.lite", False),
    42: ("4.13.lite", True),
    43: ("4.14", False),
    44: ("4.14", True),
    45: ("4.14.lite", False),
    46: ("4.14.lite", True),
    47: ("4.15", False),
    48: ("4.15", True),
    49: ("4.15.lite", False),
    50: ("4.15.lite", True),
    51: ("4.16.lite", False),
    52: ("4.16.lite", True),
    53: ("4.17", False),
    54: ("4.17", True),
    55: ("4.17.lite", False),
    56: ("4.17.lite", True),
    57: ("4.18", False),
    58: ("4.18", True),
    61: ("4.20", False),
    62: ("4.20", True),
    63: ("4.21", False),
    64: ("4.22", False),
    65: ("4.22.lite", False),
    67: ("4.24", False),
    68: ("4.24", True),
    69: ("4.25", False),
    70: ("4.25.lite", False),
    72: ("4.26", False),
}

# ncnn model indices vsrife refuses, with what they are and what to use instead.
NCNN_REFUSED_MODELS: dict[int, str] = {
    **{
        i: f"{name} (RIFE 1.x-3.x); vsrife runs only RIFE 4.x releases: pass model='4.0' ... '4.26.heavy'"
        for i, name in enumerate(
            ("rife", "rife-HD", "rife-UHD", "rife-anime", "rife-v2", "rife-v2.3", "rife-v2.4", "rife-v3.0")
        )
    },
    8: "rife-v3.1 (RIFE 3.x); vsrife runs only RIFE 4.x releases: pass model='4.0' ... '4.26.heavy'",
    9: "rife-v3.9 (a pre-4.0 model); vsrife does not have it: the nearest release is model='4.0'",
    10: "rife-v3.9 with ensemble (a pre-4.0 model); vsrife lacks it: nearest model='4.0', ensemble=True",
    59: "rife-v4.19 beta; vsrife has the final release: pass model='4.19' (its result differs from the beta)",
    60: "rife-v4.19 beta with ensemble; vsrife has the final release: model='4.19', ensemble=True",
    66: "rife-v4.23 beta; vsrife has the final release: pass model='4.23' (its result differs from the beta)",
    71: "rife-v4.25 heavy beta; vsrife's nearest release is model='4.25.heavy'",
    73: "rife-v4.26-large; vsrife has no such release: its 4.26 releases are model='4.26' and '4.26.heavy'",
}


def _int(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{name} must be an integer; got {value!r}")  # one error type for the boundary
    return value


def _truthy(name: str, value: Any) -> bool:
    if isinstance(value, bool) or value in (0, 1):
        return bool(value)
    raise ValueError(f"{name} must be True or False (or 0/1); got {value!r}")


def ncnn_model(index: int) -> tuple[str, bool]:
    """The vsrife release and ensemble flag of the ncnn plugin's ``model=index``; ``ValueError`` if none."""
    if index in NCNN_MODELS:
        return NCNN_MODELS[index]
    if index in NCNN_REFUSED_MODELS:
        raise ValueError(f"model={index} is the ncnn plugin's {NCNN_REFUSED_MODELS[index]}")
    raise ValueError(
        f"model={index} is not a model index of the ncnn RIFE plugin (0..73) and not a vsrife release: "
        "pass a release name such as model='4.25'"
    )


def translate_ncnn(kwargs: Mapping[str, Any]) -> dict[str, Any]:
    """Returns ``kwargs`` with the ncnn plugin's arguments mapped to vsrife's; refuses what has no equivalent.

    ======================  =================================================================================
    ncnn argument           vsrife
    ======================  =================================================================================
    ``model=<int>``         the same release by name, and ``ensemble`` for the ``ensembleTrue`` exports
                            (:data:`NCNN_MODELS`); RIFE 1-3, betas and 4.26-large are refused
    ``gpu_id=<int>``        refused: pass ``device="cuda:N"`` (CUDA numbering) or ``device="cpu"``
    ``gpu_thread=<int>``    accepted, no effect on the output: concurrency follows ``core.num_threads``
    ``tta=False``           accepted (the ncnn plugin refuses ``tta=True`` for RIFE 4.x itself)
    ``tta=True``            refused: no test-time augmentation for RIFE 4.x in either plugin
    ``uhd=<bool>``          accepted, no effect: the ncnn plugin ignores it for RIFE 4.x too (for speed at
                            4K pass ``scale=0.5``, which changes the result)
    ``skip=False``          accepted (vsrife copies only bit-identical neighbours, as interpolation would)
    ``skip=True``           refused: no PSNR-based skipping; copy static frames before or after RIFE
    ``skip_threshold``      accepted only without ``skip=True`` (it is unused then, in both plugins)
    ``model_path``          refused: pass ``weights=<.pkl/.pth/.safetensors file>``; ncnn folders unreadable
    ``list_gpu``            refused: run ``vsrife list``; the device is chosen with ``device=``
    ======================  =================================================================================
    """
    out = dict(kwargs)
    model = out.get("model")
    if isinstance(model, int) and not isinstance(model, bool):
        release, ensemble = ncnn_model(model)
        if "ensemble" in out and _truthy("ensemble", out["ensemble"]) != ensemble:
            raise ValueError(
                f"model={model} is the ncnn plugin's {release} {'with' if ensemble else 'without'} "
                f"ensemble, which contradicts ensemble={out['ensemble']!r}"
            )
        out["model"] = release
        out["ensemble"] = ensemble
    if "gpu_id" in out:
        gpu = _int("gpu_id", out.pop("gpu_id"))
        raise ValueError(
            f"gpu_id={gpu} is the ncnn plugin's Vulkan device index; vsrife takes device='cuda:N' "
            "(CUDA numbering, which may differ) or device='cpu'"
        )
    if "gpu_thread" in out:
        threads = _int("gpu_thread", out.pop("gpu_thread"))
        if threads < 1:
            raise ValueError(f"gpu_thread must be at least 1; got {threads}")
    if "tta" in out and _truthy("tta", out.pop("tta")):
        raise ValueError(
            "tta=True (the ncnn plugin's test-time augmentation) has no RIFE 4.x equivalent; that plugin "
            "refuses it for 4.x models too. The nearest is ensemble=True (a different result)"
        )
    if "uhd" in out:
        _truthy("uhd", out.pop("uhd"))
    skip = _truthy("skip", out.pop("skip")) if "skip" in out else False
    if skip:
        raise ValueError(
            "skip=True (the ncnn plugin copies frames whose PSNR-Y reaches skip_threshold) has no vsrife "
            "equivalent; vsrife copies only bit-identical neighbours. Drop skip"
        )
    if "skip_threshold" in out:
        threshold = out.pop("skip_threshold")
        if isinstance(threshold, bool) or not isinstance(threshold, (int, float)) or not 0 <= threshold <= 60:
            raise ValueError(f"skip_threshold must be between 0 and 60; got {threshold!r}")
    if "model_path" in out:
        raise ValueError(
            "model_path (an ncnn model folder) cannot be read by vsrife; pass weights='<file>' with the "
            ".pkl/.pth/.safetensors weights of a RIFE 4.x release and model='<its release>'"
        )
    if "list_gpu" in out:
        raise ValueError(
            "list_gpu is the ncnn plugin's; vsrife chooses its device with device='cpu'/'cuda:N'"
        )
    return out
