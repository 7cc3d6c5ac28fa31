"""The downloader against a real HTTP server on 127.0.0.1: verified, atomic, nothing half-written."""

from __future__ import annotations

import http.server
import socket
import subprocess
import sys
import threading
from pathlib import Path

import pytest
import torch

from vsrife.download import DownloadError, download
from vsrife.ifnet import IFNet
from vsrife.registry import MODELS

from .conftest import random_official_state


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    root = tmp_path_factory.mktemp("www")
    spec = MODELS["4.15.lite"]
    torch.save(
        {"module." + k: v for k, v in random_official_state(IFNet(spec.config)).items()}, root / spec.filename
    )
    good = (root / spec.filename).read_bytes()
    (root / "flownet_v4.25.pkl").write_bytes(good)  # a 4.15.lite file served under the 4.25 name
    (root / "flownet_v4.16.lite.pkl").write_bytes(good[: len(good) // 3])  # truncated

    class Handler(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *a, **kw):
            super().__init__(*a, directory=str(root), **kw)

        def log_message(self, *a):
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/" + "{filename}"
    httpd.shutdown()


def leftovers(d: Path) -> list[str]:
    return sorted(p.name for p in d.iterdir())


def test_download_verifies_and_renames(server, tmp_path, capsys):
    spec = MODELS["4.15.lite"]
    path = download(spec, tmp_path, url=server.format(filename=spec.filename), progress=True)
    assert path == tmp_path / spec.filename and leftovers(tmp_path) == [spec.filename]
    captured = capsys.readouterr()
    assert "MiB" in captured.err and captured.out == ""
    mtime = path.stat().st_mtime_ns
    assert download(spec, tmp_path, url=server.format(filename=spec.filename)) == path
    assert path.stat().st_mtime_ns == mtime  # a verified copy is kept, not fetched again


def test_wrong_release_is_rejected_and_removed(server, tmp_path):
    spec = MODELS["4.25"]
    with pytest.raises(DownloadError, match=r"failed verification: .* holds weights of RIFE 4\.15\.lite"):
        download(spec, tmp_path, url=server.format(filename=spec.filename), progress=False)
    assert leftovers(tmp_path) == []


def test_truncated_404_and_unreachable(server, tmp_path):
    spec = MODELS["4.16.lite"]
    with pytest.raises(DownloadError, match="failed verification"):
        download(spec, tmp_path, url=server.format(filename=spec.filename), progress=False)
    spec = MODELS["4.9"]
    with pytest.raises(DownloadError, match="the server answered 404"):
        download(spec, tmp_path, url=server.format(filename=spec.filename), progress=False)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(DownloadError, match=r"cannot reach .* check the network"):
        download(spec, tmp_path, url=f"http://127.0.0.1:{port}/x.pkl", progress=False, timeout=5)
    assert leftovers(tmp_path) == []


def test_sha256_mismatch(server, tmp_path):
    from dataclasses import replace

    spec = replace(MODELS["4.15.lite"], sha256="0" * 64)
    with pytest.raises(DownloadError, match=r"sha256 .* does not match"):
        download(spec, tmp_path, url=server.format(filename=spec.filename), progress=False)
    assert leftovers(tmp_path) == []


def test_cli_download(server, tmp_path):
    r = subprocess.run(
        [
            sys.executable,
            "-m",
            "vsrife",
            "download",
            "4.15.lite",
            "4.9",
            "--dir",
            str(tmp_path),
            "--url",
            server,
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert r.returncode == 1  # 4.9 is not on the server
    assert r.stdout == ""  # stdout is for video
    assert "4.15.lite: " in r.stderr and "404" in r.stderr
    assert leftovers(tmp_path) == ["flownet_v4.15.lite.pkl"]
    r = subprocess.run(
        [sys.executable, "-m", "vsrife", "download", "9.9"], capture_output=True, text=True, check=False
    )
    assert r.returncode == 2 and "model must be one of" in r.stderr


def test_filter_auto_download_from_a_mirror(server, tmp_path, monkeypatch, carphone_path):
    import vapoursynth as vs

    from vsrife.filter import RIFE

    monkeypatch.setenv("VSRIFE_MODEL_DIR", str(tmp_path))
    monkeypatch.setenv("VSRIFE_WEIGHTS_URL", server)
    clip = vs.core.bs.VideoSource(str(carphone_path))[:3]
    with pytest.raises(vs.Error, match=r"vsrife download 4\.15\.lite"):
        RIFE(clip, model="4.15.lite")
    out = RIFE(clip, model="4.15.lite", auto_download=True, sc=False)
    assert out.num_frames == 6 and out.get_frame(1).format.id == clip.format.id
    assert leftovers(tmp_path) == ["flownet_v4.15.lite.pkl"]
    with pytest.raises(vs.Error, match=r"RIFE: flownet_v4\.9\.pkl: the server answered 404"):
        RIFE(clip, model="4.9", auto_download=True)
