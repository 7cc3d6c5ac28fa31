"""The native ``rife`` shim: ``core.rife.RIFE`` exists in every core and in vspipe without importing vsrife,
forwards to ``vsrife.filter.RIFE``, passes errors through whole (KeyboardInterrupt and SystemExit as
themselves), fails clearly where there is no Python host, where the caller's core is not the Python
environment's core, and where a host calls after evaluating its script; never aborts at interpreter exit;
and never silently displaces (or is displaced by) the RIFE ncnn-Vulkan plugin, which also registers ``rife``.

Real VapourSynth, real vspipe, real gcc; no mocks. Nothing is installed into the real environment: every test
runs in a sandbox, a copy of the ``vapoursynth`` package made of symlinks with its own (temporary) plugin
folder, put first on PYTHONPATH of child processes.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
import textwrap
from dataclasses import dataclass
from pathlib import Path

import pytest
import vapoursynth as vs

from vsrife import vsplugin
from vsrife.native import build

ROOT = Path(__file__).resolve().parents[1]
VS_DIR = Path(vs.__file__).parent
NO_PYTHON_MSG = "rife: RIFE needs a Python host"
OTHER_CORE_MSG = "not the core of the current VapourSynth Python environment"
TWO_FRAMES_MSG = "RIFE: clip must have at least 2 frames"
NCNN_ID = "com.holywu.rife"


@dataclass(frozen=True)
class Sandbox:
    """A VapourSynth whose autoloaded plugin folder is ``plugins`` (a temporary folder)."""

    root: Path
    plugins: Path

    @property
    def env(self) -> dict[str, str]:
        path = os.pathsep.join([str(self.root), str(ROOT)])
        return {**os.environ, "PYTHONPATH": path, "PYTHONDONTWRITEBYTECODE": "1"}

    def run(self, *cmd: str, timeout: float = 300, **kw) -> subprocess.CompletedProcess[str]:
        kw.setdefault("env", self.env)
        return subprocess.run(
            list(cmd),
            check=False,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=timeout,
            **kw,
        )

    def python(self, code: str, *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
        return self.run(sys.executable, "-c", textwrap.dedent(code), *args, timeout=timeout)

    def vsrife(self, *args: str) -> subprocess.CompletedProcess[str]:
        return self.run(sys.executable, "-m", "vsrife", *args)


def make_sandbox(root: Path) -> Sandbox:
    pkg = root / "vapoursynth"
    (pkg / "plugins").mkdir(parents=True)
    for entry in VS_DIR.iterdir():
        if entry.name not in ("plugins", "__pycache__"):
            (pkg / entry.name).symlink_to(entry)
    return Sandbox(root, pkg / "plugins")


def _cc() -> str:
    cc = shutil.which("gcc") or shutil.which("cc")
    if not cc:
        pytest.skip("no C compiler")
    return cc


@pytest.fixture(scope="session")
def shim_build(tmp_path_factory) -> Path:
    """The current rife_shim.c, compiled in tmp."""
    _cc()
    return build.build(tmp_path_factory.mktemp("shim-build"))


@pytest.fixture(scope="session")
def sandbox(tmp_path_factory, shim_build) -> Sandbox:
    """A sandbox with the current shim installed (shared by the tests that do not change its folder)."""
    box = make_sandbox(tmp_path_factory.mktemp("vs-sandbox"))
    build.install(box.plugins, shim_build.parent)
    return box


@pytest.fixture(scope="session")
def shim(sandbox) -> Path:
    return build.plugin_path(sandbox.plugins)


# A script that never imports vsrife. Model 4.0: its weights are the ones the setup fetches.
SCRIPT = """\
import vapoursynth as vs
from vapoursynth import core
clip = core.std.BlankClip(format=vs.YUV420P8, width=64, height=48, length={length}, fpsnum=25, fpsden=1)
core.rife.RIFE(clip, model="4.0", fps_num=50, fps_den=1, device="cpu").set_output()
"""


def _vspipe(sandbox: Sandbox, tmp_path: Path, script: str, *args: str) -> subprocess.CompletedProcess[str]:
    (tmp_path / "script.vpy").write_text(textwrap.dedent(script))
    exe = Path(sys.executable).with_name("vspipe")
    return sandbox.run(str(exe if exe.is_file() else VS_DIR / "vspipe"), *args, cwd=tmp_path, timeout=600)


# (a) every core of the sandbox has core.rife.RIFE, and it is ours; the real environment is untouched


def test_fresh_core_has_our_rife(sandbox, shim, monkeypatch):
    monkeypatch.setenv("PYTHONPATH", sandbox.env["PYTHONPATH"])  # the check's child process: the sandbox
    ok, lines = build.status(sandbox.plugins)
    assert ok, lines
    assert lines == [f"core.rife.RIFE is vsrife's shim ({shim})"]


def test_sandbox_leaves_the_real_plugin_folder_alone(sandbox):
    assert Path(vs.get_plugin_dir()).resolve() != sandbox.plugins.resolve()
    r = sandbox.python("import vapoursynth as vs; print(vs.get_plugin_dir())")
    assert Path(r.stdout.strip()).resolve() == sandbox.plugins.resolve(), r.stderr


# (b) vspipe, with a script that does not import vsrife


def test_vspipe_info(sandbox, tmp_path):
    proc = _vspipe(sandbox, tmp_path, SCRIPT.format(length=4), "--info", "script.vpy", "-")
    assert proc.returncode == 0, proc.stderr
    assert "Width: 64" in proc.stdout and "Height: 48" in proc.stdout
    assert "FPS: 50/1" in proc.stdout
    assert "Format Name: YUV420P8" in proc.stdout


def test_vspipe_renders(sandbox, tmp_path):
    proc = _vspipe(
        sandbox, tmp_path, SCRIPT.format(length=4), "-c", "y4m", "--end", "2", "script.vpy", "out.y4m"
    )
    assert proc.returncode == 0, proc.stderr
    data = (tmp_path / "out.y4m").read_bytes()
    header = data.split(b"\n", 1)[0]
    assert header.startswith(b"YUV4MPEG2 ")
    assert b" W64 " in header and b" H48 " in header and b" F50:1" in header
    assert data.count(b"FRAME") == 3


def test_python_error_in_vspipe(sandbox, tmp_path):
    proc = _vspipe(sandbox, tmp_path, SCRIPT.format(length=1), "--info", "script.vpy", "-")
    assert proc.returncode != 0
    assert TWO_FRAMES_MSG in proc.stderr
    assert "vsplugin.py" not in proc.stderr  # no traceback of the shim's Python side


# (c) round trips through core.rife.RIFE in one child process: errors whole, BaseException as itself,
# no traceback kept alive, the ncnn dialect mapped or refused. One process: torch is imported once.

ROUND_TRIP = r"""
import gc, json, sys, weakref
import vapoursynth as vs
import vsrife.filter
from vsrife import vsplugin

