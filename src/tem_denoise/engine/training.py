"""Training: supervised on synthetic pairs (SCGN, SFIN, U-Net) and self-supervised on any stack
(blind-spot WCID/WCVD, seed 002).

Both trainers are generators that yield a :class:`Progress` per optimiser step and
return a :class:`TrainResult`, so a dock can show progress and cancel between steps; the
model is trained in place. Supervised training follows the papers (L1 loss, Adam, lr 2e-4);
self-supervised training is Noise2Self on the blind network output (mean squared error
between :meth:`~tem_denoise.models.blindspot.BlindSpotNet.blind` and the noisy centre
frame), which needs no clean data.
"""

from __future__ import annotations

import time
from collections.abc import Generator
from dataclasses import asdict, dataclass, field

import numpy as np

from tem_denoise.arrays import as_float32, check_image
from tem_denoise.engine.adapters import fit_adapter
from tem_denoise.engine.temporal import window_indices
from tem_denoise.progress import Progress

LOSSES = {"l1": "l1_loss", "mse": "mse_loss"}


@dataclass
class SupervisedConfig:
    """What a supervised run trains on and for how long.

    Attributes
    ----------
    kind : str
        Synthetic scene family: ``"hrtem"``, ``"haadf"``, ``"bf"`` or ``"counting"``
        (:mod:`tem_denoise.physics.datasets`).
    target : str
        ``"atom-map"`` (Gaussian atoms, 0..255, as in seeds 000/001) or ``"restore"`` (the
        clean image in the adapter's 0..255 scale, mapped back by the engine).
    n_pairs : int
        Synthetic training pairs (made once, then augmented by flips and 90° rotations).
    frames : int
        Input frames per pair (odd): 1 for single-frame models; more for a temporal model,
        whose pairs are short drifting movies with the centre frame as target.
    size : int
        Training frame edge in pixels.
    batch_size, epochs : int
        Pairs per step and passes over the set.
    lr : float
        Adam learning rate (papers: 2e-4).
    lr_min : float or None
        If set, the learning rate follows a cosine from ``lr`` down to ``lr_min`` over the
        planned ``epochs`` (a short CPU budget converges faster from a higher ``lr``);
        None keeps ``lr`` constant, as the papers do.
    seed : int
        Seed of the data and of torch.
    max_minutes : float or None
        Wall-clock budget; training stops after the step that exceeds it.
    percentiles : tuple of float
        Percentiles of the ``percentile-255`` input adapter (the engine's default).
    loss : {"l1", "mse"}
        L1 as in the papers (atom maps); mean squared error gives the conditional mean, the
        estimate that maximises PSNR against the clean image (``restore`` models).
    """

    kind: str = "hrtem"
    target: str = "atom-map"
    n_pairs: int = 400
    frames: int = 1
    size: int = 128
    batch_size: int = 8
    epochs: int = 20
    lr: float = 2e-4
    lr_min: float | None = None
    seed: int = 0
    max_minutes: float | None = None
    percentiles: tuple[float, float] = (0.1, 99.9)
    loss: str = "l1"

    def __post_init__(self) -> None:
        if self.frames < 1 or self.frames % 2 == 0:
            raise ValueError(f"frames must be a positive odd number, got {self.frames}")
        if self.loss not in LOSSES:
            raise ValueError(f"loss must be one of {sorted(LOSSES)}, not {self.loss!r}")


