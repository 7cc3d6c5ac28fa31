"""`vsrife doctor`: checks the installation, one line per check, with the fix for anything missing.

Each check is a small function returning a :class:`Check`. ``required`` checks make the command exit
non-zero when they fail; the others are advice (no CUDA: it runs on the CPU, slowly). Nothing here changes
the installation: the fixes are printed for the user to run.
"""

from __future__ import annotations

import os
import platform
import shutil
import subprocess
import sys
import tomllib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

MIN_PYTHON = (3, 12)
OUR_PLUGIN = "com.vsrife.rife"  # the identifier of vsrife's native shim (vsrife/native/rife_shim.c)
# Identifiers of other plugins known to register a ``rife`` namespace.
OTHER_RIFE_PLUGINS = {"com.holywu.rife": "the RIFE ncnn-Vulkan plugin (VapourSynth-RIFE-ncnn-Vulkan)"}
SOURCE_PLUGINS = ("bs", "lsmas", "ffms2")  # bestsource is the one vsrife's CLI uses


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str
    fix: str = ""
    required: bool = True

    @property
    def status(self) -> str:
        if self.ok:
            return "ok"
        return "MISSING" if self.required else "note"


def report(checks: list[Check]) -> list[str]:
    """One line per check: ``[ok] name: detail`` or ``[MISSING] name: detail -- fix: ...``."""
    width = max(len(c.name) for c in checks)
    lines = []
    for c in checks:
        line = f"[{c.status:>7}] {c.name:<{width}}  {c.detail}"
        if not c.ok and c.fix:
            line += f" -- fix: {c.fix}"
        lines.append(line)
    failed = [c.name for c in checks if c.required and not c.ok]
    lines.append(
        f"{len(failed)} required check(s) failed: {', '.join(failed)}"
        if failed
        else "all required checks passed"
    )
    return lines


def check_python() -> Check:
    v = sys.version_info
    ok = v >= MIN_PYTHON
    return Check(
        "python",
        ok,
        f"{platform.python_version()} ({sys.executable})",
        f"use Python {MIN_PYTHON[0]}.{MIN_PYTHON[1]} or newer (VapourSynth R81 wheels need it)",
    )


def check_torch() -> list[Check]:
    try:
        import torch
    except ImportError as e:
        return [Check("torch", False, f"not importable ({e})", "pip install torch (https://pytorch.org)")]
    out = [Check("torch", True, torch.__version__)]
    if torch.cuda.is_available():
        names = ", ".join(torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count()))
        out.append(Check("cuda", True, f"CUDA {torch.version.cuda}: {names}", required=False))
    else:
        why = "this torch build has no CUDA" if torch.version.cuda is None else "no usable NVIDIA GPU/driver"
        out.append(
            Check(
                "cuda",
                False,
                f"{why}: RIFE runs on the CPU ({os.cpu_count()} cores), far slower",
                "for a GPU, install a CUDA build of torch: https://pytorch.org/get-started/locally/",
                required=False,
            )
        )
    return out


def vapoursynth_configured(vsscript: str) -> bool | None:
    """Whether `vapoursynth config` has recorded this installation (None where no file is needed)."""
    if sys.platform == "win32":
        return None
    home = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    path = Path(home) / "vapoursynth" / "vapoursynth.toml"
    try:
        contents = tomllib.loads(path.read_text())
    except (OSError, tomllib.TOMLDecodeError):
        return False
    return vsscript.replace("/lib64/", "/lib/") in contents


def check_vapoursynth() -> tuple[list[Check], object | None]:
    try:
        import vapoursynth as vs
    except ImportError as e:
        return [
            Check("vapoursynth", False, f"not importable ({e})", "pip install vapoursynth (R81 or newer)")
        ], None
    core = vs.core
    out = [Check("vapoursynth", True, f"{vs.__version__}, core R{core.core_version.release_major}")]
    vsscript = getattr(vs, "get_vsscript", None)
    configured = vapoursynth_configured(vsscript()) if callable(vsscript) else None
    if configured is None:
        out.append(Check("vapoursynth config", True, "not checked here (Windows or an older VapourSynth)"))
    else:
        out.append(
            Check(
                "vapoursynth config",
                configured,
                "done: vspipe and .vpy scripts work"
                if configured
                else "not run: vspipe cannot load .vpy scripts with this Python",
                f"run `{Path(sys.executable).with_name('vapoursynth')} config` once",
            )
        )
    return out, core


def plugin_identifiers(core: object) -> dict[str, str]:
    """namespace -> identifier of every plugin loaded into ``core``."""
    return {p.namespace: p.identifier for p in core.plugins()}  # type: ignore[attr-defined]


