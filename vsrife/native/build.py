"""Build, install and uninstall the native ``rife`` shim plugin (``rife_shim.c``).

    python -m vsrife.native.build [--install [--replace]] [--uninstall] [--plugin-dir DIR] [--build-dir DIR]
    vsrife native install|uninstall|status ...      (the same from the command line)

Compiles the shim with gcc into ``build/`` (the repository's, or ``~/.cache/vsrife/build`` for a
non-editable install) and, with ``--install``, copies it atomically into VapourSynth's autoloaded
plugin directory, then checks in a fresh process which plugin owns ``core.rife``. Idempotent: compiles only
when the source or VapourSynth4.h is newer than the build, copies only when the installed file differs.

Coexistence: the RIFE ncnn-Vulkan plugin also registers the namespace ``rife``; in one folder, which of the
two loads depends on directory order. So install refuses when another plugin with that namespace (or a
foreign file of the shim's name) is in the target folder, naming it, unless ``replace`` is given: then that
file is moved aside to ``<name>.vsrife-disabled``, and ``uninstall()`` moves it back. Plugins are identified
by loading each one into its own fresh core in a child process (:func:`probe`), never by file names.

Prints to stderr only. From code: ``install()``, ``uninstall()``, ``build()``, ``probe()``, ``rivals()``,
``rife_owner()``, ``status()``, ``check_fresh_core()``.
"""

from __future__ import annotations

import argparse
import errno
import filecmp
import json
import mmap
import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import vapoursynth as vs

    from vsrife.vsplugin import RifeOwner

SOURCE = Path(__file__).with_name("rife_shim.c")
LIB_NAME = "libvsrife_shim.so"
IDENTIFIER = "com.vsrife.rife"
NAMESPACE = "rife"
DISABLED_SUFFIX = ".vsrife-disabled"


class InstallError(RuntimeError):
    """Install or uninstall refused; the message says why and what to do."""


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
    proc = subprocess.run(cmd, check=False, stdin=subprocess.DEVNULL, capture_output=True, text=True)
    if proc.stdout or proc.stderr:
        sys.stderr.write(proc.stdout + proc.stderr)
    if proc.returncode != 0:
        tmp.unlink(missing_ok=True)
        raise RuntimeError(f"compiling {SOURCE.name} failed (exit {proc.returncode})")
    os.replace(tmp, out)
    return out


# Loads each plugin file given on the command line into its own fresh core without autoloading (a private
# environment policy) and prints what the core lists for it, as JSON. Runs in a child process: a foreign
# plugin's code never runs in the installer, and a crash costs only the child.
_PROBE = """
import json, os, sys
import vapoursynth as vs

class _Policy(vs.EnvironmentPolicy):
    env = None
    def on_policy_registered(self, api):
        self.api = api
    def get_current_environment(self):
        return self.env
    def set_environment(self, env):
        old, self.env = self.env, env
        return old

policy = _Policy()
vs.register_policy(policy)
out = []
for path in sys.argv[1:]:
    rec = {"path": path}
    policy.env = policy.api.create_environment(vs.DISABLE_AUTO_LOADING)
    core = vs.core
    try:
        core.std.LoadPlugin(path)
    except vs.Error as e:
        rec["error"] = str(e).strip().splitlines()[-1] if str(e).strip() else "load failed"
    for p in core.plugins():
        pp = getattr(p, "plugin_path", "")
        if pp and os.path.exists(pp) and os.path.samefile(pp, path):
            rec.update(identifier=p.identifier, namespace=p.namespace, name=p.name)
    del core
    env, policy.env = policy.env, None
    policy.api.destroy_environment(env)
    out.append(rec)
print(json.dumps(out))
"""


@dataclass(frozen=True)
class PluginFile:
    """What a fresh core lists for one plugin file (identifier etc. are empty when it did not load)."""

    path: Path
    identifier: str = ""
    namespace: str = ""
    name: str = ""
    error: str = ""

    @property
    def ours(self) -> bool:
        return self.identifier == IDENTIFIER

    def describe(self) -> str:
        if not self.identifier:
            return f"{self.path} (not loadable as a VapourSynth plugin: {self.error or 'unknown'})"
        return f"{self.identifier!r} ({self.name}) at {self.path}"


def probe(paths: list[Path]) -> list[PluginFile]:
    """Loads each file into its own fresh core in a child process and reports what the core lists for it."""
    if not paths:
        return []
    try:
        proc = subprocess.run(
            [sys.executable, "-c", _PROBE, *map(str, paths)],
            check=False,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=120,
        )
        records = json.loads(proc.stdout.strip().splitlines()[-1]) if proc.returncode == 0 else None
    except (OSError, subprocess.TimeoutExpired, ValueError, IndexError):
        records = None
    if records is None:  # the child crashed (a plugin's init?): probe one by one to keep the others
        if len(paths) == 1:
            return [PluginFile(Path(paths[0]), error="loading it crashed a fresh core")]
        return [r for path in paths for r in probe([path])]
    return [
        PluginFile(
            Path(r["path"]),
            r.get("identifier", ""),
            r.get("namespace", ""),
            r.get("name", ""),
            r.get("error", ""),
        )
        for r in records
    ]


