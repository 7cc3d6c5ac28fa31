"""The VapourSynth filter on real frames with the real v4.0 weights: counts and rates, bit-exact
passthrough, variable frame rate, thread independence, formats and errors.

"Interpolated" is proven, not implied: a real frame is dropped from a real clip (carphone), the filter puts
it back, and the result must be closer to the real frame than a copy of either neighbour and than their
blend, by a margin (:func:`assert_interpolated`). A filter that copies or blends fails every such test.
"""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest
import vapoursynth as vs

import vsrife
from vsrife.filter import RIFE

core = vs.core


@pytest.fixture(scope="module")
def carphone(carphone_path, v40_weights):
    return core.bs.VideoSource(str(carphone_path))


def planes(frame: vs.VideoFrame) -> list[np.ndarray]:
    return [np.array(frame[p]) for p in range(frame.format.num_planes)]


def same_pixels(a: vs.VideoFrame, b: vs.VideoFrame) -> bool:
    return all(np.array_equal(x, y) for x, y in zip(planes(a), planes(b), strict=True))


# carphone frames with clear motion (mouth and hand): dropping the middle one of each pair of steps leaves
# the real frame to compare with. v4.0 at 2x beats the blend of the neighbours there by 3-5 dB (YUV420P8).
MOVING = 78
MARGIN_DB = 1.0


def _normalised(frame: vs.VideoFrame) -> list[np.ndarray]:
    fmt = frame.format
    peak = 1.0 if fmt.sample_type == vs.FLOAT else float((1 << fmt.bits_per_sample) - 1)
    return [np.asarray(frame[p], dtype=np.float64) / peak for p in range(fmt.num_planes)]


def _psnr(x: list[np.ndarray], y: list[np.ndarray]) -> float:
    mse = np.mean(np.concatenate([((a - b) ** 2).ravel() for a, b in zip(x, y, strict=True)]))
    return float("inf") if mse == 0 else float(10 * np.log10(1.0 / mse))


def interpolation_gain(
    got: vs.VideoFrame, a: vs.VideoFrame, b: vs.VideoFrame, truth: vs.VideoFrame
) -> tuple[float, float]:
    """PSNR gain (dB) of ``got`` against the real frame ``truth`` over the better copy of a neighbour and over
    the blend of both neighbours (all planes, in the clip's own format)."""
    g, fa, fb, t = (_normalised(f) for f in (got, a, b, truth))
    blend = [(x + y) / 2 for x, y in zip(fa, fb, strict=True)]
    ours = _psnr(g, t)
    return ours - max(_psnr(fa, t), _psnr(fb, t)), ours - _psnr(blend, t)


def assert_interpolated(
    got: vs.VideoFrame, a: vs.VideoFrame, b: vs.VideoFrame, truth: vs.VideoFrame, what: str = ""
) -> None:
    over_copy, over_blend = interpolation_gain(got, a, b, truth)
    assert over_copy > MARGIN_DB and over_blend > MARGIN_DB, (
        f"{what}: not interpolated: {over_copy:+.2f} dB over a copy, {over_blend:+.2f} dB over the blend"
    )


@pytest.mark.parametrize(
    "kwargs, fps, n_out",
    [
        ({}, Fraction(60000, 1001), 20),
        ({"fps": 59.94}, Fraction(60000, 1001), 20),
        ({"fps": 60}, Fraction(60), 21),
        ({"fps": "120000/1001"}, Fraction(120000, 1001), 40),
        ({"factor_num": 5, "factor_den": 2}, Fraction(75000, 1001), 25),
        ({"fps_num": 144, "fps_den": 1}, Fraction(144), 49),
    ],
)
def test_counts_and_rates(carphone, kwargs, fps, n_out):
    clip = carphone[:10]
    out = RIFE(clip, model="4.0", sc=False, **kwargs)
    assert (out.fps_num, out.fps_den) == (fps.numerator, fps.denominator)
    assert out.num_frames == n_out
    assert out.format.id == clip.format.id and (out.width, out.height) == (clip.width, clip.height)
    props = out.get_frame(n_out - 1).props
    assert (props["_DurationNum"], props["_DurationDen"]) == (fps.denominator, fps.numerator)


def test_passthrough_is_bit_exact_and_interpolation_in_between(carphone):
    clip = carphone[MOVING : MOVING + 12 : 2]  # every other real frame: the dropped ones are the truth
    out = RIFE(clip, model="4.0", factor_num=2, sc=False)
    assert out.num_frames == 12 and out.fps == 2 * clip.fps
    for k in range(6):
        src, got = clip.get_frame(k), out.get_frame(2 * k)
        assert same_pixels(src, got)
        want = dict(src.props)
        want.update(_DurationNum=out.fps_den, _DurationDen=out.fps_num)
        assert dict(got.props) == want
    for k in range(2, 4):
        mid = out.get_frame(2 * k + 1)
        a, b = clip.get_frame(k), clip.get_frame(k + 1)
        assert_interpolated(mid, a, b, carphone.get_frame(MOVING + 2 * k + 1), f"output frame {2 * k + 1}")
        assert dict(mid.props)["_Matrix"] == dict(a.props)["_Matrix"]


