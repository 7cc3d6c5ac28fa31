"""The manifest of a scaled-out job: a JSON file beside the output recording every segment's range, status
and checksum, so a second run of the same command renders only what is missing.

The manifest is rewritten whole under a temporary name and renamed over the old one, so it is always
either the previous or the new state, never half of each.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .segments import Segment

FORMAT = 1
PENDING, DONE, FAILED = "pending", "done", "failed"


class ManifestError(ValueError):
    """The manifest cannot be read or belongs to another job."""


@dataclass
class SegmentState:
    index: int
    start: int
    end: int
    status: str = PENDING
    file: str | None = None  # name inside the segment directory
    sha256: str | None = None
    bytes: int | None = None
    started: float | None = None  # wall clock (s since the epoch) of the attempt that finished
    finished: float | None = None
    run: int | None = None  # the run (1, 2, ...) that rendered it
    attempts: int = 0
    host: str | None = None
    error: str | None = None

    @property
    def frames(self) -> int:
        return self.end - self.start


@dataclass
class Manifest:
    job: dict[str, Any]
    segments: list[SegmentState]
    runs: int = 0
    complete: bool = False
    format: int = FORMAT
    history: list[dict[str, Any]] = field(default_factory=list)

    @classmethod
    def new(cls, job: dict[str, Any], segments: list[Segment]) -> Manifest:
        return cls(job, [SegmentState(s.index, s.start, s.end) for s in segments])

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), indent=1, sort_keys=True)

    @classmethod
    def from_json(cls, text: str, where: str = "manifest") -> Manifest:
        try:
            data = json.loads(text)
            if data.get("format") != FORMAT:
                raise ManifestError(f"{where}: format {data.get('format')!r} is not {FORMAT}")
            segs = [SegmentState(**s) for s in data["segments"]]
            return cls(
                data["job"], segs, int(data["runs"]), bool(data["complete"]), FORMAT, list(data["history"])
            )
        except (ValueError, KeyError, TypeError) as e:
            if isinstance(e, ManifestError):
                raise
            raise ManifestError(f"{where} is not a vsrife manifest: {e}") from None

    def pending(self) -> list[SegmentState]:
        return [s for s in self.segments if s.status != DONE]

    def frames_done(self) -> int:
        return sum(s.frames for s in self.segments if s.status == DONE)


def job_key(job: dict[str, Any]) -> str:
    """A short digest of everything that changes the frames or their encoding."""
    return hashlib.sha256(json.dumps(job, sort_keys=True).encode()).hexdigest()[:16]


def save(manifest: Manifest, path: Path) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(manifest.to_json())
    os.replace(tmp, path)


def load(path: Path) -> Manifest | None:
    if not path.is_file():
        return None
    return Manifest.from_json(path.read_text(), str(path))


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


def verify(state: SegmentState, directory: Path) -> bool:
    """True when a segment marked done is still there, whole, with the recorded checksum."""
    if state.status != DONE or state.file is None:
        return False
    path = directory / state.file
    try:
        if path.stat().st_size != state.bytes:
            return False
    except OSError:
        return False
    return file_sha256(path) == state.sha256


def now() -> float:
    return round(time.time(), 3)
