"""Tests for vsrife.colour: pure unit tests plus checks on a real Big Buck Bunny frame against VapourSynth's
own resizers (zimg). Measured figures are printed (``pytest -s``) and carried in assertion messages."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch

from vsrife import colour as C
from vsrife.colour import ColourSpec, planes_to_rgb, resolve_spec, rgb_to_planes

ROOT = Path(__file__).resolve().parents[1]
BBB = ROOT / "assets" / "bigbuckbunny.mp4"
FRAME = 60  # a textured frame of the 720p sample (Spline36 4:2:0 round trip there: ~68 dB chroma)


# ----------------------------------------------------------------------------------------------------------
# helpers


def psnr(a: torch.Tensor, b: torch.Tensor, peak: float) -> float:
    mse = float(((a.double() - b.double()) ** 2).mean())
    return math.inf if mse == 0 else 10 * math.log10(peak * peak / mse)


def max_abs(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a.double() - b.double()).abs().max())


@pytest.fixture(scope="module")
def vs():
    vs = pytest.importorskip("vapoursynth")
    if not hasattr(vs.core, "bs"):
        pytest.skip("vapoursynth-bestsource (core.bs) is not installed")
    if not BBB.exists():
        pytest.skip(f"{BBB} missing (scripts/setup.sh fetches it)")
    return vs


@pytest.fixture(scope="module")
def src(vs):
    return vs.core.bs.VideoSource(str(BBB))


def grab(clip, n: int = FRAME) -> tuple[list[torch.Tensor], ColourSpec]:
    """Planes of frame ``n`` as ``[1,h,w]`` tensors in their native dtype, and the clip's resolved spec."""
    f = clip.get_frame(n)
    planes = [torch.from_numpy(np.array(f[i], copy=True))[None] for i in range(f.format.num_planes)]
    return planes, C.spec_from_format(clip.format, clip.width, clip.height, f.props)


def vs_rgb(clip, n: int = FRAME) -> torch.Tensor:
    planes, _ = grab(clip, n)
    return torch.stack([p[0] for p in planes])[None]


def peak(spec: ColourSpec) -> float:
    return 1.0 if spec.is_float else float((1 << spec.bits) - 1)


def chroma_psnr(a: list[torch.Tensor], b: list[torch.Tensor], spec: ColourSpec) -> float:
    return psnr(torch.cat([a[1], a[2]]), torch.cat([b[1], b[2]]), peak(spec))


def vs_round_trip(vs, clip, kernel: str, matrix: str = "709"):
    resize = getattr(vs.core.resize, kernel)
    return resize(resize(clip, format=vs.RGBS, matrix_in_s=matrix), format=clip.format.id, matrix_s=matrix)


# ----------------------------------------------------------------------------------------------------------
# resolve_spec (pure)


def test_resolve_spec_defaults() -> None:
    hd = resolve_spec("yuv", 8, False, 1, 1, 1280, 720)
    assert hd == ColourSpec("yuv", 8, False, 1, 1, 1, False, 0)
    assert resolve_spec("yuv", 8, False, 1, 1, 1024, 576).matrix == 6  # SD -> BT.601 (170M)
    assert resolve_spec("yuv", 8, False, 1, 1, 720, 576, matrix=2).matrix == 6  # unspecified
    assert resolve_spec("yuv", 8, False, 1, 1, 1920, 1080, matrix=2).matrix == 1
    assert resolve_spec("yuv", 8, False, 1, 1, 720, 480, matrix=1).matrix == 1  # explicit wins
    assert resolve_spec("gray", 8, False, 0, 0, 176, 144, matrix=0).matrix == 6  # gray from RGB: default
    assert resolve_spec("yuv", 10, False, 1, 1, 1280, 720, color_range=0).full_range  # _ColorRange 0 = full
    assert not resolve_spec("yuv", 10, False, 1, 1, 1280, 720, color_range=1).full_range
    assert not resolve_spec("gray", 16, False, 0, 0, 64, 64).full_range
    assert resolve_spec("yuv", 32, True, 1, 1, 64, 64, color_range=1).full_range  # float: always full
    rgb = resolve_spec("rgb", 8, False, 0, 0, 64, 64, matrix=1, chroma_location=3)
    assert (rgb.matrix, rgb.full_range, rgb.chroma_location) == (0, True, 0)
    assert not resolve_spec("rgb", 8, False, 0, 0, 64, 64, color_range=1).full_range  # explicit limited RGB
    # Location normalised to what matters: none for 4:4:4, horizontal only for 4:2:2, vertical only for 4:4:0.
    assert resolve_spec("yuv", 8, False, 0, 0, 64, 64, chroma_location=5).chroma_location == 0
    assert resolve_spec("yuv", 8, False, 1, 0, 64, 64, chroma_location=3).chroma_location == 1
    assert resolve_spec("yuv", 8, False, 0, 1, 64, 64, chroma_location=5).chroma_location == 4
    assert resolve_spec("yuv", 8, False, 1, 1, 64, 64, chroma_location=2).chroma_location == 2


