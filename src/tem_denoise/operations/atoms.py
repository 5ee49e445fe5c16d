"""Find atom columns in a frame or stack: the Atom positions dock and ``tem-denoise atoms``.

Atoms are searched on the image itself or on the atom map of an atom-map network. With no
minimum separation given it is estimated from the image's repeat distance
(:func:`~tem_denoise.analysis.atoms.lattice_spacing`) and reported in nm.
"""

from __future__ import annotations

from collections.abc import Generator
from dataclasses import asdict, dataclass, field
from os import PathLike
from typing import Any, Literal

import numpy as np

from tem_denoise.io import Calibration, Stack
from tem_denoise.operations.options import check_limits, option
from tem_denoise.progress import Progress, run_to_end

METHOD_LABELS = {"gaussian": "2D Gaussian fit", "com": "centre of mass"}


@dataclass(frozen=True)
class AtomOptions:
    """How atoms are found (see :func:`tem_denoise.analysis.locate_atoms`)."""

    min_separation_nm: float | None = option(
        None, "minimum distance between two atoms in nm", minimum=0.0, step=0.01,
        none_text="estimated from the image's lattice", label="min separation (nm)")
    min_separation_px: float | None = option(
        None, "minimum distance between two atoms in px, instead of nm", minimum=1.0, step=0.5,
        none_text="estimated from the image's lattice", label="min separation (px)")
    threshold: float = option(
        0.2, "relative threshold: fraction of the way from the median to the maximum of the searched image",
        minimum=0.0, maximum=1.0, step=0.05)
    threshold_abs: float | None = option(
        None, "absolute threshold in image units instead (with --invert: atoms darker than this)",
        none_text="off", label="absolute threshold")
    log_sigma_px: float | None = option(
        None, "search a Laplacian-of-Gaussian-filtered copy at this sigma (px), about the atoms' sigma",
        minimum=0.0, step=0.1, none_text="off", flag="--log", metavar="SIGMA_PX", label="LoG σ (px)")
    method: Literal["gaussian", "com"] = option(
        "gaussian", "sub-pixel refinement: 2D Gaussian fit or centre of mass", labels=METHOD_LABELS,
        label="refinement")
    invert: bool = option(False, "atoms are dark (HRTEM): invert the image first",
                          label="invert (dark atoms, e.g. HRTEM)")

    def __post_init__(self) -> None:
        check_limits(self)
        if self.min_separation_nm is not None and self.min_separation_px is not None:
            raise ValueError("give the minimum separation in nm or in px, not both")

    def locate_kwargs(self) -> dict[str, Any]:
        """Keyword arguments of :func:`~tem_denoise.analysis.locate_atoms` (threshold sign follows invert)."""
        kwargs: dict[str, Any] = {"method": self.method, "log_sigma_px": self.log_sigma_px or None}
        if self.threshold_abs is not None:
            kwargs.update(threshold_rel=None, threshold_abs=-self.threshold_abs if self.invert else self.threshold_abs)
        else:
            kwargs["threshold_rel"] = self.threshold
        return kwargs


@dataclass
class AtomTable:
    """Atoms found in an image or stack, with the calibration they are reported in.

    Attributes
    ----------
    table : dict[str, numpy.ndarray]
        Columns frame, y_px, x_px, then y_nm, x_nm when calibrated, intensity, sigma_px
        (and sigma_nm), background, residual, quality (see
        :data:`~tem_denoise.analysis.ATOM_COLUMNS`).
    calibration : Calibration
        Of the searched image; nm columns are world positions (origin included).
    min_separation_px : float
        The minimum separation used.
    spacing_px : float or None
        The image's repeat distance when the separation was estimated from it, else None.
    step : dict
        Provenance of the search.
    """

    table: dict[str, np.ndarray]
    calibration: Calibration
    min_separation_px: float
    spacing_px: float | None
    step: dict = field(default_factory=dict)

    def counts(self) -> dict[int, int]:
        """Number of atoms per frame index."""
        frames, numbers = np.unique(self.table["frame"], return_counts=True)
        return dict(zip(frames.tolist(), numbers.tolist(), strict=True))

    def length(self, px: float) -> str:
        """A length in pixels as the user reads it: nm (and px) when calibrated, else px."""
        if self.calibration.calibrated:
            return f"{self.calibration.to_user(px):.3g} nm ({px:.2f} px)"
        return f"{px:.2f} px"

    def separation_text(self) -> str:
        """How the minimum separation was chosen, in nm when calibrated."""
        text = f"minimum separation {self.length(self.min_separation_px)}"
        if self.spacing_px is not None:
            text += f", half the spacing of {self.length(self.spacing_px)} found in the image"
        return text

    def summary(self) -> str:
        """Atom count (per frame for stacks) and the separation used."""
        counts = self.counts()
        total = len(self.table["frame"])
        per_frame = f" ({np.mean(list(counts.values())):.0f} per frame over {len(counts)} frames)" \
            if len(counts) > 1 else ""
        return f"{total} atoms{per_frame}; {self.separation_text()}"

    def write_csv(self, path: str | PathLike) -> None:
        """Write the table (frame, y_px, x_px[, y_nm, x_nm], ...) as CSV."""
        from tem_denoise.analysis import write_csv

        write_csv(path, self.table)