core = vs.core
clip = core.std.BlankClip(format=vs.YUV420P8, width=64, height=48, length=4)
real_rife = vsrife.filter.RIFE
res = {"ok": vsplugin.check()[0], "identifier": core.rife.identifier,
       "signature": core.rife.RIFE.signature, "return_signature": core.rife.RIFE.return_signature}

class Witness:
    pass

witness = None

def fake(clip, **kw):
    global witness
    w = Witness()  # a local of the failing frame: alive as long as a traceback holds the frame
    witness = weakref.ref(w)
    what = kw.get("model")
    if what == "interrupt":
        raise KeyboardInterrupt
    if what == "exit":
        raise SystemExit(3)
    if what == "multiline":
        raise vs.Error("RIFE: first line\nsecond line\n  third line")
    if what == "multiline-interrupt":
        raise KeyboardInterrupt("first line\nsecond line")
    if what == "value-error":
        raise ValueError("plain bug\nwith detail")
    return real_rife(clip, **kw)

def call(name, **kw):
    vsrife.filter.RIFE = fake if kw.pop("fake", True) else real_rife
    out = {}
    try:
        node = core.rife.RIFE(**kw)
        out.update(type="clip", fps=str(node.fps), frames=node.num_frames)
    except BaseException as e:
        out.update(type=type(e).__name__, message=str(e), args=[str(a) for a in e.args])
    gc.collect()
    out["witness_alive"] = witness is not None and witness() is not None
    res[name] = out

try:
    core.rife.ShimRegister(func=lambda: None)
except vs.Error as e:
    res["shim_register"] = str(e)
