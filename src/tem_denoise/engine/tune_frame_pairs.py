"""Frame-pair fine-tuning mode: Noise2Noise on neighbouring frames of a movie.

Two frames of a movie show the same scene with independent noise, so a network trained to
predict one noisy frame from others learns the clean scene (Noise2Noise), whatever the
noise's spatial correlation. The input is the :data:`WINDOW`-frame window around frame ``t``
exactly as the engine will read it (raw, consecutive frames); the target is the mean of frames
``t + 3`` and ``t - 3`` (outside the window, so their noise is independent of the input; one of
them at the movie's ends), each moved onto frame ``t``'s grid by the sub-pixel drift measured
with :mod:`tem_denoise.analysis.drift` on a smoothed copy of the movie (:func:`movie_drift`).
Five frames rather than three let the network average more of a slowly changing scene, and the
mean of two targets halves the target noise; together they gained 0.5 dB at 150 steps on the
benchmark movie (docs/finetune.md). The network is a U-Net
(:class:`~tem_denoise.models.unet.UNet`) on the ``percentile-255`` scale that restores the
centre frame in the data's units; a new one starts at the data's intensity level and steps
its output layer at the data's scale (:func:`fit_to_scale`, :func:`scaled_groups`), without
which it spent its whole budget climbing from 0 towards ~128 and ended worse than its input.
"""

from __future__ import annotations

import numpy as np

from tem_denoise.engine.noise_diagnosis import MIN_PAIR_FRAMES
from tem_denoise.engine.temporal import window_indices
from tem_denoise.engine.tuning import (
    LossMeaning,
    Trainer,
    TuneConfig,
    as_frames,
    augment,
    crop_corners,
    crop_windows,
    split_rows,
)
from tem_denoise.models.card import ModelCard
from tem_denoise.models.registry import build_model, get_card, load_model

WINDOW = 5
"""Frames a new network reads (a network it saved before keeps its own window)."""
VAL_CROPS = 8
ARCHITECTURE = {"base_channels": 16, "depth": 2, "final_activation": "none"}


SMOOTH_FRAMES = 1.0
SMOOTH_PX = 1.0


def movie_drift(frames: np.ndarray) -> np.ndarray:
    """``(t, 2)`` shifts (px) that register each frame of a low-dose movie onto frame 0.

    Single low-dose frames defeat the correlation (at 20 e-/px/frame with weak phase contrast
    every frame fails), so, as seed 002 registers after a first denoise, the shifts are
    estimated on a copy smoothed by a Gaussian of :data:`SMOOTH_FRAMES` frames and
    :data:`SMOOTH_PX` px, each frame correlated with the running mean of those registered
    before it (:func:`~tem_denoise.analysis.drift.estimate_drift`).
    """
    from scipy import ndimage

    from tem_denoise.analysis.drift import estimate_drift

    smooth = ndimage.gaussian_filter(frames, (SMOOTH_FRAMES, SMOOTH_PX, SMOOTH_PX), mode="nearest")
    return estimate_drift(frames, estimate_on=smooth, reference="mean").shifts


def registered_targets(frames: np.ndarray, shifts: np.ndarray, offset: int) -> tuple[np.ndarray, np.ndarray, int]:
    """For every frame ``t`` with a frame ``t + offset``: that frame moved onto ``t``'s grid.

    ``shifts`` are the movie's drift (:func:`movie_drift`); each target is shifted by the
    difference of the two frames' shifts (Fourier shift). Returns the indices ``t``, the
    ``(len(t), y, x)`` targets and the margin (px) within which the shift wrapped pixels
    around the frame edge.
    """
    from tem_denoise.analysis.drift import apply_shifts

    n = len(frames)
    centres = np.arange(max(0, -offset), min(n, n - offset))
    relative = shifts[centres + offset] - shifts[centres]
    moved = apply_shifts(frames[centres + offset], relative).data
    return centres, moved, int(np.ceil(np.abs(relative).max())) + 1


def averaged_targets(frames: np.ndarray, shifts: np.ndarray, offset: int) -> tuple[np.ndarray, np.ndarray, int]:
    """For every frame ``t``: the mean of frames ``t - offset`` and ``t + offset`` (those that
    exist), each moved onto ``t``'s grid (:func:`registered_targets`).

    Returns the indices ``t`` with at least one target, the ``(len(t), y, x)`` float32 targets
    and the margin (px) within which a shift wrapped pixels around the frame edge.
    """
    total = np.zeros(frames.shape, np.float64)
    count = np.zeros(len(frames))
    margin = 0
    for signed in (offset, -offset):
        centres, moved, edge = registered_targets(frames, shifts, signed)
        total[centres] += moved
        count[centres] += 1
        margin = max(margin, edge)
    have = np.flatnonzero(count)
    return have, (total[have] / count[have, None, None]).astype(np.float32), margin


def _ends(model) -> tuple:
    """The first convolution (reads the frames) and the last (writes the output) of a U-Net."""
    return model.down[0][0], model.out[0]


def fit_to_scale(model, level: float, spread: float) -> None:
    """Initialise a new U-Net for frames of mean ``level`` and standard deviation ``spread``
    (0..255 scale): the first convolution's outputs start centred (so that its ReLU passes
    about half of them) and the output starts at ``level`` with the output layer's weights
    ``spread`` times the default, as if inputs and targets had been standardised."""
    import torch

    first, last = _ends(model)
    with torch.no_grad():
        first.bias -= level * first.weight.sum(dim=(1, 2, 3))
        last.weight *= spread
        last.bias.mul_(spread).add_(level)


