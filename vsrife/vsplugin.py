"""Python side of the native ``rife`` shim plugin (``vsrife/native/rife_shim.c``).

The shim registers ``core.rife.RIFE`` in every VapourSynth core. When it is called, it imports this
module and calls :func:`register`, which hands :func:`_rife` to the shim through the hidden
``core.rife.ShimRegister`` function. The shim then calls it with the original arguments.

:func:`check` explains, in one line, whether ``core.rife.RIFE`` is ours and usable.
"""

from __future__ import annotations

import os
import traceback
from typing import Any

import vapoursynth as vs

IDENTIFIER = "com.vsrife.rife"
NAMESPACE = "rife"


def register(token: int) -> None:
    """Called by the shim: hands :func:`_rife` to the pending ``rife.RIFE`` call identified by ``token``.

    It goes to the current environment's core; the shim checks that this is the core it was called on.
    """
    getattr(vs.core, NAMESPACE).ShimRegister(func=_rife, token=token)


def _convert(value: Any) -> Any:
    if isinstance(value, (bytes, bytearray)):
        return bytes(value).decode("utf-8", errors="replace")
    if isinstance(value, list):
        return [_convert(v) for v in value]
    return value


def _message(e: BaseException) -> str:
    msg = str(e) if isinstance(e, vs.Error) else f"RIFE: {type(e).__name__}: {e}"
    if os.environ.get("VSRIFE_DEBUG"):
        msg += "\n" + traceback.format_exc()
    return msg


def _rife(**kwargs: Any) -> dict[str, Any]:
    """The callable behind ``core.rife.RIFE``.

    Returns ``{"clip": node}``, or ``{"error": message}``, which the shim turns into the call's error. (An
    exception raised here would reach the script as a traceback text; set VSRIFE_DEBUG=1 to append one.)
    """
    try:
        clip = kwargs.pop("clip", None)
        kwargs = {k: _convert(v) for k, v in kwargs.items()}
        from vsrife.filter import RIFE

        out = RIFE(clip, **kwargs)
        if not isinstance(out, vs.VideoNode):
            raise vs.Error(f"RIFE: internal error: vsrife.filter.RIFE returned {type(out).__name__}")
    except Exception as e:
        return {"error": _message(e)}
    return {"clip": out}


def check(core: vs.Core | None = None) -> tuple[bool, str]:
    """Whether ``core.rife.RIFE`` is vsrife's shim: ``(ok, human-readable status)``."""
    core = core if core is not None else vs.core
    plugin = next((p for p in core.plugins() if p.namespace == NAMESPACE), None)
    if plugin is None:
        return False, (
            "core.rife is missing: the vsrife shim plugin is not installed in an autoloaded VapourSynth "
            "plugin directory. Run: python -m vsrife.native.build --install"
        )
    path = getattr(plugin, "plugin_path", "?")
    if plugin.identifier != IDENTIFIER:
        return False, (
            f"core.rife belongs to another plugin ({plugin.identifier!r}, {plugin.name!r} at {path}), so "
            "vsrife's shim could not load there. Remove that plugin from the plugin directory, or call "
            "vsrife.RIFE from Python instead of core.rife.RIFE."
        )
    return True, f"core.rife.RIFE is vsrife's shim ({path})"
