"""Matroska timecode files (format v1 and v2): the source timestamps of a variable-rate clip, read without
decoding a single frame.

Both formats are plain text with a ``# timecode format vN`` header line; ``#`` lines and blank lines are
comments.

- **v2** (mkvextract, ffmpeg's ``mkvtimestamp_v2`` muxer, bestsource's ``timecodes=``): one start time per
  frame in milliseconds, as decimals (``41.708``). A file with one more line than the clip has frames gives
  the end of the last frame too; otherwise the last frame lasts as long as the one before it.
- **v1** (mkvmerge): ``Assume <fps>`` then ``first,last,fps`` ranges of frames (inclusive) that run at another
  rate. It does not know the frame count, so it is expanded to the clip's.

Times are exact rationals: decimals are read as written (``41.708`` ms is 5213.5/125 s, not a float), rates
within 0.005 of an NTSC rate snap to it as everywhere in vsrife. The first frame is moved to time 0.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

from .errors import VsrifeError
from .timing import parse_rate

V1_HEADER = "# timecode format v1"
V2_HEADER = "# timecode format v2"


class TimecodesError(VsrifeError):
    """A timecode file that cannot be used for the clip (message names the file and the line)."""


@dataclass(frozen=True)
class Timestamps:
    """``starts[k]``: when source frame k appears (seconds, first frame at 0); ``end``: when the last
    stops."""

    starts: tuple[Fraction, ...]
    end: Fraction

    def __len__(self) -> int:
        return len(self.starts)


def read_timecodes(path: str | os.PathLike[str], n_frames: int) -> Timestamps:
    """The timestamps of the ``n_frames`` frames of a clip, from a v1 or v2 timecode file."""
    p = Path(path)
    if p.is_dir():
        raise TimecodesError(f"timecodes: {p} is a directory; give a v1 or v2 timecode file")
    try:
        text = p.read_text(encoding="utf-8", errors="replace")
    except OSError as e:
        raise TimecodesError(f"timecodes: cannot read {p}: {e.strerror or e}") from None
    return parse_timecodes(text, n_frames, str(p))


def parse_timecodes(text: str, n_frames: int, name: str = "timecodes") -> Timestamps:
    lines = text.splitlines()
    header = lines[0].strip().lower() if lines else ""
    body = [(no, line.strip()) for no, line in enumerate(lines[1:], start=2)]
    body = [(no, line) for no, line in body if line and not line.startswith("#")]
    if header.startswith(V2_HEADER):
        return _v2(body, n_frames, name)
    if header.startswith(V1_HEADER):
        return _v1(body, n_frames, name)
    raise TimecodesError(
        f"timecodes: {name} is not a Matroska timecode file: its first line must be "
        f"'{V1_HEADER}' or '{V2_HEADER}'; got {lines[0][:60]!r}"
        if lines
        else f"timecodes: {name} is empty"
    )


def _decimal(value: str, name: str, no: int) -> Fraction:
    try:
        return Fraction(value)
    except (ValueError, ZeroDivisionError):
        raise TimecodesError(f"timecodes: {name} line {no}: {value!r} is not a number") from None


def _v2(body: list[tuple[int, str]], n_frames: int, name: str) -> Timestamps:
    if len(body) not in (n_frames, n_frames + 1):
        raise TimecodesError(
            f"timecodes: {name} has {len(body)} timestamps but the clip has {n_frames} frames "
            f"(a v2 file has one per frame, optionally one more for the end of the last)"
        )
    times = [_decimal(line, name, no) / 1000 for no, line in body]
    for k in range(1, len(times)):
        if times[k] <= times[k - 1]:
            raise TimecodesError(
                f"timecodes: {name} line {body[k][0]}: timestamps must increase; "
                f"{body[k][1]} ms follows {body[k - 1][1]} ms"
            )
    if len(times) == n_frames:
        if n_frames < 2:
            raise TimecodesError(
                f"timecodes: {name} needs at least 2 timestamps to know how long frames last"
            )
        times.append(times[-1] + (times[-1] - times[-2]))
    origin = times[0]
    shifted = [t - origin for t in times]
    return Timestamps(tuple(shifted[:-1]), shifted[-1])


def _v1(body: list[tuple[int, str]], n_frames: int, name: str) -> Timestamps:
    if not body or not body[0][1].lower().startswith("assume "):
        raise TimecodesError(f"timecodes: {name}: a v1 file needs an 'Assume <fps>' line after the header")
    assume = _rate(body[0][1].split(None, 1)[1], name, body[0][0])
    durations = [1 / assume] * n_frames
    last_end = -1
    for no, line in body[1:]:
        parts = [x.strip() for x in line.split(",")]
        if len(parts) != 3:
            raise TimecodesError(f"timecodes: {name} line {no}: expected 'first,last,fps'; got {line!r}")
        try:
            first, last = int(parts[0]), int(parts[1])
        except ValueError:
            raise TimecodesError(
                f"timecodes: {name} line {no}: frame numbers must be integers; got {line!r}"
            ) from None
        if first <= last_end or last < first:
            raise TimecodesError(
                f"timecodes: {name} line {no}: ranges must be ordered and not overlap; got {line!r}"
            )
        if last >= n_frames:
            raise TimecodesError(
                f"timecodes: {name} line {no}: range {first}-{last} goes past the clip's {n_frames} frames"
            )
        rate = _rate(parts[2], name, no)
        durations[first : last + 1] = [1 / rate] * (last + 1 - first)
        last_end = last
    starts = []
    acc = Fraction(0)
    for d in durations:
        starts.append(acc)
        acc += d
    return Timestamps(tuple(starts), acc)


def _rate(text: str, name: str, no: int) -> Fraction:
    try:
        return parse_rate(text.strip(), "fps")
    except ValueError:
        raise TimecodesError(
            f"timecodes: {name} line {no}: {text.strip()!r} is not a positive frame rate"
        ) from None


# Millisecond timecodes (Matroska's default timebase) round each start by up to half a millisecond, so the
# intervals of a constant-rate file differ by up to 1 ms (41/42 ms at 23.976 fps).
CONSTANT_RATE_TOLERANCE = Fraction(11, 10_000)  # seconds


def is_constant_rate(stamps: Timestamps, tolerance: Fraction = CONSTANT_RATE_TOLERANCE) -> bool:
    """True when every frame lasts the mean duration within ``tolerance`` seconds (rounding of the file)."""
    times = (*stamps.starts, stamps.end)
    mean = stamps.end / len(stamps.starts)
    return all(abs((times[k + 1] - times[k]) - mean) <= tolerance for k in range(len(stamps.starts)))
