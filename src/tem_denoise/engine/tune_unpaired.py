"""Unpaired fine-tuning mode (Noise2Atom, seed 004): noisy frames against simulated clean atoms.

No pairs and no noise model: a network ``G`` (noisy -> clean, the one saved) and a network
``F`` (clean -> noisy) are trained together with a Wasserstein critic ``D`` that tells
``G``'s outputs from simulated images of Gaussian atoms. The generators' loss is seed 004's
eq. 8, ``5 L_gan + L_cycle + L_lfc``:

* ``L_gan = -D(G(s))``, the adversarial term (the critic takes :data:`CRITIC_STEPS` steps per
  generator step, with the WGAN-GP gradient penalty of weight 10);
* ``L_cycle = |c - G(F(c))|``, clean atoms sent to the noisy domain and back;
* ``L_lfc = |B(s) - B(F(G(s)))|``, the low-frequency cycle: a noisy frame sent to the clean
  domain and back must keep its slowly varying part, ``B`` a fixed Gaussian blur (variance 15
  px², 33 x 33 px, as in the paper).

Images are on ``[0, 1]`` inside the losses (the ``percentile-255`` scale divided by 255). The
optimiser is Adam (lr 1e-4, betas 0.5/0.9, as WGAN-GP's authors use) rather than the paper's
RMSprop at 5e-5, which barely moves in a CPU budget (our choice). The validation loss is
``L_cycle + L_lfc`` on held-out rows and held-out simulated images; the consecutive-frame
structural similarity (CSS, seed 004 eq. 10) of ``G``'s outputs on neighbouring frames is
reported with it, the paper's quality score without ground truth.
"""

from __future__ import annotations

import numpy as np

from tem_denoise.engine.tuning import (
    LossMeaning,
    Trainer,
    TuneConfig,
    as_frames,
    augment,
    crop_corners,
    split_rows,
)
from tem_denoise.models.card import ModelCard
from tem_denoise.models.registry import build_model, get_card, load_model

CRITIC_STEPS = 5
GP_WEIGHT = 10.0
GAN_WEIGHT, CYCLE_WEIGHT = 5.0, 1.0
BLUR_SIGMA_PX = float(np.sqrt(15.0))
BLUR_SIZE = 33
VAL_CROPS = 8
CSS_FRAMES = 8
BASE_MODELS = {"HRTEM": "unet-hrtem", "HRTEM-counting": "unet-counting", "STEM-HAADF": "unet-haadf",
               "STEM-BF": "unet-bf"}
ARCHITECTURE = {"base_channels": 16, "depth": 2, "final_activation": "relu"}


def simulated_atoms(count: int, size: int, spacing_px: float, sigma_px: float,
                    rng: np.random.Generator) -> np.ndarray:
    """``(count, size, size)`` clean images of Gaussian atoms on black, peaks up to 255.

    As seed 004's clean domain: columns on a grid of ``spacing_px`` with a jitter of an eighth
    of a cell, about half of the sites filled, 1-4 atoms per column (the peak height), one
    Gaussian width per image drawn within 30 % of ``sigma_px``.
    """
    from tem_denoise.physics.render import render_gaussians

    images = np.empty((count, size, size), np.float32)
    grid = np.arange(-spacing_px, size + spacing_px, spacing_px)
    sites = np.stack(np.meshgrid(grid, grid, indexing="ij"), axis=-1).reshape(-1, 2)
    for i in range(count):
        filled = sites[rng.random(len(sites)) < rng.uniform(0.3, 0.7)]
        filled = filled + rng.uniform(-spacing_px / 8, spacing_px / 8, filled.shape)
        heights = rng.integers(1, 5, len(filled)).astype(np.float32)
        sigma = sigma_px * rng.uniform(0.7, 1.3)
        image = render_gaussians((size, size), filled, heights, sigma)
        images[i] = image * (255.0 / max(float(image.max()), 1e-6))
    return images


