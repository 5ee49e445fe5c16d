"""Headless figures (matplotlib, Agg backend): side-by-side frames with a scale bar."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from tem_denoise.io import Stack
from tem_denoise.outputs import atomic_path


def _scale_bar_nm(field_nm: float) -> float:
    """A round scale-bar length near a fifth of the field of view (nm)."""
    target = field_nm / 5
    magnitude = 10 ** np.floor(np.log10(target))
    return float(max(m * magnitude for m in (1, 2, 5) if m * magnitude <= target))


def save_panels(panels: Sequence[tuple[str, Stack]], path: str | Path, frame: int = 0) -> Path:
    """Save one frame of each Stack side by side as a PNG, with titles and a scale bar.

    Each panel is displayed with its own robust (0.5-99.5 percentile) grey range. The scale
    bar is drawn when the stack is calibrated in nm.
    """
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import patheffects
    from matplotlib import pyplot as plt

    from tem_denoise.layers import robust_range

    fig, axes = plt.subplots(1, len(panels), figsize=(4.2 * len(panels), 4.4), squeeze=False)
    for ax, (title, stack) in zip(axes[0], panels, strict=True):
        index = min(frame, stack.n_frames - 1)
        image = stack.frame(index)
        low, high = robust_range(image)
        ax.imshow(image, cmap="gray", vmin=low, vmax=high, interpolation="nearest")
        ax.set_title(title if not stack.is_stack else f"{title} (frame {index})", fontsize=10)
        ax.set_axis_off()
        size = stack.calibration.pixel_size
        if size:
            bar_nm = _scale_bar_nm(image.shape[1] * size[1])
            bar_px = bar_nm / size[1]
            y, x = image.shape[0] * 0.93, image.shape[1] * 0.05
            outline = [patheffects.withStroke(linewidth=3, foreground="black")]
            ax.plot([x, x + bar_px], [y, y], color="white", linewidth=4,
                    path_effects=[patheffects.withStroke(linewidth=6, foreground="black")])
            ax.text(x + bar_px / 2, y - image.shape[0] * 0.03, f"{bar_nm:g} nm", color="white",
                    ha="center", va="bottom", fontsize=9, path_effects=outline)
    fig.tight_layout()
    try:
        with atomic_path(path) as temporary:
            fig.savefig(temporary, dpi=100)
    finally:
        plt.close(fig)
    return Path(path)


def plot_fit_report(report, figure) -> None:
    """Draw a calibration :class:`~tem_denoise.physics.FitReport` onto a matplotlib Figure.

    One panel per fitted line (data points and the line, R² in the title) and one per
    histogram (density of the measured values with the fitted law and its PPCC).
    """
    figure.clear()
    panels = len(report.lines) + len(report.histograms)
    columns = 2
    rows = (panels + 1) // columns
    index = 0
    for name, line in report.lines.items():
        index += 1
        ax = figure.add_subplot(rows, columns, index)
        ax.plot(line.x, line.y, "o", markersize=3, label="measured")
        xs = np.linspace(np.min(line.x), np.max(line.x), 50)
        ax.plot(xs, line.predict(xs), "-", label=f"{line.slope:.4g}·x + {line.intercept:.4g}")
        ax.set_xlabel(line.x_label, fontsize=8)
        ax.set_ylabel(line.y_label, fontsize=8)
        ax.set_title(f"{name.replace('_', ' ')} (R² {line.r2:.3f})", fontsize=9)
        ax.legend(fontsize=7)
        ax.tick_params(labelsize=7)
    for name, hist in report.histograms.items():
        index += 1
        ax = figure.add_subplot(rows, columns, index)
        low, high = np.percentile(hist.samples, [0.1, 99.9])
        ax.hist(hist.samples, bins=60, range=(low, high), density=True, alpha=0.6)
        x, pdf = hist.curve()
        law = "normal" if hist.model == "norm" else f"Tukey λ={hist.shape:.3f}"
        ax.plot(x, pdf, "-", label=f"{law}, σ-scale {hist.scale:.3g}")
        ax.set_xlabel(hist.label, fontsize=8)
        ax.set_title(f"{name} noise (PPCC {hist.ppcc:.4f})", fontsize=9)
        ax.legend(fontsize=7)
        ax.tick_params(labelsize=7)
    if figure.get_layout_engine() is None:
        figure.tight_layout()


def save_fit_report(report, path: str | Path) -> Path:
    """Save :func:`plot_fit_report` of ``report`` as a PNG (Agg backend, no display needed)."""
    from matplotlib.figure import Figure

    rows = (len(report.lines) + len(report.histograms) + 1) // 2
    figure = Figure(figsize=(9, 3.2 * rows))
    plot_fit_report(report, figure)
    with atomic_path(path) as temporary:
        figure.savefig(temporary, dpi=100)
    return Path(path)
