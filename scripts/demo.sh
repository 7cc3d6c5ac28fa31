#!/usr/bin/env bash
# The README's demo: interpolate the bundled sample (Big Buck Bunny, 720p 25 fps YUV420P8) to 60 fps with
# core.rife.RIFE in a plain .vpy, through vspipe into x265, and show what came out. Runs on the CPU when
# there is no GPU: FRAMES (default 25 source frames, about 1 s of video) keeps it short there.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${VSRIFE_VENV:-.venv}
FRAMES=${FRAMES:-25}
OUT=out/demo_60fps.hevc
mkdir -p out
# 25 fps -> 60 fps: the first FRAMES source frames last FRAMES/25 s, i.e. ceil(FRAMES*60/25) output frames
N_OUT=$(( (FRAMES * 60 + 24) / 25 ))
echo "demo: interpolating $FRAMES frames of assets/bigbuckbunny.mp4 (25 fps) to 60 fps -> $OUT" >&2
start=$(date +%s)
"$VENV/bin/vspipe" -c y4m -a src="$PWD/assets/bigbuckbunny.mp4" -a fps=60 -a model=4.0 -e $((N_OUT - 1)) \
  examples/interpolate.vpy - | x265 --log-level error --y4m - --crf 20 -o "$OUT"
end=$(date +%s)
echo "demo: done in $((end - start)) s:" >&2
ffprobe -v error -count_frames -select_streams v:0 \
  -show_entries stream=codec_name,width,height,r_frame_rate,nb_read_frames -of default=noprint_wrappers=1 "$OUT" >&2
