"""The four fine-tuning modes behind one function, :func:`iter_finetune_mode`.

=============  =====================================================  ==================================
mode           learns from                                            starts from
=============  =====================================================  ==================================
blind-spot     the stack alone (Noise2Self, blind region matched to   wcid-2d / wcvd-3d
               the noise correlation)
frame-pairs    neighbouring frames of a movie, registered             a new 5-frame U-Net
               (Noise2Noise)
calibrated     pairs synthesised with the user's noise model at the   restore-hrtem / -haadf / -bf
               data's pixel size
unpaired       the stack against simulated clean atoms (Noise2Atom)   unet-<modality> (atom maps)
=============  =====================================================  ==================================

:func:`~tem_denoise.engine.noise_diagnosis.diagnose_noise` says which suits a stack.
"""

from __future__ import annotations

import importlib
from collections.abc import Generator
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from tem_denoise.engine.live_preview import LivePreview
from tem_denoise.engine.tuning import (
    MODES,
    LossMeaning,
    Trainer,
    TuneConfig,
    Tuned,
    TuneStep,
    check_name_free,
    iter_tune,
    safe_model_name,
)
from tem_denoise.models.card import ModelCard

TRAINERS = {
    "blind-spot": "tem_denoise.engine.tune_blindspot:BlindSpotTrainer",
    "frame-pairs": "tem_denoise.engine.tune_frame_pairs:FramePairTrainer",
    "calibrated": "tem_denoise.engine.tune_calibrated:CalibratedTrainer",
    "unpaired": "tem_denoise.engine.tune_unpaired:UnpairedTrainer",
}
assert set(TRAINERS) == set(MODES)

def can_start_from(mode: str, card: ModelCard) -> bool:
    """True when the trainer of ``mode`` accepts ``card`` as its base model (the trainers refuse
    the others with a message): a blind-spot net; a restoring U-Net over an odd number of
    frames (one the frame-pair mode saved); a restoration model; a single-frame atom-map U-Net."""
    if mode == "blind-spot":
        return card.family == "blindspot"
    if mode == "frame-pairs":
        return card.family == "unet" and card.temporal_window % 2 == 1 and card.temporal_window > 1 \
            and card.output_kind == "restore"
    if mode == "calibrated":
        return card.adapter == "restore"
    return card.family == "unet" and card.output_kind == "atom-map" and card.temporal_window == 1


def trainer_class(mode: str) -> Any:
    """The :class:`~tem_denoise.engine.tuning.Trainer` subclass of ``mode`` (its constructor
    takes the stack and the :class:`~tem_denoise.engine.tuning.TuneConfig`)."""
    module, _, name = TRAINERS[mode].partition(":")
    return getattr(importlib.import_module(module), name)


def loss_meaning(mode: str) -> LossMeaning:
    """What the training and validation losses of ``mode`` measure (for plots)."""
    return trainer_class(mode).losses


def make_trainer(stack: np.ndarray, config: TuneConfig) -> Trainer:
    """The :class:`~tem_denoise.engine.tuning.Trainer` of ``config.mode`` set up on ``stack``."""
    return trainer_class(config.mode)(stack, config)


def iter_finetune_mode(stack: np.ndarray, config: TuneConfig, folder: str | Path | None = None,
                       resume: bool = False, preview_frame: int | None = None
                       ) -> Generator[TuneStep, None, Tuned]:
    """Fine-tune on ``stack`` ((y, x) or (t, y, x)) in ``config.mode`` and save user model ``config.name``.

    Yields one :class:`~tem_denoise.engine.tuning.TuneStep` per step (loss and, every
    ``config.val_every`` steps, the validation loss). Closing the generator stops the run with
    its checkpoint written (resume it with ``resume=True``, or save its best network with
    :func:`~tem_denoise.engine.tuning.save_user_model`). ``folder`` is the user-model folder
    (default :func:`~tem_denoise.models.registry.default_user_dir`). ``preview_frame`` (a frame
    index) turns on the :class:`~tem_denoise.engine.live_preview.LivePreview` of that frame.
    """
    from tem_denoise.engine.device import resolve_device

    config = replace(config, name=safe_model_name(config.name), device=str(resolve_device(config.device)))
    check_name_free(config.name, folder)
    trainer = make_trainer(stack, config)
    live = None
    if preview_frame is not None:
        live = LivePreview.of(stack, preview_frame, config.pixel_size_nm, config.noise_model)
    return (yield from iter_tune(trainer, config, folder, resume, live))
