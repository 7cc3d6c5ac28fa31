"""The loading layer: the default release, the model cache, backends, and where messages go."""

from __future__ import annotations

import logging
import threading

import pytest
import torch

from vsrife import Backend, RIFE_HDv3, WeightsError, default_version, load_model, resolve_backend
from vsrife.backend import cpu_has_native_bf16


def test_default_version_falls_back_to_the_newest_installed(tmp_path, monkeypatch, caplog, capsys):
    monkeypatch.setenv("VSRIFE_MODEL_DIR", str(tmp_path))  # only the repo's weights/ (4.0) remain
    with caplog.at_level(logging.WARNING, logger="vsrife"):
        assert default_version() == "4.0"
    assert [r.getMessage() for r in caplog.records] == ["weights of 4.25 are not installed; using 4.0"]
    assert capsys.readouterr().out == ""


def test_backend_is_resolved_once_and_frozen():
    model_cpu = resolve_backend("cpu", purpose="model")
    assert model_cpu == Backend(torch.device("cpu"), "fp32") and model_cpu.dtype == torch.float32
    filt = resolve_backend("cpu", purpose="filter")
    assert filt.precision == ("bf16" if cpu_has_native_bf16() else "fp32")
    with pytest.raises(AttributeError):
        model_cpu.precision = "bf16"  # type: ignore[misc]
    with pytest.raises(ValueError, match=r"^engine must be one of torch; got 'tensorrt'$"):
        resolve_backend("cpu", engine="tensorrt", purpose="model")


def test_models_are_cached_per_backend_and_file(v40_weights, tmp_path):
    fp32 = resolve_backend("cpu", "fp32", purpose="model")
    bf16 = resolve_backend("cpu", "bf16", purpose="model")
    results: list[RIFE_HDv3] = []
    threads = [threading.Thread(target=lambda: results.append(load_model("4.0", fp32))) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(results) == 3 and all(m is results[0] for m in results)  # loaded once, shared
    assert results[0].dtype == torch.float32 and results[0].weights_path == str(v40_weights.resolve())
    other = load_model("4.0", bf16)
    assert other is not results[0] and other.dtype == torch.bfloat16
    copy = tmp_path / "copy.pkl"
    copy.write_bytes(v40_weights.read_bytes())
    assert load_model("4.0", fp32, weights=copy) is not results[0]


def test_missing_weights_name_the_weights_argument(tmp_path, monkeypatch):
    monkeypatch.setenv("VSRIFE_MODEL_DIR", str(tmp_path))
    with pytest.raises(
        WeightsError, match=r"`vsrife download 4\.7`.* or pass the file with weights="
    ) as info:
        load_model("4.7", resolve_backend("cpu", purpose="model"))
    assert "\n" not in str(info.value)
