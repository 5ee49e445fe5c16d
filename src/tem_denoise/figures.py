"""Headless figures (matplotlib, Agg backend): side-by-side frames with a scale bar."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from tem_denoise.io import Stack


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
        if stack.pixel_size:
            bar_nm = _scale_bar_nm(image.shape[1] * stack.pixel_size)
            bar_px = bar_nm / stack.pixel_size
            y, x = image.shape[0] * 0.93, image.shape[1] * 0.05
            outline = [patheffects.withStroke(linewidth=3, foreground="black")]
            ax.plot([x, x + bar_px], [y, y], color="white", linewidth=4,
                    path_effects=[patheffects.withStroke(linewidth=6, foreground="black")])
            ax.text(x + bar_px / 2, y - image.shape[0] * 0.03, f"{bar_nm:g} nm", color="white",
                    ha="center", va="bottom", fontsize=9, path_effects=outline)
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