@dataclass
class SelfSupervisedConfig:
    """A blind-spot run on one stack: random crops, Noise2Self loss.

    Attributes
    ----------
    steps : int
        Optimiser steps.
    crop, batch_size : int
        Crop edge in pixels and crops per step.
    lr : float
        Adam learning rate.
    seed : int
        Seed of crop positions and of torch.
    max_minutes : float or None
        Wall-clock budget.
    """

    steps: int = 300
    crop: int = 128
    batch_size: int = 8
    lr: float = 1e-2
    seed: int = 0
    max_minutes: float | None = None

    def __post_init__(self) -> None:
        if self.steps < 1:
            raise ValueError(f"steps must be at least 1; got {self.steps} (no training, no model to save)")
        if self.crop < 16:
            raise ValueError(f"crop must be at least 16 px; got {self.crop}")
        if self.batch_size < 1:
            raise ValueError(f"batch_size must be at least 1; got {self.batch_size}")
        if not self.lr > 0:
            raise ValueError(f"lr must be positive; got {self.lr}")
        if self.max_minutes is not None and not self.max_minutes > 0:
            raise ValueError(f"max_minutes must be positive; got {self.max_minutes}")


@dataclass
class TrainResult:
    """Loss history and what the run did, for the model card."""

    losses: list[float]
    steps: int
    seconds: float
    stopped_by_budget: bool
    config: dict = field(default_factory=dict)


def adapt_pair(noisy: np.ndarray, clean: np.ndarray, atom_map: np.ndarray, target: str,
               percentiles: tuple[float, float]) -> tuple[np.ndarray, np.ndarray]:
    """Input and target of one pair in the model's 0..255 space, as the engine will see it.

    The input is scaled by a ``percentile-255`` adapter fitted to the noisy frame (or window); a
    ``restore`` target is the clean frame through the same adapter (unclipped), an
    ``atom-map`` target is the atom map as it is.
    """
    adapter = fit_adapter("percentile-255", noisy, percentiles)
    if target == "atom-map":
        return adapter.forward(noisy), atom_map.astype(np.float32)
    if target == "restore":
        unclipped = fit_adapter("percentile-255", noisy, percentiles, clip=False)
        return adapter.forward(noisy), unclipped.forward(clean)
    raise ValueError(f"target must be 'atom-map' or 'restore', not {target!r}")


def make_supervised_set(config: SupervisedConfig) -> tuple[np.ndarray, np.ndarray]:
    """Synthetic inputs ``(n, frames, size, size)`` and targets ``(n, 1, size, size)``, float32
    in the 0..255 space; a movie's target is its centre frame."""
    from tem_denoise.physics.datasets import iter_pairs

    shape = (config.size, config.size)
    inputs = np.empty((config.n_pairs, config.frames, *shape), np.float32)
    targets = np.empty((config.n_pairs, 1, *shape), np.float32)
    centre = config.frames // 2
    pairs = iter_pairs(config.kind, config.n_pairs, shape, seed=config.seed, frames=config.frames)
    for index, pair in enumerate(pairs):
        noisy, clean, atoms = (np.reshape(a, (-1, *shape)) for a in (pair.noisy, pair.clean, pair.atom_map))
        inputs[index], targets[index, 0] = adapt_pair(noisy, clean[centre], atoms[centre],
                                                       config.target, config.percentiles)
    return inputs, targets


def _augment(batch, k: int, flip: bool):
    import torch

    batch = torch.rot90(batch, k, dims=(-2, -1))
    return torch.flip(batch, dims=(-1,)) if flip else batch


def _out_of_budget(start: float, max_minutes: float | None) -> bool:
    return max_minutes is not None and time.time() - start > 60 * max_minutes


