"""Raw electron counts are recognised from the data and get the counting-mode default."""

from __future__ import annotations

import numpy as np

from tem_denoise.engine.counting import default_model_for, looks_like_counts
from tem_denoise.models.registry import default_model_name


def test_raw_counts_are_told_from_other_data():
    rng = np.random.default_rng(2)
    counts = rng.poisson(2.0, (5, 64, 64))
    assert looks_like_counts(counts.astype(np.uint16))
    assert looks_like_counts(counts[0])  # one frame
    assert looks_like_counts(counts.astype(np.float32))  # a reader may give floats
    assert not looks_like_counts(counts * 0.9)  # gain-corrected
    assert not looks_like_counts(3 * counts)  # gain of 3 recorded units per electron
    assert not looks_like_counts(counts - 1)  # offset: negative values
    assert not looks_like_counts(rng.poisson(300.0, (5, 64, 64)))  # summed frames, high dose
    assert not looks_like_counts(rng.integers(0, 40, (64, 64)))  # a dark 8-bit image, not Poisson
    assert not looks_like_counts(np.where(counts > 3, np.nan, counts))


def test_degenerate_arrays_are_not_counts():
    assert not looks_like_counts(np.zeros((3, 8, 8)))
    assert not looks_like_counts(np.zeros((0, 8, 8)))
    assert not looks_like_counts(np.ones((4, 8, 1)))


def test_count_movies_get_the_counting_default_and_other_data_their_modality_default():
    rng = np.random.default_rng(3)
    counts = rng.poisson(1.5, (8, 64, 64)).astype(np.float32)
    camera = rng.normal(100.0, 10.0, (8, 64, 64)).astype(np.float32)
    assert default_model_for("HRTEM", counts, 8) == default_model_name("HRTEM-counting", 8) == "unet-counting"
    assert default_model_for(None, counts, 8) == "unet-counting"
    assert default_model_for("STEM-HAADF", counts, 8) == default_model_name("STEM-HAADF", 8)
    assert default_model_for("HRTEM", camera, 8) == default_model_name("HRTEM", 8)
    assert default_model_for("HRTEM", None, 8) == default_model_name("HRTEM", 8)
    # too few frames for the 5-frame model: the HRTEM default, frame by frame
    assert default_model_for(None, counts[:3], 3) == default_model_name("HRTEM", 3)
