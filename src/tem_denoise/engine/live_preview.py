"""A before/after view of the network while it fine-tunes: one crop of the user's frame.

:func:`~tem_denoise.engine.tuning.iter_tune` calls :meth:`LivePreview.write` when the
validation loss reached a new best (at most every :attr:`LivePreview.every_s` seconds): the
best network so far denoises a central crop of one frame through
:class:`~tem_denoise.engine.Denoiser`, exactly as the saved model will (its intensity adapter,
temporal window, noise level and pixel size, the blind-spot low-pass), and the crop and the
output are written to an ``.npz`` that a dock reads:

* ``input``: the raw crop, ``(y, x)`` float32 in the data's units;
* ``output``: the network's output on it (``restore`` models: the data's units; ``atom-map``
  models: 0..255);
* ``frame``, ``origin``, ``step``: the frame index, the crop's top-left pixel ``(y, x)`` in
  the frame, and the step of the network shown.

The adapter is fitted to the frames of the crop (up to :data:`CONTEXT_FRAMES` on each side of
the frame), not to the whole stack, so the preview can differ slightly in contrast from the
denoised stack.
"""

from __future__ import annotations

import contextlib
import time
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from tem_denoise.outputs import atomic_path

CROP_PX = 128
"""Edge of the previewed crop (px); smaller frames are shown whole."""
CONTEXT_FRAMES = 3
"""Frames read on each side of the previewed one (temporal models see their window)."""
EVERY_S = 3.0
"""Shortest time between two previews (s): a preview costs one small forward pass."""


def central_crop(shape: tuple[int, int], edge: int = CROP_PX) -> tuple[slice, slice]:
    """Rows and columns of the ``edge`` x ``edge`` crop at the centre of a frame of ``shape``."""
    rows, cols = (min(edge, n) for n in shape)
    y0, x0 = (shape[0] - rows) // 2, (shape[1] - cols) // 2
    return slice(y0, y0 + rows), slice(x0, x0 + cols)


@contextlib.contextmanager
def _weights(model, state: dict) -> Iterator[None]:
    """``model`` with the weights ``state`` for the block, its own weights restored afterwards."""
    own = {k: v.detach().clone() for k, v in model.state_dict().items()}
    model.load_state_dict(state)
    try:
        yield
    finally:
        model.load_state_dict(own)


@dataclass
class LivePreview:
    """Preview of frame ``frame`` (a central crop) while a model trains on a stack.

    Build it with :meth:`of`. Attributes are the crop's frames and where they lie.
    """

    frames: np.ndarray
    index: int
    frame: int
    origin: tuple[int, int]
    pixel_size_nm: float | None = None
    noise: object = None
    every_s: float = EVERY_S
    _last: float = field(default=-np.inf, repr=False)

    @classmethod
    def of(cls, stack: np.ndarray, frame: int | None = None, pixel_size_nm: float | None = None,
           noise_model: str | None = None, every_s: float = EVERY_S) -> LivePreview:
        """The preview of frame ``frame`` (None: the middle one) of a (y, x) or (t, y, x) ``stack``.

        ``pixel_size_nm`` and ``noise_model`` (a noise-model JSON) are what the engine gives a
        restoration model; others ignore them.
        """
        data = stack[None] if np.ndim(stack) == 2 else stack
        n = data.shape[0]
        frame = n // 2 if frame is None else int(frame)
        if not 0 <= frame < n:
            raise ValueError(f"the frame to preview must be in 0..{n - 1}; got {frame}")
        rows, cols = central_crop(data.shape[-2:])
        lo, hi = max(0, frame - CONTEXT_FRAMES), min(n, frame + CONTEXT_FRAMES + 1)
        frames = np.asarray(data[lo:hi, rows, cols], dtype=np.float32)
        noise = None
        if noise_model:
            from tem_denoise.physics import load_noise_model
            from tem_denoise.physics.noise_level import level_from_model

            noise = level_from_model(load_noise_model(noise_model))
        return cls(frames, frame - lo, frame, (rows.start, cols.start), pixel_size_nm, noise, every_s)

    def due(self) -> bool:
        """True when the last preview is at least :attr:`every_s` seconds old."""
        return time.monotonic() - self._last >= self.every_s

    def render(self, model, card, device) -> np.ndarray:
        """The output of ``model`` (described by ``card``) on the crop, ``(y, x)`` float32."""
        from tem_denoise.engine.denoiser import Denoiser
        from tem_denoise.progress import run_to_end

        denoiser = Denoiser(model, device=device, card=card, tile=0)
        frames = self.frames if len(self.frames) > 1 else self.frames[0]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # sampling/dose notes are the final denoise's to give
            return run_to_end(denoiser.iter_preview(frames, self.index, pixel_size_nm=self.pixel_size_nm,
                                                    noise=self.noise))

    def write(self, path: str | Path, trainer, state: dict, step: int) -> Path:
        """Write the crop and the output of ``trainer``'s network with the weights ``state``
        (its best so far, reached at ``step``) to ``path`` (``.npz``, atomically); returns ``path``."""
        model = trainer.model
        training = model.training
        with _weights(model, state):
            output = self.render(model, trainer.card, next(model.parameters()).device)
        model.train(training)
        with atomic_path(path) as temporary:
            np.savez(temporary, input=self.frames[self.index], output=output.astype(np.float32),
                     frame=self.frame, origin=np.array(self.origin), step=step)
        self._last = time.monotonic()
        return Path(path)


def read_preview(path: str | Path) -> dict:
    """The arrays of a live preview file (see the module notes)."""
    with np.load(path, allow_pickle=False) as saved:
        return {key: saved[key] for key in saved.files}