MAX_COLUMN_SPACING_NM = 1.0
"""Longest repeat between atom columns looked for in a calibrated image (projected column
spacings are 0.1-0.6 nm; a longer repeat is a particle or a field of particles)."""


def separation_px(options: AtomOptions, calibration: Calibration, searched: Any) -> tuple[float, float | None]:
    """The minimum separation in pixels and, when estimated, the image's spacing in pixels."""
    from tem_denoise.analysis.atoms import SEPARATION_PER_SPACING, lattice_spacing

    if options.min_separation_px is not None:
        separation, spacing = float(options.min_separation_px), None
    elif options.min_separation_nm is not None:
        separation, spacing = calibration.to_px(options.min_separation_nm, "nm"), None
    else:
        longest = calibration.to_px(MAX_COLUMN_SPACING_NM, "nm") if calibration.calibrated else None
        spacing = lattice_spacing(searched, max_spacing_px=longest)
        separation = SEPARATION_PER_SPACING * spacing
    if separation < 1:
        raise ValueError(f"the minimum separation is {separation:.2f} px; it must be at least 1 px "
                         "(check its unit, or bin the image)")
    return separation, spacing


def _negated(data: Any) -> Any:
    """``-data`` as float32, lazily for dask arrays (dark atoms become bright)."""
    if hasattr(data, "map_blocks"):
        return -data.astype(np.float32)
    return -np.asarray(data, dtype=np.float32)


def iter_find_atoms(stack: Stack, options: AtomOptions, *, frame: int | None = None,
                    atom_map_model: str | None = None, device: str = "auto"
                    ) -> Generator[Progress, None, AtomTable]:
    """Locate atoms in every frame of ``stack`` (or in frame ``frame``), yielding per frame.

    Parameters
    ----------
    stack : Stack
        Image or stack; its calibration gives the nm columns and the nm separation.
    options : AtomOptions
        Separation, thresholds, refinement.
    frame : int, optional
        Only this frame of a stack.
    atom_map_model : str, optional
        Search on the atom map this network makes of the image (``invert`` is then not used).
    device : str
        Device of the atom-map network.

    Returns
    -------
    AtomTable
        The atoms with frame indices of ``stack``.

    The frame index is checked when this is called; the rest as the generator runs.
    """
    if frame is not None:
        if not stack.is_stack:
            raise ValueError("a frame index needs a (t, y, x) stack; this is a single image")
        if not 0 <= frame < stack.n_frames:
            raise ValueError(f"the frame must be in 0..{stack.n_frames - 1}; got {frame}")
    return _iter_find_atoms(stack, options, frame, atom_map_model, device)


def _iter_find_atoms(stack: Stack, options: AtomOptions, frame: int | None, atom_map_model: str | None,
                     device: str) -> Generator[Progress, None, AtomTable]:
    from tem_denoise.analysis import atoms_in_nm, iter_locate_atoms_stack

    calibration = stack.calibration
    data, first = (stack.data, 0) if frame is None else (stack.data[frame], frame)
    inverted = options.invert and not atom_map_model
    if atom_map_model:
        from tem_denoise.engine import Denoiser

        data = yield from Denoiser(atom_map_model, device=device).iter_denoise(data)
    elif inverted:
        data = _negated(data)
    separation, spacing = separation_px(options, calibration, data)
    table = yield from iter_locate_atoms_stack(data, separation, **options.locate_kwargs())
    table["frame"] = table["frame"] + first
    if inverted:
        table["background"] = -table["background"]
    if calibration.pixel_size is not None:
        table = atoms_in_nm(table, calibration.pixel_size, calibration.origin)
    step = {"operation": "atom localisation", **asdict(options), "min_separation_px": separation,
            "separation_from": "image spacing" if spacing is not None else "user",
            "spacing_px": spacing, "inverted": inverted, "atom_map_model": atom_map_model or None,
            "frame": frame, "calibration": calibration.to_dict()}
    return AtomTable(table, calibration, separation, spacing, step)


def find_atoms(stack: Stack, options: AtomOptions, **kwargs: Any) -> AtomTable:
    """:func:`iter_find_atoms` run to the end."""
    return run_to_end(iter_find_atoms(stack, options, **kwargs))
