"""Where the outside benchmark keeps its files, and how a scene file becomes benchmark items.

numpy only: imported by the generator (abTEM venv), the runner (project venv) and the peer
worker (peer venvs).

Cache layout (default ``~/.cache/napari-tem-denoise/outside``, or ``$TEM_DENOISE_OUTSIDE_CACHE``)::

    scenes/<scene_id>.npz              noise-free simulations + metadata (make_abtem_set.py)
    noisy/<frame_id>.npz               noisy copies (dose_noise.py), identical for every method
    outputs/<method>/<frame_id>.npz    each method's result and its run time
    results/<part>/<name>.csv, <name>.md      scores and tables (run.py --name, default "table")

Image conventions: arrays are ``(y, x)`` (rows, columns), float32; pixel ``i`` samples the
coordinate ``i * pixel_size``; positions are stored as ``(row, column)`` in pixels.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

CACHE_ENV = "TEM_DENOISE_OUTSIDE_CACHE"
PARTS = ("validation", "final")
SIGNAL_MODALITY = {"hrtem": "HRTEM", "haadf": "STEM-HAADF", "abf": "STEM-BF"}


def cache_dir() -> Path:
    """The cache folder (created if missing): ``$TEM_DENOISE_OUTSIDE_CACHE`` or the default."""
    root = Path(os.environ.get(CACHE_ENV) or Path.home() / ".cache" / "napari-tem-denoise" / "outside")
    root.mkdir(parents=True, exist_ok=True)
    return root


def scenes_dir() -> Path:
    path = cache_dir() / "scenes"
    path.mkdir(exist_ok=True)
    return path


def save_scene(path: Path, signals: dict, meta: dict, columns_yx_px: np.ndarray, column_class: list,
               column_n_atoms: np.ndarray, vacuum: np.ndarray) -> None:
    """Write one scene file atomically (a half-written file never looks finished)."""
    tmp = path.with_suffix(".tmp.npz")
    np.savez_compressed(
        tmp, meta_json=json.dumps(meta), columns_yx_px=np.asarray(columns_yx_px, np.float64).reshape(-1, 2),
        column_class=np.asarray(column_class, dtype="U8"), column_n_atoms=np.asarray(column_n_atoms, int),
        vacuum_mask=np.asarray(vacuum, bool), **{f"signal_{k}": np.asarray(v, np.float32) for k, v in signals.items()})
    tmp.replace(path)


@dataclass
class Item:
    """One noise-free benchmark image: a scene seen through one signal (HRTEM, HAADF or ABF).

    Attributes
    ----------
    item_id : str
        ``<scene_id>.<signal>``.
    truth : ndarray, (y, x) float32
        Noise-free image; HRTEM in units of the vacuum intensity (1), STEM as the fraction
        of the probe intensity reaching the detector.
    modality : str
        ``HRTEM``, ``STEM-HAADF`` or ``STEM-BF`` (the BF signal is an annular bright-field
        detector, columns dark).
    pixel_size_nm : float
    columns_yx_px : ndarray (n, 2)
        Columns that count for column F1 in this signal.
    column_class : ndarray of str
    vacuum : ndarray of bool, (y, x)
        Pixels 0.4 nm or more (in projection) from every atom.
    meta : dict
        Scene metadata (see make_abtem_set.py) plus ``signal``.
    """

    item_id: str
    truth: np.ndarray
    modality: str
    pixel_size_nm: float
    columns_yx_px: np.ndarray
    column_class: np.ndarray
    vacuum: np.ndarray
    meta: dict = field(default_factory=dict)

    @property
    def part(self) -> str:
        return self.meta["part"]

    @property
    def scene(self) -> str:
        return self.meta["scene_id"]


def load_items(path: Path) -> list[Item]:
    """The benchmark items of one scene file (one per signal)."""
    with np.load(path) as data:
        meta = json.loads(str(data["meta_json"]))
        columns, classes = data["columns_yx_px"], data["column_class"]
        vacuum = data["vacuum_mask"]
        signals = {k[len("signal_"):]: data[k] for k in data.files if k.startswith("signal_")}
    items = []
    for signal, truth in sorted(signals.items()):
        visible = meta.get("visible_classes", {}).get(signal)
        keep = np.ones(len(classes), bool) if visible is None else np.isin(classes, visible)
        items.append(Item(item_id=f"{meta['scene_id']}.{signal}", truth=truth, modality=SIGNAL_MODALITY[signal],
                          pixel_size_nm=float(meta["pixel_size_nm"]), columns_yx_px=columns[keep],
                          column_class=classes[keep], vacuum=vacuum, meta={**meta, "signal": signal}))
    return items


def all_items(part: str | None = None) -> list[Item]:
    """Every item in the cache, optionally only those of ``part`` (validation or final)."""
    if part is not None and part not in PARTS:
        raise ValueError(f"part must be one of {PARTS}, got {part!r}")
    items = [item for path in sorted(scenes_dir().glob("*.npz")) if not path.name.endswith(".tmp.npz")
             for item in load_items(path)]
    return [item for item in items if part is None or item.part == part]
