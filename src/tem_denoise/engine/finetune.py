"""Fine-tune a blind-spot model on the user's own stack and save it as a user model.

Self-supervised (seed 002): no clean data is needed, so any noisy stack can teach a WCID/WCVD
net its own noise. The result is written as ``card.json`` + ``weights.safetensors`` in a
user-model folder, where the Denoise dock, the CLI and :class:`~tem_denoise.engine.Denoiser`
find it by name.
"""

from __future__ import annotations

import re
from collections.abc import Generator
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from tem_denoise.engine.training import (
    SelfSupervisedConfig,
    TrainResult,
    iter_train_self_supervised,
)
from tem_denoise.models.card import ModelCard, write_card
from tem_denoise.models.registry import (
    available_models,
    build_model,
    capabilities,
    default_user_dir,
    load_model,
)
from tem_denoise.models.weights import save_weights
from tem_denoise.progress import Progress


@dataclass
class FineTuned:
    """A fine-tuned model: its card (already saved), the model and the training record."""

    card: ModelCard
    model: object
    result: TrainResult


def blind_spot_models() -> list[ModelCard]:
    """Cards of the models that can be fine-tuned without clean data (blind-spot family)."""
    return [card for card in available_models().values() if capabilities(card).self_supervised]


def safe_model_name(text: str) -> str:
    """A model/folder name from free text: letters, digits, '-', '_' and '.'."""
    name = re.sub(r"[^A-Za-z0-9_.-]+", "-", text).strip("-.")
    if not name:
        raise ValueError("give the fine-tuned model a name (letters, digits, '-', '_')")
    return name


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


def iter_finetune(base: ModelCard, stack: np.ndarray, name: str, config: SelfSupervisedConfig,
                  folder: str | Path | None = None, source: str = "", modality: str | None = None,
                  lowpass_period_px: float | None = None) -> Generator[Progress, None, FineTuned]:
    """Train a copy of ``base`` (a blind-spot card) on ``stack`` and save it as user model ``name``.

    Yields one :class:`Progress` per step; a cancelled run (generator closed) saves
    nothing. ``folder`` defaults to :func:`~tem_denoise.models.registry.default_user_dir`.
    ``lowpass_period_px`` sets the new model's low-pass (see :func:`with_lowpass_period`;
    None keeps the base model's). Training itself never uses the low-pass.
    """
    if not capabilities(base).self_supervised:
        raise ValueError(f"'{base.name}' is a supervised model; fine-tuning on a stack needs a blind-spot "
                         "model (wcid/wcvd), which learns from noisy frames alone")
    if lowpass_period_px is not None:
        base = with_lowpass_period(base, lowpass_period_px)
    name = safe_model_name(name)
    target = Path(folder or default_user_dir()) / name
    existing = available_models().get(name)
    if existing is not None and (existing.directory is None or existing.directory.resolve() != target.resolve()):
        raise ValueError(f"'{name}' is already the name of a {existing.source} model"
                         f"{f' in {existing.directory}' if existing.directory else ''}; choose another name")
    model = load_model(base) if base.weights_path else build_model(base)
    result = yield from iter_train_self_supervised(model, stack, config)
    target.mkdir(parents=True, exist_ok=True)
    sha = save_weights(model, target / "weights.safetensors", metadata={"name": name, "base": base.name})
    card = replace(
        base, name=name, weights_file="weights.safetensors", weights_sha256=sha, is_default=False,
        modality=modality or base.modality, directory=target, source="user",
        description=f"{base.name} fine-tuned on {source or 'a user stack'} ({result.steps} steps).",
        training={"base_model": base.name, "base_sha256": base.weights_sha256, "data": source,
                  "stack_shape": list(np.shape(stack)), "config": result.config, "steps": result.steps,
                  "minutes": round(result.seconds / 60, 2), "final_loss": float(np.mean(result.losses[-20:]))},
        quality={},
    )
    write_card(card, target / "card.json")
    return FineTuned(card, model, result)
