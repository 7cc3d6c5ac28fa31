"""Build and install the native ``rife`` shim plugin (``rife_shim.c``).

    python -m vsrife.native.build [--install] [--plugin-dir DIR] [--build-dir DIR] [--force]

Compiles the shim with gcc into ``build/`` (the repository's, or ``~/.cache/vsrife/build`` for a
non-editable install) and, with ``--install``, copies it atomically into VapourSynth's autoloaded
plugin directory, then checks in a fresh process that ``core.rife`` is ours (warns when another plugin,
e.g. the RIFE ncnn-Vulkan one, owns the ``rife`` namespace). Idempotent: compiles only when the source
or VapourSynth4.h is newer than the build, copies only when the installed file differs. Prints to stderr
only. From code: ``install()``, ``build()``, ``plugin_path()``, ``check_fresh_core()``.
"""

from __future__ import annotations

import argparse
import filecmp
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

SOURCE = Path(__file__).with_name("rife_shim.c")
LIB_NAME = "libvsrife_shim.so"


def _log(msg: str) -> None:
    print(f"vsrife.native.build: {msg}", file=sys.stderr, flush=True)


def default_build_dir() -> Path:
    root = Path(__file__).resolve().parents[2]
    if (root / "pyproject.toml").is_file() and os.access(root, os.W_OK):
        return root / "build"
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "vsrife" / "build"


def default_plugin_dir() -> Path:
    import vapoursynth

    if not hasattr(vapoursynth, "get_plugin_dir"):
        raise RuntimeError("this VapourSynth has no get_plugin_dir(): pass --plugin-dir")
    return Path(vapoursynth.get_plugin_dir())


def plugin_path(plugin_dir: str | os.PathLike[str] | None = None) -> Path:
    """Where the shim is (or would be) installed."""
    return Path(plugin_dir or default_plugin_dir()) / LIB_NAME


def built_path(build_dir: str | os.PathLike[str] | None = None) -> Path:
    """Where the shim is (or would be) compiled to."""
    return Path(build_dir or default_build_dir()) / LIB_NAME


def build(build_dir: str | os.PathLike[str] | None = None, force: bool = False) -> Path:
    """Compiles the shim unless the existing build is newer than the source; returns its path."""
    import vapoursynth

    if not sys.platform.startswith("linux"):
        raise RuntimeError("the rife shim is built for Linux only; use vsrife.RIFE from Python")
    out = built_path(build_dir)
    include = Path(vapoursynth.get_include())
    header = include / "VapourSynth4.h"
    if not header.is_file():
        raise RuntimeError(f"VapourSynth4.h not found in {include}")
    newest_input = max(SOURCE.stat().st_mtime, header.stat().st_mtime)
    if not force and out.is_file() and out.stat().st_mtime >= newest_input:
        return out
    cc = os.environ.get("CC") or shutil.which("gcc") or shutil.which("cc")
    if not cc:
        raise RuntimeError("no C compiler found (install gcc, or set CC)")
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.{os.getpid()}.tmp")
    cmd = [
        cc,
        "-O2",
        "-shared",
        "-fPIC",
        "-std=gnu11",
        "-Wall",
        "-Wextra",
        "-fvisibility=hidden",
        f"-I{include}",
        str(SOURCE),
        "-o",
        str(tmp),
        "-ldl",
    ]
    _log("compiling " + " ".join(cmd))
    proc = subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True, text=True, check=False)
    if proc.stdout or proc.stderr:
        sys.stderr.write(proc.stdout + proc.stderr)
    if proc.returncode != 0:
        tmp.unlink(missing_ok=True)
        raise RuntimeError(f"compiling {SOURCE.name} failed (exit {proc.returncode})")
    os.replace(tmp, out)
    return out


def install(
    plugin_dir: str | os.PathLike[str] | None = None,
    build_dir: str | os.PathLike[str] | None = None,
    force: bool = False,
) -> Path:
    """Builds if needed and installs atomically into the plugin directory; returns the installed path."""
    src = build(build_dir, force=force)
    dst = plugin_path(plugin_dir)
    if dst.is_file() and filecmp.cmp(src, dst, shallow=False):
        return dst
    dst.parent.mkdir(parents=True, exist_ok=True)
    # The temporary name does not end in .so, so a core autoloading concurrently never sees it.
    fd, tmp = tempfile.mkstemp(prefix=f".{LIB_NAME}.", suffix=".tmp", dir=dst.parent)
    try:
        with os.fdopen(fd, "wb") as f, open(src, "rb") as s:
            shutil.copyfileobj(s, f)
        os.chmod(tmp, 0o755)
        os.replace(tmp, dst)  # a process that has the old file mapped keeps it
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    _log(f"installed {dst}")
    return dst


def check_fresh_core() -> tuple[bool, str]:
    """Loads a fresh core in a new process and reports who owns ``core.rife`` (see vsplugin.check).

    vsplugin.py is loaded by path so the check does not import the vsrife package (and torch).
    """
    code = (
        "import importlib.util, sys\n"
        "spec = importlib.util.spec_from_file_location('_vsrife_vsplugin_check', sys.argv[1])\n"
        "mod = importlib.util.module_from_spec(spec)\n"
        "spec.loader.exec_module(mod)\n"
        "ok, msg = mod.check()\n"
        "sys.stderr.write(msg)\n"
        "sys.exit(0 if ok else 3)\n"
    )
    vsplugin = Path(__file__).resolve().parents[1] / "vsplugin.py"
    try:
        proc = subprocess.run(
            [sys.executable, "-c", code, str(vsplugin)],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as e:
        return False, f"checking a fresh core failed: {e}"
    lines = proc.stderr.strip().splitlines() or ["(no output)"]
    if proc.returncode not in (0, 3):
        return False, f"checking a fresh core failed (exit {proc.returncode}): {lines[-1]}"
    return proc.returncode == 0, lines[-1]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m vsrife.native.build", description=__doc__.split("\n\n")[0])
    ap.add_argument("--install", action="store_true", help="install into the VapourSynth plugin directory")
    ap.add_argument("--plugin-dir", help="install here instead of vapoursynth.get_plugin_dir()")
    ap.add_argument("--build-dir", help=f"compile here (default {default_build_dir()})")
    ap.add_argument("--force", action="store_true", help="recompile (and reinstall if it changed)")
    ap.add_argument("--no-check", action="store_true", help="skip checking core.rife in a fresh core")
    args = ap.parse_args(argv)
    try:
        if not args.install:
            path = build(args.build_dir, force=args.force)
            _log(f"built {path}")
            return 0
        path = install(args.plugin_dir, args.build_dir, force=args.force)
        default_dir = default_plugin_dir().resolve()
        autoloaded = args.plugin_dir is None or Path(args.plugin_dir).resolve() == default_dir
    except (RuntimeError, OSError) as e:
        _log(f"error: {e}")
        return 1
    if args.no_check or not autoloaded:
        _log(f"up to date: {path}")
        return 0
    ok, msg = check_fresh_core()
    # A clash is a warning, not a failure: vsrife.RIFE from Python still works.
    _log(("ok: " if ok else "WARNING: ") + msg)
    return 0


if __name__ == "__main__":
    sys.exit(main())