def _is_ours(path: Path) -> bool:
    """Whether ``path`` is a build of this shim (its identifier is in the file; no loading needed)."""
    try:
        with open(path, "rb") as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as m:
            return m.find(IDENTIFIER.encode() + b"\0") != -1
    except (OSError, ValueError):  # ValueError: an empty file cannot be mapped
        return False


def rivals(plugin_dir: str | os.PathLike[str] | None = None) -> list[PluginFile]:
    """Plugins in the folder that register the ``rife`` namespace but are not vsrife's shim.

    A file under the shim's own name that is not the shim counts too, whatever it registers: installing
    would overwrite it.
    """
    folder = Path(plugin_dir or default_plugin_dir())
    if not folder.is_dir():
        return []
    files = sorted(f for f in folder.iterdir() if f.is_file() and f.suffix == ".so" and not _is_ours(f))
    found = probe(files)
    return [f for f in found if f.namespace == NAMESPACE or f.path.name == LIB_NAME]


def _unwritable(folder: Path, e: OSError | None = None) -> InstallError:
    why = f" ({e.strerror})" if e is not None and e.strerror else ""
    return InstallError(
        f"cannot write to the plugin folder {folder}{why}. Install into a folder you can write with "
        "--plugin-dir DIR, and let VapourSynth load it from there with VAPOURSYNTH_EXTRA_PLUGIN_PATH=DIR "
        "(or core.std.LoadPlugin), or run the install with the rights to write that folder."
    )


def _refusal(folder: Path, found: list[PluginFile]) -> InstallError:
    lines = [f"another plugin provides the `rife` namespace in {folder}:"]
    lines += [f"  {f.describe()}" for f in found]
    lines.append(
        "Both cannot load into one core: which one wins depends on directory order, and the other fails "
        "with only a log line. Choose:"
    )
    lines.append(
        f"  --replace  move it aside (to <name>{DISABLED_SUFFIX}) and install vsrife's shim: core.rife.RIFE "
        "is then vsrife, and scripts written for that plugin get their arguments mapped or refused (README, "
        "'The rife namespace'). `vsrife native uninstall` puts it back."
    )
    lines.append(
        "  nothing    keep that plugin as core.rife and call vsrife from Python: "
        "`import vsrife; vsrife.RIFE(clip, ...)`."
    )
    return InstallError("\n".join(lines))


def _mkdir(folder: Path) -> None:
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        if e.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
            raise _unwritable(folder, e) from None
        raise


def install(
    plugin_dir: str | os.PathLike[str] | None = None,
    build_dir: str | os.PathLike[str] | None = None,
    force: bool = False,
    replace: bool = False,
) -> Path:
    """Builds if needed and installs atomically into the plugin directory; returns the installed path.

    Refuses (``InstallError``) when another ``rife`` plugin is in that folder, unless ``replace``: then it is
    moved aside to ``<name>.vsrife-disabled`` (``uninstall()`` restores it).
    """
    src = build(build_dir, force=force)
    dst = plugin_path(plugin_dir)
    folder = dst.parent
    _mkdir(folder)
    found = rivals(folder)
    if found and not replace:
        raise _refusal(folder, found)
    if dst.is_file() and not found and filecmp.cmp(src, dst, shallow=False):
        return dst
    try:
        for rival in found:
            aside = rival.path.with_name(rival.path.name + DISABLED_SUFFIX)
            os.replace(rival.path, aside)
            _log(f"moved {rival.describe()} aside to {aside} (`vsrife native uninstall` restores it)")
        # The temporary name does not end in .so, so a core autoloading concurrently never sees it.
        fd, tmp = tempfile.mkstemp(prefix=f".{LIB_NAME}.", suffix=".tmp", dir=folder)
    except PermissionError as e:
        raise _unwritable(folder, e) from None
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


def uninstall(plugin_dir: str | os.PathLike[str] | None = None) -> list[str]:
    """Removes vsrife's shim from the plugin folder and restores the files ``install(replace=True)`` moved
    aside. Returns what was done, one line each. A foreign file under the shim's name is left alone."""
    dst = plugin_path(plugin_dir)
    done: list[str] = []
    try:
        if dst.is_file():
            if not _is_ours(dst):
                raise InstallError(f"{dst} is not vsrife's shim; left alone")
            dst.unlink()
            done.append(f"removed {dst}")
        for aside in sorted(dst.parent.glob(f"*{DISABLED_SUFFIX}")):
            original = aside.with_name(aside.name[: -len(DISABLED_SUFFIX)])
            if original.exists():
                done.append(f"left {aside} in place: {original} exists")
                continue
            os.replace(aside, original)
            done.append(f"restored {original}")
    except PermissionError as e:
        raise _unwritable(dst.parent, e) from None
    return done


