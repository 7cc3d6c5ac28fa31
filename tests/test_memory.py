"""Returning free heap memory: it works where the C library can, and is a no-op elsewhere."""

from __future__ import annotations

import resource
import sys

import pytest

from vsrife.memory import release_free_memory


def _rss_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * resource.getpagesize()


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's malloc_trim")
def test_release_free_memory_returns_freed_heap_pages():
    """Many medium blocks freed around a few survivors leave free pages inside the heap, below glibc's
    mmap threshold; releasing hands them back (resident memory drops) without touching the survivors."""
    blocks = [bytearray(100_000) for _ in range(3000)]  # ~300 MB in 100 kB blocks on the heap
    for b in blocks:
        b[::4096] = b"\x01" * len(b[::4096])  # touch every page
    keep = blocks[::100]
    del blocks
    before = _rss_bytes()
    assert release_free_memory()
    after = _rss_bytes()
    assert before - after > 100 * 2**20, (before, after)
    assert all(k[0] == 1 for k in keep)
