"""Inference engine: device choice, intensity adapters, tiling, temporal windows and :class:`Denoiser`.

Importing this package does not import torch; running a model does.
"""

from tem_denoise.engine.adapters import IdentityAdapter, PercentileAdapter, fit_adapter
from tem_denoise.engine.denoiser import (
    Denoiser,
    default_overlap,
    package_version,
)
from tem_denoise.engine.device import available_devices, describe_device, resolve_device
from tem_denoise.engine.temporal import read_windows, reflect_index, window_indices
from tem_denoise.engine.tiling import TileGrid, iter_tiled, tile_starts
from tem_denoise.progress import Progress

__all__ = [
    "Denoiser",
    "IdentityAdapter",
    "PercentileAdapter",
    "Progress",
    "TileGrid",
    "available_devices",
    "default_overlap",
    "describe_device",
    "fit_adapter",
    "iter_tiled",
    "package_version",
    "read_windows",
    "reflect_index",
    "resolve_device",
    "tile_starts",
    "window_indices",
]
