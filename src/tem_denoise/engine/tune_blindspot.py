"""Blind-spot fine-tuning mode (seed 002, Noise2Self) with a blind region matched to the noise.

The network predicts each pixel from its neighbours alone; when the detector blurs the
noise over ``r`` pixels, the neighbours within ``r`` carry the pixel's own noise, so the blind
region is widened to ``(2r + 1) x (2r + 1)`` pixels (``blind_radius``, measured by
:func:`~tem_denoise.engine.noise_diagnosis.diagnose_noise` unless given) and the kernels are
widened by ``2r`` so that each still sees a ring of neighbours. With ``r = 0`` the base
model's weights are the starting point; a wider blind region starts from a new network.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from tem_denoise.engine.temporal import window_indices
from tem_denoise.engine.tuning import (
    LossMeaning,
    Trainer,
    TuneConfig,
    as_frames,
    crop_corners,
    crop_windows,
    split_rows,
)
from tem_denoise.models.card import ModelCard
from tem_denoise.models.registry import build_model, get_card, load_model

VAL_CROPS = 8


def lowpass_period(card: ModelCard) -> float:
    """Shortest period in pixels that a blind-spot card's FFT low-pass keeps; 0 when it has none.

    The low-pass keeps frequencies up to ``1 / (2 K)`` cycles per pixel (``K`` =
    ``lowpass_kernel``, by default the largest blind kernel, 7, as in seed 002), i.e.
    periods down to ``2 K`` pixels; read from the network the card builds.
    """
    return build_model(card).lowpass_period_px


def with_lowpass_period(card: ModelCard, period_px: float) -> ModelCard:
    """A copy of a blind-spot card whose low-pass keeps periods down to ``period_px`` pixels.

    ``period_px`` 0 removes the low-pass; otherwise it must be at least 2 (the Nyquist
    period). Finer sampling of the lattice needs a shorter period: atoms ``a`` pixels apart
    need ``period_px < a``.
    """
    if period_px == 0:
        return replace(card, architecture={**card.architecture, "lowpass": False})
    if period_px < 2:
        raise ValueError(f"the low-pass period must be 0 (off) or at least 2 px (Nyquist), not {period_px}")
    return replace(card, architecture={**card.architecture, "lowpass": True, "lowpass_kernel": period_px / 2})


def blind_region_card(base: ModelCard, radius: int) -> ModelCard:
    """A copy of blind-spot card ``base`` with a blind region of half-width ``radius`` px, its
    kernels widened by ``2 * radius``."""
    if radius == 0:
        return base
    kernels = build_model(base).kernel_sizes
    architecture = {**base.architecture, "blind_radius": radius, "kernel_sizes": [k + 2 * radius for k in kernels]}
    return replace(base, architecture=architecture, weights_file=None, weights_sha256=None)


class BlindSpotTrainer(Trainer):
    """Noise2Self on the user's stack: mean squared error of the blind output against the centre frame."""

    default_lr = 1e-2
    losses = LossMeaning(training="training: blind-spot output vs the noisy frame",
                         validation="validation: the same on held-out bottom rows",
                         axis="MSE (data units²)\nnoise variance included")

    def __init__(self, stack: np.ndarray, config: TuneConfig):
        import torch

        from tem_denoise.engine.noise_diagnosis import diagnose_noise

        self.frames = as_frames(stack)
        n = len(self.frames)
        base = get_card(config.base or ("wcvd-3d" if n >= 3 else "wcid-2d"))
        if base.family != "blindspot":
            raise ValueError(f"'{base.name}' is not a blind-spot model; the blind-spot mode starts from one "
                             "(wcid-2d, wcvd-3d or one fine-tuned from them)")
        if config.lowpass_period_px is not None:
            base = with_lowpass_period(base, config.lowpass_period_px)
        diagnosis = None
        radius = config.blind_radius
        if radius is None:
            diagnosis = diagnose_noise(stack)
            radius = diagnosis.blind_radius
        card = blind_region_card(base, radius)
        self.model = load_model(card) if card.weights_path else build_model(card)
        self.window = self.model.temporal_window
        if self.window > 1 and n < 2:
            raise ValueError(f"'{base.name}' reads {self.window} consecutive frames and needs a stack; for a "
                             "single image start from a single-frame model (--base wcid-2d)")
        self.device = torch.device(config.device)
        self.model.to(self.device).train()
        self.optimiser = torch.optim.Adam(self.model.parameters(), lr=config.lr or self.default_lr)
        self.config = config
        self.train_rows, self.val_rows = split_rows(self.frames.shape[1], config.val_fraction, config.crop)
        rng = np.random.default_rng([config.seed, 1 << 20])
        ys, xs, edge = crop_corners(self.val_rows, self.frames.shape[2], config.crop, VAL_CROPS, rng)
        self.val = crop_windows(self.frames, self.window, rng.integers(0, n, VAL_CROPS), ys, xs, edge)
        self.card = replace(card, name=config.name, modality=config.modality or base.modality,
                            training={"base_model": base.name, "base_sha256": base.weights_sha256,
                                      "blind_radius": radius})
        self.data = {"source": config.source, "shape": list(np.shape(stack)), "blind_radius": radius,
                     "noise_diagnosis": diagnosis.to_dict() if diagnosis else None,
                     "validation": f"bottom {self.val_rows.stop - self.val_rows.start} rows of every frame"}

    def optimisers(self) -> dict:
        return {"model": self.optimiser}

    def _loss(self, batch):
        import torch

        centre = batch[:, self.window // 2: self.window // 2 + 1]
        return torch.mean((self.model.blind(batch) - centre) ** 2)

    def step(self, rng: np.random.Generator) -> float:
        import torch

        ys, xs, edge = crop_corners(self.train_rows, self.frames.shape[2], self.config.crop,
                                    self.config.batch_size, rng)
        centres = rng.integers(0, len(self.frames), self.config.batch_size)
        batch = torch.from_numpy(crop_windows(self.frames, self.window, centres, ys, xs, edge)).to(self.device)
        return self.optimise(lambda: self._loss(batch))

    def validate(self) -> tuple[float, dict]:
        import torch

        val = torch.from_numpy(self.val).to(self.device)
        return self.evaluate(lambda: self._loss(val)), {}

    def preview(self) -> tuple[np.ndarray, np.ndarray]:
        import torch

        t = len(self.frames) // 2
        window = self.frames[window_indices(t, t + 1, self.window, len(self.frames))[0]][:, self.val_rows]
        with torch.no_grad():
            output = self.model(torch.from_numpy(np.ascontiguousarray(window[None])).to(self.device))
        return window[self.window // 2], output[0, 0].cpu().numpy()
