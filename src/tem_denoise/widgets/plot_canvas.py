"""A matplotlib figure embedded in a dock, and the save dialogs and layout helpers the docks share."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tem_denoise.outputs import atomic_path


class PlotCanvas:
    """A matplotlib Figure drawn on a Qt canvas appended to a magicgui Container's layout.

    The canvas stays hidden until the first plot, so no empty axes show before a first run.
    """

    def __init__(self, container: Any, figsize: tuple[float, float] = (5, 3.2), min_height: int = 240) -> None:
        from matplotlib.backends.backend_qtagg import FigureCanvasQTAgg
        from matplotlib.figure import Figure

        self.figure = Figure(figsize=figsize, layout="constrained")
        self.canvas = FigureCanvasQTAgg(self.figure)
        self.canvas.setMinimumHeight(min_height)
        self.canvas.setVisible(False)
        container.native.layout().addWidget(self.canvas)

    @property
    def shown(self) -> bool:
        """True once something was plotted."""
        return not self.canvas.isHidden()

    def clear(self) -> Any:
        """Clear the figure and return it (showing the canvas), for a layout of one's own."""
        self.canvas.setVisible(True)
        self.figure.clear()
        return self.figure

    def axes(self, rows: int = 1) -> list:
        """Clear the figure and return ``rows`` stacked axes (showing the canvas)."""
        figure = self.clear()
        return [figure.add_subplot(rows, 1, row + 1) for row in range(rows)]

    def draw(self) -> None:
        self.canvas.draw_idle()

    def save_png(self, path: str | Path, dpi: int = 150) -> Path:
        """Write the figure as PNG (atomically)."""
        with atomic_path(path) as temporary:
            self.figure.savefig(temporary, dpi=dpi)
        return Path(path)


def ask_save_path(parent: Any, title: str, default_name: str, file_filter: str) -> str | None:
    """A Save-As dialog; returns the chosen path or None when the user cancels."""
    from qtpy.QtWidgets import QFileDialog

    path, _ = QFileDialog.getSaveFileName(parent, title, default_name, file_filter)
    return path or None


def ask_open_path(parent: Any, title: str, file_filter: str) -> str | None:
    """An Open dialog; returns the chosen path or None when the user cancels."""
    from qtpy.QtWidgets import QFileDialog

    path, _ = QFileDialog.getOpenFileName(parent, title, "", file_filter)
    return path or None


def notify(message: str) -> None:
    """Show a warning in napari's notification area."""
    from napari.utils.notifications import show_warning

    show_warning(message)


def wrap_text(label: Any) -> Any:
    """Let a magicgui Label wrap long lines instead of widening the dock."""
    label.native.setWordWrap(True)
    return label


def limit_rows(select: Any, rows: int = 4) -> Any:
    """Cap the height of a magicgui Select list at about ``rows`` entries (it scrolls beyond)."""
    native = select.native
    native.setMaximumHeight(native.fontMetrics().height() * rows + 12)
    return select
