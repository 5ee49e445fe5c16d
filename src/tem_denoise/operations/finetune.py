"""Fine-tune a blind-spot model on the user's own stack: the Fine-tune dock and ``tem-denoise finetune``."""

from __future__ import annotations

from collections.abc import Generator
from dataclasses import dataclass
from typing import Any

from tem_denoise.io import Stack
from tem_denoise.operations.options import check_limits, option
from tem_denoise.progress import Progress


@dataclass(frozen=True)
class FinetuneOptions:
    """Which model to start from and how long to train."""

    base: str = option("wcvd-3d", "self-supervised model to start from (see `tem-denoise models`)",
                       label="start from")
    steps: int = option(300, "optimiser steps", minimum=1, maximum=100_000, step=50)
    crop: int = option(128, "training crop edge in pixels", minimum=16, maximum=1024, step=16, label="crop (px)")
    minutes: float | None = option(None, "stop after this many minutes", minimum=0.01, none_text="no limit",
                                   form=False)
    lowpass_period: float | None = option(
        None, "shortest period in pixels the output low-pass keeps, below your atom spacing (0: no low-pass)",
        minimum=0.0, maximum=64.0, step=0.5, metavar="PX", none_text="the base model's",
        label="low-pass period (px)")

    def __post_init__(self) -> None:
        check_limits(self)


def iter_finetune(stack: Stack, name: str, options: FinetuneOptions, *, base: Any = None, folder: Any = None,
                  source: str = "") -> Generator[Progress, None, Any]:
    """Train a copy of ``options.base`` (or of the card ``base``) on ``stack`` and save it as user
    model ``name``.

    Yields one :class:`~tem_denoise.progress.Progress` per optimiser step; returns the
    :class:`~tem_denoise.engine.finetune.FineTuned` model (saved; closing the generator saves
    nothing). The base model is checked when this is called.
    """
    from tem_denoise.engine import finetune
    from tem_denoise.engine.training import SelfSupervisedConfig
    from tem_denoise.models.registry import capabilities, get_card

    base = base or get_card(options.base)
    if not capabilities(base).self_supervised:
        raise ValueError(f"'{base.name}' learned from clean data; fine-tuning on a stack needs a self-supervised "
                         "(blind-spot) model such as wcid-2d or wcvd-3d")
    config = SelfSupervisedConfig(steps=options.steps, crop=options.crop, max_minutes=options.minutes)
    return finetune.iter_finetune(base, stack.data, name, config, folder=folder, source=source or stack.name,
                                  modality=stack.modality, lowpass_period_px=options.lowpass_period)
