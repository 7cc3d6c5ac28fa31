"""`vsrife bench` runs end to end on a tiny input: our model, our filter and the peer, each in its own
process, a table on stderr, JSON with speed, PSNR and memory; nothing on stdout."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest


@pytest.mark.slow
def test_bench_runs_on_a_tiny_input(tmp_path, bbb_path, v40_weights):
    out = tmp_path / "bench.json"
    cmd = [sys.executable, "-m", "vsrife", "bench", "--sizes", "tiny", "--factors", "2", "--frames", "5"]
    cmd += ["--runs", "1", "--engines", "model", "filter", "peer", "--models", "--json", str(out)]
    r = subprocess.run(cmd, check=False, capture_output=True, text=True, timeout=900)
    assert r.returncode == 0, r.stderr[-2000:]
    assert r.stdout == ""
    assert "vs peer" in r.stderr and "single 3x3 conv peak" in r.stderr
    data = json.loads(out.read_text())
    rows = {(row["case"]["engine"], row["case"]["precision"]): row for row in data["rows"]}
    assert set(rows) == {
        ("model", "fp32"),
        ("model", "bf16"),
        ("filter", "fp32"),
        ("filter", "bf16"),
        ("peer", "fp32"),
    }
    for key, row in rows.items():
        assert row["error"] is None, (key, row["error"])
        assert row["fps"] > 0 and max(row["rss_mb"]) > 50
        assert 25 < row["psnr"] < 60, (key, row["psnr"])  # interpolated, not garbage
    assert rows[("model", "fp32")]["extra"]["conv_gflop"] > 0
    assert data["conv_peak_gflops"]["bf16"] > 0
