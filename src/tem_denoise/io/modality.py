"""Guess the imaging modality (HRTEM or the STEM detector's contrast) from file metadata."""

from __future__ import annotations

import re
from collections.abc import Iterator

_MODE_KEYS = {"IlluminationMode", "Illumination Mode", "Operation Mode", "acquisition_mode"}
_STEM_VALUES = {"probe", "stem", "scanning"}
_TEM_VALUES = {"parallel", "tem", "imaging"}
_VELOX_OPERATING_MODE = {"1": False, "2": True}

# Detector names in dataset titles, as whole words (titles are split at spaces, '-' and '_'),
# and the STEM contrast they record, first match wins. Velox names its images after the
# detector or the processing: HAADF, DF-S/DF-I/DF-O (annular dark-field rings), DF4-A..D
# (dark-field quadrants), BF/BF-S/ABF, A-C and B-D (differences of opposite segments, the two
# DPC components), DPC, iDPC (integrated DPC) and dDPC (differentiated DPC).
_DETECTOR_WORDS = (
    (re.compile(r"IDPC"), "STEM-iDPC"),
    (re.compile(r"DDPC"), "STEM-dDPC"),
    (re.compile(r"DPC[XY]?"), "STEM-DPC"),
    (re.compile(r"HAADF|ADF"), "STEM-HAADF"),
    (re.compile(r"DF\d*|[LM]AADF"), "STEM-DF"),
    (re.compile(r"A?BF\d*"), "STEM-BF"),
)
_SEGMENT_DIFFERENCE = re.compile(r"[A-D]\s*-\s*[A-D]")  # e.g. "A-C": one DPC component

MODALITIES = ("HRTEM", "STEM-HAADF", "STEM-DF", "STEM-BF", "STEM-DPC", "STEM-iDPC", "STEM-dDPC")


def _walk(tree: object, depth: int = 0) -> Iterator[tuple[str, object]]:
    if depth > 12 or not isinstance(tree, dict):
        return
    for key, value in tree.items():
        yield str(key), value
        yield from _walk(value, depth + 1)


def _scanning(*trees: dict) -> bool | None:
    """True for STEM, False for (HR)TEM, None when the metadata does not say."""
    for tree in trees:
        optics = tree.get("Optics")
        if isinstance(optics, dict) and str(optics.get("OperatingMode")) in _VELOX_OPERATING_MODE:
            return _VELOX_OPERATING_MODE[str(optics["OperatingMode"])]
    verdict = None
    for tree in trees:
        for key, value in _walk(tree):
            if key in _MODE_KEYS:
                text = str(value).strip().lower()
                if text in _STEM_VALUES:
                    return True
                if text in _TEM_VALUES:
                    verdict = False
    return verdict


def detector_contrast(title: str) -> str | None:
    """The STEM contrast a dataset title names (``"STEM-iDPC"``, ``"STEM-DF"``, ...), or None."""
    text = title.strip().upper()
    if _SEGMENT_DIFFERENCE.fullmatch(text):
        return "STEM-DPC"
    words = re.split(r"[\s_\-]+", text)
    for pattern, modality in _DETECTOR_WORDS:
        if any(pattern.fullmatch(word) for word in words):
            return modality
    return None


def guess_modality(title: str, original_metadata: dict, metadata: dict | None = None) -> str | None:
    """Return one of :data:`MODALITIES` or None when the file does not say.

    Velox files say ``Optics/IlluminationMode`` (``Probe`` for STEM) and
    ``Optics/OperatingMode`` (1 TEM, 2 STEM); Gatan files say ``Illumination Mode`` and
    ``Operation Mode``; HyperSpy files ``Acquisition_instrument/TEM/acquisition_mode``
    (``metadata``, RosettaSciIO's normalised metadata). The detector or processing named in
    the dataset title (:func:`detector_contrast`: HAADF, DF4-A, BF, iDPC, A-C...) picks the STEM
    contrast; a STEM image from an unnamed detector is taken as HAADF, the common case.
    """
    contrast = detector_contrast(title)
    scanning = _scanning(original_metadata, metadata or {})
    if scanning is None and contrast is not None:
        scanning = True
    if scanning is None:
        return None
    if not scanning:
        return "HRTEM"
    return contrast or "STEM-HAADF"
