"""Exact timing tables: output frame n shows source time n / fps_out, with no drift over any length."""

from __future__ import annotations

import math
from fractions import Fraction as F

import pytest

from vsrife.timing import CFRTimeline, Position, VFRTimeline, make_timeline, parse_rate, target_rate

NTSC24, NTSC30, NTSC60 = F(24000, 1001), F(30000, 1001), F(60000, 1001)

RATES = [
    (NTSC24, NTSC60, [0, F(2, 5), F(4, 5), F(1, 5), F(3, 5)]),
    (NTSC24, F(60), None),
    (F(24), F(60), [0, F(2, 5), F(4, 5), F(1, 5), F(3, 5)]),
    (F(25), F(50), [0, F(1, 2)]),
    (NTSC30, F(120), None),
    (F(30), F(144), [0, F(5, 24), F(5, 12), F(5, 8), F(5, 6), F(1, 24)]),
    (F(25), F(125, 2), [0, F(2, 5), F(4, 5), F(1, 5), F(3, 5)]),  # factor 5/2
    (F(30), F(120), [0, F(1, 4), F(1, 2), F(3, 4)]),  # factor 4
]


@pytest.mark.parametrize("fps_in, fps_out, pattern", RATES)
def test_cfr_tables_exact_and_driftless(fps_in, fps_out, pattern):
    n_in = 100_003  # over an hour at 24 fps
    tl = CFRTimeline(n_in, fps_in, fps_out)
    assert tl.length == math.ceil(n_in * fps_out / fps_in)
    # output duration equals input duration: the last output frame starts before the end, the next would not
    assert F(tl.length - 1) / fps_out < n_in / fps_in <= F(tl.length) / fps_out
    for n in list(range(50)) + list(range(tl.length - 50, tl.length)):
        pos = tl.locate(n)
        assert 0 <= pos.t < 1
        if pos.index < n_in - 1:
            assert (pos.index + pos.t) / fps_in == F(n) / fps_out  # exact, at any n
        else:
            assert pos.t == 0 and F(n) / fps_out >= F(n_in - 1) / fps_in  # past the last frame: repeat it
    if pattern:
        assert [tl.locate(n).t for n in range(len(pattern))] == pattern


def test_end_of_clip_rule():
    tl = CFRTimeline(132, F(25), F(50))
    assert tl.length == 264
    # the last source frame starts at 131/25 s = output frame 262; the two after it repeat it
    assert [tl.locate(n) for n in (260, 261, 262, 263)] == [
        Position(130, F(0)),
        Position(130, F(1, 2)),
        Position(131, F(0)),
        Position(131, F(0)),
    ]
    tl = CFRTimeline(10, NTSC24, NTSC60)
    assert tl.length == 25
    assert tl.locate(24).index == 9 and tl.locate(24).t == 0  # 24/60 s past frame 9's start: repeat


def test_vfr_timeline_follows_real_timestamps():
    durations = [F(1, 25)] * 4 + [F(1, 50)] * 4 + [F(1, 10)]  # 25 fps, then 50 fps, then one long frame
    tl = VFRTimeline.from_durations(durations, F(50))
    assert tl.length == math.ceil(sum(durations) * 50) == 17
    table = [(tl.locate(n).index, tl.locate(n).t) for n in range(tl.length)]
    assert table[:8] == [
        (0, 0),
        (0, F(1, 2)),
        (1, 0),
        (1, F(1, 2)),
        (2, 0),
        (2, F(1, 2)),
        (3, 0),
        (3, F(1, 2)),
    ]
    assert table[8:12] == [(4, 0), (5, 0), (6, 0), (7, 0)]
    assert table[12:] == [(8, 0)] * 5  # the last frame is shown for its whole duration
    with pytest.raises(ValueError, match="non-positive duration"):
        VFRTimeline.from_durations([F(1, 25), F(0)], F(50))
    with pytest.raises(ValueError, match="one duration per frame"):
        make_timeline(3, None, F(50), [F(1, 25)])


@pytest.mark.parametrize(
    "value, expected",
    [
        (60, F(60)),
        (59.94, NTSC60),
        (23.976, NTSC24),
        (29.97, NTSC30),
        ("60000/1001", NTSC60),
        ("59.94", NTSC60),
        (F(120000, 1001), F(120000, 1001)),
        (50.0, F(50)),
        (12.5, F(25, 2)),
        ("144", F(144)),
        (b"48", F(48)),
    ],
)
def test_parse_rate(value, expected):
    assert parse_rate(value) == expected


@pytest.mark.parametrize("value", [0, -24, "abc", "1/0", float("nan"), True, [60], None])
def test_parse_rate_rejects(value):
    with pytest.raises(ValueError, match="fps must"):
        parse_rate(value)


def test_target_rate_rules():
    assert target_rate(F(25)) == 50
    assert target_rate(F(25), factor_num=5, factor_den=2) == F(125, 2)
    assert target_rate(NTSC24, fps=59.94) == NTSC60
    assert target_rate(NTSC24, fps_num=60000, fps_den=1001) == NTSC60
    assert target_rate(None, fps=60) == 60
    with pytest.raises(
        ValueError, match=r"fps must be higher than the clip's 25 fps; got 24\. .*drop frames"
    ):
        target_rate(F(25), fps=24)
    with pytest.raises(ValueError, match="higher than the clip's 30000/1001"):
        target_rate(NTSC30, fps=29.97)
    with pytest.raises(ValueError, match="variable frame rate: give the output rate with fps"):
        target_rate(None)
    with pytest.raises(ValueError, match="not both"):
        target_rate(F(25), fps=60, factor_num=2)
    with pytest.raises(ValueError, match="not both"):
        target_rate(F(25), fps=60, fps_num=60)
    with pytest.raises(ValueError, match="factor_num/factor_den must be greater than 1; got 1/1"):
        target_rate(F(25), factor_num=1)
    with pytest.raises(ValueError, match="factor_den must be a positive integer; got 0"):
        target_rate(F(25), factor_num=2, factor_den=0)
    with pytest.raises(ValueError, match="fps_num must be a positive integer"):
        target_rate(F(25), fps_num=-5)
