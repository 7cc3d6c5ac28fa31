"""The version table: every release builds, its padding rule and variant facts are right."""

from __future__ import annotations

import pytest
import torch

from vsrife.errors import VsrifeError
from vsrife.ifnet import IFNet
from vsrife.registry import MODELS, VERSIONS, get_spec

EXPECTED = [
    "4.0",
    "4.1",
    "4.2",
    "4.3",
    "4.4",
    "4.5",
    "4.6",
    "4.7",
    "4.8",
    "4.9",
    "4.10",
    "4.11",
    "4.12",
    "4.12.lite",
    "4.13",
    "4.13.lite",
    "4.14",
    "4.14.lite",
    "4.15",
    "4.15.lite",
    "4.16.lite",
    "4.17",
    "4.17.lite",
    "4.18",
    "4.19",
    "4.20",
    "4.21",
    "4.22",
    "4.22.lite",
    "4.23",
    "4.24",
    "4.25",
    "4.25.lite",
    "4.25.heavy",
    "4.26",
    "4.26.heavy",
]


def test_all_releases_listed_once():
    assert list(VERSIONS) == EXPECTED


@pytest.mark.parametrize("version", EXPECTED)
def test_every_release_builds_and_runs(version):
    spec = MODELS[version]
    with torch.device("meta"):
        net = IFNet(spec.config)
    keys = net.state_dict().keys()
    assert all(not k.startswith("module.") for k in keys)
    assert ("encode." in " ".join(keys)) == spec.has_encoder


def test_file_names_and_urls_are_the_official_ones():
    spec = MODELS["4.25.lite"]
    assert spec.filename == "flownet_v4.25.lite.pkl"
    assert spec.url == "https://github.com/HolyWu/vs-rife/releases/download/model/flownet_v4.25.lite.pkl"
    assert len({s.filename for s in MODELS.values()}) == len(MODELS)


def test_padding_modulo_per_release():
    mods = {v: s.modulo for v, s in MODELS.items()}
    assert mods["4.25"] == mods["4.26"] == mods["4.25.heavy"] == mods["4.26.heavy"] == 64
    assert mods["4.25.lite"] == 128
    assert mods["4.6"] == mods["4.24"] == mods["4.13.lite"] == 32
    assert mods["4.0"] == mods["4.1"] == 64  # the pyramid may double at run time
    # divided by scale, never more than needed: 720p at scale 1 pads to 736 rows for 4.22 (not 768)
    cfg = MODELS["4.22"].config
    assert [cfg.padding_multiple(s) for s in (0.25, 0.5, 1.0, 2.0, 4.0)] == [128, 64, 32, 16, 8]


def test_ensemble_support_is_a_config_fact():
    assert all(MODELS[v].supports_ensemble for v in EXPECTED[: EXPECTED.index("4.21")])
    assert MODELS["4.24"].supports_ensemble
    for v in ("4.21", "4.22", "4.22.lite", "4.23", "4.25", "4.25.lite", "4.25.heavy", "4.26", "4.26.heavy"):
        assert not MODELS[v].supports_ensemble


def test_unknown_version_error_lists_choices():
    with pytest.raises(VsrifeError, match=r"^model must be one of 4\.0, 4\.1, .*4\.26\.heavy; got '3\.9'$"):
        get_spec("3.9")
    assert get_spec("v4.25").version == "4.25"


@pytest.mark.parametrize("version", ["4.0", "4.6", "4.15.lite", "4.22", "4.25", "4.25.lite", "4.26.heavy"])
def test_every_scale_runs_on_odd_sizes(version):
    """Padding to modulo/scale (never more) is enough for every pyramid at every scale."""
    from vsrife import RIFE_HDv3

    from .conftest import random_official_state

    model = RIFE_HDv3(version, device="cpu", precision="fp32")
    model.flownet.load_state_dict(random_official_state(model.flownet))
    for scale in (0.25, 0.5, 1.0, 2.0, 4.0):
        out = model.inference(torch.rand(1, 6, 72, 100), 0.5, scale=scale)
        assert out.shape == (1, 3, 72, 100) and torch.isfinite(out).all()


def test_padding_of_a_720p_frame():
    """Rows and columns added to 1280x720, worked out by hand from each release's modulo and the scale."""
    from vsrife import RIFE_HDv3

    pads = {v: RIFE_HDv3(v, device="cpu", precision="fp32") for v in ("4.0", "4.22", "4.25.lite")}
    assert pads["4.22"].padding(720, 1280, 1.0) == (16, 0)  # 736 = 23 x 32
    assert pads["4.22"].padding(720, 1280, 0.5) == (48, 0)  # 768 = 12 x 64
    assert pads["4.0"].padding(720, 1280, 1.0) == (48, 0)  # 768 = 12 x 64 (the pyramid may double)
    assert pads["4.25.lite"].padding(720, 1280, 1.0) == (48, 0)  # 768 = 6 x 128
    assert pads["4.25.lite"].padding(720, 1280, 4.0) == (16, 0)  # 736 = 23 x 32