def scaled_groups(model, spread: float, lr: float) -> list[dict]:
    """Adam parameter groups that step the output layer and the first layer's bias ``spread``
    times faster than the rest: Adam moves each weight by about ``lr`` per step whatever its
    scale, so on the 0..255 scale the output (and the centring bias) would otherwise need
    thousands of steps to reach the data's intensities."""
    first, last = _ends(model)
    fast = [first.bias, *last.parameters()]
    rest = [p for p in model.parameters() if all(p is not q for q in fast)]
    return [{"params": rest, "lr": lr}, {"params": fast, "lr": lr * spread}]


class FramePairTrainer(Trainer):
    """Noise2Noise between a window of frames and the mean of the registered frames just outside it."""

    default_lr = 1e-3
    losses = LossMeaning(training="training: output vs mean of 2 registered neighbour frames",
                         validation="validation: the same on held-out bottom rows",
                         axis="MSE (intensity²)\n0.1-99.9 % range → 0-255")

    def __init__(self, stack: np.ndarray, config: TuneConfig):
        import torch

        from tem_denoise.engine.adapters import fit_adapter

        self.frames = as_frames(stack)
        n = len(self.frames)
        if n < MIN_PAIR_FRAMES:
            raise ValueError(f"the frame-pair mode needs a movie of at least {MIN_PAIR_FRAMES} frames; this stack "
                             f"has {n}. For single frames use --mode blind-spot or --mode calibrated")
        self.adapter = fit_adapter("percentile-255", self.frames)
        self.unclipped = fit_adapter("percentile-255", self.frames, clip=False)
        self.inputs = self.adapter.forward(self.frames)
        base = get_card(config.base) if config.base else None
        if base is not None and (base.family != "unet" or base.temporal_window % 2 == 0):
            raise ValueError(f"'{base.name}' is not a U-Net over an odd number of frames; the frame-pair mode starts "
                             "from a new network or from a model it saved before")
        self.window = base.temporal_window if base else WINDOW
        self.offset = self.window // 2 + 1
        self.shifts = movie_drift(self.frames)
        centres, moved, self.margin = averaged_targets(self.frames, self.shifts, self.offset)
        self.targets = (centres, self.unclipped.forward(moved))
        architecture = dict(base.architecture) if base else {**ARCHITECTURE, "frames": WINDOW}
        card = ModelCard(config.name, "unet", architecture, modality=config.modality or "any", output_kind="restore",
                         adapter="percentile-255", tile_size=256, temporal_window=self.window, speed_class="medium",
                         description=f"{self.window}-frame U-Net trained on neighbouring frames (Noise2Noise)",
                         training={"base_model": base.name if base else None,
                                   "base_sha256": base.weights_sha256 if base else None})
        self.model = load_model(base) if base else build_model(card)
        level, spread = float(self.inputs.mean()), float(self.inputs.std()) or 1.0
        if base is None:
            fit_to_scale(self.model, level, spread)
        self.device = torch.device(config.device)
        self.model.to(self.device)
        self.optimiser = torch.optim.Adam(scaled_groups(self.model, spread, config.lr or self.default_lr))
        self.config, self.card = config, card
        self.train_rows, self.val_rows = split_rows(self.frames.shape[1], config.val_fraction, config.crop)
        self.val = self._batch(np.random.default_rng([config.seed, 1 << 20]), self.val_rows, VAL_CROPS)
        self.data = {"source": config.source, "shape": list(np.shape(stack)),
                     "pairs": f"{self.window}-frame window -> mean of frames t+-{self.offset} registered onto frame t",
                     "drift_margin_px": self.margin,
                     "validation": f"bottom {self.val_rows.stop - self.val_rows.start} rows of every frame"}

    def optimisers(self) -> dict:
        return {"model": self.optimiser}

    def _batch(self, rng: np.random.Generator, rows: slice, count: int):
        import torch

        centres, targets = self.targets
        picks = rng.integers(0, len(centres), count)
        ys, xs, edge = crop_corners(rows, self.frames.shape[2], self.config.crop, count, rng, self.margin)
        x = crop_windows(self.inputs, self.window, centres[picks], ys, xs, edge)
        y = np.stack([targets[p, a:a + edge, b:b + edge] for p, a, b in zip(picks, ys, xs, strict=True)])[:, None]
        return torch.from_numpy(x).to(self.device), torch.from_numpy(y).to(self.device)

    def step(self, rng: np.random.Generator) -> float:
        import torch

        x, y = self._batch(rng, self.train_rows, self.config.batch_size)
        x, y = augment([x, y], int(rng.integers(4)), bool(rng.integers(2)))
        return self.optimise(lambda: torch.nn.functional.mse_loss(self.model(x), y))

    def validate(self) -> tuple[float, dict]:
        import torch

        return self.evaluate(lambda: torch.nn.functional.mse_loss(self.model(self.val[0]), self.val[1])), {}

    def preview(self) -> tuple[np.ndarray, np.ndarray]:
        import torch

        t = len(self.frames) // 2
        window = self.inputs[window_indices(t, t + 1, self.window, len(self.frames))[0]][:, self.val_rows]
        self.model.eval()
        with torch.no_grad():
            output = self.model(torch.from_numpy(np.ascontiguousarray(window[None])).to(self.device))
        return window[self.window // 2], output[0, 0].cpu().numpy()
