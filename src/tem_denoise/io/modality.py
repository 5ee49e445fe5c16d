"""Guess the imaging modality (HRTEM, STEM-HAADF, STEM-BF) from file metadata."""

from __future__ import annotations

from collections.abc import Iterator

_MODE_KEYS = {"IlluminationMode", "Illumination Mode", "Operation Mode"}
_STEM_VALUES = {"probe", "stem", "scanning"}
_TEM_VALUES = {"parallel", "tem", "imaging"}
_VELOX_OPERATING_MODE = {"1": False, "2": True}


def _walk(tree: object, depth: int = 0) -> Iterator[tuple[str, object]]:
    if depth > 12 or not isinstance(tree, dict):
        return
    for key, value in tree.items():
        yield str(key), value
        yield from _walk(value, depth + 1)


def _scanning(original_metadata: dict) -> bool | None:
    """True for STEM, False for (HR)TEM, None when the metadata does not say."""
    optics = original_metadata.get("Optics")
    if isinstance(optics, dict) and str(optics.get("OperatingMode")) in _VELOX_OPERATING_MODE:
        return _VELOX_OPERATING_MODE[str(optics["OperatingMode"])]
    verdict = None
    for key, value in _walk(original_metadata):
        if key in _MODE_KEYS:
            text = str(value).strip().lower()
            if text in _STEM_VALUES:
                return True
            if text in _TEM_VALUES:
                verdict = False
    return verdict


def guess_modality(title: str, original_metadata: dict) -> str | None:
    """Return ``"HRTEM"``, ``"STEM-HAADF"``, ``"STEM-BF"`` or None.

    Velox files say ``Optics/IlluminationMode`` (``Probe`` for STEM) and
    ``Optics/OperatingMode`` (1 TEM, 2 STEM); Gatan files say ``Illumination Mode`` and
    ``Operation Mode``. The detector name in the dataset title (HAADF, DF, BF, ABF) picks the
    STEM contrast; a STEM image from an unnamed detector is taken as HAADF, the common case.
    """
    words = title.upper().replace("-", " ").replace("_", " ").split()
    scanning = _scanning(original_metadata)
    if scanning is None and any(w in {"HAADF", "ADF", "DF", "BF", "ABF"} for w in words):
        scanning = True
    if scanning is None:
        return None
    if not scanning:
        return "HRTEM"
    if any(w in {"BF", "ABF"} for w in words):
        return "STEM-BF"
    return "STEM-HAADF"
