"""napari sample data: synthetic HRTEM movie, HAADF image and vacuum stacks (no Qt needed).

Each provider returns npe2 layer-data tuples in nm, with the ground truth as extra layers so
that a result can be judged by eye.
"""

from __future__ import annotations

from typing import Any

from tem_denoise.io import Stack
from tem_denoise.layers import stack_to_layer_data
from tem_denoise.physics import (
    SynthPair,
    sample_counting_series,
    sample_haadf,
    sample_hrtem_series,
    sample_vacuum_stacks,
)

LayerData = tuple[Any, dict, str]


def _pair_layers(pair: SynthPair, name: str, modality: str) -> list[LayerData]:
    source = {"source": "tem_denoise.physics (synthetic)", "params": pair.params}
    layers = []
    for label, data, visible in (("atom map", pair.atom_map, False), ("clean", pair.clean, False),
                                 ("noisy", pair.noisy, True)):
        stack = Stack.from_array(data, pixel_size=pair.pixel_size_nm, name=f"{name} ({label})",
                                 provenance=source, modality=modality)
        layers.append(stack_to_layer_data(stack, visible=visible))
    return layers


def hrtem_series() -> list[LayerData]:
    """A 16-frame 256x256 drifting HRTEM nucleation movie with clean frames and atom maps."""
    return _pair_layers(sample_hrtem_series(), "HRTEM nucleation", "HRTEM")


def counting_series() -> list[LayerData]:
    """A 32-frame 256x256 HRTEM movie in electron counts (1.5 e-/px/frame) with clean frames and atom maps."""
    return _pair_layers(sample_counting_series(), "HRTEM counting movie", "HRTEM")


def haadf_image() -> list[LayerData]:
    """A 256x256 synthetic HAADF STEM image with its clean image and atom map."""
    return _pair_layers(sample_haadf(), "HAADF", "STEM-HAADF")


def vacuum_stacks() -> list[LayerData]:
    """Six 20-frame vacuum stacks at 1.0-2.0 nA for the noise-calibration dock."""
    sample = sample_vacuum_stacks()
    layers = []
    for stack_data, current in zip(sample.stacks, sample.currents_na, strict=True):
        stack = Stack.from_array(
            stack_data, pixel_size=sample.pixel_size_nm, name=f"vacuum {current:.1f} nA",
            provenance={"source": "tem_denoise.physics (synthetic)", "noise": sample.noise.to_dict()},
            modality="HRTEM",
        )
        layer = stack_to_layer_data(stack)
        layer[1]["metadata"]["beam_current_nA"] = float(current)
        layers.append(layer)
    return layers
