"""The Denoise dock sends its model and options to a batch job over a folder."""

from __future__ import annotations

import json

import numpy as np
import pytest

from tem_denoise import io
from tem_denoise.batch import BatchJob, load_config

pytestmark = pytest.mark.gui


@pytest.fixture
def dock(sample_dock):
    return sample_dock("Denoise")


def test_the_dock_writes_a_config_and_starts_the_batch(dock, tmp_path, qtbot):
    viewer, widget = dock
    folder, out = tmp_path / "data", tmp_path / "out"
    data = np.random.default_rng(0).poisson(4.0, (4, 32, 32)).astype(np.uint16)
    io.write(io.Stack.from_array(data, pixel_size=0.02, name="m"), folder / "m.tif")
    widget.form["model"].value = "gaussian-2d"
    widget.form["device"].value = "cpu"
    widget.batch.folder.value = str(folder)
    widget.batch.output.value = str(out)

    widget.batch.write_button.clicked.emit()
    config = out / "batch_config.yaml"
    job = BatchJob(**load_config(config))
    assert job == BatchJob(inputs=(str(folder),), output=str(out), model="gaussian-2d", device="cpu")
    assert f"tem-denoise batch --config {config}" in widget.batch.status.value

    (out / "batch.log").write_text("an earlier run's log\n")
    widget.batch.start_button.clicked.emit()
    assert widget.batch.process.wait(timeout=240) == 0, (out / "batch.log").read_text()
    log = (out / "batch.log").read_text()
    assert log.startswith("an earlier run's log\n=== tem-denoise batch --config ")
    assert io.read_provenance(out / "m_denoised.tif")["model"] == "gaussian-2d"
    assert json.loads((out / "batch_manifest.json").read_text())["run"]["done"] == 1
    viewer.window._qt_window.resize(1200, 1000)
    qtbot.wait(50)


def test_without_folders_it_says_what_to_choose(dock, monkeypatch):
    _, widget = dock
    shown = []
    monkeypatch.setattr("napari.utils.notifications.show_error", shown.append)
    widget.batch.write_button.clicked.emit()
    assert shown == ["choose the batch's input folder and output folder first"]