call("interrupt", clip=clip, model="interrupt")
call("exit", clip=clip, model="exit")
call("multiline", clip=clip, model="multiline")
call("multiline_interrupt", clip=clip, model="multiline-interrupt")
call("value_error", clip=clip, model="value-error")
call("two_frames", clip=clip[:1], fake=False)
call("bogus", clip=clip, bogus_argument=1, fake=False)
call("ncnn_model", clip=clip, model=11, device="cpu", fake=False)
call("ncnn_model_ensemble", clip=clip, model=12, device="cpu", fps_num=50, fps_den=1, fake=False)
call("ncnn_uhd_gpu_thread", clip=clip, model=11, uhd=1, gpu_thread=4, tta=0, skip=0, device="cpu", fake=False)
call("ncnn_gpu_id", clip=clip, model=11, gpu_id=0, fake=False)
call("ncnn_tta", clip=clip, model=11, tta=1, fake=False)
call("ncnn_skip", clip=clip, skip=1, skip_threshold=50.0, fake=False)
call("ncnn_v2", clip=clip, model=5, fake=False)
call("ncnn_model_path", clip=clip, model_path="/opt/models/rife-v4.6", fake=False)
print(json.dumps(res))
"""


@pytest.fixture(scope="module")
def round_trip(sandbox, v40_weights) -> dict:
    r = sandbox.python(ROUND_TRIP)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout.strip().splitlines()[-1])


def test_this_core_has_our_rife(round_trip):
    assert round_trip["ok"]
    assert round_trip["identifier"] == vsplugin.IDENTIFIER == "com.vsrife.rife"
    assert round_trip["signature"] == "clip:vnode;any"
    assert round_trip["return_signature"] == "clip:vnode;"


def test_handshake_function_is_not_for_users(round_trip):
    assert "internal to vsrife" in round_trip["shim_register"]


def test_keyboard_interrupt_reaches_the_script_as_itself(round_trip):
    assert round_trip["interrupt"]["type"] == "KeyboardInterrupt", round_trip["interrupt"]
    assert round_trip["multiline_interrupt"]["type"] == "KeyboardInterrupt"
    assert round_trip["multiline_interrupt"]["message"] == "first line\nsecond line"


def test_system_exit_reaches_the_script_as_itself(round_trip):
    assert round_trip["exit"]["type"] == "SystemExit", round_trip["exit"]
    assert round_trip["exit"]["args"] == ["3"]


def test_multiline_messages_survive_whole(round_trip):
    assert round_trip["multiline"] == {
        "type": "Error",
        "message": "RIFE: first line\nsecond line\n  third line",
        "args": ["RIFE: first line\nsecond line\n  third line"],
        "witness_alive": False,
    }
    assert round_trip["value_error"]["type"] == "Error"
    assert round_trip["value_error"]["message"] == "RIFE: ValueError: plain bug\nwith detail"


def test_no_traceback_is_kept_after_the_call(round_trip):
    for name in ("interrupt", "exit", "multiline", "multiline_interrupt", "value_error"):
        assert round_trip[name]["witness_alive"] is False, name


def test_python_error_is_a_vs_error(round_trip):
    assert round_trip["two_frames"]["type"] == "Error"
    assert TWO_FRAMES_MSG in round_trip["two_frames"]["message"]
    assert "Traceback" not in round_trip["two_frames"]["message"]


def test_unknown_keyword_is_reported_by_python(round_trip):
    assert round_trip["bogus"]["type"] == "Error"
    assert "bogus_argument" in round_trip["bogus"]["message"]
    assert "Traceback" not in round_trip["bogus"]["message"]


def test_ncnn_dialect_maps_what_means_the_same(round_trip):
    assert round_trip["ncnn_model"]["type"] == "clip"  # model=11: rife-v4, i.e. release 4.0
    assert round_trip["ncnn_model"]["fps"] == "48"  # BlankClip's 24 fps, doubled as by the ncnn plugin
    assert round_trip["ncnn_model_ensemble"]["type"] == "clip"  # model=12: 4.0 with ensemble
    assert round_trip["ncnn_uhd_gpu_thread"]["type"] == "clip"


@pytest.mark.parametrize(
    ("name", "words"),
    [
        ("ncnn_gpu_id", ["gpu_id=0", "device='cuda:N'"]),
        ("ncnn_tta", ["tta=True", "ensemble=True"]),
        ("ncnn_skip", ["skip=True", "bit-identical"]),
        ("ncnn_v2", ["model=5", "rife-v2.3", "4.x"]),
        ("ncnn_model_path", ["model_path", "weights="]),
    ],
)
def test_ncnn_dialect_refuses_what_differs(round_trip, name, words):
    got = round_trip[name]
    assert got["type"] == "Error", got
    assert got["message"].startswith("RIFE: ") and "\n" not in got["message"]
    for word in words:
        assert word in got["message"]


def test_bytes_arguments_become_str():
    assert vsplugin._convert(b"4.25") == "4.25"
    assert vsplugin._convert([b"a", 1]) == ["a", 1]


# (d) native hosts: no Python at all; Python present but the call is on another core; and a frameserver-like
# host that evaluates a script through VSScript and then calls rife.RIFE itself

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

VSSCRIPT_HOST_C = r"""
#include <stdio.h>
#include "VSScript4.h"

