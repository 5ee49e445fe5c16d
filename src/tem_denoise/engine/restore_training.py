"""Training restoration models on pairs made on the fly by :mod:`tem_denoise.physics.formation`.

Each batch is new: random specimens, microscopes, pixel sizes and doses. A pair goes through
the same :class:`~tem_denoise.engine.adapters.RestoreAdapter` as the user's frames at
inference (down-sampling to the working sampling, noise map, scale), so the model learns what
the engine will give it. Half of the noise maps come from the exact simulated noise law (what
a calibration measures), half from the estimate made from the noisy frame itself (what the
engine does when the user has not calibrated). The loss is the mean squared error in units
of each frame's noise variance, or the mean log squared error, so that every dose counts about
the same in dB.
"""

from __future__ import annotations

import itertools
import multiprocessing
import os
import time
from collections import deque
from collections.abc import Generator
from contextlib import closing, contextmanager
from dataclasses import dataclass, replace

import numpy as np

from tem_denoise.engine.adapters import RestoreAdapter, restore_scale
from tem_denoise.physics.formation import SPECS, restore_pair
from tem_denoise.physics.noise_level import POISSON, estimate_level
from tem_denoise.sampling import factor_for, working_shape


@dataclass
class RestoreConfig:
    """One restoration training run.

    Attributes
    ----------
    modality : str
        Key of :data:`tem_denoise.physics.formation.SPECS`.
    working_nm : float
        Working sampling of the model (nm per pixel).
    steps : int
        Optimiser steps (a cosine schedule runs over them).
    size : int
        Edge of the training crops on the working grid (px).
    batch_size : int
        Crops per step.
    lr, lr_min : float
        Adam learning rate, start and end of the cosine.
    estimated_fraction : float
        Share of noise maps estimated from the noisy frame instead of the exact law.
    loss : {"noise-weighted", "log-mse"}
        Per-frame squared error in units of the frame's noise variance, averaged; or the mean
        of the log of each frame's squared error (every frame's relative improvement counts
        the same, as in dB; it cannot be dominated by a few high-dose frames).
    seed : int
        Seed of the data and of torch.
    max_minutes : float or None
        Wall-clock budget.
    multislice_share : float
        HRTEM: share of specimens imaged by light multislice rather than as phase objects
        (:class:`~tem_denoise.physics.formation.FormationSpec`).
    physical_phase : bool
        HRTEM: phases from the voltage's interaction constant (the same).
    """

    modality: str
    working_nm: float
    steps: int = 20000
    size: int = 96
    batch_size: int = 12
    lr: float = 1e-3
    lr_min: float = 2e-5
    estimated_fraction: float = 0.5
    loss: str = "noise-weighted"
    seed: int = 0
    max_minutes: float | None = None
    multislice_share: float = 0.0
    physical_phase: bool = False


def training_example(config: RestoreConfig, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, float]:
    """One crop: model input ``(2, S, S)``, target ``(S, S)`` and the frame's loss weight."""
    spec = replace(SPECS[config.modality], multislice_share=config.multislice_share,
                   physical_phase=config.physical_phase)
    low_px, high_px = spec.pixel_range_nm
    pixel = float(np.exp(rng.uniform(np.log(low_px), np.log(high_px))))
    factor = factor_for(pixel, config.working_nm)
    native = int(np.ceil(config.size * factor)) + 2
    pair = restore_pair(spec, (native, native), rng, pixel_nm=pixel)
    level = pair.level
    if rng.random() < config.estimated_fraction:
        level = POISSON if level is POISSON else estimate_level(pair.noisy)
    low, span = restore_scale([pair.noisy])
    adapter = RestoreAdapter(factor, level, low, span, pair.noisy.shape)
    inputs, target = adapter.inputs(pair.noisy), adapter.target(pair.clean)
    h, w = working_shape(pair.noisy.shape, factor)
    y0, x0 = rng.integers(0, h - config.size + 1), rng.integers(0, w - config.size + 1)
    crop = (slice(y0, y0 + config.size), slice(x0, x0 + config.size))
    sigma = float(np.mean(inputs[1][crop]))
    return inputs[(slice(None), *crop)], target[crop], 1.0 / max(sigma, 1e-3) ** 2


