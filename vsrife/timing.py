"""Frame timing in exact rational arithmetic: which source frames and which timestep make output frame n.

Output frame n shows source time n / fps_out. For a constant-rate source of rate fps_in that is source
position p = n * fps_in / fps_out; for a variable-rate source it is found among the real timestamps. The
output lasts as long as the input (the last source frame is shown for its own duration), so
``length = ceil(duration * fps_out)``; output frames past the last source frame repeat it.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction

from .errors import VsrifeError

# VapourSynth counts frames in a C int: no clip can be longer.
MAX_FRAMES = 2**31 - 1

# Rates that float arguments such as 59.94 or 23.976 stand for.
NTSC_BASES = (24, 30, 48, 60, 72, 90, 96, 100, 120, 144, 240, 300)


def parse_rate(value: object, name: str = "fps") -> Fraction:
    """int, float, Fraction or "num/den" / "59.94" strings -> a positive Fraction. Floats within 0.005 of an
    NTSC rate (k * 1000/1001) snap to it, so 23.976 -> 24000/1001 and 59.94 -> 60000/1001."""
    if isinstance(value, bool):
        raise VsrifeError(f"{name} must be a number, a Fraction or a string like '60000/1001'; got {value!r}")
    if isinstance(value, bytes):
        value = value.decode()
    if isinstance(value, str):
        text = value.strip()
        try:
            if "/" in text:
                num, den = text.split("/", 1)
                rate = Fraction(int(num), int(den))
            elif "." in text or "e" in text.lower():
                rate = _snap(float(text))
            else:
                rate = Fraction(int(text))
        except (ValueError, ZeroDivisionError):
            raise VsrifeError(
                f"{name} must be a number or a string like '60000/1001'; got {value!r}"
            ) from None
    elif isinstance(value, Fraction):
        rate = value
    elif isinstance(value, int):
        rate = Fraction(value)
    elif isinstance(value, float):
        if not math.isfinite(value):
            raise VsrifeError(f"{name} must be a finite number; got {value!r}")
        rate = _snap(value)
    else:
        raise VsrifeError(f"{name} must be a number, a Fraction or a string like '60000/1001'; got {value!r}")
    if rate <= 0:
        raise VsrifeError(f"{name} must be positive; got {value!r}")
    return rate


def _snap(x: float) -> Fraction:
    for base in NTSC_BASES:
        ntsc = Fraction(base * 1000, 1001)
        if abs(x - float(ntsc)) < 0.005 and abs(x - base) > 0.005:
            return ntsc
    return Fraction(x).limit_denominator(1001)


@dataclass(frozen=True)
class Position:
    """Output frame -> source frame ``index`` and ``t`` in [0, 1) towards ``index + 1``."""

    index: int
    t: Fraction

    @property
    def exact(self) -> bool:
        return self.t == 0


@dataclass(frozen=True)
class CFRTimeline:
    """Constant-rate source of ``n_in`` frames at ``fps_in`` shown at ``fps_out``."""

    n_in: int
    fps_in: Fraction
    fps_out: Fraction

    @property
    def length(self) -> int:
        return math.ceil(self.n_in * self.fps_out / self.fps_in)

    @property
    def cycle(self) -> tuple[int, int]:
        """``(p, q)``: fps_in / fps_out = p / q in lowest terms, so every q output frames advance exactly p
        source frames and the pattern of positions repeats (24 -> 60: every 5 output frames, 2 source)."""
        ratio = self.fps_in / self.fps_out
        return ratio.numerator, ratio.denominator

    def cycle_offsets(self, repeats: int = 1) -> list[int]:
        """Source frame of each output frame in ``repeats`` cycles, relative to their first source frame:
        output frame n shows source ``(n // (r*q)) * r*p + offsets[n % (r*q)]`` (before the end-of-clip
        clamp)."""
        p, q = self.cycle
        return [k * p // q for k in range(q * repeats)]

    def locate(self, n: int) -> Position:
        p = Fraction(n) * self.fps_in / self.fps_out
        i = p.numerator // p.denominator
        if i >= self.n_in - 1:
            return Position(self.n_in - 1, Fraction(0))
        return Position(i, p - i)


@dataclass(frozen=True)
class VFRTimeline:
    """Variable-rate source resampled to constant ``fps_out``. ``starts[k]`` is when source frame k appears
    (seconds, exact); ``end`` is when the last one stops. Build it with :meth:`from_durations`."""

    starts: tuple[Fraction, ...]
    end: Fraction
    fps_out: Fraction

    @classmethod
    def from_starts(cls, starts: Sequence[Fraction], end: Fraction, fps_out: Fraction) -> VFRTimeline:
        return cls(tuple(starts), end, fps_out)

    @classmethod
    def from_durations(cls, durations: Sequence[Fraction], fps_out: Fraction) -> VFRTimeline:
        starts: list[Fraction] = []
        acc = Fraction(0)
        for d in durations:
            if d <= 0:
                raise VsrifeError(f"frame {len(starts)} has a non-positive duration {d}")
            starts.append(acc)
            acc += d
        return cls(tuple(starts), acc, fps_out)

    @property
    def n_in(self) -> int:
        return len(self.starts)

    @property
    def length(self) -> int:
        return math.ceil(self.end * self.fps_out)

    def locate(self, n: int) -> Position:
        time = Fraction(n) / self.fps_out
        i = bisect.bisect_right(self.starts, time) - 1
        if i >= self.n_in - 1:
            return Position(self.n_in - 1, Fraction(0))
        return Position(i, (time - self.starts[i]) / (self.starts[i + 1] - self.starts[i]))


Timeline = CFRTimeline | VFRTimeline


def target_rate(
    fps_in: Fraction | None,
    fps: object = None,
    fps_num: int | None = None,
    fps_den: int | None = None,
    factor_num: int | None = None,
    factor_den: int | None = None,
) -> Fraction:
    """The output rate from the user's arguments (fps, fps_num/fps_den, or factor_num/factor_den; default 2x).
    ``fps_in`` is None for variable-rate sources, which need an explicit rate. Raises VsrifeError."""
    given_fps = fps is not None or fps_num is not None or fps_den is not None
    given_factor = factor_num is not None or factor_den is not None
    if given_fps and given_factor:
        raise VsrifeError("give either fps (or fps_num/fps_den) or factor_num/factor_den, not both")
    if fps is not None and (fps_num is not None or fps_den is not None):
        raise VsrifeError("give either fps or fps_num/fps_den, not both")
    if fps is not None:
        out = parse_rate(fps, "fps")
    elif fps_num is not None or fps_den is not None:
        num = _positive_int(fps_num, "fps_num", required=True)
        den = _positive_int(fps_den if fps_den is not None else 1, "fps_den")
        out = Fraction(num, den)
    else:
        if fps_in is None:
            raise VsrifeError(
                "the clip has a variable frame rate: give the output rate with fps (e.g. fps=60 or "
                "fps='60000/1001')"
            )
        num = _positive_int(factor_num if factor_num is not None else 2, "factor_num")
        den = _positive_int(factor_den if factor_den is not None else 1, "factor_den")
        if Fraction(num, den) <= 1:
            raise VsrifeError(f"factor_num/factor_den must be greater than 1; got {num}/{den}")
        out = fps_in * Fraction(num, den)
    if fps_in is not None and out <= fps_in:
        raise VsrifeError(
            f"fps must be higher than the clip's {_show(fps_in)} fps; got {_show(out)}. RIFE only adds "
            f"frames: to lower the rate, drop frames instead (e.g. std.SelectEvery, or std.AssumeFPS for a "
            f"speed change)"
        )
    return out


def _positive_int(value: object, name: str, required: bool = False) -> int:
    if value is None and required:
        raise VsrifeError(f"{name} is required with fps_den")
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise VsrifeError(f"{name} must be a positive integer; got {value!r}")
    return value


def _show(rate: Fraction) -> str:
    return (
        str(rate.numerator)
        if rate.denominator == 1
        else f"{rate.numerator}/{rate.denominator} ({float(rate):.3f})"
    )


def make_timeline(
    n_in: int, fps_in: Fraction | None, fps_out: Fraction, durations: Sequence[Fraction] | None = None
) -> Timeline:
    if fps_in is not None:
        return checked(CFRTimeline(n_in, fps_in, fps_out))
    if durations is None or len(durations) != n_in:
        raise VsrifeError("a variable-rate clip needs one duration per frame")
    return checked(VFRTimeline.from_durations(durations, fps_out))


def checked(timeline: Timeline) -> Timeline:
    """The timeline, if its output fits in a VapourSynth clip; else a VsrifeError naming the length."""
    if timeline.length > MAX_FRAMES:
        raise VsrifeError(
            f"fps {_show(timeline.fps_out)} would make {timeline.length:,} output frames; a VapourSynth clip "
            f"holds at most {MAX_FRAMES:,}. Use a lower rate or a shorter clip"
        )
    return timeline
