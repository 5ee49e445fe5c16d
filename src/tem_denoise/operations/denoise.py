"""Denoise (restore) an image or stack: the Denoise dock and ``tem-denoise denoise``.

The model is a registered name (or the default for the data's modality, the counting-mode
model for a movie of raw counts); the result is a new Stack with the input's calibration,
named by :func:`denoised_name`, with the engine's provenance appended to the input's.
"""

from __future__ import annotations

from collections.abc import Generator
from dataclasses import dataclass, replace
from typing import Any, Literal

from tem_denoise.io import Stack
from tem_denoise.models.card import MODALITIES
from tem_denoise.operations.options import check_limits, option
from tem_denoise.progress import Progress, run_to_end

DATA_MODALITIES = tuple(m for m in MODALITIES if m != "any")
Modality = Literal[DATA_MODALITIES]  # type: ignore[valid-type]


@dataclass(frozen=True)
class DenoiseOptions:
    """Which model, where it runs and what the engine is told about the data."""

    model: str | None = option(
        None, "model name (see `tem-denoise models`)", none_text="the default for the data's modality")
    modality: Modality | None = option(  # type: ignore[valid-type]
        None, "what the data are, when the file does not say or says it wrongly; picks the default model",
        none_text="as the file says")
    noise: str | None = option(
        None, "calibrated noise model (from `tem-denoise calibrate` or the calibration dock); restoration "
        "models then use it instead of estimating the noise from the data", metavar="JSON",
        label="noise model (optional)")
    device: str = option("auto", "auto, cpu, cuda, cuda:N or mps")
    tile: int | None = option(None, "tile edge in pixels", minimum=8, step=32, none_text="the model's")

    def __post_init__(self) -> None:
        check_limits(self)


def denoised_name(name: str, model: str) -> str:
    """The name of a denoised output: ``"frames (denoised: restore-hrtem)"``."""
    return f"{name} (denoised: {model})"


def check_model(options: DenoiseOptions) -> None:
    """Refuse an unknown model name at once (before any file is read)."""
    if options.model:
        from tem_denoise.models.registry import get_card

        get_card(options.model)


def check_device(options: DenoiseOptions) -> None:
    """Refuse a device this machine lacks at once (before any file is read), with the engine's
    message. A classical filter runs on the CPU whatever the device (the engine warns), so its
    device is not checked."""
    from tem_denoise.engine.device import resolve_device
    from tem_denoise.models.registry import capabilities, get_card

    if options.model and capabilities(get_card(options.model)).backend != "torch":
        return
    resolve_device(options.device)


def with_modality(stack: Stack, options: DenoiseOptions) -> Stack:
    """``stack`` with the modality the user stated, if any."""
    return replace(stack, modality=options.modality) if options.modality else stack


def model_name(stack: Stack, options: DenoiseOptions) -> str:
    """The chosen model, else the default for the stack's modality (counting model for raw counts)."""
    from tem_denoise.engine.counting import default_model_for

    if options.model:
        return options.model
    data = stack.data
    return default_model_for(stack.modality, data, stack.n_frames)


def noise_level(path: str | None) -> Any:
    """The noise level of a calibrated noise model JSON (None: none given)."""
    if not path or path == ".":
        return None
    from tem_denoise.physics import load_noise_model
    from tem_denoise.physics.noise_level import level_from_model

    return level_from_model(load_noise_model(path))


def check_noise(options: DenoiseOptions) -> None:
    """Refuse, before any file is read, a noise model that cannot be read, or one of the other
    kind of detector than the named model's (or the stated modality's default model's) images;
    the engine checks again once the model is known."""
    level = noise_level(options.noise)
    if level is None:
        return
    from tem_denoise.models.registry import get_card
    from tem_denoise.physics.noise_level import check_detector

    if options.model:
        card = get_card(options.model)
        if card.adapter == "restore":
            check_detector(level.model, card.modality, f"model '{card.name}'")
    elif options.modality:
        check_detector(level.model, options.modality, f"the default model for {options.modality}")


def make_denoiser(stack: Stack, options: DenoiseOptions, card: Any = None) -> Any:
    """The :class:`~tem_denoise.engine.Denoiser` for ``stack`` (``card``: a model card to use instead)."""
    from tem_denoise.engine import Denoiser

    return Denoiser(card or model_name(with_modality(stack, options), options), device=options.device,
                    tile=options.tile)


def _engine_inputs(stack: Stack, options: DenoiseOptions) -> dict[str, Any]:
    calibration = stack.calibration
    return {"pixel_size_nm": calibration.mean_pixel_size if calibration.calibrated else None,
            "noise": noise_level(options.noise)}


def fit_adapter(stack: Stack, options: DenoiseOptions, denoiser: Any) -> Any:
    """``denoiser``'s intensity adapter fitted to the whole ``stack`` as :func:`iter_denoise` fits it
    (pixel size, noise model), for denoising the stack in parts that must match the whole."""
    return denoiser.fit_adapter(with_modality(stack, options).data, **_engine_inputs(stack, options))


def iter_denoise(stack: Stack, options: DenoiseOptions, *, denoiser: Any = None, out: Any = None
                 ) -> Generator[Progress, None, Stack]:
    """Denoise ``stack``; yields the engine's progress, returns the denoised Stack.

    Parameters
    ----------
    stack : Stack
        Image or stack in the detector's units.
    options : DenoiseOptions
        Model, modality, noise model, device, tile.
    denoiser : Denoiser, optional
        One already made (e.g. from a fine-tuned model); else :func:`make_denoiser`.
    out : array-like, optional
        Preallocated float32 output (e.g. a memmap for stacks larger than memory).
    """
    stack = with_modality(stack, options)
    denoiser = denoiser or make_denoiser(stack, options)
    output = yield from denoiser.iter_denoise(stack.data, out=out, **_engine_inputs(stack, options))
    return stack.derive(output, denoised_name(stack.name, denoiser.card.name), denoiser.provenance())


def iter_preview(stack: Stack, options: DenoiseOptions, index: int | None, *, denoiser: Any = None
                 ) -> Generator[Progress, None, Stack]:
    """Denoise frame ``index`` of ``stack`` as the whole stack would be; returns a (y, x) Stack."""
    stack = with_modality(stack, options)
    denoiser = denoiser or make_denoiser(stack, options)
    frame = yield from denoiser.iter_preview(stack.data, index, **_engine_inputs(stack, options))
    plane = Stack(frame, stack.scale[-2:], stack.units[-2:], stack.axis_labels[-2:], stack.translate[-2:],
                  name=f"{stack.name} (preview: {denoiser.card.name})", metadata=stack.metadata,
                  provenance=stack.provenance, modality=stack.modality)
    what = "frame" if index is None or not stack.is_stack else f"frame {index}"
    return plane.derive(frame, plane.name, {**denoiser.provenance(), "preview_of": what})


def denoise(stack: Stack, options: DenoiseOptions, **kwargs: Any) -> Stack:
    """:func:`iter_denoise` run to the end."""
    return run_to_end(iter_denoise(stack, options, **kwargs))
