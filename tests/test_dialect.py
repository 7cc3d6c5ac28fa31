"""The ncnn plugin's dialect: every argument is mapped to what means the same in vsrife, or refused in one
line that names vsrife's equivalent. Pure: no VapourSynth, no torch."""

from __future__ import annotations

import pytest

from vsrife.dialect import NCNN_MODELS, NCNN_REFUSED_MODELS, ncnn_model, translate_ncnn
from vsrife.registry import MODELS

NCNN_INDICES = range(77)  # the ncnn plugin accepts 0..76


def test_every_ncnn_index_is_mapped_or_refused_never_both():
    assert not set(NCNN_MODELS) & set(NCNN_REFUSED_MODELS)
    for i in NCNN_INDICES:
        if i in NCNN_MODELS:
            assert ncnn_model(i) == NCNN_MODELS[i]
        else:
            with pytest.raises(ValueError, match=f"^model={i} ") as info:
                ncnn_model(i)
            assert "\n" not in str(info.value)
            assert "model='4." in str(info.value)  # names what to pass instead


@pytest.mark.parametrize(
    ("index", "release", "ensemble"), [(i, *NCNN_MODELS[i]) for i in sorted(NCNN_MODELS)]
)
def test_mapped_releases_exist_and_support_their_ensemble(index, release, ensemble):
    spec = MODELS[release]
    assert not ensemble or spec.supports_ensemble
    assert translate_ncnn({"model": index}) == {"model": release, "ensemble": ensemble}


def test_ncnn_pairs_map_to_the_same_release_with_and_without_ensemble():
    # the ncnn list puts each release's ensembleFalse export just before its ensembleTrue one
    for i, (release, ensemble) in NCNN_MODELS.items():
        if ensemble:
            assert NCNN_MODELS[i - 1] == (release, False)


def test_contradicting_ensemble_is_refused():
    assert translate_ncnn({"model": 12, "ensemble": True}) == {"model": "4.0", "ensemble": True}
    with pytest.raises(ValueError, match="contradicts ensemble"):
        translate_ncnn({"model": 12, "ensemble": False})


def test_release_names_and_our_own_arguments_pass_untouched():
    kw = {"model": "4.25", "fps_num": 60, "fps_den": 1, "scale": 0.5, "sc": True, "device": "cpu"}
    assert translate_ncnn(kw) == kw


@pytest.mark.parametrize(
    "kw",
    [
        {"uhd": True},
        {"uhd": 0},
        {"gpu_thread": 4},
        {"tta": False},
        {"skip": False},
        {"skip": 0, "skip_threshold": 50.0},
        {"skip_threshold": 60},
    ],
)
def test_arguments_without_effect_on_the_output_are_accepted_and_dropped(kw):
    assert translate_ncnn({"model": "4.0", **kw}) == {"model": "4.0"}


@pytest.mark.parametrize(
    ("kw", "words"),
    [
        ({"gpu_id": 1}, ["gpu_id=1", "Vulkan", "device='cuda:N'", "device='cpu'"]),
        ({"tta": True}, ["tta=True", "ensemble=True"]),
        ({"skip": True}, ["skip=True", "PSNR", "bit-identical"]),
        ({"skip": 1, "skip_threshold": 40.0}, ["skip=True"]),
        ({"skip_threshold": 70.0}, ["skip_threshold", "0 and 60"]),
        ({"gpu_thread": 0}, ["gpu_thread", "at least 1"]),
        ({"model_path": "/models/rife-v4.6"}, ["model_path", "weights="]),
        ({"list_gpu": True}, ["list_gpu", "device="]),
        ({"uhd": 2}, ["uhd", "True or False"]),
    ],
)
def test_arguments_that_would_change_the_meaning_are_refused_in_one_line(kw, words):
    with pytest.raises(ValueError) as info:
        translate_ncnn(kw)
    msg = str(info.value)
    assert "\n" not in msg
    for word in words:
        assert word in msg, msg
