"""Unit strings from microscope files to the pint strings napari understands."""

from __future__ import annotations

NM_PER_UNIT = {
    "m": 1e9,
    "mm": 1e6,
    "um": 1e3,
    "µm": 1e3,
    "μm": 1e3,
    "micron": 1e3,
    "nm": 1.0,
    "Å": 0.1,
    "A": 0.1,
    "angstrom": 0.1,
    "pm": 1e-3,
}
S_PER_UNIT = {"s": 1.0, "ms": 1e-3, "us": 1e-6, "µs": 1e-6, "μs": 1e-6, "ns": 1e-9, "ps": 1e-12,
              "fs": 1e-15, "min": 60.0, "h": 3600.0}
ANGLE_UNITS = {"rad", "mrad", "deg"}
ENERGY_UNITS = {"eV", "keV", "meV", "MeV"}


def _clean(unit: object) -> str:
    return "" if unit is None else str(unit).strip().replace(" ", "")


def is_energy(unit: object) -> bool:
    """True when ``unit`` is an energy (a spectral axis)."""
    return _clean(unit) in ENERGY_UNITS


def to_napari_units(scale: float, unit: object) -> tuple[float, str]:
    """Convert one axis calibration to ``(scale, pint unit)`` with lengths in nm.

    Lengths become ``nm``, reciprocal lengths ``1/nm``, times ``s``, angles keep their unit;
    anything else (empty, ``"<undefined>"``, unknown) becomes ``(1.0, "pixel")`` because a
    scale in an unknown unit would mislead more than help.
    """
    text = _clean(unit)
    if not text or scale is None or not float(scale) > 0:
        return 1.0, "pixel"
    scale = float(scale)
    if text in NM_PER_UNIT:
        return scale * NM_PER_UNIT[text], "nm"
    if text.startswith("1/") and text[2:] in NM_PER_UNIT:
        return scale / NM_PER_UNIT[text[2:]], "1/nm"
    if text in S_PER_UNIT:
        return scale * S_PER_UNIT[text], "s"
    if text in ANGLE_UNITS:
        return scale, text
    return 1.0, "pixel"
