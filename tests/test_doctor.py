"""`vsrife doctor` on the real installation: one line per check, a fix for each problem, the exit code."""

from __future__ import annotations

import os
import subprocess
import sys

from vsrife.doctor import Check, report

VSRIFE = [sys.executable, "-m", "vsrife"]


def _doctor(model_dir) -> subprocess.CompletedProcess:
    env = dict(os.environ, VSRIFE_MODEL_DIR=str(model_dir))
    return subprocess.run(
        [*VSRIFE, "doctor"], check=False, capture_output=True, text=True, timeout=120, env=env
    )


def test_report_lines():
    lines = report(
        [
            Check("torch", True, "2.5"),
            Check("cuda", False, "none", "install a CUDA build", required=False),
            Check("weights", False, "none in /x", "vsrife download 4.25"),
        ]
    )
    assert lines == [
        "[     ok] torch    2.5",
        "[   note] cuda     none -- fix: install a CUDA build",
        "[MISSING] weights  none in /x -- fix: vsrife download 4.25",
        "1 required check(s) failed: weights",
    ]


def test_empty_weights_directory_fails_with_the_fix(tmp_path):
    r = _doctor(tmp_path)
    assert r.returncode == 1 and r.stdout == ""
    line = next(ln for ln in r.stderr.splitlines() if "] weights" in ln)
    assert line.startswith("[MISSING]") and f"no RIFE weights in $VSRIFE_MODEL_DIR={tmp_path}" in line
    assert "fix: vsrife download 4.25" in line
    assert r.stderr.strip().endswith("1 required check(s) failed: weights")


def test_installed_weights_pass(tmp_path, v40_weights):
    (tmp_path / v40_weights.name).symlink_to(v40_weights)
    r = _doctor(tmp_path)
    assert r.returncode == 0, r.stderr
    out = r.stderr
    assert "[     ok] weights" in out and "4.0 (flownet_v4.0.pkl)" in out
    assert "[     ok] core.rife           vsrife's shim (com.vsrife.rife)" in out
    assert "[     ok] source plugin       bestsource" in out
    for name in ("python", "torch", "cuda", "vapoursynth", "vapoursynth config", "ffmpeg", "x265"):
        assert any(ln[10:].startswith(name + " ") for ln in out.splitlines()), name
    assert out.strip().endswith("all required checks passed")
