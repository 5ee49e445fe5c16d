"""Fine-tune a model on the user's own stack: the Fine-tune dock and ``tem-denoise finetune``.

Four modes (:mod:`tem_denoise.engine.finetune_modes`): blind-spot, frame pairs, calibrated
synthesis and unpaired. :class:`FinetuneOptions` declares the options of both front ends;
:func:`tune_config` turns a Stack, a model name and the options into the engine's
:class:`~tem_denoise.engine.tuning.TuneConfig`, which the operation runs either here
(:func:`iter_finetune`, the CLI) or in a child process (:class:`FinetuneJob`, the dock: the
memory it holds, GPU memory included, is given back when the child exits, and the GUI
process never imports the trainers). Both yield one
:class:`~tem_denoise.engine.tuning.TuneStep` per optimiser step and return a
:class:`~tem_denoise.engine.tuning.Tuned` (its card None when the run was stopped: the
checkpoint is kept in the run folder, see :mod:`tem_denoise.engine.tuning`).
:func:`diagnose` measures the noise and recommends a mode.
"""

from __future__ import annotations

import math
import tempfile
from collections.abc import Generator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from tem_denoise.io import Stack
from tem_denoise.operations.denoise import Modality
from tem_denoise.operations.options import check_limits, option
from tem_denoise.progress import Progress

if TYPE_CHECKING:
    from tem_denoise.engine.tuning import TuneConfig, Tuned, TuneStep

Mode = Literal["blind-spot", "frame-pairs", "calibrated", "unpaired"]
"""The modes of :data:`tem_denoise.engine.tuning.MODES` (the engine is imported only to run one)."""
DEFAULT_BASE = {
    "blind-spot": "wcvd-3d for stacks of 3+ frames, else wcid-2d",
    "frame-pairs": "a new 5-frame U-Net",
    "calibrated": "restore-<modality>",
    "unpaired": "unet-<modality>, else a new U-Net",
}
"""What each mode starts from when no base model is named."""
MODE_LABELS = {"blind-spot": "blind-spot (the stack alone)", "frame-pairs": "frame pairs (a movie)",
               "calibrated": "calibrated synthesis (your noise model)", "unpaired": "unpaired (simulated atoms)"}


@dataclass(frozen=True)
class FinetuneOptions:
    """How to fine-tune: the mode, the model to start from, the budget and the mode's settings."""

    mode: Mode = option(
        "blind-spot", "blind-spot: the stack alone; frame-pairs: neighbouring frames of a movie; calibrated: pairs "
        "made with your noise model; unpaired: against simulated atoms", labels=MODE_LABELS)
    base: str | None = option(None, "model to start from (see `tem-denoise models`)", label="start from",
                              none_text="the mode's: " + "; ".join(f"{k}: {v}" for k, v in DEFAULT_BASE.items()))
    steps: int = option(300, "optimiser steps", minimum=1, maximum=100_000, step=50)
    minutes: float | None = option(None, "stop after this many minutes", minimum=0.1, step=0.5,
                                   none_text="no limit", label="time budget (min)")
    crop: int = option(64, "training crop edge in pixels", minimum=16, maximum=1024, step=16, label="patch size (px)")
    batch_size: int = option(8, "crops per step", minimum=1, maximum=256)
    lr: float | None = option(None, "learning rate", minimum=1e-9, none_text="the mode's", form=False)
    val_fraction: float = option(0.15, "share of each frame's rows held out for validation", minimum=0.05,
                                 maximum=0.45, step=0.05, label="validation split")
    blind_radius: int | None = option(
        None, "blind-spot: half-width of the blind region in pixels", minimum=0, maximum=16, metavar="PX",
        none_text="measured from the noise", label="blind radius (px)")
    lowpass_period: float | None = option(
        None, "blind-spot: shortest period in pixels the output low-pass keeps, below your atom spacing "
        "(0: no low-pass)", minimum=0.0, maximum=64.0, step=0.5, metavar="PX", none_text="the base model's",
        label="low-pass period (px)")
    noise: str | None = option(
        None, "calibrated: your camera's noise model (from `tem-denoise calibrate` or the Noise calibration dock)",
        metavar="JSON", label="noise model")
    pixel_size: float | None = option(None, "pixel size in nm, when the data do not state it", minimum=1e-6,
                                      metavar="NM", form=False)
    modality: Modality | None = option(  # type: ignore[valid-type]
        None, "what the data are, when the file does not say (picks the base model)", none_text="as the data say")
    device: str = option("auto", "auto, cpu, cuda, cuda:N or mps")

    def __post_init__(self) -> None:
        check_limits(self)


def check_options(options: FinetuneOptions) -> None:
    """Refuse at once (before any data are read) a base model that does not exist or that the
    mode cannot start from, and a calibrated run without a readable noise model."""
    if options.base:
        from tem_denoise.engine.finetune_modes import can_start_from
        from tem_denoise.models.registry import get_card

        card = get_card(options.base)
        if not can_start_from(options.mode, card):
            raise ValueError(f"the {options.mode} mode cannot start from '{card.name}' ({card.family}, "
                             f"{card.output_kind}); it starts from {DEFAULT_BASE[options.mode]} or a model "
                             "fine-tuned in this mode")
    if options.mode == "calibrated":
        if not options.noise:
            raise ValueError("the calibrated mode needs your camera's noise model: give its JSON (from "
                             "`tem-denoise calibrate` or the Noise calibration dock)")
        from tem_denoise.physics import load_noise_model

        load_noise_model(options.noise)


