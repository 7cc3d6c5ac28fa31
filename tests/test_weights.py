"""Weights: the real v4.0 checkpoint loads strictly; bad files get clear errors; nothing is unpickled."""

from __future__ import annotations

import os
import pickle

import pytest
import torch
from safetensors.torch import save_file

from vsrife import RIFE_HDv3, WeightsError, resolve_backend
from vsrife.registry import MODELS
from vsrife.weights import TRAINING_ONLY_PREFIXES, matching_versions, read_state_dict

from .conftest import random_official_state


def test_real_v40_loads_strictly_and_drops_training_tensors(v40_weights):
    raw = torch.load(v40_weights, map_location="cpu", weights_only=True)
    assert any(k.startswith("module.block_tea.") for k in raw)  # the official file carries the teacher
    model = RIFE_HDv3("4.0", device="cpu", precision="fp32").load_weights(v40_weights)
    sd = model.flownet.state_dict()
    assert not any(k.startswith(TRAINING_ONLY_PREFIXES) for k in sd)
    assert torch.equal(sd["block0.conv0.0.0.weight"], raw["module.block0.conv0.0.0.weight"])
    assert matching_versions(read_state_dict(v40_weights)) == ["4.0", "4.1"]


def test_wrong_release_names_the_matching_ones(v40_weights):
    with pytest.raises(WeightsError, match=r"holds weights of RIFE 4\.0, 4\.1, not 4\.25"):
        RIFE_HDv3("4.25", device="cpu", precision="fp32").load_weights(v40_weights)


@pytest.mark.parametrize("fmt", ["pkl-module", "pth-plain", "safetensors"])
def test_formats(tmp_path, fmt):
    model = RIFE_HDv3("4.22.lite", device="cpu", precision="fp32")
    state = random_official_state(model.flownet)
    if fmt == "pkl-module":
        path = tmp_path / "flownet_v4.22.lite.pkl"
        torch.save({"module." + k: v for k, v in state.items()}, path)
    elif fmt == "pth-plain":
        path = tmp_path / "flownet.pth"
        torch.save(state, path)
    else:
        path = tmp_path / "flownet.safetensors"
        save_file(state, str(path))
    model.load_weights(path)
    assert torch.equal(
        model.flownet.state_dict()["block3.convblock.0.beta"], state["block3.convblock.0.beta"]
    )


class _Evil:
    def __reduce__(self):
        return (os.system, ("touch /tmp/vsrife-pwned",))


def test_pickled_code_is_refused_never_executed(tmp_path):
    marker = "/tmp/vsrife-pwned"
    if os.path.exists(marker):
        os.unlink(marker)
    path = tmp_path / "flownet_v4.0.pkl"
    torch.save({"module.block0.conv0.0.0.weight": torch.zeros(1), "x": _Evil()}, path)
    with pytest.raises(WeightsError, match=r"flownet_v4\.0\.pkl carries pickled code \(refused") as info:
        RIFE_HDv3("4.0", device="cpu", precision="fp32").load_weights(path)
    _one_line_of_ours(info.value)
    assert not os.path.exists(marker)
    raw = tmp_path / "raw.pkl"
    raw.write_bytes(pickle.dumps(_Evil()))
    with pytest.raises(WeightsError, match="carries pickled code") as info:
        read_state_dict(raw)
    _one_line_of_ours(info.value)
    assert not os.path.exists(marker)


def _one_line_of_ours(e: BaseException) -> None:
    """Our message only: one line, none of PyTorch's text (its advice to turn weights_only off above all)."""
    msg = str(e)
    assert "\n" not in msg, msg
    for theirs in ("weights_only", "PyTorch 2.6", "PytorchStreamReader", "miniz", "Unpickler", "load key"):
        assert theirs not in msg, msg


def test_truncated_and_garbage_files(tmp_path, v40_weights):
    cut = tmp_path / "flownet_v4.0.pkl"
    cut.write_bytes(v40_weights.read_bytes()[: 1 << 20])
    with pytest.raises(WeightsError, match=r"flownet_v4\.0\.pkl is truncated") as info:
        RIFE_HDv3("4.0", device="cpu", precision="fp32").load_weights(cut)
    _one_line_of_ours(info.value)
    text = tmp_path / "notes.pkl"
    text.write_text("hello")
    html = tmp_path / "page.pkl"
    html.write_text("<!DOCTYPE html>\n<html><body>Not Found</body></html>\n")
    legacy = tmp_path / "legacy.pkl"
    legacy.write_bytes(pickle.dumps({"a": 1}, protocol=2)[:5])
    cases = [
        (text, r"notes\.pkl is not a PyTorch checkpoint \(it is a text file\)"),
        (html, r"page\.pkl is not a PyTorch checkpoint \(it is an HTML/XML page"),
        (legacy, r"legacy\.pkl is truncated or damaged"),
        (tmp_path / "absent.pkl", "does not exist"),
        (tmp_path, r"is a directory, not a weights file"),
    ]
    for path, match in cases:
        with pytest.raises(WeightsError, match=match) as info:
            read_state_dict(path)
        _one_line_of_ours(info.value)
    other = tmp_path / "model.pth"
    torch.save({"weight": torch.zeros(3, 3)}, other)
    with pytest.raises(
        WeightsError, match=r"does not match RIFE 4\.0 nor any other release: tensors .*missing"
    ):
        RIFE_HDv3("4.0", device="cpu", precision="fp32").load_weights(other)


