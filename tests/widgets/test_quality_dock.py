"""No-reference quality dock: uMSE matches the true MSE where it is known, CSS ranks smoothness."""

from __future__ import annotations

import numpy as np
import pytest

from tem_denoise.analysis import read_csv
from tem_denoise.physics import sample_hrtem_series

pytestmark = pytest.mark.gui


def test_umse_and_css_of_clean_and_noisy_stacks(make_napari_viewer, qtbot, tmp_path):
    pair = sample_hrtem_series(n_frames=8, shape=(128, 128))
    viewer = make_napari_viewer(show=True)
    noisy = viewer.add_image(pair.noisy, name="noisy")
    clean = viewer.add_image(pair.clean, name="clean")
    trimmed = viewer.add_image(pair.clean[1:-1], name="clean, first and last dropped")
    _, widget = viewer.window.add_plugin_dock_widget("napari-tem-denoise", "No-reference quality")
    assert not widget.plot.shown
    widget.noisy.value = noisy
    widget.denoised.value = [trimmed]
    assert widget.first_frame.value == 1  # guessed from the frame counts
    widget.first_frame.value = 0
    widget.denoised.value = [noisy, clean]
    widget.runner.start()
    qtbot.waitUntil(lambda: not widget.runner.running, timeout=60000)

    rows = widget.rows()
    assert rows["layer"] == ["noisy", "clean"]
    true_mse_of_noisy = float(np.mean((pair.noisy - pair.clean) ** 2))
    assert rows["uMSE"][0] == pytest.approx(true_mse_of_noisy, rel=0.05)  # seed 002 eq. 1 is unbiased
    assert abs(rows["uMSE"][1]) < 0.02 * true_mse_of_noisy  # the clean frames' true MSE is 0
    assert rows["uPSNR (dB)"][1] > rows["uPSNR (dB)"][0] + 15
    assert rows["mean CSS"][1] > 0.9 > 0.3 > rows["mean CSS"][0]
    assert widget.table.shape == (2, 5)
    assert len(widget.plot.figure.axes) == 2 and widget.plot.figure.axes[1].lines

    table = read_csv(widget.export_csv(tmp_path / "quality.csv"))
    assert list(table) == ["layer", "uMSE", "uPSNR", "mean_CSS", "min_CSS"]

    widget.offsets.value = "-1, 1"
    with pytest.raises(ValueError, match="three frame offsets"):
        widget.form.options()
    widget.offsets.value = "-1, 1, 2"

    # an atom map is refused with the reason, before any work
    atom_map = viewer.add_image(pair.atom_map, name="noisy (denoised: unet-hrtem)", metadata={"provenance": {
        "derived_from": "noisy", "history": [{"model": "unet-hrtem", "output_kind": "atom-map"}]}})
    widget.denoised.value = [atom_map]
    widget.runner.start()
    assert not widget.runner.running and "atom map" in widget.runner.status.value
