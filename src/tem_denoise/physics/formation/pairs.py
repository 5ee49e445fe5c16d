"""Noisy/clean pairs for restoration models, made on the fly at a random sampling and dose.

:func:`restore_pair` draws a specimen (:mod:`.structures`), images it with the modality's
physics (:mod:`.stem` or :mod:`.hrtem`), distorts the scan (STEM) and records it with a
detector (:mod:`.detector`) at a pixel size drawn log-uniformly from the modality's range and
a dose drawn log-uniformly over three decades. Everything is in the detector's units, as a
microscope would record it; the engine's adapter (``tem_denoise.engine.adapters``) then brings
the noisy frame to the model's working sampling and scale, exactly as at inference.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tem_denoise.physics.formation import detector, hrtem, stem
from tem_denoise.physics.formation.structures import random_structure
from tem_denoise.physics.noise_level import NoiseLevel

MARGIN_PX = 8
COUNTING_SHARE = {"HRTEM": 0.2, "HRTEM-counting": 1.0, "STEM-HAADF": 0.5, "STEM-BF": 0.5}
"""Share of pairs recorded by a counting detector (integer Poisson counts) rather than an
analogue one (scintillator camera in HRTEM, scintillator/photomultiplier in STEM)."""


@dataclass(frozen=True)
class FormationSpec:
    """What a restoration model of one modality is trained on.

    Attributes
    ----------
    modality : str
        ``"HRTEM"``, ``"HRTEM-counting"``, ``"STEM-HAADF"`` or ``"STEM-BF"``.
    pixel_range_nm : (float, float)
        Pixel sizes drawn log-uniformly (nm per pixel).
    dose_range : (float, float)
        Electrons per pixel at the beam's level (vacuum in HRTEM, brightest column in
        HAADF, background in BF), drawn log-uniformly.
    multislice_share : float
        HRTEM: share of specimens imaged by light multislice instead of as a phase object
        (:func:`~tem_denoise.physics.formation.hrtem.exit_wave`); 0 for the bundled models.
    physical_phase : bool
        HRTEM: atoms' phases from the voltage's interaction constant and their projected
        potential (:func:`~tem_denoise.physics.formation.hrtem.exit_wave`), not from a strength
        independent of the voltage (False for the bundled models).
    """

    modality: str
    pixel_range_nm: tuple[float, float]
    dose_range: tuple[float, float]
    multislice_share: float = 0.0
    physical_phase: bool = False


SPECS = {
    "HRTEM": FormationSpec("HRTEM", (0.008, 0.08), (0.5, 500.0)),
    "HRTEM-counting": FormationSpec("HRTEM-counting", (0.008, 0.08), (0.2, 200.0)),
    "STEM-HAADF": FormationSpec("STEM-HAADF", (0.006, 0.06), (0.1, 300.0)),
    "STEM-BF": FormationSpec("STEM-BF", (0.006, 0.06), (1.0, 3000.0)),
}


@dataclass
class Pair:
    """One recorded frame and its truth, on the detector's grid.

    Attributes
    ----------
    noisy, clean : numpy.ndarray
        (y, x) float32 in recorded units.
    level : NoiseLevel
        The exact noise law of ``noisy``.
    pixel_nm : float
        Pixel size (nm).
    dose : float
        Electrons per pixel at the beam's level.
    kind : str
        Specimen generator.
    """

    noisy: np.ndarray
    clean: np.ndarray
    level: NoiseLevel
    pixel_nm: float
    dose: float
    kind: str


def _log_uniform(bounds: tuple[float, float], rng: np.random.Generator) -> float:
    return float(np.exp(rng.uniform(np.log(bounds[0]), np.log(bounds[1]))))


def _intensity(modality: str, shape: tuple[int, int], pixel_nm: float,
               rng: np.random.Generator, multislice_share: float = 0.0,
               physical_phase: bool = False) -> tuple[np.ndarray, str]:
    """Clean intensity of a random specimen (with a margin cropped off after imaging); HRTEM by
    light multislice in a ``multislice_share`` of specimens, with physical phases when
    ``physical_phase``."""
    padded = (shape[0] + 2 * MARGIN_PX, shape[1] + 2 * MARGIN_PX)
    structure = random_structure((padded[0] * pixel_nm, padded[1] * pixel_nm), rng)
    if modality.startswith("HRTEM"):
        image = hrtem.hrtem(structure, padded, pixel_nm, rng, multislice_share=multislice_share,
                            physical_phase=physical_phase)
    elif modality == "STEM-HAADF":
        image = stem.haadf(structure, padded, pixel_nm, rng) + rng.uniform(0, 0.05)
    else:
        image = stem.bright_field(structure, padded, pixel_nm, rng)
    if modality.startswith("STEM"):
        image = detector.scan_distort(image, rng)
    return image[MARGIN_PX:-MARGIN_PX, MARGIN_PX:-MARGIN_PX], structure.kind


def restore_pair(spec: FormationSpec, shape: tuple[int, int], rng: np.random.Generator,
                 pixel_nm: float | None = None, dose: float | None = None) -> Pair:
    """A noisy/clean pair of ``shape`` pixels; pixel size and dose random unless given."""
    pixel_nm = _log_uniform(spec.pixel_range_nm, rng) if pixel_nm is None else pixel_nm
    dose = _log_uniform(spec.dose_range, rng) if dose is None else dose
    intensity, kind = _intensity(spec.modality, shape, pixel_nm, rng, spec.multislice_share, spec.physical_phase)
    counting = rng.random() < COUNTING_SHARE[spec.modality]
    analogue = detector.linear_camera if spec.modality.startswith("HRTEM") else detector.scintillator_stem
    record = detector.counting_camera if counting else analogue
    noisy, clean, level = record(intensity, dose, rng)
    return Pair(noisy, clean, level, pixel_nm, dose, kind)
