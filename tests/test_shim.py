"""The native ``rife`` shim: ``core.rife.RIFE`` exists in every core and in vspipe without importing vsrife,
forwards to ``vsrife.filter.RIFE``, reports Python errors as plain ``vs.Error`` messages, and fails clearly
where there is no Python host or the caller's core is not the Python environment's core.

Real VapourSynth, real vspipe, real gcc; no mocks. Everything written goes to pytest's tmp_path.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
import textwrap
from pathlib import Path

import pytest
import vapoursynth as vs

from vsrife import vsplugin
from vsrife.native import build

VS_DIR = Path(vs.__file__).parent
NO_PYTHON_MSG = "rife: RIFE needs a Python host"
OTHER_CORE_MSG = "not the core of the current VapourSynth Python environment"
TWO_FRAMES_MSG = "RIFE: clip must have at least 2 frames"


@pytest.fixture(scope="session")
def shim(tmp_path_factory) -> Path:
    """Compiles the current rife_shim.c (in tmp) and installs it if the installed one differs."""
    if not (shutil.which("gcc") or shutil.which("cc")):
        pytest.skip("no C compiler")
    return build.install(build_dir=tmp_path_factory.mktemp("shim-build"))


def _vspipe() -> list[str]:
    exe = Path(sys.executable).with_name("vspipe")
    return [str(exe if exe.is_file() else VS_DIR / "vspipe")]


def _run_vspipe(tmp_path: Path, script: str, *args: str) -> subprocess.CompletedProcess[str]:
    vpy = tmp_path / "script.vpy"
    vpy.write_text(textwrap.dedent(script))
    return subprocess.run(
        [*_vspipe(), *args],
        cwd=tmp_path,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )


# A script that never imports vsrife. Model 4.0: its weights are the ones the setup fetches.
SCRIPT = """\
import vapoursynth as vs
from vapoursynth import core
clip = core.std.BlankClip(format=vs.YUV420P8, width=64, height=48, length={length}, fpsnum=25, fpsden=1)
core.rife.RIFE(clip, model="4.0", fps_num=50, fps_den=1, device="cpu").set_output()
"""


# (a) every core has core.rife.RIFE, and it is ours


def test_fresh_core_has_our_rife(shim):
    ok, msg = build.check_fresh_core()  # a new process, so a core created after the install
    assert ok, msg
    assert msg.endswith(f"({shim})")


def test_this_core_has_our_rife(shim):
    ok, msg = vsplugin.check()
    assert ok, msg
    assert vs.core.rife.identifier == vsplugin.IDENTIFIER == "com.vsrife.rife"
    assert vs.core.rife.RIFE.signature == "clip:vnode;any"
    assert vs.core.rife.RIFE.return_signature == "clip:vnode;"


def test_handshake_function_is_not_for_users(shim):
    with pytest.raises(vs.Error, match="internal to vsrife"):
        vs.core.rife.ShimRegister(func=lambda: None)


# (b) vspipe, with a script that does not import vsrife


def test_vspipe_info(shim, tmp_path):
    proc = _run_vspipe(tmp_path, SCRIPT.format(length=4), "--info", "script.vpy", "-")
    assert proc.returncode == 0, proc.stderr
    assert "Width: 64" in proc.stdout and "Height: 48" in proc.stdout
    assert "FPS: 50/1" in proc.stdout
    assert "Format Name: YUV420P8" in proc.stdout


def test_vspipe_renders(shim, tmp_path):
    proc = _run_vspipe(tmp_path, SCRIPT.format(length=4), "-c", "y4m", "--end", "2", "script.vpy", "out.y4m")
    assert proc.returncode == 0, proc.stderr
    data = (tmp_path / "out.y4m").read_bytes()
    header = data.split(b"\n", 1)[0]
    assert header.startswith(b"YUV4MPEG2 ")
    assert b" W64 " in header and b" H48 " in header and b" F50:1" in header
    assert data.count(b"FRAME") == 3


# (c) errors raised in Python reach the script as vs.Error with their message, without a traceback


def test_python_error_is_a_vs_error(shim):
    clip = vs.core.std.BlankClip(format=vs.YUV420P8, width=64, height=48, length=1)
    with pytest.raises(vs.Error) as info:
        vs.core.rife.RIFE(clip)
    assert TWO_FRAMES_MSG in str(info.value)
    assert "Traceback" not in str(info.value)


def test_unknown_keyword_is_reported_by_python(shim):
    clip = vs.core.std.BlankClip(format=vs.YUV420P8, width=64, height=48, length=4)
    with pytest.raises(vs.Error, match="bogus_argument") as info:
        vs.core.rife.RIFE(clip, bogus_argument=1)
    assert "Traceback" not in str(info.value)


def test_python_error_in_vspipe(shim, tmp_path):
    proc = _run_vspipe(tmp_path, SCRIPT.format(length=1), "--info", "script.vpy", "-")
    assert proc.returncode != 0
    assert TWO_FRAMES_MSG in proc.stderr
    assert "vsplugin.py" not in proc.stderr  # no traceback of the shim's Python side


def test_bytes_arguments_become_str():
    assert vsplugin._convert(b"4.25") == "4.25"
    assert vsplugin._convert([b"a", 1]) == ["a", 1]


# (d) native hosts: no Python at all, and Python present but the call is on another core

HOST_C = r"""
#include <stdio.h>
#ifdef WITH_PYTHON
#include <Python.h>
#endif
#include "VapourSynth4.h"