@pytest.mark.parametrize(
    "kwargs, words",
    [
        ({"matrix": 10}, ["_Matrix=10", "BT.709", "BT.2020"]),  # BT.2020 constant luminance
        ({"matrix": 14}, ["_Matrix=14"]),  # ICtCp
        ({"matrix": 0}, ["_Matrix=0"]),  # GBR in a YUV clip
        ({"color_range": 2}, ["_ColorRange=2", "full", "limited"]),
        ({"chroma_location": 6}, ["_ChromaLocation=6", "top-left"]),
    ],
)
def test_resolve_spec_rejects_unsupported_props(kwargs, words) -> None:
    with pytest.raises(ValueError) as err:
        resolve_spec("yuv", 8, False, 1, 1, 1280, 720, **kwargs)
    for w in words:
        assert w in str(err.value)


def test_resolve_spec_rejects_bad_formats() -> None:
    for args in [
        ("xyz", 8, False, 0, 0, 8, 8),
        ("yuv", 7, False, 0, 0, 8, 8),
        ("yuv", 8, True, 0, 0, 8, 8),
        ("rgb", 8, False, 1, 0, 8, 8),
        ("yuv", 8, False, 3, 0, 16, 8),
        ("yuv", 8, False, 1, 1, 9, 8),
    ]:
        with pytest.raises(ValueError):
            resolve_spec(*args)


def test_spec_from_format_range_props(vs, src) -> None:
    """R81 stores ``_Range`` (1 = full) and reads ``_ColorRange`` as its untranslated alias."""
    core = vs.core
    assert grab(src)[1].full_range is False  # no range prop on the decoded clip -> limited
    full = core.std.SetFrameProps(src, _Range=1)
    limited = core.std.SetFrameProps(src, _Range=0)
    assert grab(full)[1].full_range and not grab(limited)[1].full_range
    fmt = src.format
    # Older VapourSynth: only _ColorRange, 0 = full.
    assert C.spec_from_format(fmt, 1280, 720, {"_ColorRange": 0}).full_range
    assert not C.spec_from_format(fmt, 1280, 720, {"_ColorRange": 1}).full_range


# ----------------------------------------------------------------------------------------------------------
# resampling kernels (pure)


SITINGS = [(2, 0.0), (2, 0.5), (2, 1.0)]


@pytest.mark.parametrize("factor, phase", [*SITINGS, (4, 1.5)])
def test_downsample_inverts_upsample(factor, phase) -> None:
    """D∘U = I on any size, borders included (mirror extensions chosen to commute with U)."""
    torch.manual_seed(0)
    for n in (1, 2, 3, 5, 8, 41):
        x = torch.rand(3, 4, n, dtype=torch.float64)
        for dim in (-1, -2):
            xi = x if dim == -1 else x.transpose(1, 2).contiguous()
            up = C._upsample(xi, factor, phase, dim)
            assert up.shape[dim] == n * factor
            assert max_abs(C._downsample(up, factor, phase, dim), xi) < 1e-6


