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


SHOTS = {"viewer_open_stack": viewer_open_stack}

if __name__ == "__main__":
    IMAGES.mkdir(exist_ok=True)
    for key in sys.argv[1:] or SHOTS:
        SHOTS[key]()
