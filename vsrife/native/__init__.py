"""Native VapourSynth shim plugin that provides core.rife.RIFE (see build.py)."""