@pytest.mark.parametrize("factor, phase", [*SITINGS, (4, 0.0), (4, 1.5), (4, 3.0)])
def test_kernel_properties(factor, phase) -> None:
    up, _ = C._upsample_taps(factor, phase)
    assert np.allclose(up.sum(axis=1), 1)
    down, emin = C._downsample_taps(factor, phase)
    assert np.isclose(down.sum(), 1) and np.allclose(down, down[::-1])
    centre = emin + (len(down) - 1) / 2
    assert centre == phase  # symmetric about the chroma sample position
    # Upsampling interpolates: an output that coincides with a chroma sample copies it.
    if float(phase).is_integer():
        x = torch.rand(1, 1, 16, dtype=torch.float64)
        y = C._upsample(x, factor, phase, -1)
        assert max_abs(y[..., int(phase) :: factor], x) < 1e-12


# ----------------------------------------------------------------------------------------------------------
# real frame: round trips against VapourSynth's resizers


@pytest.mark.parametrize("fmt_name", ["YUV420P8", "YUV420P10", "YUV422P10"])
def test_subsampled_round_trip_beats_vapoursynth(vs, src, fmt_name) -> None:
    fmt = getattr(vs, fmt_name)
    # 4:2:0 from the source by Point (same codes, shifted to 10 bits); 4:2:2 needs new chroma rows: Spline36.
    resize = vs.core.resize.Point if "420" in fmt_name else vs.core.resize.Spline36
    clip = src if fmt == src.format.id else resize(src, format=fmt)
    planes, spec = grab(clip)
    back = rgb_to_planes(planes_to_rgb(planes, spec), spec)
    luma_err = max_abs(back[0], planes[0])
    ours = chroma_psnr(back, planes, spec)
    ref = {k: chroma_psnr(grab(vs_round_trip(vs, clip, k))[0], planes, spec) for k in ("Spline36", "Bicubic")}
    msg = f"{fmt_name}: luma max err {luma_err}, chroma PSNR ours {ours:.2f} dB, VS {ref}"
    print(msg)
    assert luma_err <= 1, msg
    assert luma_err == 0, msg  # stronger than the bar: exact
    assert ours >= ref["Spline36"], msg
    assert ours == math.inf, msg  # chroma exact too (D is the left inverse of U)
    assert [p.dtype for p in back] == [p.dtype for p in planes]


def test_siting_is_honoured(vs, src) -> None:
    """Our 4:2:0 upsampling equals zimg's Spline36 for every _ChromaLocation; a wrong siting is clearly worse,
    in the RGB and in the round trip."""
    core = vs.core
    for loc in range(6):
        clip = core.std.SetFrameProps(src, _ChromaLocation=loc)
        planes, spec = grab(clip)
        assert spec.chroma_location == loc
        ref = vs_rgb(core.resize.Spline36(clip, format=vs.RGBS, matrix_in_s="709"))
        ours = planes_to_rgb(planes, spec)
        inner = (..., slice(8, -8), slice(8, -8))
        right = psnr(ours[inner], ref[inner], 1.0)
        wrong_loc = {0: 1, 1: 0, 2: 4, 3: 5, 4: 2, 5: 3}[loc]
        wrong_spec = resolve_spec("yuv", 8, False, 1, 1, 1280, 720, chroma_location=wrong_loc)
        wrong = psnr(planes_to_rgb(planes, wrong_spec)[inner], ref[inner], 1.0)
        # Round trip with the right siting up, wrong siting down.
        mixed = rgb_to_planes(ours, wrong_spec)
        mixed_psnr = chroma_psnr(mixed, planes, spec)
        print(
            f"loc {loc}: RGB vs zimg Spline36 {right:.1f} dB, wrong siting {wrong:.1f} dB, "
            f"mismatched round trip {mixed_psnr:.1f} dB"
        )
        assert right > 120, (loc, right)
        assert wrong < right - 40 and wrong < 60, (loc, wrong)
        assert mixed_psnr < 60, (loc, mixed_psnr)


MATRICES = {1: "709", 6: "170m", 5: "470bg", 9: "2020ncl", 4: "fcc", 7: "240m"}


