"""The Fine-tune dock's live view: training and validation loss with the ETA (and the figures a
mode reports with its validation, e.g. the unpaired mode's CSS), and a before/after preview of
one frame, redrawn at most :data:`REDRAWS_PER_S` times a second as steps arrive."""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from tem_denoise.engine.tuning import reported_figures
from tem_denoise.layers import robust_range
from tem_denoise.widgets.plot_canvas import PlotCanvas

REDRAWS_PER_S = 2.0


class TrainingPlot:
    """Loss curves and the live preview of a fine-tuning run, drawn on a :class:`PlotCanvas`.

    Feed it the run's :class:`~tem_denoise.engine.tuning.TuneStep` records with :meth:`add`;
    :meth:`draw` with ``force`` draws at once (e.g. when the run ends).
    """

    def __init__(self, container: Any) -> None:
        self.canvas = PlotCanvas(container, figsize=(4.5, 4.4), min_height=340)
        self.reset()

    def reset(self, title: str = "", history: dict | None = None, losses: Any = None) -> None:
        """Start the plot of a run called ``title``; ``history`` (a run folder's ``run.json``
        record, for a resumed run) gives the losses of its earlier steps; ``losses`` (a
        :class:`~tem_denoise.engine.tuning.LossMeaning`) says what they measure."""
        from tem_denoise.engine.tuning import LossMeaning

        history = history or {"losses": [], "validation": []}
        self.title = title
        self.meaning = losses or LossMeaning("training", "validation", "loss")
        self.steps: list[int] = list(range(1, len(history["losses"]) + 1))
        self.losses: list[float] = list(history["losses"])
        self.validation: list[tuple[int, float]] = [(step, value) for step, value, _ in history["validation"]]
        self.figures = reported_figures(history["validation"][-1][2] if history["validation"] else {})
        self.last: Any = None
        self.preview: dict | None = None
        self._drawn_at = -np.inf

    def add(self, step: Any) -> None:
        """Record one step (and read its preview file, if it wrote one); redraw when due."""
        from tem_denoise.engine.live_preview import read_preview

        self.steps.append(step.done)
        self.losses.append(step.loss)
        if step.val_loss is not None:
            self.validation.append((step.done, step.val_loss))
            self.figures = reported_figures(step.extra)
        if step.preview:
            self.preview = read_preview(step.preview)
        self.last = step
        self.draw()

    def status(self) -> str:
        """Step reached, best validation loss and time left; on a second line the figures the
        mode reported at its last validation, if any."""
        step = self.last
        if step is None:
            return self.title
        best = f", best validation {step.best_val:.4g}" if np.isfinite(step.best_val) else ""
        eta = f", about {step.eta_s:.0f} s left" if step.eta_s else ""
        figures = f"\nlast validation: {self.figures}" if self.figures else ""
        return f"{self.title}: step {step.done}/{step.total}{best}{eta}{figures}"

    def draw(self, force: bool = False) -> None:
        """Redraw, unless the last redraw is younger than 1 / :data:`REDRAWS_PER_S` s (``force``: now)."""
        now = time.monotonic()
        if not self.steps or (not force and now - self._drawn_at < 1.0 / REDRAWS_PER_S):
            return
        self._drawn_at = now
        figure = self.canvas.clear()
        grid = figure.add_gridspec(2 if self.preview else 1, 2, height_ratios=[1, 1.15] if self.preview else [1])
        self._draw_losses(figure.add_subplot(grid[0, :]))
        if self.preview:
            self._draw_preview(figure.add_subplot(grid[1, 0]), figure.add_subplot(grid[1, 1]))
        self.canvas.draw()

    def _draw_losses(self, ax: Any) -> None:
        ax.plot(self.steps, self.losses, color="0.6", linewidth=0.8, label=self.meaning.training)
        if self.validation:
            steps, values = zip(*self.validation, strict=True)
            ax.plot(steps, values, "o-", color="C1", markersize=3, label=self.meaning.validation)
        low, high = min(self.losses), max(self.losses)
        if low > 0 and high > 10 * low:  # losses falling over decades
            from matplotlib.ticker import NullFormatter

            ax.set_yscale("log")
            ax.yaxis.set_minor_formatter(NullFormatter())
        ax.set_xlabel("step", fontsize=8)
        ax.set_ylabel(self.meaning.axis, fontsize=7)
        ax.tick_params(labelsize=7)
        ax.legend(fontsize=6.5, loc="best")  # not over the newest validation point
        ax.set_title(self.status(), fontsize=8)

    def _draw_preview(self, before: Any, after: Any) -> None:
        preview = self.preview
        for ax, image, title in (
                (before, preview["input"], f"before: frame {int(preview['frame'])}, centre"),
                (after, preview["output"], f"after: best network (step {int(preview['step'])})")):
            low, high = robust_range(image)
            ax.imshow(image, cmap="gray", vmin=low, vmax=high, interpolation="nearest")
            ax.set_title(title, fontsize=8)
            ax.set_axis_off()
