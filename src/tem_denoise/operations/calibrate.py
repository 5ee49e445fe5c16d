"""Fit the camera's noise model: the Noise calibration dock and ``tem-denoise calibrate``.

HRTEM: vacuum stacks, one per beam current (seed 000 §3.5). STEM: one atomic-resolution
image (seed 001 §3.2). :func:`synthetic_preview` shows what a fitted model's noise looks like
on a synthetic frame at the data's pixel size.
"""

from __future__ import annotations

import math
from collections.abc import Generator, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from tem_denoise.io import Calibration, Stack
from tem_denoise.operations.options import check_limits, option
from tem_denoise.progress import Progress

STEM_LABELS = {"haadf": "STEM HAADF image", "bf": "STEM BF image"}
HRTEM_TEXT = "HRTEM vacuum stacks"
PREVIEW_SHAPE = (256, 256)


@dataclass(frozen=True)
class CalibrateOptions:
    """What the calibration data are, and what is known about them."""

    stem: Literal["haadf", "bf"] | None = option(
        None, "calibrate a STEM model from one atomic-resolution image of this kind", labels=STEM_LABELS,
        none_text=HRTEM_TEXT, label="data")
    currents: tuple[float, ...] | None = option(
        None, "beam current (nA) or dose (e-/px) of each vacuum stack, in the order of the stacks (HRTEM); "
        "with them the mean intensity is fitted against the current, giving the model's gain and offset",
        flag="--current", metavar="NA", label="currents (nA)", none_text="no gain/offset fit")
    frame: int = option(0, "frame of a STEM stack to fit (STEM)", minimum=0, form=False)

    def __post_init__(self) -> None:
        check_limits(self)
        if self.currents is None:
            return
        currents = tuple(float(c) for c in self.currents)
        if not all(math.isfinite(c) and c > 0 for c in currents):
            raise ValueError(f"beam currents must be positive numbers; got {', '.join(f'{c:g}' for c in currents)}")
        object.__setattr__(self, "currents", currents)


def iter_calibrate(stacks: Sequence[Stack], options: CalibrateOptions) -> Generator[Progress, None, tuple[Any, Any]]:
    """Fit the noise model; yields per stack or fit stage, returns ``(noise model, fit report)``.

    Parameters
    ----------
    stacks : sequence of Stack
        HRTEM: vacuum stacks (t, y, x), one per beam current. STEM: one image (y, x) or stack
        (t, y, x), of which ``options.frame`` is fitted.
    options : CalibrateOptions
        HRTEM or STEM (which detector), the beam currents (HRTEM), the frame (STEM).

    The inputs are checked when this is called, before any work.
    """
    from tem_denoise import physics

    if options.stem:
        return physics.iter_calibrate_stem(_stem_frame(stacks, options.frame), mode=options.stem, value_range=None)
    if not stacks:
        raise ValueError("choose one or more vacuum stacks (t, y, x)")
    currents = options.currents
    if currents is not None and len(currents) != len(stacks):
        raise ValueError(f"give one beam current per vacuum stack: {len(stacks)} stacks, {len(currents)} currents")
    for stack in stacks:
        if not stack.is_stack:
            raise ValueError(f"'{stack.name}' is a single image; vacuum calibration needs a stack of frames")
    frames = [np.asarray(stack.data, dtype=np.float32) for stack in stacks]
    return physics.iter_calibrate_hrtem_vacuum(frames, None if currents is None else list(currents))


def _stem_frame(stacks: Sequence[Stack], frame: int) -> np.ndarray:
    """The one STEM image to fit: frame ``frame`` of a stack, or the image itself."""
    if len(stacks) != 1:
        raise ValueError(f"STEM calibration takes one atomic-resolution image; got {len(stacks)}")
    stack = stacks[0]
    if not stack.is_stack:
        if frame:
            raise ValueError(f"'{stack.name}' is a single image; there is no frame {frame} to fit")
        return stack.frame()
    if frame >= stack.n_frames:
        raise ValueError(f"'{stack.name}' has {stack.n_frames} frames (0 to {stack.n_frames - 1}); "
                         f"frame {frame} does not exist")
    return stack.frame(frame)


def describe_model(model: Any) -> str:
    """One line naming the noise model and its parameters, e.g. ``"HRTEMNoise: k=0.0358, ..."``."""
    params = model.to_dict().get("params", {})
    return f"{type(model).__name__}: " + ", ".join(f"{k}={_short(v)}" for k, v in params.items())


def _short(value: Any) -> str:
    """A parameter in a few significant digits (floats, and lists of them)."""
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, list):
        return "[" + ", ".join(_short(item) for item in value) + "]"
    return str(value)


def synthetic_preview(model: Any, calibration: Calibration | None = None, *, seed: int = 0) -> list[Stack]:
    """Synthetic atom map, clean and noisy frames (256 x 256) with ``model``'s noise.

    Parameters
    ----------
    model : HRTEMNoise or STEMNoise
        A fitted or loaded noise model; a STEM model gives a STEM scene, else an HRTEM one.
    calibration : Calibration, optional
        The calibration data's: the frames are drawn at its mean pixel size (nm) and placed at
        its origin. Uncalibrated or None: the synthesis's default pixel size, origin 0.
    seed : int
        Random seed of the scene.

    Returns
    -------
    list of Stack
        ``[atom map, clean, noisy]``, (y, x) in nm, each recording the noise model.
    """
    from tem_denoise import physics

    calibration = calibration or Calibration()
    pixel_nm = calibration.mean_pixel_size if calibration.calibrated else None
    if isinstance(model, physics.STEMNoise):
        extra: dict[str, Any] = {"pixel_size_nm_range": (pixel_nm, pixel_nm)} if pixel_nm else {}
        pair = physics.synth_stem(PREVIEW_SHAPE, noise=model, rng=seed, **extra)
    else:
        extra = {"pixel_size_nm": pixel_nm} if pixel_nm else {}
        pair = physics.synth_hrtem_nucleation(PREVIEW_SHAPE, noise=model, rng=seed, **extra)
    origin = calibration.origin if calibration.calibrated else (0.0, 0.0)
    step = {"operation": "synthetic preview", "noise_model": model.to_dict(), "seed": seed}
    return [Stack.from_array(data, pixel_size=pair.pixel_size_nm, translate=origin, name=f"synthetic ({label})",
                             provenance={"history": [step]})
            for label, data in (("atom map", pair.atom_map), ("clean", pair.clean), ("noisy", pair.noisy))]