@pytest.mark.parametrize("matrix", list(MATRICES))
@pytest.mark.parametrize("full", [False, True])
def test_444_equals_vapoursynth_point(vs, src, matrix, full) -> None:
    core = vs.core
    clip = core.std.SetFrameProps(
        core.resize.Point(src, format=vs.YUV444P16), _Matrix=matrix, _Range=int(full)
    )
    planes, spec = grab(clip)
    assert (spec.matrix, spec.full_range) == (matrix, full)
    ref = vs_rgb(
        core.resize.Point(
            clip, format=vs.RGBS, matrix_in_s=MATRICES[matrix], range_in_s="full" if full else "limited"
        )
    )
    err = max_abs(planes_to_rgb(planes, spec), ref)
    assert err < 1e-4, err


@pytest.mark.parametrize("matrix", [1, 6])
@pytest.mark.parametrize("full", [False, True])
def test_420_rgb_close_to_vapoursynth(vs, src, matrix, full) -> None:
    core = vs.core
    clip = core.std.SetFrameProps(src, _Matrix=matrix, _Range=int(full))
    planes, spec = grab(clip)
    ours = planes_to_rgb(planes, spec)
    res = {}
    for k in ("Spline36", "Bicubic"):
        ref = vs_rgb(
            getattr(core.resize, k)(
                clip, format=vs.RGBS, matrix_in_s=MATRICES[matrix], range_in_s="full" if full else "limited"
            )
        )
        res[k] = psnr(ours, ref, 1.0)
    print(f"4:2:0 matrix {matrix} full={full}: our RGB vs VS RGB PSNR {res}")
    # Same kernel as zimg's Spline36; only the cosited left/right border columns differ (zimg mirrors them
    # half-sample, we mirror about the cosited chroma sample).
    assert res["Spline36"] > 85, res
    assert res["Bicubic"] > 60, res


FORMATS = [
    "GRAY8",
    "GRAY16",
    "GRAYS",
    "RGB24",
    "RGB48",
    "RGBS",
    "RGBH",
    "YUV444P8",
    "YUV444PH",
    "YUV422P10",
    "YUV420P16",
    "YUV420PS",
    "YUV410P8",
    "YUV411P8",
    "YUV440P8",
]


@pytest.mark.parametrize("fmt_name", FORMATS)
def test_formats_round_trip(vs, src, fmt_name) -> None:
    fmt = vs.core.get_video_format(getattr(vs, fmt_name))
    kw = {"matrix_in_s": "709"} if fmt.color_family == vs.RGB else {}
    clip = vs.core.resize.Spline36(src, format=fmt.id, **kw)
    planes, spec = grab(clip)
    rgb = planes_to_rgb(planes, spec)
    assert rgb.dtype == torch.float32 and rgb.shape == (1, 3, 720, 1280)
    back = rgb_to_planes(rgb, spec)
    assert [p.dtype for p in back] == [p.dtype for p in planes] == [spec.dtype] * spec.num_planes
    assert [p.shape for p in back] == [p.shape for p in planes]
    errs = [max_abs(a, b) for a, b in zip(back, planes, strict=True)]
    if spec.is_float:
        tol = 1e-5 if spec.bits == 32 else 1e-3  # float16: half a ulp near 1.0
        assert max(errs) <= tol, errs
    else:
        assert max(errs) == 0, errs
    if spec.family == "gray":
        assert torch.equal(rgb[:, 0], rgb[:, 1]) and torch.equal(rgb[:, 0], rgb[:, 2])


def test_gray_and_rgb_normalisation() -> None:
    g8 = resolve_spec("gray", 8, False, 0, 0, 4, 1)
    rgb = planes_to_rgb([torch.tensor([[16, 235, 0, 255]], dtype=torch.uint8)], g8)
    assert torch.allclose(rgb[0, :, 0], torch.tensor([[0.0, 1.0, -16 / 219, 239 / 219]] * 3))
    r16 = resolve_spec("rgb", 16, False, 0, 0, 2, 1)
    p = [torch.tensor([[0, 65535]], dtype=torch.uint16)] * 3
    assert torch.equal(planes_to_rgb(p, r16)[0, :, 0], torch.tensor([[0.0, 1.0]] * 3))
    # uint16 data handed over as int16 bits is read as unsigned.
    p = [torch.tensor([[0, -1]], dtype=torch.int16)] * 3
    assert torch.equal(planes_to_rgb(p, r16)[0, :, 0], torch.tensor([[0.0, 1.0]] * 3))


