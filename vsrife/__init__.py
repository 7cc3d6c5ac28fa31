"""vsrife: RIFE frame interpolation for VapourSynth (any format, exact timing, CPU and CUDA).

``from vsrife import RIFE_HDv3`` needs only torch; ``vsrife.RIFE(clip, ...)`` (the VapourSynth filter, also
``core.rife.RIFE``) imports VapourSynth on first use.
"""

from __future__ import annotations

from typing import Any

from .backend import Backend, resolve_backend
from .errors import DownloadError, VsrifeError, WeightsError
from .loading import default_version, load_model
from .model import RIFE_HDv3
from .registry import DEFAULT_VERSION, MODELS, VERSIONS

__version__ = "0.1.0"
__all__ = [
    "DEFAULT_VERSION",
    "MODELS",
    "RIFE",
    "VERSIONS",
    "Backend",
    "DownloadError",
    "RIFE_HDv3",
    "VsrifeError",
    "WeightsError",
    "__version__",
    "default_version",
    "load_model",
    "resolve_backend",
]


def __getattr__(name: str) -> Any:
    if name == "RIFE":
        from .filter import RIFE

        return RIFE
    raise AttributeError(f"module 'vsrife' has no attribute {name!r}")