def iter_train_supervised(model, inputs: np.ndarray, targets: np.ndarray, config: SupervisedConfig,
                          device: str = "cpu") -> Generator[Progress, None, TrainResult]:
    """Train ``model`` in place with Adam and the configured loss (L1 or MSE) on ``(inputs, targets)``.

    The learning rate is constant or, with ``config.lr_min``, a cosine over the planned steps.
    Each step draws a batch in a seeded random order, rotated by a random multiple of 90°
    and randomly mirrored (the same way for input and target).
    """
    import torch

    torch.manual_seed(config.seed)
    rng = np.random.default_rng(config.seed)
    model.to(device).train()
    optimiser = torch.optim.Adam(model.parameters(), lr=config.lr)
    x_all, y_all = torch.from_numpy(inputs), torch.from_numpy(targets)
    per_epoch = max(1, len(inputs) // config.batch_size)
    total, losses, start = per_epoch * config.epochs, [], time.time()
    schedule = (torch.optim.lr_scheduler.CosineAnnealingLR(optimiser, T_max=total, eta_min=config.lr_min)
                if config.lr_min is not None else None)
    loss_fn = getattr(torch.nn.functional, LOSSES[config.loss])
    for step in range(total):
        if step % per_epoch == 0:
            order = rng.permutation(len(inputs))
        picks = order[(step % per_epoch) * config.batch_size:][: config.batch_size]
        k, flip = int(rng.integers(4)), bool(rng.integers(2))
        x = _augment(x_all[picks], k, flip).to(device)
        y = _augment(y_all[picks], k, flip).to(device)
        optimiser.zero_grad()
        loss = loss_fn(model(x), y)
        loss.backward()
        optimiser.step()
        if schedule is not None:
            schedule.step()
        losses.append(loss.item())
        epoch = step // per_epoch + 1
        message = f"epoch {epoch}/{config.epochs}, {config.loss.upper()} {losses[-1]:.3f}"
        yield Progress(step + 1, total, message, loss=losses[-1])
        if _out_of_budget(start, config.max_minutes):
            break
    model.eval()
    return TrainResult(losses, len(losses), time.time() - start, len(losses) < total, asdict(config))


def _random_windows(stack: np.ndarray, window: int, crop: int, count: int, rng: np.random.Generator):
    """``count`` random ``(window, crop, crop)`` crops centred on random frames (mirrored at the ends,
    as the engine reads windows)."""
    n, height, width = stack.shape
    centres = rng.integers(0, n, count)
    ys, xs = rng.integers(0, height - crop + 1, count), rng.integers(0, width - crop + 1, count)
    out = np.empty((count, window, crop, crop), np.float32)
    for i, (t, y, x) in enumerate(zip(centres, ys, xs, strict=True)):
        frames = window_indices(t, t + 1, window, n)[0]
        out[i] = stack[frames, y:y + crop, x:x + crop]
    return out


def iter_train_self_supervised(model, stack: np.ndarray, config: SelfSupervisedConfig,
                               device: str = "cpu") -> Generator[Progress, None, TrainResult]:
    """Fit a blind-spot net in place to one noisy ``(t, y, x)`` stack (or ``(y, x)`` frame).

    The loss is the mean squared error between the blind output and the centre frame:
    the net never sees a pixel's own value, so it can only predict its clean part.
    """
    import torch

    data = as_float32(check_image(stack, "the training stack"), "the training stack")
    data = data[None] if data.ndim == 2 else data
    window = model.temporal_window
    if window > 1 and data.shape[0] < 2:
        raise ValueError(f"this model reads {window} consecutive frames and needs a stack; for a single "
                         "image start from a single-frame model (wcid-2d)")
    crop = min(config.crop, data.shape[1], data.shape[2])
    torch.manual_seed(config.seed)
    rng = np.random.default_rng(config.seed)
    model.to(device).train()
    optimiser = torch.optim.Adam(model.parameters(), lr=config.lr)
    losses, start = [], time.time()
    for step in range(config.steps):
        batch = torch.from_numpy(_random_windows(data, window, crop, config.batch_size, rng)).to(device)
        centre = batch[:, window // 2: window // 2 + 1]
        optimiser.zero_grad()
        loss = torch.mean((model.blind(batch) - centre) ** 2)
        loss.backward()
        optimiser.step()
        losses.append(loss.item())
        yield Progress(step + 1, config.steps, f"step {step + 1}/{config.steps}, MSE {losses[-1]:.4g}", loss=losses[-1])
        if _out_of_budget(start, config.max_minutes):
            break
    model.eval()
    return TrainResult(losses, len(losses), time.time() - start, len(losses) < config.steps, asdict(config))
