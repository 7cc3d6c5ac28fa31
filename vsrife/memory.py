"""Give freed heap memory back to the operating system during long renders.

glibc keeps the memory of freed tensors in its heap for reuse. With frames in flight (``clip.frames()``,
vspipe) the filter's allocations, tens of MB each from several threads, leave free pages between live
blocks: with two network calls at once resident memory grew by about 37 MB per 100 output frames at 720p,
to 3.58 GB at frame 2,300, while jemalloc stayed flat on the same render. ``malloc_trim(0)`` returns those
free pages (it madvises them away; nothing in use moves). Elsewhere (musl, macOS, Windows) this does nothing.

The trim runs on a thread of its own, never on the thread that asked for it. The engine's network calls run
on its own workers, fed by VapourSynth's threads; a trim walks glibc's arenas with the GIL released and
their locks held, so done there it stalls that frame, and a thread inside VapourSynth's C++ frames that takes
the GIL back after the interpreter began to exit is ended by ``pthread_exit``, which aborts the process.
:func:`request_release` only sets an event; the trimming thread, a plain Python daemon thread, does the
call.

:func:`keep_freed_memory` is the other half: the allocator settings of a CPU render. By default glibc hands
a freed block of more than a few MB straight back to the OS (``munmap``, or a heap top above the trim
threshold, or a whole thread-arena heap), and the next frame's tensor of the same size faults every page in
again, zero-filled by the kernel: at 720p about 40,000 page faults per network call, a fifth of its time.
Keeping freed memory until the next release makes those calls reuse it.
"""

from __future__ import annotations

import ctypes
import functools
import sys
import threading
from collections.abc import Callable


def _glibc(name: str, argtypes: list[type], restype: type) -> Callable[..., int] | None:
    """A glibc function of this process, or None (another C library, another system)."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        # the symbols already loaded in this process, libc's among them (ctypes.util.find_library would run
        # ldconfig in a subprocess, on whichever thread asks first)
        fn = getattr(ctypes.CDLL(None), name)
    except (OSError, AttributeError):
        return None
    fn.argtypes = argtypes
    fn.restype = restype
    return fn  # type: ignore[no-any-return]


@functools.cache
def _malloc_trim() -> Callable[[int], int] | None:
    return _glibc("malloc_trim", [ctypes.c_size_t], ctypes.c_int)


# mallopt parameters (glibc's malloc.h)
_M_TRIM_THRESHOLD = -1
_M_TOP_PAD = -2
_M_MMAP_THRESHOLD = -3
# Blocks under this come from the heap (glibc's largest allowed value on 64-bit); a 720p frame's tensors are
# 3.7-22 MB, only the 12-plane input of the full-resolution block (45 MB) is mapped on its own.
MMAP_THRESHOLD = 32 * 2**20
# Free memory at a heap's top that stays there (a thread arena's heap is at most 64 MB, and one left empty
# is unmapped unless the pad keeps it).
TOP_PAD = 64 * 2**20
TRIM_THRESHOLD = 2**30


@functools.cache
def _mallopt() -> Callable[[int, int], int] | None:
    return _glibc("mallopt", [ctypes.c_int, ctypes.c_int], ctypes.c_int)


@functools.cache
def keep_freed_memory() -> bool:
    """Set glibc's allocator for a render, once per process: freed blocks under 32 MB stay in the process for
    the next frame instead of going back to the OS (the trimming thread returns them every
    ``RELEASE_EVERY`` network calls, so memory stays flat). On 2 cores at 720p (RIFE 4.0, bf16, one network
    call on a worker thread): 41,900 -> 3,000 page faults and 204 -> 165 ms per call. False where the C
    library has no ``mallopt`` (nothing is changed)."""
    fn = _mallopt()
    if fn is None:
        return False
    settings = (
        (_M_MMAP_THRESHOLD, MMAP_THRESHOLD),
        (_M_TOP_PAD, TOP_PAD),
        (_M_TRIM_THRESHOLD, TRIM_THRESHOLD),
    )
    return all(fn(param, value) == 1 for param, value in settings)


def release_free_memory() -> bool:
    """Return the heap's free pages to the OS now, on this thread; False where the C library cannot."""
    fn = _malloc_trim()
    if fn is None:
        return False
    fn(0)
    return True


class _Releaser:
    """One daemon thread per process that runs :func:`release_free_memory` when asked."""

    def __init__(self) -> None:
        self._wanted = threading.Event()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self.done = 0  # releases completed (for tests)

    def request(self) -> bool:
        if _malloc_trim() is None:
            return False
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="vsrife-release-memory", daemon=True)
                self._thread.start()
        self._wanted.set()
        return True

    def _run(self) -> None:
        while True:
            self._wanted.wait()
            self._wanted.clear()
            release_free_memory()
            self.done += 1


_releaser = _Releaser()


def request_release() -> bool:
    """Ask the trimming thread to return free heap pages soon; returns at once. Requests made while one is
    pending are merged. False where the C library cannot release (nothing is started then)."""
    return _releaser.request()


def releases_done() -> int:
    """How many releases the trimming thread has completed in this process."""
    return _releaser.done
