"""The noisy frames every method is scored on: each item x noise variant x dose level, cached.

numpy only. A frame id is ``<scene_id>.<signal>.<variant>.<level>``, e.g.
``stem_sheet_wse2.haadf.poisson.middle``; its noise is drawn from a seed derived from the id
(:func:`dose_noise.frame_seed`), so frames are identical on every run and machine.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

import dataset
import dose_noise


@dataclass
class Frame:
    """One noisy image to denoise.

    Attributes
    ----------
    frame_id : str
    item : dataset.Item
        The noise-free image, its columns, vacuum and metadata.
    variant : str
        ``poisson`` or ``camera`` (see dose_noise).
    level : str
        ``low``, ``middle`` or ``high``.
    dose : float
        e-/Å².
    noisy : ndarray (y, x) float32
        Electrons per pixel.
    """

    frame_id: str
    item: dataset.Item
    variant: str
    level: str
    dose: float
    noisy: np.ndarray

    @property
    def truth(self) -> np.ndarray:
        return self.item.truth

    @property
    def modality(self) -> str:
        return self.item.modality

    @property
    def pixel_size_nm(self) -> float:
        return self.item.pixel_size_nm

    @property
    def mean_counts(self) -> float:
        """Mean electrons per pixel of the noisy frame's expectation."""
        return float(np.mean(dose_noise.expected_counts(self.truth, self.pixel_size_nm, self.dose)))


def noisy_dir() -> Path:
    path = dataset.cache_dir() / "noisy"
    path.mkdir(exist_ok=True)
    return path


def frames_for(items: list[dataset.Item], levels=tuple(dose_noise.DOSE_FACTORS)) -> list[Frame]:
    """All frames of ``items`` at ``levels``; noisy images read from the cache or made and cached."""
    frames = []
    for item in items:
        item_doses = dose_noise.doses(item.truth)
        for variant in dose_noise.VARIANTS[item.modality]:
            for level in levels:
                frame_id = f"{item.item_id}.{variant}.{level}"
                dose = item_doses[level]
                frames.append(Frame(frame_id, item, variant, level, dose, _noisy(frame_id, item, dose, variant)))
    return frames


def _noisy(frame_id: str, item: dataset.Item, dose: float, variant: str) -> np.ndarray:
    """The cached noisy image of a frame, made (and written) when missing or made differently."""
    path = noisy_dir() / f"{frame_id}.npz"
    recipe = {"dose_e_per_A2": dose, "variant": variant, "seed": dose_noise.frame_seed(frame_id),
              "shape": list(item.truth.shape)}
    if path.exists():
        with np.load(path) as data:
            if json.loads(str(data["recipe_json"])) == recipe:
                return data["noisy"]
    noisy = dose_noise.noisy_frame(item.truth, item.pixel_size_nm, dose, variant, recipe["seed"])
    tmp = path.with_suffix(".tmp.npz")
    np.savez_compressed(tmp, noisy=noisy, recipe_json=json.dumps(recipe))
    tmp.replace(path)
    return noisy