def test_same_output_with_one_and_two_threads_in_any_order(carphone):
    clip = carphone[20:26]
    core.num_threads = 1
    try:
        one = RIFE(clip, model="4.0", fps=75000 / 1001, sc=False)
        first = [planes(one.get_frame(n)) for n in range(one.num_frames)]
    finally:
        core.num_threads = 2
    two = RIFE(clip, model="4.0", fps=75000 / 1001, sc=False)
    futures = {n: two.get_frame_async(n) for n in reversed(range(two.num_frames))}
    for n, fut in futures.items():
        got = planes(fut.result())
        assert all(np.array_equal(x, y) for x, y in zip(got, first[n], strict=True)), f"frame {n} differs"


def test_variable_frame_rate_input(carphone):
    a = core.std.AssumeFPS(carphone[MOVING : MOVING + 8 : 2], fpsnum=25, fpsden=1)  # real frames 78, 80 ..
    b = core.std.AssumeFPS(carphone[MOVING + 8 : MOVING + 12], fpsnum=50, fpsden=1)  # 86 .. 89
    vfr = core.std.Splice([a, b], mismatch=True)
    assert vfr.fps == 0
    out = RIFE(vfr, model="4.0", fps=50, sc=False)
    assert out.fps == 50 and out.num_frames == 12  # 4/25 s + 4/50 s = 0.24 s
    # 25 fps part: every other output frame is a source frame; 50 fps part: one to one
    for n, k in [(0, 0), (2, 1), (4, 2), (6, 3), (8, 4), (9, 5), (10, 6), (11, 7)]:
        assert same_pixels(out.get_frame(n), vfr.get_frame(k)), (n, k)
    # half-way between 25 fps frames (7: between the last of them and the first 50 fps frame): the real
    # frames that were left out
    for n in (5, 7):
        got, left, right = out.get_frame(n), vfr.get_frame(n // 2), vfr.get_frame(n // 2 + 1)
        assert_interpolated(got, left, right, carphone.get_frame(MOVING + n), f"output frame {n}")


@pytest.mark.parametrize(
    "fmt",
    [vs.YUV420P10, vs.YUV444P16, vs.YUV422P8, vs.RGB24, vs.RGBS, vs.RGBH, vs.GRAY8, vs.GRAY16, vs.YUV420PS],
    ids=lambda f: vs.core.get_video_format(f).name,
)
def test_formats_in_and_out(carphone, fmt):
    real = carphone[MOVING + 4 : MOVING + 7]  # a, the real frame between, b
    if vs.core.get_video_format(fmt).color_family == vs.RGB:
        real = core.resize.Bicubic(real, format=fmt, matrix_in_s="170m")
    else:
        real = core.resize.Bicubic(real, format=fmt)
    clip = real[0] + real[2]
    out = RIFE(clip, model="4.0", sc=False)
    assert out.format.id == fmt and out.num_frames == 4
    mid = out.get_frame(1)
    assert mid.format.id == fmt
    assert all(np.isfinite(p).all() for p in planes(mid))
    assert_interpolated(mid, clip.get_frame(0), clip.get_frame(1), real.get_frame(1), fmt.name)
    assert same_pixels(out.get_frame(2), clip.get_frame(1))


def test_identical_neighbours_skip_the_model(carphone):
    still = carphone[5] * 3
    out = RIFE(still, model="4.0", sc=False)
    assert all(same_pixels(out.get_frame(n), still.get_frame(0)) for n in range(out.num_frames))


def test_scene_change_props_are_honoured(carphone):
    clip = carphone[:4].std.SetFrameProps(_SceneChangeNext=1)
    out = RIFE(clip, model="4.0", factor_num=4, sc=True)
    # t = 1/4, 1/2 -> frame 0 (nearest in time, ties to the earlier); t = 3/4 -> frame 1
    assert [same_pixels(out.get_frame(n), clip.get_frame(0)) for n in (1, 2)] == [True, True]
    assert same_pixels(out.get_frame(3), clip.get_frame(1))
    off = RIFE(clip, model="4.0", factor_num=4, sc=False)
    assert not same_pixels(off.get_frame(2), clip.get_frame(0))


def test_importable_from_package(carphone):
    assert vsrife.RIFE is RIFE


@pytest.mark.parametrize(
    "make, kwargs, match",
    [
        (lambda c: c[:1], {}, r"RIFE: clip must have at least 2 frames; got 1"),
        (
            lambda c: core.std.Splice([c[:2], c[:2].resize.Point(format=vs.YUV444P8)], mismatch=True),
            {},
            r"RIFE: clip must have a constant format and size",
        ),
        (
            lambda c: core.std.Splice([c[:2], c[:2].resize.Point(64, 64)], mismatch=True),
            {},
            r"RIFE: clip must have a constant format and size",
        ),
        (lambda c: c, {"model": "4.99"}, r"RIFE: model must be one of 4\.0, .*; got '4\.99'"),
        (
            lambda c: c,
            {"fps": 24},
            r"RIFE: fps must be higher than the clip's 30000/1001 \(29\.970\) fps; got 24",
        ),
        (
            lambda c: c,
            {"fps": "fast"},
            r"RIFE: fps must be a number or a string like '60000/1001'; got 'fast'",
        ),
        (lambda c: c, {"fps": -60}, r"RIFE: fps must be positive"),
        (lambda c: c, {"factor_num": 0}, r"RIFE: factor_num must be a positive integer; got 0"),
        (lambda c: c, {"fps": 60, "factor_num": 2}, r"RIFE: give either fps .* not both"),
        (
            lambda c: c,
            {"scale": 3},
            r"RIFE: scale must be one of 0\.25, 0\.5, 1\.0, 2\.0, 4\.0 or 'auto'; got 3",
        ),
        (lambda c: c, {"model": "4.25", "ensemble": True}, r"RIFE: ensemble is not supported by model 4\.25"),
        (lambda c: c, {"sc_threshold": 2.0}, r"RIFE: sc_threshold must be a number in \(0, 1\]"),
        (lambda c: c, {"device": "tpu"}, r"RIFE: device must be 'cpu', 'cuda' or 'cuda:N'"),
        (lambda c: c, {"precision": "fp8"}, r"RIFE: precision must be one of fp32, fp16, bf16"),
        (lambda c: 42, {}, r"RIFE: clip must be a video clip \(vs\.VideoNode\); got int"),
    ],
)
def test_clear_errors(carphone, make, kwargs, match):
    kwargs.setdefault("model", "4.0")
    with pytest.raises(vs.Error, match=match):
        RIFE(make(carphone[:10]), **kwargs)


def test_missing_weights_say_how_to_download(carphone, tmp_path, monkeypatch):
    monkeypatch.setenv("VSRIFE_MODEL_DIR", str(tmp_path))
    with pytest.raises(vs.Error, match=r"RIFE: weights for model 4\.22 .* `vsrife download 4\.22`"):
        RIFE(carphone[:4], model="4.22")


@pytest.mark.skipif(__import__("torch").cuda.is_available(), reason="checks the error where CUDA is absent")
def test_cuda_requested_but_absent(carphone):
    with pytest.raises(vs.Error, match=r"RIFE: device 'cuda' was requested but CUDA is not available here"):
        RIFE(carphone[:4], model="4.0", device="cuda")


def test_encoder_features_computed_once_per_source_frame(carphone, tmp_path):
    """Releases with a feature encoder: every source frame is encoded once, however many output frames use
    it."""
    import torch

    from vsrife import RIFE_HDv3
    from vsrife.loading import _MODELS

    from .conftest import random_official_state

    net = RIFE_HDv3("4.15.lite", device="cpu")
    path = tmp_path / "flownet_v4.15.lite.pkl"
    torch.save({"module." + k: v for k, v in random_official_state(net.flownet).items()}, path)
    clip = carphone[40:46]
    out = RIFE(clip, model="4.15.lite", weights=str(path), factor_num=4, sc=False, precision="fp32")
    model = next(m for k, m in _MODELS.items() if k[0] == "4.15.lite" and k[2] == str(path.resolve()))
    calls = []
    handle = model.flownet.encode.register_forward_hook(lambda mod, inp, outp: calls.append(inp[0].shape))
    try:
        for n in range(out.num_frames):
            out.get_frame(n)
    finally:
        handle.remove()
    assert out.num_frames == 24  # 18 interpolated frames between 6 source frames
    assert len(calls) == 6
    assert all(s[-2:] == (160, 192) for s in calls)  # 144x176 padded to the release's multiple of 32, no more


@pytest.mark.cuda
@pytest.mark.skipif(not __import__("torch").cuda.is_available(), reason="needs CUDA")
def test_cuda_matches_cpu(carphone):
    clip = carphone[:3]
    cpu = RIFE(clip, model="4.0", device="cpu", precision="fp32", sc=False)
    gpu = RIFE(clip, model="4.0", device="cuda", precision="fp32", sc=False)
    a = np.array(cpu.get_frame(1)[0], dtype=np.int16)
    b = np.array(gpu.get_frame(1)[0], dtype=np.int16)
    assert np.abs(a - b).max() <= 2


def test_builtin_scene_cut_detection_never_blends_two_shots(carphone, bbb_path):
    other = core.resize.Bicubic(core.bs.VideoSource(str(bbb_path))[60:65], 176, 144)
    other = core.std.AssumeFPS(other, carphone)
    spliced = carphone[50:55] + other  # a hard cut between source frames 4 and 5
    out = RIFE(spliced, model="4.0", factor_num=2, sc=True)
    assert same_pixels(out.get_frame(9), spliced.get_frame(4))  # t = 1/2 across the cut: the earlier frame
    for n in (1, 3, 5, 11, 13, 15):  # within each shot: interpolated
        f = out.get_frame(n)
        assert not same_pixels(f, spliced.get_frame(n // 2)) and not same_pixels(
            f, spliced.get_frame(n // 2 + 1)
        )
    cut4 = RIFE(spliced, model="4.0", factor_num=4, sc=True)
    assert same_pixels(cut4.get_frame(19), spliced.get_frame(5))  # t = 3/4: the nearer frame is the later one
