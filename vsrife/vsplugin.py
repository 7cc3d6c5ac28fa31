"""Python side of the native ``rife`` shim plugin (``vsrife/native/rife_shim.c``).

The shim registers ``core.rife.RIFE`` in every VapourSynth core. When it is called, it imports this
module and calls :func:`register`, which hands :func:`_rife` to the shim through the hidden
``core.rife.ShimRegister`` function. The shim then calls it with the original arguments.

:func:`rife_owner` says which plugin owns the ``rife`` namespace of a core, read from the core's own plugin
list; :func:`check` explains, in one line, whether ``core.rife.RIFE`` is ours and usable.

This module imports neither torch nor the rest of vsrife at import time (the installer loads it by path).
"""

from __future__ import annotations

import os
import traceback
from dataclasses import dataclass
from typing import Any

import vapoursynth as vs

IDENTIFIER = "com.vsrife.rife"
NAMESPACE = "rife"

NO_ENVIRONMENT_MSG = (
    "rife: RIFE was called on a script's core after the script was evaluated (by a host through the "
    "VSScript API?). No VapourSynth Python environment is active on this thread, so vsrife's Python "
    "implementation cannot be reached. Call core.rife.RIFE in the script itself, or use vsrife.RIFE from "
    "Python."
)


def _environment_active() -> bool:
    try:
        return vs.get_current_environment() is not None
    except (vs.Error, RuntimeError):
        return False


def register(token: int) -> str | None:
    """Called by the shim: hands :func:`_rife` to the pending ``rife.RIFE`` call identified by ``token``.

    It goes to the current environment's core; the shim checks that this is the core it was called on.
    Returns a message for the caller when there is no environment to register in.
    """
    if not _environment_active():
        return NO_ENVIRONMENT_MSG
    getattr(vs.core, NAMESPACE).ShimRegister(func=_rife, token=token)
    return None


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

    Returns ``{"clip": node}``, or ``{"error": message}``, which the shim turns into the call's error.
    Arguments in the dialect of the RIFE ncnn-Vulkan plugin are translated first (vsrife.dialect). A
    ``BaseException`` that is not an ``Exception`` (KeyboardInterrupt, SystemExit) is not caught: VapourSynth
    passes it back to the calling script as itself.
    """
    try:
        clip = kwargs.pop("clip", None)
        kwargs = {k: _convert(v) for k, v in kwargs.items()}
        from vsrife.dialect import translate_ncnn

        try:
            kwargs = translate_ncnn(kwargs)
        except ValueError as e:
            raise vs.Error(f"RIFE: {e}") from None
        from vsrife.filter import RIFE

        out = RIFE(clip, **kwargs)
        if not isinstance(out, vs.VideoNode):
            raise vs.Error(f"RIFE: internal error: vsrife.filter.RIFE returned {type(out).__name__}")
    except Exception as e:  # reported to the script as a plain vs.Error
        return {"error": _message(e)}
    return {"clip": out}


@dataclass(frozen=True)
class RifeOwner:
    """The plugin that owns a core's ``rife`` namespace, as the core lists it."""

    identifier: str
    name: str
    path: str
    version: str

    @property
    def ours(self) -> bool:
        return self.identifier == IDENTIFIER

    def describe(self) -> str:
        who = "vsrife's shim" if self.ours else "another plugin"
        return f"{who}: {self.identifier!r} ({self.name}, version {self.version}) at {self.path}"


def rife_owner(core: vs.Core | None = None) -> RifeOwner | None:
    """Which plugin owns ``core.rife`` in ``core`` (default: the current one), or None when none does."""
    core = core if core is not None else vs.core
    for plugin in core.plugins():
        if plugin.namespace == NAMESPACE:
            version = getattr(plugin, "version", None)
            return RifeOwner(
                identifier=plugin.identifier,
                name=plugin.name,
                path=str(getattr(plugin, "plugin_path", "?")),
                version=".".join(map(str, version)) if version is not None else "?",
            )
    return None


def check(core: vs.Core | None = None) -> tuple[bool, str]:
    """Whether ``core.rife.RIFE`` is vsrife's shim: ``(ok, human-readable status)``."""
    owner = rife_owner(core)
    if owner is None:
        return False, (
            "core.rife is missing: the vsrife shim plugin is not installed in an autoloaded VapourSynth "
            "plugin directory. Run: vsrife native install"
        )
    if not owner.ours:
        return False, (
            f"core.rife belongs to another plugin, {owner.identifier!r} ({owner.name}) at {owner.path}, so "
            "vsrife's shim could not load there and core.rife.RIFE runs that plugin. To make it vsrife's: "
            "vsrife native install --replace (moves that file aside; `vsrife native uninstall` restores "
            "it). Or keep it and call vsrife.RIFE from Python."
        )
    return True, f"core.rife.RIFE is vsrife's shim ({owner.path})"