/* Like a frameserver: evaluates a script through VSScript, then calls rife.RIFE on the script's core
 * itself, after the evaluation, with the script's output clip. */
static const char *SCRIPT =
    "import vapoursynth as vs\n"
    "vs.core.std.BlankClip(format=vs.YUV420P8, width=64, height=48, length=4).set_output()\n";

int main(void) {
    const VSSCRIPTAPI *vssapi = getVSScriptAPI(VSSCRIPT_API_VERSION);
    if (!vssapi) {
        fprintf(stderr, "no VSScript API\n");
        return 2;
    }
    const VSAPI *vsapi = vssapi->getVSAPI(VAPOURSYNTH_API_VERSION);
    VSScript *script = vssapi->createScript(NULL);
    if (vssapi->evaluateBuffer(script, SCRIPT, "host.vpy")) {
        fprintf(stderr, "evaluate: %s\n", vssapi->getError(script));
        return 2;
    }
    VSCore *core = vssapi->getCore(script);
    VSPlugin *rife = vsapi->getPluginByNamespace("rife", core);
    if (!rife) {
        fprintf(stderr, "no rife namespace\n");
        return 2;
    }
    VSMap *args = vsapi->createMap();
    vsapi->mapConsumeNode(args, "clip", vssapi->getOutputNode(script, 0), maReplace);
    vsapi->mapSetInt(args, "fps_num", 50, maReplace);
    VSMap *ret = vsapi->invoke(rife, "RIFE", args);
    const char *err = vsapi->mapGetError(ret);
    printf("%s\n", err ? err : "(no error)");
    int rc = err ? 0 : 1;
    vsapi->freeMap(ret);
    vsapi->freeMap(args);
    vssapi->freeScript(script);
    return rc;
}
"""


def _compile_host(tmp_path: Path, source: str, lib: str, extra: list[str]) -> Path:
    src = tmp_path / "host.c"
    src.write_text(source)
    exe = tmp_path / "host"
    if not (VS_DIR / lib).is_file():
        pytest.skip(f"{VS_DIR / lib} not found")
    cmd = [_cc(), "-O1", str(src), "-o", str(exe), f"-I{vs.get_include()}", *extra, str(VS_DIR / lib)]
    proc = subprocess.run([*cmd, f"-Wl,-rpath,{VS_DIR}"], capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr
    return exe


def test_host_without_python_gets_a_clear_error(shim, tmp_path):
    exe = _compile_host(tmp_path, HOST_C, "libvapoursynth.so.4", [])
    proc = subprocess.run([str(exe), str(shim)], capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.startswith(NO_PYTHON_MSG), proc.stdout
    assert "vsrife.RIFE from Python" in proc.stdout


def test_host_with_python_but_another_core_is_refused(sandbox, shim, tmp_path):
    """The embedded Python's environment has its own core, so the shim must not run RIFE on it."""
    libdir, ldlib, inc = (sysconfig.get_config_var(k) for k in ("LIBDIR", "LDLIBRARY", "INCLUDEPY"))
    shared = sysconfig.get_config_var("Py_ENABLE_SHARED")
    if not (shared and libdir and inc and (Path(libdir) / ldlib).is_file()):
        pytest.skip("this Python has no shared libpython to embed")
    extra = ["-DWITH_PYTHON", f"-I{inc}", str(Path(libdir) / ldlib), f"-Wl,-rpath,{libdir}"]
    exe = _compile_host(tmp_path, HOST_C, "libvapoursynth.so.4", extra)
    # The embedded interpreter is the base Python: it needs the venv's packages (torch) after the sandbox.
    path = os.pathsep.join([sandbox.env["PYTHONPATH"], str(VS_DIR.parent)])
    proc = sandbox.run(str(exe), str(shim), env={**sandbox.env, "PYTHONPATH": path})
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert OTHER_CORE_MSG in proc.stdout, proc.stdout


def test_vsscript_host_calling_after_evaluation_gets_the_clear_error(sandbox, shim, tmp_path):
    exe = _compile_host(tmp_path, VSSCRIPT_HOST_C, "libvsscript.so", [])
    proc = sandbox.run(str(exe))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.strip() == vsplugin.NO_ENVIRONMENT_MSG, proc.stdout
    assert "No environment is currently activated" not in proc.stdout


