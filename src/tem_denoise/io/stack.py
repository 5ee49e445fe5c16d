"""The :class:`Stack`: an image or image stack with its physical calibration."""

from __future__ import annotations

import sys
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from tem_denoise.io.calibration import Calibration

SPATIAL_LABELS = ("y", "x")
STACK_LABELS = ("t", "y", "x")


class ReadError(ValueError):
    """A file could not be opened as images; the message names the file and says why."""


def _computed(array: Any) -> Any:
    """``array``, a lazy (dask) one computed as dask would, without importing dask.distributed.

    To pick its scheduler (even one given by name), dask imports dask.distributed to look for
    an active client (0.8 s of CPU on the first compute, e.g. in `tem-denoise info`). Without
    dask.distributed imported there can be no client, and dask would use its threaded
    scheduler: that one is given directly. A configured scheduler (e.g. a batch unit's) or a
    possible client leaves dask to choose.
    """
    compute = getattr(array, "compute", None)
    if compute is None or "distributed" in sys.modules:
        return array
    import dask
    import dask.threaded

    return compute(scheduler=dask.threaded.get) if dask.config.get("scheduler", None) is None else array


@dataclass
class Stack:
    """An image ``(y, x)`` or image stack ``(t, y, x)`` with calibration and metadata.

    Attributes
    ----------
    data : numpy.ndarray or dask.array.Array
        Pixel values in the detector's own units and dtype (never rescaled). Stacks read from
        files are dask arrays so that large series open without being read.
    scale : tuple of float
        Size of one step along each axis, in ``units`` (nm for y and x when calibrated;
        seconds for t when the frame interval is known).
    units : tuple of str
        One pint unit string per axis; ``"pixel"`` when the file gives no calibration.
    axis_labels : tuple of str
        ``("y", "x")`` or ``("t", "y", "x")``.
    translate : tuple of float
        Position of the first pixel along each axis, in ``units``.
    name : str
        Human-readable name (dataset title or file stem).
    metadata : dict
        The file's original metadata, untouched.
    provenance : dict
        What produced this data: source file, reader, and every processing step applied.
    modality : str or None
        One of :data:`tem_denoise.io.modality.MODALITIES` (``"HRTEM"``, ``"STEM-HAADF"``,
        ``"STEM-DF"``, ``"STEM-BF"``, ``"STEM-DPC"``, ``"STEM-iDPC"``, ``"STEM-dDPC"``) or None
        when the file does not say.
    """

    data: Any
    scale: tuple[float, ...]
    units: tuple[str, ...]
    axis_labels: tuple[str, ...]
    translate: tuple[float, ...] = ()
    name: str = "image"
    metadata: dict = field(default_factory=dict)
    provenance: dict = field(default_factory=dict)
    modality: str | None = None

    def __post_init__(self) -> None:
        ndim = len(self.data.shape)
        if ndim not in (2, 3):
            raise ValueError(
                f"A Stack holds a 2D image (y, x) or a stack (t, y, x); got {ndim}D data "
                f"of shape {tuple(self.data.shape)}."
            )
        if 0 in self.data.shape:
            raise ValueError(f"'{self.name}' is empty: shape {tuple(self.data.shape)}.")
        if not self.translate:
            self.translate = (0.0,) * ndim
        for attr in ("scale", "units", "axis_labels", "translate"):
            value = tuple(getattr(self, attr))
            if len(value) != ndim:
                raise ValueError(f"'{attr}' needs {ndim} entries, one per axis; got {value}.")
            setattr(self, attr, value)

    @classmethod
    def from_array(
        cls,
        data: Any,
        pixel_size: float | None = None,
        frame_interval: float | None = None,
        **kwargs: Any,
    ) -> Stack:
        """Wrap an array with a square pixel size in nm (None: uncalibrated) and,
        for stacks, a frame interval in seconds (None: unknown)."""
        spatial_scale: tuple[float, ...] = (pixel_size, pixel_size) if pixel_size else (1.0, 1.0)
        spatial_units: tuple[str, ...] = ("nm", "nm") if pixel_size else ("pixel", "pixel")
        labels: tuple[str, ...]
        if len(data.shape) == 3:
            t_scale, t_unit = (frame_interval, "s") if frame_interval else (1.0, "pixel")
            scale, units, labels = (t_scale, *spatial_scale), (t_unit, *spatial_units), STACK_LABELS
        else:
            scale, units, labels = spatial_scale, spatial_units, SPATIAL_LABELS
        return cls(data=data, scale=scale, units=units, axis_labels=labels, **kwargs)

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(self.data.shape)

    @property
    def is_stack(self) -> bool:
        """True for a (t, y, x) stack, False for a single (y, x) image."""
        return len(self.data.shape) == 3

    @property
    def n_frames(self) -> int:
        return self.data.shape[0] if self.is_stack else 1

    @property
    def calibration(self) -> Calibration:
        """Pixel size (y, x) in nm, origin, and frame interval: see :class:`Calibration`."""
        return Calibration.of_axes(self.scale, self.translate, self.units)

    @property
    def frame_interval(self) -> float | None:
        """Time between frames in seconds, or None (2D image or unknown)."""
        return self.calibration.frame_interval

    def frame(self, index: int = 0) -> np.ndarray:
        """One frame as a float32 numpy array (y, x); reads only that frame of a lazy stack."""
        plane = self.data[index] if self.is_stack else self.data
        return np.asarray(_computed(plane), dtype=np.float32)

    def derive(self, data: Any, name: str, step: dict) -> Stack:
        """A new Stack with the same calibration holding processed ``data``.

        ``step`` (what was done, with its parameters) is appended to the provenance history;
        ``data`` must have the same number of dimensions as this stack.
        """
        history = [*self.provenance.get("history", []), step]
        return replace(self, data=data, name=name, provenance={**self.provenance, "history": history})
