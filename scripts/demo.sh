#!/usr/bin/env bash
# The README's demo: interpolate the bundled sample (Big Buck Bunny, 720p 25 fps with audio) to 60 fps into a
# playable Matroska file, and draw a preview picture to judge the result. Runs on the CPU when there is no
# GPU: FRAMES (default 25 source frames, about 1 s of video) keeps it short there; FRAMES=132 for all of it.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${VSRIFE_VENV:-.venv}
FRAMES=${FRAMES:-25}
MODEL=${MODEL:-4.0}
VIDEO=out/demo_60fps.mkv
PICTURE=out/demo_preview.png
mkdir -p out
echo "demo: interpolating $FRAMES frames of assets/bigbuckbunny.mp4 (25 fps) to 60 fps with RIFE $MODEL" >&2
"$VENV/bin/vsrife" interpolate assets/bigbuckbunny.mp4 -o "$VIDEO" --fps 60 --model "$MODEL" \
  --frames "$FRAMES" --encoder x264 --preset fast --progress
echo "demo: drawing the preview at 00:00:00.5 (source frames, interpolated frames, flow, blend mask)" >&2
"$VENV/bin/vsrife" preview assets/bigbuckbunny.mp4 --at 0.5 --fps 60 --model "$MODEL" -o "$PICTURE"
ffprobe -v error -count_frames -show_entries stream=codec_type,codec_name,width,height,r_frame_rate,nb_read_frames \
  -of compact=nokey=0:print_section=0 "$VIDEO" >&2
echo "demo: play $PWD/$VIDEO (e.g. mpv or VLC); look at $PWD/$PICTURE" >&2
