"""The loading layer: which release, which weights file, and one cached model per (release, backend, file).

The filter, the command line, training and the benchmarks all get their models here:

>>> from vsrife.backend import resolve_backend
>>> from vsrife.loading import load_model
>>> net = load_model("4.25", resolve_backend(purpose="model"))            # installed weights
>>> net = load_model(None, backend, weights="runs/ft/flownet.pkl")          # 4.25 or the newest installed

Nothing here imports VapourSynth. Messages go to the ``vsrife`` logger.
"""

from __future__ import annotations

import logging
import os
import threading
from pathlib import Path

from .backend import Backend
from .errors import WeightsError
from .model import RIFE_HDv3
from .registry import DEFAULT_VERSION, MODELS, ModelSpec, get_spec
from .weights import find_weights, missing_weights_message

log = logging.getLogger("vsrife")

# (version, backend, resolved weights path, file size, modification time) -> loaded model
_CacheKey = tuple[str, Backend, str, int, int]
_MODELS: dict[_CacheKey, RIFE_HDv3] = {}
_LOCK = threading.Lock()


def default_version() -> str:
    """4.25 when its weights are installed, else the newest installed release (4.25 if none is)."""
    if find_weights(MODELS[DEFAULT_VERSION]) is not None:
        return DEFAULT_VERSION
    for spec in reversed(MODELS.values()):
        if find_weights(spec) is not None:
            log.warning("weights of %s are not installed; using %s", DEFAULT_VERSION, spec.version)
            return spec.version
    return DEFAULT_VERSION


def locate_weights(
    spec: ModelSpec, weights: str | os.PathLike[str] | None = None, auto_download: bool = False
) -> Path:
    """The weights file to load: ``weights`` when given, else the installed file of the release, else (with
    ``auto_download``) a verified download into the user model directory. Raises WeightsError or
    DownloadError with one line saying what to do."""
    if weights is not None:
        path = Path(weights).expanduser()
        if path.is_dir():
            raise WeightsError(
                f"weights={str(path)!r} is a directory; pass the file itself, e.g. {path / spec.filename}"
            )
        if not path.is_file():
            raise WeightsError(f"weights file {path} does not exist")
        return path
    found = find_weights(spec)
    if found is not None:
        return found
    if auto_download:
        from .download import download

        log.info("downloading the weights of %s", spec.version)
        return download(spec)
    raise WeightsError(missing_weights_message(spec, "pass the file with weights=..."))


def load_model(
    version: str | None,
    backend: Backend,
    weights: str | os.PathLike[str] | None = None,
    auto_download: bool = False,
) -> RIFE_HDv3:
    """The release ``version`` (None: :func:`default_version`) on ``backend`` with its weights loaded.

    Models are cached per (release, backend, weights file and its size and modification time) and shared
    between callers; loading is serialised, so concurrent callers never load the same model twice. The
    returned model must be treated as read-only.
    """
    spec = get_spec(default_version() if version is None else version)
    path = locate_weights(spec, weights, auto_download).resolve()
    st = path.stat()
    key: _CacheKey = (spec.version, backend, str(path), st.st_size, st.st_mtime_ns)
    with _LOCK:
        model = _MODELS.get(key)
        if model is None:
            model = RIFE_HDv3(spec.version, backend=backend).load_weights(path)
            _MODELS[key] = model
            log.debug("loaded %s from %s on %s", spec.version, path, backend)
    return model


def clear_cache() -> None:
    """Forget every cached model (their memory is freed once no clip holds them)."""
    with _LOCK:
        _MODELS.clear()
