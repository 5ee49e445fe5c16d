"""npe2 sample data: calibrated layers with their ground truth."""

from __future__ import annotations

import numpy as np
import pytest

from tem_denoise import sample_data
from tem_denoise.engine.counting import looks_like_counts


@pytest.mark.parametrize(("provider", "n_layers", "ndim"), [
    (sample_data.hrtem_series, 3, 3),
    (sample_data.counting_series, 3, 3),
    (sample_data.haadf_image, 3, 2),
    (sample_data.vacuum_stacks, 6, 3),
])
def test_samples_are_calibrated_image_layers(provider, n_layers, ndim):
    layers = provider()
    assert len(layers) == n_layers
    for data, kwargs, kind in layers:
        assert kind == "image" and data.ndim == ndim and data.dtype == np.float32
        assert kwargs["units"][-2:] == ("nm", "nm") and kwargs["scale"][-1] > 0
        assert kwargs["metadata"]["modality"] in ("HRTEM", "STEM-HAADF")


def test_the_counting_movie_holds_whole_electron_counts():
    noisy = sample_data.counting_series()[-1][0]
    assert looks_like_counts(noisy) and noisy.mean() == pytest.approx(1.5, rel=0.05)


def test_vacuum_layers_carry_their_beam_current():
    currents = [kwargs["metadata"]["beam_current_nA"] for _, kwargs, _ in sample_data.vacuum_stacks()]
    assert currents == pytest.approx([1.0, 1.2, 1.4, 1.6, 1.8, 2.0])


@pytest.mark.gui
def test_sample_opens_in_viewer(make_napari_viewer):
    viewer = make_napari_viewer()
    viewer.open_sample("napari-tem-denoise", "haadf")
    assert [layer.name for layer in viewer.layers] == ["HAADF (atom map)", "HAADF (clean)", "HAADF (noisy)"]
    assert str(viewer.layers[-1].units[-1]) == "nanometer"
