"""Calibrated-synthesis fine-tuning mode: the generalist restoration model adapted to one camera.

The bundled ``restore-*`` models learned from many simulated microscopes and detectors. When
the user has calibrated their own camera (a noise-model JSON from the Noise calibration dock
or ``tem-denoise calibrate``), pairs are synthesised exactly as their data are recorded:
specimens imaged by :func:`~tem_denoise.physics.formation.restore_pair` at the data's pixel
size, the clean image scaled to the data's intensity range, and the user's noise model
applied to it. The model reads the calibrated noise law (as the engine does with
``--noise``), and is trained with the log mean squared error against the clean image, which
also gives the validation loss on pairs held out from training.

Clean specimens are simulated once (a pool of :data:`POOL` images, flipped and rotated at
random); fresh noise is drawn at every step, so the network never sees the same noisy pair twice.
"""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np

from tem_denoise.engine.tuning import LossMeaning, Trainer, TuneConfig, as_frames
from tem_denoise.models.registry import get_card, load_model

BASE_MODELS = {"HRTEM": "restore-hrtem", "HRTEM-counting": "restore-hrtem", "STEM-HAADF": "restore-haadf",
               "STEM-BF": "restore-bf"}
POOL = 48
VAL_PAIRS = 8


def scaled_clean(clean: np.ndarray, low: float, span: float) -> np.ndarray:
    """``clean`` mapped linearly so that its 0.5 and 99.5 percentiles become ``low`` and ``low + span``."""
    lo, hi = np.percentile(clean, [0.5, 99.5])
    return (low + (clean - lo) * (span / max(hi - lo, 1e-12))).astype(np.float32)


