"""Download weights: temp file, optional progress on stderr, verification, atomic rename.

A download is verified by its exact tensor layout: every tensor name and shape must be those of the release
(:func:`vsrife.weights.load_for`), read without running any pickled code. A sha256 is checked too where the
registry records one; today it records none (the release files could not be fetched to hash them), so a file
with the right layout but other values would be accepted.
"""

from __future__ import annotations

import hashlib
import os
import sys
import tempfile
import urllib.error
import urllib.request
from pathlib import Path

from .errors import DownloadError, WeightsError
from .registry import ModelSpec
from .weights import load_for, user_model_dir

__all__ = ["DownloadError", "download", "sha256_of", "verify"]


def sha256_of(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _progress(done: int, total: int | None, name: str) -> None:
    if total:
        pct = 100.0 * done / total
        sys.stderr.write(f"\r{name}: {done / 2**20:7.1f} / {total / 2**20:.1f} MiB ({pct:5.1f}%)")
    else:
        sys.stderr.write(f"\r{name}: {done / 2**20:7.1f} MiB")
    sys.stderr.flush()


def verify(spec: ModelSpec, path: Path) -> None:
    """A weights file is good when its tensors fit the release's architecture exactly (names and shapes)
    and, where the registry records one, its sha256 matches."""
    if spec.sha256 is not None:
        digest = sha256_of(path)
        if digest != spec.sha256:
            raise DownloadError(f"{spec.filename}: sha256 {digest} does not match the expected {spec.sha256}")
    try:
        load_for(spec, path)
    except WeightsError as e:
        raise DownloadError(f"{spec.filename}: downloaded file failed verification: {e}") from None


def download(
    spec: ModelSpec,
    dest_dir: str | os.PathLike[str] | None = None,
    url: str | None = None,
    force: bool = False,
    timeout: float = 60.0,
    progress: bool = False,
) -> Path:
    """Fetch ``spec``'s weights into ``dest_dir`` (default: the user model dir) and return the path.
    The URL is ``url``, else ``$VSRIFE_WEIGHTS_URL`` (a template with ``{filename}``, for mirrors), else the
    registry's. An existing file that verifies is kept; nothing partial is left behind on any error."""
    dest = Path(dest_dir) if dest_dir is not None else user_model_dir()
    dest.mkdir(parents=True, exist_ok=True)
    target = dest / spec.filename
    if target.is_file() and not force:
        try:
            verify(spec, target)
            return target
        except DownloadError:
            pass  # replace a bad copy
    mirror = os.environ.get("VSRIFE_WEIGHTS_URL")
    url = url or (mirror.format(filename=spec.filename) if mirror else spec.url)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{spec.filename}.", suffix=".part", dir=dest)
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as out:
            try:
                resp = urllib.request.urlopen(url, timeout=timeout)
            except urllib.error.HTTPError as e:
                raise DownloadError(
                    f"{spec.filename}: the server answered {e.code} {e.reason} for {url}"
                ) from None
            except (urllib.error.URLError, OSError) as e:
                reason = getattr(e, "reason", e)
                raise DownloadError(
                    f"{spec.filename}: cannot reach {url} ({reason}); check the network, or download "
                    f"the file by hand and put it in {dest}"
                ) from None
            with resp:
                total = int(resp.headers.get("Content-Length") or 0) or None
                done = 0
                while True:
                    chunk = resp.read(1 << 20)
                    if not chunk:
                        break
                    out.write(chunk)
                    done += len(chunk)
                    if progress:
                        _progress(done, total, spec.filename)
                if progress:
                    sys.stderr.write("\n")
                if total is not None and done != total:
                    raise DownloadError(f"{spec.filename}: download cut short ({done} of {total} bytes)")
        verify(spec, tmp)
        os.replace(tmp, target)
        return target
    finally:
        if tmp.exists():
            tmp.unlink()
