"""Fine-tune dock in a real viewer: train on a noisy stack, save, denoise, and list in the Denoise dock."""

from __future__ import annotations

import numpy as np
import pytest

from tem_denoise.models.card import ModelCard
from tem_denoise.models.registry import available_models, default_user_dir

pytestmark = pytest.mark.gui


def test_finetune_saves_user_model_and_denoises(make_napari_viewer, qtbot):
    viewer = make_napari_viewer(show=True)
    rng = np.random.default_rng(1)
    noisy = rng.poisson(3.0, size=(3, 64, 64)).astype(np.float32)
    viewer.add_image(noisy, name="frames", scale=(1, 0.1, 0.1), units=("s", "nm", "nm"))
    _, dock = viewer.window.add_plugin_dock_widget("napari-tem-denoise", "Fine-tune on this stack")
    dock.base.choices = [("tiny", ModelCard("tiny-blind", "blindspot", {"frames": 1, "mid_channels": 2,
                                                                         "n_layers": 1}))]
    dock.layer.value = viewer.layers["frames"]
    dock.base.value = dock.base.choices[0]
    assert dock.lowpass_period.value == 14.0  # the base card's: seed 002's cut-off
    dock.steps.value, dock.crop.value, dock.lowpass_period.value = 20, 32, 3.0
    dock.runner.start()
    qtbot.waitUntil(lambda: not dock.runner.running and not dock.denoise_runner.running, timeout=120_000)
    qtbot.waitUntil(lambda: "frames (denoised: tiny-blind-frames)" in viewer.layers, timeout=60_000)
    saved = available_models()["tiny-blind-frames"]
    assert saved.directory == default_user_dir() / "tiny-blind-frames"
    assert saved.architecture["lowpass_kernel"] == 1.5
    out = viewer.layers["frames (denoised: tiny-blind-frames)"]
    np.testing.assert_allclose(out.scale, (1, 0.1, 0.1))
    assert dock.plot.figure.axes[0].lines

    _, denoise_dock = viewer.window.add_plugin_dock_widget("napari-tem-denoise", "Denoise")
    assert "tiny-blind-frames" in denoise_dock.model.choices
