"""Which fine-tuning mode suits a stack's noise: measure its correlation, recommend a mode.

* white noise (no correlation beyond one pixel): a one-pixel blind spot (seed 002) is exact;
* a movie (at least :data:`MIN_PAIR_FRAMES` frames): frame pairs (Noise2Noise on neighbouring
  frames, registered first), which no spatial correlation can fool, whatever its length;
* a single frame with noise correlated over up to :data:`MAX_BLIND_RADIUS` pixels: a blind
  region that wide;
* a single frame with longer correlation or column/row streaks: no self-supervised mode can
  separate that noise from the image; calibrate the camera and use calibrated synthesis.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tem_denoise.analysis.noise_correlation import (
    NoiseCorrelation,
    noise_autocorrelation,
)

MIN_PAIR_FRAMES = 4
"""Frames the frame-pair mode needs: a 3-frame input window and a target two frames away."""
MAX_BLIND_RADIUS = 3
"""Widest blind region (half-width, px) offered: wider ones leave too little to predict from."""


@dataclass(frozen=True)
class NoiseDiagnosis:
    """What the noise of a stack is like and which fine-tuning mode suits it.

    Attributes
    ----------
    correlation : NoiseCorrelation
        The measured autocorrelation.
    n_frames : int
        Frames of the stack.
    length_px : int
        Correlation length (0: white noise).
    neighbour : float
        Correlation with the nearest horizontal or vertical neighbour (the larger).
    streaks : str or None
        ``"columns"`` or ``"rows"`` when readout offsets correlate whole lines.
    mode : str
        Recommended mode: ``"blind-spot"``, ``"frame-pairs"`` or ``"calibrated"``.
    blind_radius : int
        Blind-region half-width (px) that covers the correlation, for the blind-spot mode.
    reason : str
        One sentence saying why.
    """

    correlation: NoiseCorrelation
    n_frames: int
    length_px: int
    neighbour: float
    streaks: str | None
    mode: str
    blind_radius: int
    reason: str

    def summary(self) -> str:
        """Lines for a terminal or a dock: the measurement and the recommendation."""
        c = self.correlation
        table = "\n".join(
            f"    dy={dy:+d}  " + "  ".join(f"{c.at(dy, dx):+.2f}" for dx in range(-2, 3)) for dy in range(-2, 3))
        streaks = f"; whole {self.streaks} correlated (readout offsets)" if self.streaks else ""
        return (f"noise measured from {c.source} ({c.samples} px)\n"
                f"  nearest-neighbour correlation {self.neighbour:.2f}, correlation length "
                f"{self.length_px} px{streaks}\n"
                f"  autocorrelation, lags dx = -2..2:\n{table}\n"
                f"recommended mode: {self.mode}"
                f"{f' (blind radius {self.blind_radius} px)' if self.mode == 'blind-spot' else ''}\n"
                f"  {self.reason}")

    def to_dict(self) -> dict:
        """JSON-ready record (for a card or a dock)."""
        return {"source": self.correlation.source, "n_frames": self.n_frames, "length_px": self.length_px,
                "neighbour": round(self.neighbour, 4), "streaks": self.streaks, "mode": self.mode,
                "blind_radius": self.blind_radius, "reason": self.reason}


def recommend(length_px: int, streaks: str | None, n_frames: int) -> tuple[str, int, str]:
    """``(mode, blind_radius, reason)`` for noise of correlation ``length_px`` in ``n_frames`` frames."""
    radius = min(length_px, MAX_BLIND_RADIUS)
    if n_frames >= MIN_PAIR_FRAMES:
        what = "white" if length_px == 0 and not streaks else "spatially correlated"
        return "frame-pairs", radius, (f"a movie of {n_frames} frames with {what} noise: neighbouring frames "
                                       "are independent noisy views of the same scene, which no spatial "
                                       "correlation can fool")
    if streaks or length_px > MAX_BLIND_RADIUS:
        why = f"whole {streaks} share their noise" if streaks else f"noise correlated over {length_px} px"
        return "calibrated", radius, (f"{why} in a single frame: no blind region can hide it; calibrate the "
                                      "camera and fine-tune on pairs synthesised with its noise model")
    if length_px == 0:
        return "blind-spot", 0, "white noise: a one-pixel blind spot sees no trace of a pixel's own noise"
    return "blind-spot", radius, (f"noise correlated over {length_px} px: a blind region of {2 * radius + 1} x "
                                  f"{2 * radius + 1} px hides a pixel's noise from its neighbours")


def diagnose_noise(stack: np.ndarray, max_lag: int = 6) -> NoiseDiagnosis:
    """Measure the noise autocorrelation of a (y, x) frame or (t, y, x) stack and recommend a mode.

    See :func:`~tem_denoise.analysis.noise_correlation.noise_autocorrelation` for how the noise
    is isolated.
    """
    correlation = noise_autocorrelation(stack, max_lag)
    n_frames = int(stack.shape[0]) if np.ndim(stack) == 3 else 1
    length, streaks = correlation.length_px(), correlation.streaks()
    neighbour = max(correlation.at(0, 1), correlation.at(1, 0))
    mode, radius, reason = recommend(length, streaks, n_frames)
    return NoiseDiagnosis(correlation, n_frames, length, neighbour, streaks, mode, radius, reason)
