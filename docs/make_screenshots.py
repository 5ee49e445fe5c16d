"""Regenerate the screenshots in docs/images from a real napari viewer.

Run under a display, e.g. ``xvfb-run -a -s "-screen 0 1400x900x24" .venv/bin/python
docs/make_screenshots.py``. Every picture shows the plugin on its synthetic sample data.
"""

from __future__ import annotations

import sys
from pathlib import Path

import napari
from qtpy.QtWidgets import QApplication
from skimage.io import imsave

IMAGES = Path(__file__).parent / "images"


def _settle(viewer: napari.Viewer, rounds: int = 20) -> None:
    for _ in range(rounds):
        QApplication.processEvents()


def _save(viewer: napari.Viewer, name: str) -> None:
    _settle(viewer)
    imsave(IMAGES / name, viewer.screenshot(canvas_only=False, flash=False), check_contrast=False)
    print(f"wrote {IMAGES / name}")


def viewer_open_stack() -> None:
    """The sample HRTEM movie opened through the plugin, scale bar in nm."""
    viewer = napari.Viewer(show=True)
    viewer.window.resize(1300, 820)
    viewer.open_sample("napari-tem-denoise", "hrtem_series")
    viewer.canvas.overlays.scale_bar.visible = True
    viewer.reset_view()
    _save(viewer, "viewer_open_stack.png")
    viewer.close()


def _wait_for(runner, timeout_s: float = 120) -> None:
    import time

    end = time.time() + timeout_s
    while runner.running and time.time() < end:
        QApplication.processEvents()
        time.sleep(0.05)


def calibration_dock() -> None:
    """The noise-calibration dock after fitting the six vacuum sample stacks."""
    viewer = napari.Viewer(show=True)
    viewer.window.resize(1400, 900)
    viewer.open_sample("napari-tem-denoise", "vacuum")
    _, widget = viewer.window.add_plugin_dock_widget("napari-tem-denoise", "Noise calibration")
    widget.stacks.value = list(viewer.layers)
    widget.runner.start()
    _wait_for(widget.runner)
    widget.preview_synthetic()
    for layer in viewer.layers[:-1]:
        layer.visible = False
    viewer.reset_view()
    _save(viewer, "calibration_dock.png")
    viewer.close()


SHOTS = {"viewer_open_stack": viewer_open_stack, "calibration_dock": calibration_dock}

if __name__ == "__main__":
    IMAGES.mkdir(exist_ok=True)
    for key in sys.argv[1:] or SHOTS:
        SHOTS[key]()