def check_rife_plugin(core: object) -> Check:
    ids = plugin_identifiers(core)
    ident = ids.get("rife")
    build = f"{Path(sys.executable).name} -m vsrife.native.build --install"
    if ident is None:
        return Check(
            "core.rife",
            False,
            "no plugin registers core.rife (vsrife.RIFE from Python still works)",
            f"install vsrife's shim: {build}",
        )
    if ident == OUR_PLUGIN:
        return Check("core.rife", True, f"vsrife's shim ({ident})")
    other = OTHER_RIFE_PLUGINS.get(ident, f"another plugin ({ident})")
    return Check(
        "core.rife",
        False,
        f"core.rife is {other}, not vsrife",
        "remove that plugin from the autoload directory, or call vsrife.RIFE(clip, ...) from Python",
    )


def check_source_plugin(core: object) -> Check:
    ids = plugin_identifiers(core)
    if "bs" in ids:
        return Check("source plugin", True, f"bestsource (core.bs, {ids['bs']})")
    others = [ns for ns in SOURCE_PLUGINS if ns in ids]
    found = f"found {', '.join(others)}, but " if others else ""
    return Check(
        "source plugin",
        False,
        f"{found}bestsource (core.bs) is missing: vsrife interpolate and preview cannot open files",
        "pip install vapoursynth-bestsource",
    )


def _version(cmd: list[str]) -> str:
    try:
        r = subprocess.run(cmd, check=False, capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.SubprocessError):
        return "?"
    text = (r.stdout or r.stderr).strip().splitlines()
    return text[0].split(" Copyright")[0][:80] if text else "?"


def check_tools() -> list[Check]:
    from .encode import available_encoders

    apt = "apt install ffmpeg x265 (Debian/Ubuntu), brew install ffmpeg x265 (macOS)"
    out = []
    ffmpeg = shutil.which("ffmpeg")
    out.append(
        Check(
            "ffmpeg",
            ffmpeg is not None,
            _version([ffmpeg, "-version"])
            if ffmpeg
            else "not found: vsrife interpolate can only write y4m to -",
            apt,
        )
    )
    ffprobe = shutil.which("ffprobe")
    out.append(
        Check(
            "ffprobe",
            ffprobe is not None,
            ffprobe or "not found: audio and subtitles are mapped blindly",
            apt,
            required=False,
        )
    )
    x265 = shutil.which("x265")
    out.append(
        Check(
            "x265",
            x265 is not None,
            x265 or "not found (only needed without ffmpeg, for raw .hevc)",
            apt,
            required=False,
        )
    )
    encoders = available_encoders()
    have = [f"{k} ({v})" for k, v in encoders.items() if v]
    lacking = [k for k, v in encoders.items() if not v]
    out.append(
        Check(
            "encoders",
            not lacking,
            "--encoder "
            + (", ".join(have) if have else "none available")
            + (f"; unavailable: {', '.join(lacking)}" if lacking else ""),
            "install a full ffmpeg build (" + apt + ")",
            required=False,
        )
    )
    return out


def check_weights() -> list[Check]:
    from .registry import DEFAULT_VERSION, MODELS
    from .weights import find_weights, model_dirs, user_model_dir

    env = os.environ.get("VSRIFE_MODEL_DIR")
    user_dir = user_model_dir()
    # An explicit $VSRIFE_MODEL_DIR is where the user says the weights are: check that directory alone.
    dirs = (user_dir,) if env else model_dirs()
    installed: dict[str, Path] = {}
    for version, spec in MODELS.items():
        found = find_weights(spec)
        if found is not None and any(found.parent == d for d in dirs):
            installed[version] = found
    where = f"$VSRIFE_MODEL_DIR={env}" if env else ", ".join(str(d) for d in dirs)
    download = f"vsrife download {DEFAULT_VERSION}"
    out = []
    if env and not user_dir.is_dir():
        out.append(
            Check(
                "model directory",
                False,
                f"$VSRIFE_MODEL_DIR={env} does not exist",
                f"mkdir -p {env} && {download}, or unset VSRIFE_MODEL_DIR",
            )
        )
    else:
        out.append(Check("model directory", True, where))
    if installed:
        names = ", ".join(f"{v} ({p.name})" for v, p in installed.items())
        out.append(Check("weights", True, f"{len(installed)} release(s) installed: {names}"))
        if DEFAULT_VERSION not in installed:
            newest = list(installed)[-1]
            out.append(
                Check(
                    "default model",
                    False,
                    f"{DEFAULT_VERSION} (the default) is not installed; RIFE uses {newest}",
                    download,
                    required=False,
                )
            )
    else:
        elsewhere = [
            f"{v} in {p.parent}" for v, spec in MODELS.items() if (p := find_weights(spec)) is not None
        ]
        fallback = f" (only the fallback {', '.join(elsewhere)})" if elsewhere else ""
        out.append(
            Check(
                "weights",
                False,
                f"no RIFE weights in {where}{fallback}",
                f"{download} (or put a flownet_v4.x.pkl there)",
            )
        )
    return out


def run_checks() -> list[Check]:
    checks = [check_python(), *check_torch()]
    vs_checks, core = check_vapoursynth()
    checks += vs_checks
    if core is not None:
        checks += [check_rife_plugin(core), check_source_plugin(core)]
    steps: list[Callable[[], list[Check]]] = [check_tools, check_weights]
    for step in steps:
        checks += step()
    return checks