def record(noise_model, clean: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """The noisy frame the user's camera records of ``clean`` (data units) and its noise-free
    value (for a counting model with a dose, the expected counts)."""
    from tem_denoise.physics.noise_models import Counting

    if isinstance(noise_model, Counting):
        clean = np.maximum(clean, 0.0)
        expected = noise_model.expected(clean) if noise_model.dose_e_per_px is not None else clean
        return noise_model.apply(clean, rng), expected.astype(np.float32)
    return noise_model.apply(clean, rng), clean


class CalibratedTrainer(Trainer):
    """Supervised fine-tuning of a ``restore-*`` model on pairs made with the user's noise model."""

    default_lr = 2e-4
    losses = LossMeaning(training="training: output vs clean image, synthesised pairs",
                         validation=f"validation: the same on {VAL_PAIRS} held-out synthesised pairs",
                         axis="ln MSE (intensity²)\n0.5-99.5 % range → 0-1")

    def __init__(self, stack: np.ndarray, config: TuneConfig):
        import torch

        from tem_denoise.engine.adapters import restore_scale, sample_frames
        from tem_denoise.physics import load_noise_model
        from tem_denoise.physics.noise_level import check_detector, level_from_model
        from tem_denoise.sampling import factor_for

        if not config.noise_model:
            raise ValueError("the calibrated mode needs your camera's noise model: give its JSON with --noise "
                             "(from `tem-denoise calibrate` or the Noise calibration dock)")
        if not config.pixel_size_nm or not config.pixel_size_nm > 0:
            raise ValueError("the calibrated mode synthesises pairs at your data's pixel size: the file does not "
                             "state it, so give it with --pixel-size (nm)")
        modality = config.modality
        if config.base is None and modality not in BASE_MODELS:
            raise ValueError(f"say what the data are (--modality {', '.join(BASE_MODELS)}), or name a restore "
                             "model with --base, so that the right generalist model is fine-tuned")
        base = get_card(config.base or BASE_MODELS[modality])
        if base.adapter != "restore":
            raise ValueError(f"'{base.name}' is not a restoration model; the calibrated mode fine-tunes restore-hrtem, "
                             "restore-haadf, restore-bf or a model fine-tuned from them")
        low, high = base.sampling_range_nm
        if not low <= config.pixel_size_nm <= high:
            raise ValueError(f"'{base.name}' works on pixels of {low}-{high} nm; these are {config.pixel_size_nm} nm")
        self.noise_model = load_noise_model(config.noise_model)
        check_detector(self.noise_model, base.modality, f"base model '{base.name}'")
        self.level = level_from_model(self.noise_model)
        self.low, self.span = restore_scale(sample_frames(as_frames(stack), 4))
        self.factor = factor_for(config.pixel_size_nm, base.pixel_size_nm)
        self.spec_modality = base.modality if base.modality in BASE_MODELS else modality
        self.config, self.size = config, config.crop
        self.model = load_model(base, device="cpu")
        self.device = torch.device(config.device)
        self.model.to(self.device)
        self.optimiser = torch.optim.Adam(self.model.parameters(), lr=config.lr or self.default_lr)
        self.pool = self._cleans(POOL, np.random.default_rng([config.seed, 1]))
        val_rng = np.random.default_rng([config.seed, 2])
        self.val = self._pairs(self._cleans(VAL_PAIRS, val_rng), val_rng, augment=False)
        self.card = replace(base, name=config.name, is_default=False, training={
            "base_model": base.name, "base_sha256": base.weights_sha256,
            "noise_model": self.noise_model.to_dict(), "pixel_size_nm": config.pixel_size_nm})
        self.card.description = (f"{base.name} fine-tuned on pairs synthesised with a calibrated noise model at "
                                 f"{config.pixel_size_nm} nm/px; denoise with that noise model (--noise)")
        self.data = {"source": config.source, "shape": list(np.shape(stack)), "noise_model": config.noise_model,
                     "pixel_size_nm": config.pixel_size_nm, "intensity_range": [self.low, self.low + self.span],
                     "specimens": f"tem_denoise.physics.formation.restore_pair(SPECS['{self.spec_modality}'])",
                     "validation": f"{VAL_PAIRS} synthesised pairs held out from training"}

    def _cleans(self, count: int, rng: np.random.Generator) -> list[np.ndarray]:
        """``count`` clean specimen images on the data's grid, in the data's intensity range."""
        from tem_denoise.physics.formation import SPECS, restore_pair

        native = math.ceil(self.size * self.factor) + 2
        spec = SPECS[self.spec_modality]
        return [scaled_clean(restore_pair(spec, (native, native), rng, pixel_nm=self.config.pixel_size_nm).clean,
                             self.low, self.span) for _ in range(count)]

    def _pairs(self, cleans: list[np.ndarray], rng: np.random.Generator, augment: bool):
        """Model inputs ``(B, 2, S, S)`` and targets ``(B, 1, S, S)`` on the working grid."""
        import torch

        from tem_denoise.engine.adapters import RestoreAdapter, restore_scale

        inputs, targets = [], []
        for clean in cleans:
            if augment:
                clean = np.rot90(clean, int(rng.integers(4)))
                clean = np.ascontiguousarray(clean[:, ::-1] if rng.integers(2) else clean)
            noisy, truth = record(self.noise_model, clean, rng)
            low, span = restore_scale([noisy])
            adapter = RestoreAdapter(self.factor, self.level, low, span, noisy.shape)
            x, y = adapter.inputs(noisy), adapter.target(truth)
            inputs.append(x[:, :self.size, :self.size])
            targets.append(y[None, :self.size, :self.size])
        return (torch.from_numpy(np.stack(inputs)).to(self.device),
                torch.from_numpy(np.stack(targets).astype(np.float32)).to(self.device))

    def optimisers(self) -> dict:
        return {"model": self.optimiser}

    def _loss(self, x, y):
        import torch

        error = ((self.model(x) - y) ** 2).mean(dim=(1, 2, 3))
        return torch.log(error + 1e-8).mean()

    def step(self, rng: np.random.Generator) -> float:
        picks = rng.integers(0, len(self.pool), self.config.batch_size)
        x, y = self._pairs([self.pool[i] for i in picks], rng, augment=True)
        return self.optimise(lambda: self._loss(x, y), clip=1.0)

    def validate(self) -> tuple[float, dict]:
        return self.evaluate(lambda: self._loss(*self.val)), {}

    def preview(self) -> tuple[np.ndarray, np.ndarray]:
        import torch

        with torch.no_grad():
            output = self.model(self.val[0][:1])
        return self.val[0][0, 0].cpu().numpy(), output[0, 0].cpu().numpy()
