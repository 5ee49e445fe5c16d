"""The one calibration object: pixel size (y, x), origin, units and frame interval.

Built once from a file's :class:`~tem_denoise.io.Stack` (:meth:`Calibration.of_axes` on its
scale, translate and units) or from a napari layer (the same, with pint units), and accepted
by every analysis operation, so that lengths are converted between pixels and nm in one place.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from tem_denoise.io.units import to_napari_units


def unit_text(unit: Any) -> str:
    """A pint unit (napari layers) or a unit string (files) as a short string such as ``"nm"``."""
    if hasattr(unit, "dimensionality") and str(unit) not in ("pixel", "dimensionless"):
        return f"{unit:~}".replace(" ", "")
    return "" if unit is None else str(unit)


@dataclass(frozen=True)
class Calibration:
    """Where the pixels of an image or stack sit in the world.

    Attributes
    ----------
    pixel_size : (float, float) or None
        Pixel size (y, x) in nm; None when the image has no length calibration (then every
        length is in pixels).
    origin : (float, float)
        World position (y, x) of the centre of pixel (0, 0): in nm when calibrated, else px.
    frame_interval : float or None
        Time between frames in seconds; None for a single image or when unknown.
    """

    pixel_size: tuple[float, float] | None = None
    origin: tuple[float, float] = (0.0, 0.0)
    frame_interval: float | None = None

    def __post_init__(self) -> None:
        if self.pixel_size is not None:
            size = tuple(float(v) for v in self.pixel_size)
            if len(size) != 2 or not all(np.isfinite(size)) or min(size) <= 0:
                raise ValueError(f"a pixel size is two positive numbers (y, x) in nm; got {self.pixel_size}")
            object.__setattr__(self, "pixel_size", size)
        object.__setattr__(self, "origin", tuple(float(v) for v in self.origin))

    @classmethod
    def of_axes(cls, scale: Sequence[float], translate: Sequence[float], units: Sequence[Any]) -> Calibration:
        """The calibration of axes ``(y, x)`` or ``(t, y, x)`` given per-axis scale, translate and
        units (strings as in files, or pint units as in napari layers); lengths are converted to nm
        and times to seconds, anything else counts as uncalibrated."""
        converted = [to_napari_units(float(s), unit_text(u)) for s, u in zip(scale, units, strict=True)]
        spatial = converted[-2:]
        pixel_size = None
        origin = (float(translate[-2]), float(translate[-1]))
        if all(unit == "nm" for _, unit in spatial):
            pixel_size = (spatial[0][0], spatial[1][0])
            origin = (origin[0] * pixel_size[0] / float(scale[-2]), origin[1] * pixel_size[1] / float(scale[-1]))
        interval = converted[0][0] if len(converted) == 3 and converted[0][1] == "s" else None
        return cls(pixel_size, origin, interval)

    @classmethod
    def of_layer(cls, layer: Any) -> Calibration:
        """The calibration of a napari Image layer (or any object with scale, translate, units)."""
        ndim = len(layer.scale)
        units = getattr(layer, "units", None) or ("pixel",) * ndim
        return cls.of_axes(tuple(layer.scale), tuple(layer.translate), tuple(units))

    @property
    def calibrated(self) -> bool:
        """True when lengths are known in nm."""
        return self.pixel_size is not None

    @property
    def unit(self) -> str:
        """``"nm"`` when calibrated, else ``"px"``: the unit of lengths reported to the user."""
        return "nm" if self.calibrated else "px"

    @property
    def mean_pixel_size(self) -> float:
        """The mean of the two pixel sizes in nm (1 when uncalibrated: lengths stay in px)."""
        return float(np.mean(self.pixel_size)) if self.pixel_size else 1.0

    def to_px(self, length: float, unit: str) -> float:
        """A length given in ``unit`` (``"nm"`` or ``"px"``) in pixels (mean pixel size)."""
        if unit == "px":
            return float(length)
        if unit != "nm":
            raise ValueError(f"lengths are given in 'nm' or 'px', not {unit!r}")
        if not self.calibrated:
            raise ValueError("the image has no nm calibration; give the length in px")
        return float(length) / self.mean_pixel_size

    def to_user(self, length_px: float) -> float:
        """A length in pixels in the user's unit (:attr:`unit`)."""
        return float(length_px) * self.mean_pixel_size

    def positions_to_world(self, yx_px: np.ndarray) -> np.ndarray:
        """(n, 2) pixel positions (y, x) to world positions in nm (px + origin when uncalibrated)."""
        scale = np.asarray(self.pixel_size or (1.0, 1.0), dtype=np.float64)
        return np.asarray(self.origin) + np.asarray(yx_px, dtype=np.float64) * scale

    def world_to_px(self, yx_world: np.ndarray) -> np.ndarray:
        """(n, 2) world positions (y, x) (nm when calibrated) to pixel positions."""
        scale = np.asarray(self.pixel_size or (1.0, 1.0), dtype=np.float64)
        return (np.asarray(yx_world, dtype=np.float64) - np.asarray(self.origin)) / scale

    def shifted(self, offset_px: Sequence[float]) -> Calibration:
        """The calibration of a crop starting at pixel ``offset_px`` (y, x) of this image."""
        origin = self.positions_to_world(np.asarray(offset_px, dtype=np.float64)[None])[0]
        return Calibration(self.pixel_size, (float(origin[0]), float(origin[1])), self.frame_interval)

    def describe(self) -> str:
        """A short text such as ``"0.07 x 0.07 nm/px"`` or ``"uncalibrated (px)"``."""
        if self.pixel_size is None:
            return "uncalibrated (px)"
        y, x = self.pixel_size
        return f"{x:.4g} nm/px" if np.isclose(y, x) else f"{y:.4g} x {x:.4g} nm/px (y, x)"

    def to_dict(self) -> dict:
        """For provenance records."""
        return {"pixel_size_nm": list(self.pixel_size) if self.pixel_size else None,
                "origin": list(self.origin), "frame_interval_s": self.frame_interval}
