"""The one error family of vsrife.

Every check raises a :class:`VsrifeError` (a ``ValueError``) whose message names the argument and the values
allowed, with no prefix of its own. The boundary a user called adds its name once: the VapourSynth filter
turns the error into ``vs.Error("RIFE: <message>")``, the command line prints ``vsrife <command>: <message>``.
"""

from __future__ import annotations


class VsrifeError(ValueError):
    """Bad input or an unusable setting: the message says which argument and what is allowed."""


class WeightsError(VsrifeError):
    """A weights file is missing, unreadable, unsafe or belongs to another release."""


class DownloadError(VsrifeError):
    """Weights could not be downloaded or did not verify; nothing was left under the final name."""
