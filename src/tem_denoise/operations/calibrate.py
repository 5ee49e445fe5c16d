"""Fit the camera's noise model: the Noise calibration dock and ``tem-denoise calibrate``.

HRTEM: vacuum stacks, one per beam current (seed 000 §3.5). STEM: one atomic-resolution
image (seed 001 §3.2).
"""

from __future__ import annotations

from collections.abc import Generator, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from tem_denoise.io import Stack
from tem_denoise.operations.options import check_limits, option
from tem_denoise.progress import Progress

STEM_LABELS = {"haadf": "STEM HAADF image", "bf": "STEM BF image"}


@dataclass(frozen=True)
class CalibrateOptions:
    """What the calibration data are."""

    stem: Literal["haadf", "bf"] | None = option(
        None, "calibrate a STEM model from one atomic-resolution image of this kind", labels=STEM_LABELS,
        none_text="HRTEM vacuum stacks")

    def __post_init__(self) -> None:
        check_limits(self)


def iter_calibrate(stacks: Sequence[Stack], options: CalibrateOptions, *, currents: Sequence[float] | None = None,
                   frame: int = 0) -> Generator[Progress, None, tuple[Any, Any]]:
    """Fit the noise model; yields per stack or fit stage, returns ``(noise model, fit report)``.

    Parameters
    ----------
    stacks : sequence of Stack
        HRTEM: vacuum stacks (t, y, x), one per beam current. STEM: one image (or stack).
    options : CalibrateOptions
        HRTEM or STEM and which detector.
    currents : sequence of float, optional
        Beam current (nA) or dose of each vacuum stack (HRTEM).
    frame : int
        Frame of a STEM stack to fit.

    The inputs are checked when this is called, before any work.
    """
    from tem_denoise import physics

    if options.stem:
        if len(stacks) != 1:
            raise ValueError("STEM calibration takes one atomic-resolution image")
        image = stacks[0].frame(frame if stacks[0].is_stack else 0)
        return physics.iter_calibrate_stem(image, mode=options.stem, value_range=None)
    if not stacks:
        raise ValueError("choose one or more vacuum stacks (t, y, x)")
    if currents is not None and len(currents) != len(stacks):
        raise ValueError(f"give one beam current per vacuum stack: {len(stacks)} stacks, {len(currents)} currents")
    for stack in stacks:
        if not stack.is_stack:
            raise ValueError(f"'{stack.name}' is a single image; vacuum calibration needs a stack of frames")
    frames = [np.asarray(stack.data, dtype=np.float32) for stack in stacks]
    return physics.iter_calibrate_hrtem_vacuum(frames, list(currents) if currents else None)