def gaussian_blur_kernel(sigma_px: float = BLUR_SIGMA_PX, size: int = BLUR_SIZE):
    """The fixed low-frequency extractor ``B``: a normalised ``(1, 1, size, size)`` Gaussian."""
    import torch

    r = torch.arange(size, dtype=torch.float32) - size // 2
    g = torch.exp(-(r[:, None] ** 2 + r[None, :] ** 2) / (2 * sigma_px**2))
    return (g / g.sum())[None, None]


class UnpairedTrainer(Trainer):
    """Noise2Atom: cycle-consistent adversarial training from noisy frames to simulated atoms."""

    default_lr = 1e-4
    losses = LossMeaning(training="training: 5 L_gan + L_cycle + L_lfc (generators)",
                         validation="validation: L_cycle + L_lfc, held-out rows and atoms",
                         axis="loss (L1 terms)\nintensity scaled to 0-1")

    def __init__(self, stack: np.ndarray, config: TuneConfig):
        import torch

        from tem_denoise.engine.adapters import fit_adapter

        self.frames = as_frames(stack)
        self.inputs = fit_adapter("percentile-255", self.frames).forward(self.frames)
        name = config.base or BASE_MODELS.get(config.modality or "")
        base = get_card(name) if name else None
        if base is not None and (base.family != "unet" or base.output_kind != "atom-map" or base.temporal_window != 1):
            raise ValueError(f"'{base.name}' is not a single-frame atom-map U-Net; the unpaired mode starts from "
                             "unet-hrtem, unet-haadf, unet-bf, unet-counting or a model it saved before")
        architecture = dict(base.architecture) if base else dict(ARCHITECTURE)
        self.card = ModelCard(config.name, "unet", architecture, modality=config.modality or "any",
                              output_kind="atom-map", adapter="percentile-255", tile_size=256, speed_class="fast",
                              description="U-Net trained without pairs (Noise2Atom) to turn noisy frames into "
                                          "Gaussian atoms",
                              training={"base_model": base.name if base else None,
                                        "base_sha256": base.weights_sha256 if base else None})
        self.model = load_model(base) if base else build_model(self.card)
        self.to_noisy = build_model(ModelCard("clean-to-noisy", "unet", {**ARCHITECTURE, "final_activation": "none"}))
        from tem_denoise.models.critic import Critic

        self.critic = Critic()
        self.device = torch.device(config.device)
        for module in self.modules().values():
            module.to(self.device)
        lr = config.lr or self.default_lr
        self.opt_g = torch.optim.Adam([*self.model.parameters(), *self.to_noisy.parameters()], lr=lr, betas=(0.5, 0.9))
        self.opt_d = torch.optim.Adam(self.critic.parameters(), lr=lr, betas=(0.5, 0.9))
        self.blur = gaussian_blur_kernel().to(self.device)
        self.config = config
        self.train_rows, self.val_rows = split_rows(self.frames.shape[1], config.val_fraction, config.crop)
        rng = np.random.default_rng([config.seed, 1 << 20])
        self.val_noisy = self._noisy(rng, self.val_rows, VAL_CROPS)
        self.val_clean = self._clean(rng, VAL_CROPS, self.val_noisy.shape[-1])
        self.data = {"source": config.source, "shape": list(np.shape(stack)),
                     "clean_domain": {"atom_sigma_px": config.atom_sigma_px, "atom_spacing_px": config.atom_spacing_px},
                     "validation": f"bottom {self.val_rows.stop - self.val_rows.start} rows of every frame and "
                                   f"{VAL_CROPS} simulated images"}

    def modules(self) -> dict:
        return {"model": self.model, "clean_to_noisy": self.to_noisy, "critic": self.critic}

    def optimisers(self) -> dict:
        return {"generators": self.opt_g, "critic": self.opt_d}

    def _noisy(self, rng: np.random.Generator, rows: slice, count: int):
        import torch

        ys, xs, edge = crop_corners(rows, self.frames.shape[2], self.config.crop, count, rng)
        ts = rng.integers(0, len(self.frames), count)
        crops = np.stack([self.inputs[t, y:y + edge, x:x + edge] for t, y, x in zip(ts, ys, xs, strict=True)])
        return torch.from_numpy(crops[:, None] / 255.0).float().to(self.device)

    def _clean(self, rng: np.random.Generator, count: int, size: int):
        import torch

        images = simulated_atoms(count, size, self.config.atom_spacing_px, self.config.atom_sigma_px, rng)
        return torch.from_numpy(images[:, None] / 255.0).float().to(self.device)

    def _lowpass(self, x):
        import torch.nn.functional as F

        pad = BLUR_SIZE // 2
        mode = "reflect" if min(x.shape[-2:]) > pad else "replicate"
        return F.conv2d(F.pad(x, (pad, pad, pad, pad), mode=mode), self.blur)

    def denoise(self, s):
        """``G`` on ``[0, 1]`` images (the saved network works on 0..255)."""
        return self.model(s * 255.0) / 255.0

    def _cycle_losses(self, s, c):
        fake = self.denoise(s)
        lfc = (self._lowpass(self.to_noisy(fake * 255.0) / 255.0) - self._lowpass(s)).abs().mean()
        cycle = (self.denoise(self.to_noisy(c * 255.0) / 255.0) - c).abs().mean()
        return fake, cycle, lfc

    def _critic_step(self, s, c) -> None:
        import torch

        with torch.no_grad():
            fake = self.denoise(s)
        u = torch.rand(len(c), 1, 1, 1, device=self.device)
        mixed = (u * c + (1 - u) * fake).requires_grad_(True)
        gradient, = torch.autograd.grad(self.critic(mixed).sum(), mixed, create_graph=True)
        penalty = ((gradient.flatten(1).norm(dim=1) - 1) ** 2).mean()
        loss = self.critic(fake).mean() - self.critic(c).mean() + GP_WEIGHT * penalty
        self.opt_d.zero_grad()
        loss.backward()
        self.opt_d.step()

    def step(self, rng: np.random.Generator) -> float:
        batch = self.config.batch_size
        s = self._noisy(rng, self.train_rows, batch)
        c = self._clean(rng, batch, s.shape[-1])
        s, c = augment([s, c], int(rng.integers(4)), bool(rng.integers(2)))
        for module in self.modules().values():
            module.train()
        for _ in range(CRITIC_STEPS):
            self._critic_step(s, c)
        fake, cycle, lfc = self._cycle_losses(s, c)
        loss = -GAN_WEIGHT * self.critic(fake).mean() + CYCLE_WEIGHT * cycle + lfc
        self.opt_g.zero_grad()
        loss.backward()
        self.opt_g.step()
        return float(loss.item())

    def consecutive_similarity(self) -> float | None:
        """Mean CSS of ``G``'s outputs on the held-out rows of up to :data:`CSS_FRAMES` consecutive
        frames (None for a single frame)."""
        import torch

        from tem_denoise.analysis.metrics import css_series

        if len(self.frames) < 2:
            return None
        rows = self.inputs[:CSS_FRAMES, self.val_rows]
        with torch.no_grad():
            outputs = self.model(torch.from_numpy(rows[:, None]).to(self.device))[:, 0].cpu().numpy()
        return float(css_series(outputs / 255.0).mean())

    def validate(self) -> tuple[float, dict]:
        import torch

        for module in self.modules().values():
            module.eval()
        with torch.no_grad():
            _, cycle, lfc = self._cycle_losses(self.val_noisy, self.val_clean)
        css = self.consecutive_similarity()
        return float(cycle + lfc), ({"css": round(css, 4), "cycle": float(cycle), "lfc": float(lfc)}
                                    if css is not None else {"cycle": float(cycle), "lfc": float(lfc)})

    def preview(self) -> tuple[np.ndarray, np.ndarray]:
        import torch

        rows = self.inputs[len(self.frames) // 2, self.val_rows]
        with torch.no_grad():
            output = self.model(torch.from_numpy(rows[None, None]).to(self.device))[0, 0].cpu().numpy()
        return rows, output