def test_leftover_library_without_vsrife_says_how_to_remove_it(sandbox, shim, tmp_path):
    """After `pip uninstall vsrife` the library still holds `rife`; its error names itself and the fix."""
    code = (
        "import vapoursynth as vs\n"
        "clip = vs.core.std.BlankClip(length=4)\n"
        "try:\n    vs.core.rife.RIFE(clip)\nexcept vs.Error as e:\n    print(e)\n"
    )
    env = {**sandbox.env, "PYTHONPATH": str(sandbox.root)}  # no site-packages, no checkout: no vsrife
    r = sandbox.run(sys.executable, "-S", "-c", code, env=env, cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert "vsrife is not installed for the Python that runs VapourSynth" in r.stdout
    assert str(shim) in r.stdout and "vsrife native uninstall" in r.stdout


# (e) coexistence with the RIFE ncnn-Vulkan plugin, played by a compiled test double with its identifier
# and namespace

FAKE_NCNN_C = r"""
#include "VapourSynth4.h"
static void VS_CC fakeCreate(const VSMap *in, VSMap *out, void *ud, VSCore *core, const VSAPI *vsapi) {
    (void)in; (void)ud; (void)core;
    vsapi->mapSetError(out, "RIFE: the ncnn test double was called");
}
VS_EXTERNAL_API(void) VapourSynthPluginInit2(VSPlugin *plugin, const VSPLUGINAPI *vspapi) {
    vspapi->configPlugin("com.holywu.rife", "rife", "RIFE ncnn-Vulkan test double", VS_MAKE_VERSION(9, 0),
                         VAPOURSYNTH_API_VERSION, 0, plugin);
    vspapi->registerFunction("RIFE", "clip:vnode;model:int:opt;gpu_id:int:opt;", "clip:vnode;", fakeCreate,
                             NULL, plugin);
}
"""


@pytest.fixture(scope="session")
def fake_ncnn(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("fake-ncnn")
    (d / "fake.c").write_text(FAKE_NCNN_C)
    out = d / "librife.so"
    cmd = [_cc(), "-shared", "-fPIC", "-O1", f"-I{vs.get_include()}", str(d / "fake.c"), "-o", str(out)]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr
    return out


def test_install_refuses_a_rival_then_replace_and_uninstall_restore_it(
    tmp_path, fake_ncnn, shim_build, monkeypatch
):
    box = make_sandbox(tmp_path)
    monkeypatch.setenv("PYTHONPATH", box.env["PYTHONPATH"])  # fresh-core checks run in the sandbox
    rival = box.plugins / "librife.so"
    shutil.copy(fake_ncnn, rival)
    bdir = str(shim_build.parent)

    r = box.vsrife("native", "install", "--build-dir", bdir)  # once through the command line
    assert r.returncode == 1
    assert f"refused: another plugin provides the `rife` namespace in {box.plugins}" in r.stderr
    assert NCNN_ID in r.stderr and str(rival) in r.stderr  # which plugin: identifier and path
    assert "--replace" in r.stderr and "vsrife native uninstall" in r.stderr and "vsrife.RIFE" in r.stderr
    assert "Traceback" not in r.stderr
    assert not build.plugin_path(box.plugins).exists() and rival.read_bytes() == fake_ncnn.read_bytes()
    ok, lines = build.status(box.plugins)
    assert not ok and f"core.rife belongs to another plugin, {NCNN_ID!r}" in lines[0]

    build.install(box.plugins, bdir, replace=True)
    assert not rival.exists() and (box.plugins / "librife.so.vsrife-disabled").is_file()
    ok, lines = build.status(box.plugins)
    assert ok and lines[0].startswith("core.rife.RIFE is vsrife's shim"), lines
    assert any("librife.so.vsrife-disabled" in line for line in lines)

    assert build.uninstall(box.plugins) == [
        f"removed {build.plugin_path(box.plugins)}",
        f"restored {rival}",
    ]
    assert rival.read_bytes() == fake_ncnn.read_bytes()
    assert not list(box.plugins.glob("*.vsrife-disabled"))
    ok, lines = build.status(box.plugins)
    assert not ok and NCNN_ID in lines[0]


def test_install_never_overwrites_a_foreign_file_of_its_name(tmp_path, fake_ncnn, shim_build):
    box = make_sandbox(tmp_path)
    squatter = build.plugin_path(box.plugins)
    shutil.copy(fake_ncnn, squatter)
    with pytest.raises(build.InstallError, match="another plugin provides the `rife` namespace"):
        build.install(box.plugins, shim_build.parent)
    assert squatter.read_bytes() == fake_ncnn.read_bytes()
    with pytest.raises(build.InstallError, match="not vsrife's shim"):
        build.uninstall(box.plugins)
    assert squatter.read_bytes() == fake_ncnn.read_bytes()


def test_load_report_names_the_owner_and_the_displaced_plugin(tmp_path, fake_ncnn, shim_build):
    """Both in one folder (a bundle update put the ncnn plugin next to ours): the report reads the core."""
    box = make_sandbox(tmp_path)
    build.install(box.plugins, shim_build.parent)
    rival = box.plugins / "librife.so"
    shutil.copy(fake_ncnn, rival)
    r = box.python(  # vsplugin by path: no torch import in this child
        "import importlib.util, sys\n"
        "import vapoursynth as vs\n"
        "spec = importlib.util.spec_from_file_location('vsplugin', sys.argv[1])\n"
        "mod = sys.modules['vsplugin'] = importlib.util.module_from_spec(spec)\n"
        "spec.loader.exec_module(mod)\n"
        "o = mod.rife_owner()\n"
        "print(o.identifier, o.path, o.ours)\n"
        "print(sorted(p.identifier for p in vs.core.plugins() if p.namespace == 'rife'))\n",
        vsplugin.__file__,
    )
    assert r.returncode == 0, r.stderr
    owner_id, owner_path, ours = r.stdout.splitlines()[0].split()
    assert r.stdout.splitlines()[1] == f"[{owner_id!r}]"  # the core holds exactly one `rife`
    assert ours == str(owner_id == vsplugin.IDENTIFIER)
    loser = NCNN_ID if owner_id == vsplugin.IDENTIFIER else vsplugin.IDENTIFIER

    rep = box.vsrife("list")
    assert f"plugin: {'core.rife.RIFE is' if ours == 'True' else 'core.rife belongs to'}" in rep.stderr
    assert owner_path in rep.stderr, rep.stderr
    if loser == NCNN_ID:  # ours won: the ncnn plugin is named as present but not loaded
        assert f"another `rife` plugin in {box.plugins}: {NCNN_ID!r}" in rep.stderr
        assert "not loaded" in rep.stderr
    else:
        assert f"core.rife belongs to another plugin, {NCNN_ID!r}" in rep.stderr


def test_read_only_plugin_folder_gives_a_hint(tmp_path, shim_build, capsys):
    if os.geteuid() == 0:
        target = Path("/sys/kernel/vsrife-test-plugins")  # not writable even by root
        if os.access("/sys/kernel", os.W_OK) and Path("/sys/kernel").is_dir():
            try:
                target.mkdir()
                target.rmdir()
                pytest.skip("no read-only folder available to root here")
            except OSError:
                pass
    else:
        target = tmp_path / "ro"
        target.mkdir()
        target.chmod(0o555)
    from vsrife.cli import main

    code = main(["native", "install", "--plugin-dir", str(target), "--build-dir", str(shim_build.parent)])
    err = capsys.readouterr().err
    assert code == 1
    assert f"cannot write to the plugin folder {target}" in err
    assert "--plugin-dir" in err and "Traceback" not in err


# (f) interpreter exit with daemon threads calling core.rife.RIFE: never an abort

SHUTDOWN = r"""
import sys, threading, time
import vapoursynth as vs
import vsrife.filter  # torch imported up front, so the threads call RIFE in a tight loop

core = vs.core
clip = core.std.BlankClip(format=vs.YUV420P8, width=64, height=48, length=4)

def worker():
    while True:
        try:
            core.rife.RIFE(clip, model="4.0", device="cpu", fps_num=50)
        except vs.Error:
            pass

for _ in range(2):
    threading.Thread(target=worker, daemon=True).start()
time.sleep(float(sys.argv[1]))
"""


@pytest.mark.slow
def test_daemon_threads_calling_rife_at_exit_never_abort(sandbox, v40_weights):
    """Before the atexit guard this aborted (std::terminate, exit 134) in most runs."""
    codes = []
    for i in range(12):
        r = sandbox.python(SHUTDOWN, f"{(i % 4) * 0.1:.1f}", timeout=120)
        codes.append(r.returncode)
        assert "terminate called" not in r.stderr, r.stderr
    assert codes == [0] * 12, codes