def rife_owner(core: vs.Core | None = None) -> RifeOwner | None:
    """Which plugin owns ``core.rife`` in ``core`` (default: this process's current core), read from the
    core's own plugin list (see ``vsrife.vsplugin.rife_owner``); None when no plugin does."""
    from vsrife.vsplugin import rife_owner as owner

    return owner(core)


def status(plugin_dir: str | os.PathLike[str] | None = None) -> tuple[bool, list[str]]:
    """Who owns ``rife`` in a fresh core, plus other ``rife`` plugins and disabled files in the folder."""
    folder = Path(plugin_dir) if plugin_dir else default_plugin_dir()
    ok, msg = check_fresh_core()
    lines = [msg]
    for f in rivals(folder):
        note = (
            " (not loaded: vsrife's shim holds `rife`; which wins depends on directory order)" if ok else ""
        )
        lines.append(f"another `rife` plugin in {folder}: {f.describe()}{note}")
    if folder.is_dir():
        lines += [f"moved aside by --replace: {f}" for f in sorted(folder.glob(f"*{DISABLED_SUFFIX}"))]
    return ok, lines


def check_fresh_core() -> tuple[bool, str]:
    """Loads a fresh core in a new process and reports who owns ``core.rife`` (see vsplugin.check).

    vsplugin.py is loaded by path so the check does not import the vsrife package (and torch).
    """
    code = (
        "import importlib.util, sys\n"
        "spec = importlib.util.spec_from_file_location('_vsrife_vsplugin_check', sys.argv[1])\n"
        "mod = sys.modules[spec.name] = importlib.util.module_from_spec(spec)\n"
        "spec.loader.exec_module(mod)\n"
        "ok, msg = mod.check()\n"
        "sys.stderr.write(msg)\n"
        "sys.exit(0 if ok else 3)\n"
    )
    vsplugin = Path(__file__).resolve().parents[1] / "vsplugin.py"
    try:
        proc = subprocess.run(
            [sys.executable, "-c", code, str(vsplugin)],
            check=False,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=300,
        )
    except (OSError, subprocess.TimeoutExpired) as e:
        return False, f"checking a fresh core failed: {e}"
    lines = proc.stderr.strip().splitlines() or ["(no output)"]
    if proc.returncode not in (0, 3):
        return False, f"checking a fresh core failed (exit {proc.returncode}): {lines[-1]}"
    return proc.returncode == 0, lines[-1]


def main(argv: list[str] | None = None, prog: str = "python -m vsrife.native.build") -> int:
    ap = argparse.ArgumentParser(prog=prog, description=(__doc__ or "").split("\n\n")[0])
    ap.add_argument("--install", action="store_true", help="install into the VapourSynth plugin directory")
    ap.add_argument("--uninstall", action="store_true", help="remove the shim, restore what --replace moved")
    ap.add_argument("--status", action="store_true", help="which plugin owns core.rife, and rivals")
    ap.add_argument("--plugin-dir", help="install here instead of vapoursynth.get_plugin_dir()")
    ap.add_argument("--build-dir", help=f"compile here (default {default_build_dir()})")
    ap.add_argument("--force", action="store_true", help="recompile (and reinstall if it changed)")
    ap.add_argument("--replace", action="store_true", help="move another `rife` plugin in the folder aside")
    ap.add_argument("--no-check", action="store_true", help="skip checking core.rife in a fresh core")
    args = ap.parse_args(argv)
    try:
        if args.status:
            ok, lines = status(args.plugin_dir)
            for line in lines:
                _log(line)
            return 0 if ok else 3
        if args.uninstall:
            for line in uninstall(args.plugin_dir) or ["nothing to do"]:
                _log(line)
            return 0
        if not args.install:
            path = build(args.build_dir, force=args.force)
            _log(f"built {path}")
            return 0
        path = install(args.plugin_dir, args.build_dir, force=args.force, replace=args.replace)
        default_dir = default_plugin_dir().resolve()
        autoloaded = args.plugin_dir is None or Path(args.plugin_dir).resolve() == default_dir
    except InstallError as e:
        _log(f"refused: {e}")
        return 1
    except (RuntimeError, OSError) as e:
        _log(f"error: {e}")
        return 1
    if args.no_check or not autoloaded:
        _log(f"up to date: {path}")
        return 0
    ok, msg = check_fresh_core()
    # Not ours after a clean install: another autoload folder (user or extra path) has a rival.
    _log(("ok: " if ok else "WARNING: ") + msg)
    return 0


if __name__ == "__main__":
    sys.exit(main())