def tune_config(stack: Stack, name: str, options: FinetuneOptions, source: str = "") -> TuneConfig:
    """The engine's configuration of a run on ``stack`` saved as user model ``name``.

    The pixel size (nm) and modality are the options' when given, else the stack's; the
    calibrated mode refuses data whose pixel size nobody states.
    """
    from tem_denoise.engine.tuning import TuneConfig, safe_model_name

    calibration = stack.calibration
    pixel = options.pixel_size or (calibration.mean_pixel_size if calibration.calibrated else None)
    if options.mode == "calibrated" and pixel is None:
        raise ValueError("the calibrated mode synthesises pairs at your data's pixel size, which the data do not "
                         "state: give the pixel size in nm (--pixel-size, or the layer's scale with units nm)")
    return TuneConfig(
        mode=options.mode, name=safe_model_name(name), steps=options.steps, max_minutes=options.minutes,
        crop=options.crop, batch_size=options.batch_size, lr=options.lr, val_fraction=options.val_fraction,
        device=options.device, base=options.base, blind_radius=options.blind_radius,
        lowpass_period_px=options.lowpass_period, noise_model=options.noise, pixel_size_nm=pixel,
        modality=options.modality or stack.modality, source=source or stack.name)


def diagnose(stack: Stack) -> Any:
    """The noise autocorrelation of ``stack`` and the mode that suits it
    (a :class:`~tem_denoise.engine.noise_diagnosis.NoiseDiagnosis`)."""
    from tem_denoise.engine.noise_diagnosis import diagnose_noise

    return diagnose_noise(stack.data)


def iter_finetune(stack: Stack, name: str, options: FinetuneOptions, *, folder: str | Path | None = None,
                  resume: bool = False, source: str = "") -> Generator[TuneStep, None, Tuned]:
    """Fine-tune in this process on ``stack`` and save user model ``name`` in ``folder``
    (default: the plugin's user-model folder); ``resume`` continues the run of that name.

    Closing the generator stops the run with its checkpoint written.
    """
    from tem_denoise.engine.finetune_modes import iter_finetune_mode

    check_options(options)
    config = tune_config(stack, name, options, source)
    return (yield from iter_finetune_mode(stack.data, config, folder, resume))


class FinetuneJob:
    """:func:`iter_finetune` run in a child process, with a live preview of one frame.

    The options are checked and the name is checked free when the job is made (at once,
    in the caller's thread); :meth:`steps` writes the stack to a scratch ``.npy`` and runs
    the child (iterate it in a worker thread); :meth:`stop` asks the child, from any thread,
    to write its checkpoint and stop, after which :meth:`steps` returns a
    :class:`~tem_denoise.engine.tuning.Tuned` without a card.

    Parameters
    ----------
    stack : Stack
        The data to learn from.
    name : str
        Name of the user model to save.
    options : FinetuneOptions
        Mode, base model, budget and settings.
    folder : path, optional
        User-model folder (default: the plugin's).
    resume : bool
        Continue the run of this name from its checkpoint.
    preview_frame : int, optional
        Frame of the live preview (see :class:`~tem_denoise.engine.live_preview.LivePreview`);
        None: the middle frame.
    source : str
        Where the data came from, for the card (default: the stack's name).
    """

    def __init__(self, stack: Stack, name: str, options: FinetuneOptions, *, folder: str | Path | None = None,
                 resume: bool = False, preview_frame: int | None = None, source: str = "") -> None:
        from tem_denoise.engine.finetune_job import JobProcess
        from tem_denoise.engine.tuning import check_name_free, run_folder

        check_options(options)
        self.stack = stack
        self.config = tune_config(stack, name, options, source)
        check_name_free(self.config.name, folder)
        self.folder = folder
        self.run_dir = run_folder(self.config.name, folder)
        spec = {"config": asdict(self.config), "folder": str(folder) if folder else None, "resume": resume,
                "preview_frame": stack.n_frames // 2 if preview_frame is None else int(preview_frame)}
        self.process = JobProcess(spec)

    @property
    def pid(self) -> int | None:
        """The child's process id once it started, else None."""
        return self.process.pid

    def stop(self) -> None:
        """Ask the child to stop (it keeps its best checkpoint); safe from any thread, at any time."""
        self.process.stop()

    def steps(self) -> Generator[Progress, None, Tuned]:
        """Run the job: a :class:`~tem_denoise.progress.Progress` while the child starts, then one
        :class:`~tem_denoise.engine.tuning.TuneStep` per step; returns the
        :class:`~tem_denoise.engine.tuning.Tuned` run (ValueError with the child's message on bad input)."""
        from tem_denoise.engine.finetune_job import step_of

        total = self.config.steps
        with tempfile.TemporaryDirectory(prefix="tem-denoise-finetune-") as scratch:
            yield Progress(0, total, "writing the stack for the training process")
            self.process.spec["input"] = str(Path(scratch) / "stack.npy")
            np.save(self.process.spec["input"], np.asarray(self.stack.data, dtype=np.float32))
            yield Progress(0, total, "starting the training process")
            records = self.process.records()
            while True:
                try:
                    record = next(records)
                except StopIteration as end:
                    return self._result(end.value)
                if record["event"] == "step":
                    yield step_of(record)

    def _result(self, record: dict) -> Tuned:
        """The :class:`Tuned` of the child's last record."""
        from tem_denoise.engine.tuning import Tuned
        from tem_denoise.models.card import read_card

        if record["event"] == "error":
            raise ValueError(record["message"])
        if record["event"] == "done":
            card = read_card(Path(record["directory"]) / "card.json", source="user")
            return Tuned(card, self.run_dir, record["steps"], record["best_val"])
        best = record.get("best_val")
        return Tuned(None, self.run_dir, record.get("steps") or 0, math.inf if best is None else best)
