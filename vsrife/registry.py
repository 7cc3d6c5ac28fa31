"""The one table of RIFE releases: version -> architecture, weights file, download URL, checksum.

The API, the filter, the downloader, the command line and the tests all read :data:`MODELS`; nothing else
lists the versions.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from .errors import VsrifeError
from .ifnet import EncoderConfig, IFNetConfig

WEIGHTS_URL = "https://github.com/HolyWu/vs-rife/releases/download/model/{filename}"

# Architecture families, each derived from its predecessor by the facts that changed.
_V4_0 = IFNetConfig(
    activation="prelu",
    convblock="skip",
    lastconv_channels=5,
    pixel_shuffle=False,
    accumulate_mask=True,
    dynamic_rescale=True,
)
_V4_2 = replace(_V4_0, activation="leaky", convblock="plain", dynamic_rescale=False)
_V4_5 = replace(_V4_2, convblock="resconv", pixel_shuffle=True)
_V4_6 = replace(_V4_5, lastconv_channels=6)
_V4_7 = replace(_V4_6, encoder=EncoderConfig("pair", 16, 4), accumulate_mask=False)
_V4_10 = replace(_V4_7, encoder=EncoderConfig("seq", 32, 8))
_V4_12_LITE = replace(_V4_10, widths=(128, 96, 64, 48), encoder=EncoderConfig("seq", 32, 4))
_V4_13 = replace(_V4_10, encoder=EncoderConfig("head", 32, 8))
_V4_14_LITE = replace(_V4_13, groups=2)
_V4_15_LITE = replace(_V4_13, widths=(128, 96, 64, 48), encoder=EncoderConfig("head", 16, 4))
_V4_20 = replace(_V4_13, widths=(384, 192, 96, 48))
_V4_21 = replace(
    _V4_13, widths=(256, 192, 96, 48), lastconv_channels=13, block_features=8, supports_ensemble=False
)
_V4_22_LITE = replace(_V4_21, widths=(192, 128, 64, 32), encoder=EncoderConfig("head", 16, 4))
_V4_25 = replace(_V4_22_LITE, widths=(192, 128, 96, 64, 32), scales=(16, 8, 4, 2, 1))
_V4_25_LITE = replace(_V4_25, widths=(192, 128, 96, 64, 24), scales=(32, 16, 8, 4, 1))
_V4_25_HEAVY = replace(_V4_25, widths=(384, 256, 192, 128, 64))
_V4_26_HEAVY = replace(_V4_25, encoder=EncoderConfig("head", 16, 16))


@dataclass(frozen=True)
class ModelSpec:
    version: str
    config: IFNetConfig
    sha256: str | None = None

    @property
    def filename(self) -> str:
        return f"flownet_v{self.version}.pkl"

    @property
    def url(self) -> str:
        return WEIGHTS_URL.format(filename=self.filename)

    @property
    def modulo(self) -> int:
        return self.config.modulo

    @property
    def supports_ensemble(self) -> bool:
        return self.config.supports_ensemble

    @property
    def has_encoder(self) -> bool:
        return self.config.encoder is not None


_TABLE: tuple[tuple[str, IFNetConfig], ...] = (
    ("4.0", _V4_0),
    ("4.1", _V4_0),
    ("4.2", _V4_2),
    ("4.3", _V4_2),
    ("4.4", _V4_2),
    ("4.5", _V4_5),
    ("4.6", _V4_6),
    ("4.7", _V4_7),
    ("4.8", _V4_7),
    ("4.9", _V4_7),
    ("4.10", _V4_10),
    ("4.11", _V4_10),
    ("4.12", _V4_10),
    ("4.12.lite", _V4_12_LITE),
    ("4.13", _V4_13),
    ("4.13.lite", _V4_12_LITE),
    ("4.14", _V4_13),
    ("4.14.lite", _V4_14_LITE),
    ("4.15", _V4_13),
    ("4.15.lite", _V4_15_LITE),
    ("4.16.lite", _V4_15_LITE),
    ("4.17", _V4_13),
    ("4.17.lite", _V4_15_LITE),
    ("4.18", _V4_13),
    ("4.19", _V4_13),
    ("4.20", _V4_20),
    ("4.21", _V4_21),
    ("4.22", _V4_21),
    ("4.22.lite", _V4_22_LITE),
    ("4.23", _V4_21),
    ("4.24", _V4_13),
    ("4.25", _V4_25),
    ("4.25.lite", _V4_25_LITE),
    ("4.25.heavy", _V4_25_HEAVY),
    ("4.26", _V4_25),
    ("4.26.heavy", _V4_26_HEAVY),
)

MODELS: dict[str, ModelSpec] = {version: ModelSpec(version, cfg) for version, cfg in _TABLE}
VERSIONS: tuple[str, ...] = tuple(MODELS)
DEFAULT_VERSION = "4.25"
SCALES: tuple[float, ...] = (0.25, 0.5, 1.0, 2.0, 4.0)


def get_spec(version: str) -> ModelSpec:
    """The spec of ``version`` ("4.25", "v4.25" and 4.25 as a float-like string are accepted)."""
    key = str(version).strip().removeprefix("v")
    spec = MODELS.get(key)
    if spec is None:
        raise VsrifeError(f"model must be one of {', '.join(VERSIONS)}; got {version!r}")
    return spec