int main(int argc, char **argv) {
    if (argc < 2)
        return 2;
#ifdef WITH_PYTHON
    Py_Initialize();
    PyEval_SaveThread(); /* like a host that embeds Python: the GIL is not held while it calls plugins */
#endif
    const VSAPI *vsapi = getVapourSynthAPI(VAPOURSYNTH_API_VERSION);
    if (!vsapi)
        return 2;
    VSCore *core = vsapi->createCore(ccfDisableAutoLoading);
    VSPlugin *std = vsapi->getPluginByID("com.vapoursynth.std", core);
    VSMap *args = vsapi->createMap();
    vsapi->mapSetData(args, "path", argv[1], -1, dtUtf8, maReplace);
    VSMap *ret = vsapi->invoke(std, "LoadPlugin", args);
    if (vsapi->mapGetError(ret)) {
        fprintf(stderr, "LoadPlugin: %s\n", vsapi->mapGetError(ret));
        return 2;
    }
    vsapi->freeMap(ret);
    vsapi->clearMap(args);
    vsapi->mapSetInt(args, "length", 10, maReplace);
    ret = vsapi->invoke(std, "BlankClip", args);
    VSNode *clip = vsapi->mapGetNode(ret, "clip", 0, NULL);
    vsapi->freeMap(ret);
    vsapi->clearMap(args);
    vsapi->mapConsumeNode(args, "clip", clip, maReplace);
    vsapi->mapSetInt(args, "fps_num", 48, maReplace);
    ret = vsapi->invoke(vsapi->getPluginByNamespace("rife", core), "RIFE", args);
    const char *err = vsapi->mapGetError(ret);
    printf("%s\n", err ? err : "(no error)");
    int rc = err ? 0 : 1;
    vsapi->freeMap(ret);
    vsapi->freeMap(args);
    vsapi->freeCore(core);
    return rc;
}
"""


def _compile_host(tmp_path: Path, extra: list[str]) -> Path:
    cc = shutil.which("gcc") or shutil.which("cc")
    src = tmp_path / "host.c"
    src.write_text(HOST_C)
    exe = tmp_path / "host"
    lib = VS_DIR / "libvapoursynth.so.4"
    if not lib.is_file():
        pytest.skip(f"{lib} not found")
    cmd = [
        cc,
        "-O1",
        str(src),
        "-o",
        str(exe),
        f"-I{vs.get_include()}",
        *extra,
        str(lib),
        f"-Wl,-rpath,{VS_DIR}",
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr
    return exe


def test_host_without_python_gets_a_clear_error(shim, tmp_path):
    exe = _compile_host(tmp_path, [])
    proc = subprocess.run([str(exe), str(shim)], capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.startswith(NO_PYTHON_MSG), proc.stdout
    assert "vsrife.RIFE from Python" in proc.stdout


def test_host_with_python_but_another_core_is_refused(shim, tmp_path):
    """The embedded Python's environment has its own core, so the shim must not run RIFE on it."""
    libdir, ldlib, inc = (sysconfig.get_config_var(k) for k in ("LIBDIR", "LDLIBRARY", "INCLUDEPY"))
    shared = sysconfig.get_config_var("Py_ENABLE_SHARED")
    if not (shared and libdir and inc and (Path(libdir) / ldlib).is_file()):
        pytest.skip("this Python has no shared libpython to embed")
    exe = _compile_host(
        tmp_path, ["-DWITH_PYTHON", f"-I{inc}", str(Path(libdir) / ldlib), f"-Wl,-rpath,{libdir}"]
    )
    root = Path(vsplugin.__file__).resolve().parents[1]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(VS_DIR.parent), str(root)])}
    proc = subprocess.run(
        [str(exe), str(shim)], capture_output=True, text=True, timeout=300, env=env, check=False
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert OTHER_CORE_MSG in proc.stdout, proc.stdout
