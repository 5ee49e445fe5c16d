"""No-reference quality of denoised stacks: the No-reference quality dock and ``tem-denoise quality``.

uMSE/uPSNR of each denoised stack against the raw stack's temporally adjacent frames
(seed 002 eqs. 1-2) and the structural similarity of consecutive denoised frames (CSS,
seed 004 eq. 10). Only images in the raw data's units can be scored: atom maps are refused.
"""

from __future__ import annotations

from collections.abc import Generator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from tem_denoise.io import Stack
from tem_denoise.operations.options import check_limits, option
from tem_denoise.progress import Progress, run_to_end

COLUMNS = ("layer", "uMSE", "uPSNR (dB)", "mean CSS", "min CSS")


@dataclass(frozen=True)
class QualityOptions:
    """Which raw frames stand for each denoised frame."""

    first_frame: int = option(
        0, "index in the raw stack of the denoised stack's first frame (1 when the denoiser dropped "
        "the first frame)", minimum=0, label="raw index of frame 0")
    offsets: tuple[int, int, int] = option(
        (-1, 1, 2), "raw neighbour frames i+A, i+B, i+C serve as independent noisy views of frame i",
        metavar=("A", "B", "C"), label="offsets a, b, c")

    def __post_init__(self) -> None:
        check_limits(self)
        if len(self.offsets) != 3 or self.offsets[1] == self.offsets[2]:
            raise ValueError(f"give three frame offsets A, B, C with B != C (e.g. -1 1 2); got {self.offsets}")


@dataclass(frozen=True)
class StackQuality:
    """No-reference scores of one denoised stack."""

    name: str
    umse: Any
    css: np.ndarray

    def row(self) -> dict[str, Any]:
        """One row of :data:`COLUMNS`."""
        return {"layer": self.name, "uMSE": self.umse.umse, "uPSNR (dB)": self.umse.upsnr,
                "mean CSS": float(np.mean(self.css)) if len(self.css) else float("nan"),
                "min CSS": float(np.min(self.css)) if len(self.css) else float("nan")}

    def summary(self) -> str:
        """Three lines: uMSE, uPSNR and CSS."""
        return (f"uMSE  {self.umse.umse:.6g}  (over {len(self.umse.frames)} frames)\n"
                f"uPSNR {self.umse.upsnr:.3f} dB  (peak M = {self.umse.peak:.6g})\n"
                f"CSS   mean {np.mean(self.css):.4f}  min {np.min(self.css):.4f}  ({len(self.css)} consecutive pairs)")


def rows(results: Sequence[StackQuality]) -> dict[str, list]:
    """The results as columns (see :data:`COLUMNS`)."""
    return {name: [result.row()[name] for result in results] for name in COLUMNS}


def check_scorable(noisy: Stack, denoised: Stack, options: QualityOptions) -> None:
    """Refuse what uMSE cannot score: atom maps, single images, other frame sizes, frames past the end."""
    written = denoised.provenance.get("written_by") or {}
    history = [*written.get("history", []), *denoised.provenance.get("history", [])]
    kinds = [step.get("output_kind") for step in history if isinstance(step, dict)]
    if "atom-map" in kinds or "atom map" in denoised.name:
        model = next((s.get("model") for s in history if isinstance(s, dict) and s.get("output_kind")), None)
        raise ValueError(f"'{denoised.name}' is an atom map{f' (made by {model})' if model else ''}, not an "
                         "image in the raw data's units, so uMSE against the raw frames means nothing; score a "
                         "restored stack (e.g. from restore-hrtem)")
    for stack in (noisy, denoised):
        if not stack.is_stack:
            raise ValueError(f"'{stack.name}' is a single image; uMSE and CSS need (t, y, x) stacks")
    if denoised.shape[1:] != noisy.shape[1:]:
        raise ValueError(f"'{denoised.name}' has frames of {denoised.shape[1:]} but the raw stack has "
                         f"{noisy.shape[1:]}")
    last = options.first_frame + denoised.n_frames
    if last > noisy.n_frames:
        raise ValueError(f"'{denoised.name}' has {denoised.n_frames} frames starting at raw frame "
                         f"{options.first_frame}, past the raw stack's {noisy.n_frames} frames; check the first frame")


def iter_quality(noisy: Stack, denoised: Sequence[Stack], options: QualityOptions
                 ) -> Generator[Progress, None, list[StackQuality]]:
    """uMSE of each denoised stack, then CSS of its consecutive frames, yielding per frame pair.

    The inputs are checked (:func:`check_scorable`) when this is called, before any work. The
    CSS constants are scaled by the raw stack's peak (the M of uPSNR), the same for every
    compared stack.
    """
    for stack in denoised:
        check_scorable(noisy, stack, options)
    return _iter_quality(noisy, denoised, options)


def _iter_quality(noisy: Stack, denoised: Sequence[Stack], options: QualityOptions
                  ) -> Generator[Progress, None, list[StackQuality]]:
    from tem_denoise.analysis import css, umse

    raw = np.asarray(noisy.data, dtype=np.float32)
    peak = float(np.max(raw))
    total = sum(max(stack.n_frames - 1, 1) for stack in denoised)
    done, results = 0, []
    for stack in denoised:
        data = np.asarray(stack.data, dtype=np.float32)
        scores = umse(data, raw, first_frame=options.first_frame, offsets=options.offsets, peak=peak)
        values = []
        for n in range(len(data) - 1):
            values.append(css(data[n], data[n + 1], data_range=peak))
            done += 1
            yield Progress(done, total, f"CSS of {stack.name}")
        results.append(StackQuality(stack.name, scores, np.asarray(values)))
    return results


def quality(noisy: Stack, denoised: Sequence[Stack], options: QualityOptions) -> list[StackQuality]:
    """:func:`iter_quality` run to the end."""
    return run_to_end(iter_quality(noisy, denoised, options))