def test_missing_tensor_and_misshaped_tensor(tmp_path):
    model = RIFE_HDv3("4.6", device="cpu", precision="fp32")
    state = random_official_state(model.flownet)
    bad = dict(state)
    del bad["block2.lastconv.0.bias"]
    torch.save(bad, tmp_path / "a.pth")
    with pytest.raises(WeightsError, match=r"1 missing \(e\.g\. block2\.lastconv\.0\.bias\)"):
        model.load_weights(tmp_path / "a.pth")
    bad = dict(state)
    bad["block0.conv0.0.0.weight"] = torch.zeros(1, 1, 3, 3)
    torch.save(bad, tmp_path / "b.pth")
    with pytest.raises(WeightsError, match="mis-shaped"):
        model.load_weights(tmp_path / "b.pth")


def test_missing_weights_say_how_to_download(tmp_path, monkeypatch):
    monkeypatch.setenv("VSRIFE_MODEL_DIR", str(tmp_path))
    with pytest.raises(WeightsError, match=r"vsrife download 4\.26\.heavy"):
        RIFE_HDv3("4.26.heavy", device="cpu", precision="fp32").load_weights()


def test_model_dir_env_is_searched(tmp_path, monkeypatch):
    monkeypatch.setenv("VSRIFE_MODEL_DIR", str(tmp_path))
    model = RIFE_HDv3("4.7", device="cpu", precision="fp32")
    torch.save(random_official_state(model.flownet), tmp_path / MODELS["4.7"].filename)
    assert model.load_weights().weights_path == str(tmp_path / "flownet_v4.7.pkl")


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"model": "5.0"}, r"^model must be one of"),
        ({"device": "tpu"}, r"^device must be 'cpu', 'cuda' or 'cuda:N'; got 'tpu'$"),
        ({"precision": "int8"}, r"^precision must be one of fp32, fp16, bf16; got 'int8'$"),
        ({"precision": "fp16", "device": "cpu"}, r"precision 'fp16' is not supported on the CPU"),
    ],
)
def test_bad_constructor_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        RIFE_HDv3(**kwargs)


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the error on machines without CUDA")
def test_cuda_requested_without_cuda():
    with pytest.raises(ValueError, match="CUDA is not available"):
        RIFE_HDv3("4.0", device="cuda")


def test_bad_inference_arguments():
    model = RIFE_HDv3("4.25", device="cpu", precision="fp32")
    pair = torch.rand(1, 6, 32, 32)
    with pytest.raises(ValueError, match=r"frame_pair must be a \[B, 6, H, W\] tensor; got \(1, 3, 32, 32\)"):
        model.inference(pair[:, :3])
    with pytest.raises(ValueError, match=r"scale must be one of 0\.25, 0\.5, 1\.0, 2\.0, 4\.0; got 3"):
        model.inference(pair, scale=3)
    with pytest.raises(ValueError, match=r"ensemble is not supported by model 4\.25"):
        model.inference(pair, ensemble=True)
    with pytest.raises(ValueError, match=r"timestep must be a float or a \[1\] tensor in \[0, 1\]"):
        model.inference(pair, timestep=1.5)
    with pytest.raises(ValueError, match="must be a float tensor"):
        model.inference((pair * 255).to(torch.uint8))


def test_default_precision_by_purpose():
    """The model API computes as the reference (fp32 on the CPU, fp16 on CUDA); the filter uses bf16 on CPUs
    that compute it natively."""
    from vsrife.backend import cpu_has_native_bf16, default_precision

    assert default_precision(torch.device("cuda"), "model") == "fp16"
    assert default_precision(torch.device("cuda"), "filter") == "fp16"
    assert default_precision(torch.device("cpu"), "model") == "fp32"
    assert default_precision(torch.device("cpu"), "filter") == ("bf16" if cpu_has_native_bf16() else "fp32")
    assert RIFE_HDv3("4.6", device="cpu").dtype == torch.float32
    assert resolve_backend("cpu", purpose="filter").dtype == (
        torch.bfloat16 if cpu_has_native_bf16() else torch.float32
    )
