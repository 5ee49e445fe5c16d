"""Modality from metadata and dataset titles: DPC, iDPC and dark-field images are not HAADF."""

from __future__ import annotations

import pytest

from tem_denoise.io.modality import MODALITIES, detector_contrast, guess_modality
from tem_denoise.models.card import MODALITIES as MODEL_MODALITIES

STEM = {"Optics": {"OperatingMode": "2"}}
TEM = {"Optics": {"OperatingMode": "1"}}


@pytest.mark.parametrize(
    ("title", "modality"),
    [
        ("HAADF", "STEM-HAADF"), ("ADF", "STEM-HAADF"), ("Survey image", "STEM-HAADF"),
        ("DF4-A", "STEM-DF"), ("DF-S", "STEM-DF"), ("DF-I", "STEM-DF"), ("DF-O", "STEM-DF"),
        ("MAADF", "STEM-DF"),
        ("BF", "STEM-BF"), ("BF-S", "STEM-BF"), ("ABF", "STEM-BF"),
        ("A-C", "STEM-DPC"), ("B-D", "STEM-DPC"), ("DPC", "STEM-DPC"),
        ("iDPC", "STEM-iDPC"), ("Filtered iDPC", "STEM-iDPC"), ("dDPC", "STEM-dDPC"),
    ],
)
def test_stem_detector_titles(title, modality):
    assert guess_modality(title, STEM) == modality


def test_tem_mode_wins_over_a_detector_word_and_unknown_stays_unknown():
    assert guess_modality("BF", TEM) == "HRTEM"
    assert guess_modality("annular_detector", {}) is None
    assert guess_modality("iDPC", {}) == "STEM-iDPC"  # a detector word alone implies STEM
    assert detector_contrast("Ceta") is None


def test_hyperspy_acquisition_mode_in_normalised_metadata():
    hyperspy = {"Acquisition_instrument": {"TEM": {"acquisition_mode": "STEM"}}}
    assert guess_modality("image", {}, hyperspy) == "STEM-HAADF"


def test_every_file_modality_is_a_model_card_modality():
    """A model fine-tuned on a layer keeps the layer's modality on its card."""
    assert set(MODALITIES) <= set(MODEL_MODALITIES)


@pytest.mark.realdata
def test_velox_dpc_file_labels_each_image_by_its_detector(real):
    import warnings

    from tem_denoise import io

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", io.SkippedDatasetWarning)
        stacks = io.read_all(real("velox_dpc"))
    found = {s.name: s.modality for s in stacks}
    assert found == {
        "A-C": "STEM-DPC", "B-D": "STEM-DPC", "iDPC": "STEM-iDPC", "Filtered iDPC": "STEM-iDPC",
        "DF4-A": "STEM-DF", "DF4-B": "STEM-DF", "DF4-C": "STEM-DF", "DF4-D": "STEM-DF",
    }