def training_batch(config: RestoreConfig, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(B, 2, S, S)`` inputs, ``(B, 1, S, S)`` targets and ``(B,)`` loss weights."""
    examples = [training_example(config, rng) for _ in range(config.batch_size)]
    inputs, targets, weights = zip(*examples)
    return np.stack(inputs), np.stack(targets)[:, None], np.array(weights, dtype=np.float32)


def step_batch(config: RestoreConfig, step: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The batch of optimiser step ``step``: the same whichever process makes it."""
    return training_batch(config, np.random.default_rng([config.seed, step]))


def batch_stream(config: RestoreConfig, start_step: int = 0, workers: int = 0) -> Generator[tuple, None, None]:
    """Batches of steps ``start_step, start_step + 1, ...`` (endless; close the generator to stop).

    ``workers`` processes make them in parallel (0: in this process); at most two batches per
    worker are made ahead, so memory stays bounded when the optimiser is slower than the data.
    """
    steps = itertools.count(start_step)
    if workers <= 0:
        for step in steps:
            yield step_batch(config, step)
        return
    with _single_threaded_children():
        pool = multiprocessing.get_context("spawn").Pool(workers)
    with pool:
        pending: deque = deque()
        while True:
            while len(pending) < 2 * workers:
                pending.append(pool.apply_async(step_batch, (config, next(steps))))
            yield pending.popleft().get()


@contextmanager
def _single_threaded_children():
    """Processes started inside use one math thread each: the processes are the parallelism."""
    names = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")
    saved = {name: os.environ.get(name) for name in names}
    os.environ.update(dict.fromkeys(names, "1"))
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name)
            else:
                os.environ[name] = value


def learning_rate(config: RestoreConfig, step: int, elapsed_s: float = 0.0) -> float:
    """Cosine from ``lr`` to ``lr_min`` over the steps, or over ``max_minutes`` if that ends first."""
    progress = step / max(config.steps, 1)
    if config.max_minutes:
        progress = max(progress, elapsed_s / (60 * config.max_minutes))
    progress = min(progress, 1.0)
    return float(config.lr_min + 0.5 * (config.lr - config.lr_min) * (1 + np.cos(np.pi * progress)))


class RestoreTrainer:
    """One model and its Adam optimiser; several trainers can learn in lockstep from one stream."""

    def __init__(self, model, config: RestoreConfig, device: str = "cpu"):
        import torch

        self.model, self.config, self.device = model.to(device).train(), config, device
        self.optimiser = torch.optim.Adam(model.parameters(), lr=config.lr)

    def step(self, batch: tuple, lr: float) -> float:
        """One optimiser step on ``batch`` (from :func:`training_batch`) at learning rate ``lr``."""
        import torch

        for group in self.optimiser.param_groups:
            group["lr"] = lr
        inputs, targets, weights = (torch.from_numpy(a).to(self.device) for a in batch)
        self.optimiser.zero_grad()
        error = ((self.model(inputs) - targets) ** 2).mean(dim=(1, 2, 3))
        loss = torch.log(error + 1e-8).mean() if self.config.loss == "log-mse" else (error * weights).mean()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(self.model.parameters(), 1.0)
        self.optimiser.step()
        return float(loss.item())


def iter_lockstep(trainers: list[RestoreTrainer], config: RestoreConfig, start_step: int = 0,
                  workers: int = 0) -> Generator[tuple[int, list[float], float, float], None, None]:
    """Steps ``start_step`` to ``config.steps`` (or to ``config.max_minutes``) of every trainer on
    the same batches (:func:`batch_stream`); yields (steps done, each trainer's loss, learning
    rate, seconds so far) per step."""
    start = time.time()
    with closing(batch_stream(config, start_step, workers)) as batches:
        for step, batch in zip(range(start_step, config.steps), batches):
            elapsed = time.time() - start
            if config.max_minutes is not None and elapsed > 60 * config.max_minutes:
                return
            lr = learning_rate(config, step, elapsed)
            yield step + 1, [trainer.step(batch, lr) for trainer in trainers], lr, elapsed