def test_rounding_clamping_and_shapes() -> None:
    spec = resolve_spec("yuv", 10, False, 1, 1, 8, 4)
    rgb = torch.zeros(2, 3, 4, 8)
    rgb[0] = 1.0
    rgb[1] = torch.linspace(-0.5, 1.5, 8)  # far outside 0..1
    y16, u16, v16 = rgb_to_planes(rgb, spec)
    assert y16.dtype == torch.uint16 and y16.shape == (2, 4, 8) and u16.shape == (2, 2, 4)
    y, u = y16.to(torch.int32), u16.to(torch.int32)  # few ops exist for uint16 tensors
    assert (
        int(y[0].min()) == int(y[0].max()) == 940 and int(u[0].max()) == 512
    )  # white: Y 940, neutral chroma
    assert int(y[1].min()) == 0 and int(y[1].max()) == 1023  # clamped to the codes the format holds
    # [3,H,W] in -> [h,w] planes out; 2-D planes in -> [1,3,H,W] out
    planes2d = rgb_to_planes(rgb[0], spec)
    assert [p.shape for p in planes2d] == [(4, 8), (2, 4), (2, 4)]
    assert planes_to_rgb(planes2d, spec).shape == (1, 3, 4, 8)
    # float formats are not clamped
    fspec = resolve_spec("rgb", 32, True, 0, 0, 8, 4)
    assert float(rgb_to_planes(rgb, fspec)[0].max()) == 1.5
    with pytest.raises(ValueError):
        planes_to_rgb([y16, u16], spec)
    with pytest.raises(ValueError):
        planes_to_rgb([y16, u16, v16[:, :1]], spec)


def test_batch_equals_single_frames(vs, src) -> None:
    (a, spec), (b, _) = grab(src, 10), grab(src, FRAME)
    batch = [torch.cat([x, y]) for x, y in zip(a, b, strict=True)]
    rgb = planes_to_rgb(batch, spec)
    assert torch.equal(rgb[:1], planes_to_rgb(a, spec)) and torch.equal(rgb[1:], planes_to_rgb(b, spec))
    back = rgb_to_planes(rgb, spec)
    assert all(torch.equal(x, y) for x, y in zip(back, batch, strict=True))


def test_downsampling_is_good_on_generic_content(vs, src) -> None:
    """For arbitrary full-resolution chroma (here: the luma plane used as chroma), down+up with our pair
    reconstructs better than zimg's Spline36 pair: D is the L2 projection for the Spline36 upsampler."""
    core = vs.core
    y = core.resize.Point(core.std.ShufflePlanes(src, 0, vs.GRAY), format=vs.GRAYS)
    c = core.std.Expr(y, "x 0.5 -")
    clip = core.std.SetFrameProps(core.std.ShufflePlanes([y, c, c], [0, 0, 0], vs.YUV), _ChromaLocation=0)
    orig, _ = grab(clip)
    rt, _ = grab(core.resize.Spline36(core.resize.Spline36(clip, format=vs.YUV420PS), format=vs.YUV444PS))
    ref = psnr(rt[1], orig[1], 1.0)
    spec = resolve_spec("yuv", 32, True, 1, 1, 1280, 720, chroma_location=0)
    ours = psnr(C._chroma_up(C._chroma_down(orig[1], spec), spec), orig[1], 1.0)
    print(f"generic chroma down+up: ours {ours:.2f} dB, zimg Spline36 {ref:.2f} dB")
    assert ours > ref


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_matches_cpu(vs, src) -> None:
    for fmt in ("YUV420P8", "YUV420P16", "YUV422P10", "RGB48", "GRAY16"):
        planes, spec = grab(vs.core.resize.Spline36(src, format=getattr(vs, fmt), matrix_s="709"))
        cpu = planes_to_rgb(planes, spec)
        gpu = planes_to_rgb([p.cuda() for p in planes], spec)
        assert gpu.device.type == "cuda" and max_abs(gpu.cpu(), cpu) < 1e-5
        back = rgb_to_planes(gpu, spec)
        assert all(torch.equal(b.cpu(), p) for b, p in zip(back, planes, strict=True)), fmt
