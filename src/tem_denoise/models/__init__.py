"""Denoising networks (SCGN, SFIN, blind-spot WCID/WCVD, U-Net), classical baselines and their registry.

Importing this package does not import torch; the network modules
(:mod:`~tem_denoise.models.scgn`, :mod:`~tem_denoise.models.sfin`,
:mod:`~tem_denoise.models.blindspot`, :mod:`~tem_denoise.models.unet`) do.
"""

from tem_denoise.models.card import (
    ADAPTERS,
    MODALITIES,
    OUTPUT_KIND_LABELS,
    OUTPUT_KINDS,
    CardError,
    ModelCard,
    read_card,
    write_card,
)
from tem_denoise.models.registry import (
    BUNDLED_DIR,
    FAMILIES,
    Family,
    available_models,
    build_model,
    data_modality,
    default_model_name,
    discover_models,
    get_card,
    load_model,
)
from tem_denoise.models.weights import WeightsError, file_sha256, load_into, load_weights, save_weights

__all__ = [
    "ADAPTERS",
    "BUNDLED_DIR",
    "FAMILIES",
    "MODALITIES",
    "OUTPUT_KINDS",
    "OUTPUT_KIND_LABELS",
    "CardError",
    "Family",
    "ModelCard",
    "WeightsError",
    "available_models",
    "build_model",
    "data_modality",
    "default_model_name",
    "discover_models",
    "file_sha256",
    "get_card",
    "load_into",
    "load_model",
    "load_weights",
    "read_card",
    "save_weights",
    "write_card",
]
