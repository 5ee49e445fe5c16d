"""The loop shared by the fine-tuning modes: steps, validation, best checkpoint, resume, saving.

A mode is a :class:`Trainer`: it owns the networks and their optimisers, takes one training
step and measures a validation loss on data held out from training. :func:`iter_tune` runs
it and yields one :class:`TuneStep` per step. Everything needed to go on is kept in a *run
folder* (``<user models>/.runs/<name>/``, see :func:`run_folder`):

* ``run.json``: the configuration, the step reached, the loss history, the best validation
  loss and the card the saved model will have;
* ``last.safetensors``: every network and optimiser state at the step reached (resume);
* ``best.safetensors``: the saved network at its best validation loss;
* ``preview.npz``: a validation input and the network's output at that step;
* ``live_preview.npz``: with a :class:`~tem_denoise.engine.live_preview.LivePreview`, a crop
  of the user's frame and the best network's output on it, rewritten as the run improves.

It is written when the run ends, when it is cancelled (the generator closed, Ctrl-C or
SIGTERM in a subprocess) and every :data:`CHECKPOINT_SECONDS`. A finished run saves the best
network as a user model (:func:`save_user_model`): ``card.json``, ``weights.safetensors`` and
``validation.png`` in ``<user models>/<name>/``, where the registry finds it; a cancelled one
can be saved the same way, or resumed with ``resume=True``.
"""

from __future__ import annotations

import json
import re
import time
from abc import ABC, abstractmethod
from collections.abc import Generator
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

import numpy as np

from tem_denoise.models.card import ModelCard, write_card
from tem_denoise.models.registry import available_models, default_user_dir
from tem_denoise.outputs import atomic_path, write_text
from tem_denoise.progress import Progress

if TYPE_CHECKING:
    from tem_denoise.engine.live_preview import LivePreview

MODES = ("blind-spot", "frame-pairs", "calibrated", "unpaired")
CHECKPOINT_SECONDS = 60.0
RUNS_FOLDER = ".runs"
LIVE_PREVIEW = "live_preview.npz"
REPORTED = {"css": "CSS between consecutive outputs"}
"""The figures of :attr:`TuneStep.extra` reported to users beside the validation loss, and their
names (the unpaired mode's consecutive-frame structural similarity, seed 004 eq. 10)."""


@dataclass
class TuneConfig:
    """One fine-tuning run; the fields a mode does not use are ignored by it.

    Attributes
    ----------
    mode : str
        One of :data:`MODES`.
    name : str
        Name of the user model to save.
    steps : int
        Optimiser steps (of the saved network; the unpaired mode's critic takes more).
    max_minutes : float or None
        Wall-clock budget; the run stops after the step that exceeds it.
    crop, batch_size : int
        Training crop edge (px, on the frame's grid) and crops per step.
    lr : float or None
        Learning rate; None takes the mode's default.
    val_fraction : float
        Share of each frame's rows (at the bottom) held out for validation (synthesised
        validation pairs in the calibrated mode).
    val_every : int
        Steps between validations.
    seed : int
        Seed of crops, synthetic data and torch.
    device : str
        ``"auto"``, ``"cpu"``, ``"cuda[:N]"`` or ``"mps"``.
    base : str or None
        Model to start from; None takes the mode's default.
    blind_radius : int or None
        Blind-spot mode: half-width of the blind region (px); None measures the noise
        correlation (:func:`~tem_denoise.engine.noise_diagnosis.diagnose_noise`).
    lowpass_period_px : float or None
        Blind-spot mode: the saved model's low-pass period (None keeps the base model's).
    noise_model : str or None
        Calibrated mode: path of the noise-model JSON (calibration dock or ``tem-denoise calibrate``).
    pixel_size_nm : float or None
        Calibrated mode: the data's pixel size (nm), at which pairs are synthesised.
    modality : str or None
        The data's modality (picks the calibrated mode's base model; recorded in the card).
    atom_sigma_px, atom_spacing_px : float
        Unpaired mode: size (Gaussian sigma) and spacing of the simulated clean atoms (px).
    source : str
        Where the data came from (file or layer name), for the card.
    """

    mode: str
    name: str
    steps: int = 300
    max_minutes: float | None = None
    crop: int = 64
    batch_size: int = 8
    lr: float | None = None
    val_fraction: float = 0.15
    val_every: int = 10
    seed: int = 0
    device: str = "cpu"
    base: str | None = None
    blind_radius: int | None = None
    lowpass_period_px: float | None = None
    noise_model: str | None = None
    pixel_size_nm: float | None = None
    modality: str | None = None
    atom_sigma_px: float = 1.5
    atom_spacing_px: float = 8.0
    source: str = ""

    def __post_init__(self) -> None:
        checks = [
            (self.mode in MODES, f"mode must be one of {', '.join(MODES)}; got {self.mode!r}"),
            (self.steps >= 1, f"steps must be at least 1; got {self.steps}"),
            (self.crop >= 16, f"crop must be at least 16 px; got {self.crop}"),
            (self.batch_size >= 1, f"batch_size must be at least 1; got {self.batch_size}"),
            (self.lr is None or self.lr > 0, f"lr must be positive; got {self.lr}"),
            (0 < self.val_fraction < 0.5, f"val_fraction must be between 0 and 0.5; got {self.val_fraction}"),
            (self.val_every >= 1, f"val_every must be at least 1; got {self.val_every}"),
            (self.max_minutes is None or self.max_minutes > 0, f"max_minutes must be positive; got {self.max_minutes}"),
            (self.blind_radius is None or self.blind_radius >= 0,
             f"blind_radius must be >= 0; got {self.blind_radius}"),
        ]
        for ok, message in checks:
            if not ok:
                raise ValueError(message)

    @classmethod
    def from_dict(cls, data: dict) -> TuneConfig:
        """A config from a JSON object; unknown keys are an error that names them."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"unknown fine-tuning settings {unknown}; known: {sorted(known)}")
        return cls(**data)


@dataclass(frozen=True)
class TuneStep(Progress):
    """One optimiser step of a fine-tuning run: the one :class:`~tem_denoise.progress.Progress`
    record (``done`` of ``total`` steps, counting those of a resumed run; ``loss``; ``eta_s``, the
    sooner of the step and time budgets; ``message``) with the validation figures.

    Attributes
    ----------
    val_loss : float or None
        Validation loss measured at this step (None between validations).
    best_val : float
        Lowest validation loss so far (inf before the first).
    seconds : float
        Time spent on this run so far.
    extra : dict
        Mode-specific figures measured at validation (e.g. the unpaired mode's CSS; those in
        :data:`REPORTED` are shown to users, see :func:`reported_figures`).
    preview : str or None
        Path of the live preview written at this step (see
        :class:`~tem_denoise.engine.live_preview.LivePreview`), else None.
    """

    val_loss: float | None = None
    best_val: float = float("inf")
    seconds: float = 0.0
    extra: dict = field(default_factory=dict)
    preview: str | None = None

    @property
    def step(self) -> int:
        """Steps done (``done``)."""
        return self.done


@dataclass
class Tuned:
    """A finished run: the saved card (None when nothing was saved) and the run folder."""

    card: ModelCard | None
    run_dir: Path
    steps: int
    best_val: float


@dataclass(frozen=True)
class LossMeaning:
    """What a mode's losses measure, in words for plots and cards.

    Attributes
    ----------
    training, validation : str
        Legends of the training and validation curves: the loss and the data it is taken on.
    axis : str
        The y-axis label, two lines: the quantity and its units, then the intensity scale.
    """

    training: str
    validation: str
    axis: str

    @property
    def units(self) -> str:
        """The axis label on one line, for cards and messages."""
        return self.axis.replace("\n", ", ")


class Trainer(ABC):
    """What a mode provides to :func:`iter_tune`.

    Attributes
    ----------
    model : torch.nn.Module
        The network that is saved.
    card : ModelCard
        Template of the saved card (family, architecture, adapter, modality, window).
    data : dict
        What it is trained on, for the card.
    losses : LossMeaning
        What :meth:`step` and :meth:`validate` return, for the plots and the card.
    """

    model = None
    card: ModelCard
    data: dict
    losses: ClassVar[LossMeaning]

    def modules(self) -> dict:
        """Every network whose state is checkpointed, by name (``"model"`` is the saved one)."""
        return {"model": self.model}

    @abstractmethod
    def optimisers(self) -> dict:
        """Every optimiser, by name."""

    @abstractmethod
    def step(self, rng: np.random.Generator) -> float:
        """One training step; returns its loss."""

    @abstractmethod
    def validate(self) -> tuple[float, dict]:
        """Validation loss on the held-out data and any extra figures, without gradients."""

    @abstractmethod
    def preview(self) -> tuple[np.ndarray, np.ndarray]:
        """A validation input frame and the network's output, (y, x) each, for the figure."""

    def optimise(self, loss_of, clip: float | None = None) -> float:
        """One step of ``self.optimiser`` on the loss ``loss_of()`` computes, the model in
        training mode (gradient norm clipped to ``clip`` when given); returns the loss."""
        import torch

        self.model.train()
        self.optimiser.zero_grad()
        loss = loss_of()
        loss.backward()
        if clip is not None:
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), clip)
        self.optimiser.step()
        return float(loss.item())

    def evaluate(self, loss_of) -> float:
        """The loss ``loss_of()`` computes with the model in evaluation mode, without gradients."""
        import torch

        self.model.eval()
        with torch.no_grad():
            return float(loss_of().item())


def reported_figures(extra: dict) -> str:
    """The figures of a validation's ``extra`` listed in :data:`REPORTED`, as text (e.g.
    ``"CSS between consecutive outputs 0.912"``); "" when it has none."""
    return ", ".join(f"{label} {extra[key]:.3f}" for key, label in REPORTED.items() if extra.get(key) is not None)


def figures_at_best(card: ModelCard) -> dict:
    """The ``extra`` figures of a fine-tuned model's validation at its best step (the saved
    network), from its card; {} when there are none."""
    validation = card.training["validation"]
    return next((extra for step, _, extra in validation["history"] if step == validation["best_step"]), {})


def safe_model_name(text: str) -> str:
    """A model/folder name from free text: letters, digits, '-', '_' and '.' (a run of other
    characters, with the dashes beside it, becomes one dash: "HRTEM (noisy)-blind-spot" ->
    "HRTEM-noisy-blind-spot")."""
    name = re.sub(r"[^A-Za-z0-9_.]*[^A-Za-z0-9_.-][^A-Za-z0-9_.]*", "-", text).strip("-.")
    if not name:
        raise ValueError("give the fine-tuned model a name (letters, digits, '-', '_')")
    return name


def run_folder(name: str, folder: str | Path | None = None) -> Path:
    """Where run ``name`` keeps its checkpoints: ``<folder>/.runs/<name>``."""
    return Path(folder or default_user_dir()) / RUNS_FOLDER / name


def check_name_free(name: str, folder: str | Path | None) -> Path:
    """The model folder of ``name``; ValueError if another model already has that name."""
    target = Path(folder or default_user_dir()) / name
    existing = available_models().get(name)
    if existing is not None and (existing.directory is None or existing.directory.resolve() != target.resolve()):
        raise ValueError(f"'{name}' is already the name of a {existing.source} model"
                         f"{f' in {existing.directory}' if existing.directory else ''}; choose another name")
    return target


def _flat_state(trainer: Trainer) -> tuple[dict, dict]:
    """All module and optimiser tensors as one flat dict, and the optimisers' other settings."""
    import torch

    tensors, groups = {}, {}
    for name, module in trainer.modules().items():
        tensors.update({f"{name}/{k}": v.detach().cpu().contiguous() for k, v in module.state_dict().items()})
    for name, optimiser in trainer.optimisers().items():
        state = optimiser.state_dict()
        groups[name] = state["param_groups"]
        for index, values in state["state"].items():
            for key, value in values.items():
                value = value if torch.is_tensor(value) else torch.tensor(float(value))
                tensors[f"opt:{name}/{index}/{key}"] = value.detach().cpu().contiguous()
    return tensors, groups


def _load_flat_state(trainer: Trainer, tensors: dict, groups: dict) -> None:
    for name, module in trainer.modules().items():
        prefix = f"{name}/"
        module.load_state_dict({k[len(prefix):]: v for k, v in tensors.items() if k.startswith(prefix)})
    for name, optimiser in trainer.optimisers().items():
        prefix, state = f"opt:{name}/", {}
        for key, value in tensors.items():
            if key.startswith(prefix):
                index, entry = key[len(prefix):].split("/", 1)
                state.setdefault(int(index), {})[entry] = value
        optimiser.load_state_dict({"state": state, "param_groups": groups[name]})


def _save_tensors(tensors: dict, path: Path) -> None:
    from safetensors.torch import save_file

    with atomic_path(path) as temporary:
        save_file(tensors, str(temporary))


def _write_checkpoint(run_dir: Path, trainer: Trainer, record: dict, best_state: dict | None,
                      preview: tuple[np.ndarray, np.ndarray] | None) -> None:
    run_dir.mkdir(parents=True, exist_ok=True)
    tensors, groups = _flat_state(trainer)
    _save_tensors(tensors, run_dir / "last.safetensors")
    if best_state is not None:
        _save_tensors(best_state, run_dir / "best.safetensors")
    if preview is not None:
        with atomic_path(run_dir / "preview.npz") as temporary:
            np.savez(temporary, input=preview[0], output=preview[1])
    write_text(run_dir / "run.json", json.dumps({**record, "optimisers": groups}, indent=1))


def read_run(run_dir: str | Path) -> dict:
    """The ``run.json`` record of a run folder; ValueError if there is none."""
    path = Path(run_dir) / "run.json"
    if not path.is_file():
        raise ValueError(f"no fine-tuning run in {run_dir} (no run.json); start one without --resume")
    return json.loads(path.read_text(encoding="utf-8"))


def _resume(trainer: Trainer, run_dir: Path, config: TuneConfig) -> tuple[dict, dict | None]:
    from safetensors.torch import load_file

    record = read_run(run_dir)
    if record["config"]["mode"] != config.mode:
        raise ValueError(f"the run in {run_dir} is a {record['config']['mode']} run, not {config.mode}")
    _load_flat_state(trainer, load_file(str(run_dir / "last.safetensors")), record.pop("optimisers"))
    best = run_dir / "best.safetensors"
    return record, (load_file(str(best)) if best.is_file() else None)


def _eta(done_here: int, seconds: float, left_steps: int, max_minutes: float | None) -> float | None:
    if done_here == 0:
        return None
    eta = seconds / done_here * left_steps
    return min(eta, max(0.0, 60 * max_minutes - seconds)) if max_minutes is not None else eta


def iter_tune(trainer: Trainer, config: TuneConfig, folder: str | Path | None = None,
              resume: bool = False, live: LivePreview | None = None) -> Generator[TuneStep, None, Tuned]:
    """Train ``trainer`` to ``config.steps`` steps (or the time budget) and save its best network.

    Yields a :class:`TuneStep` per step; closing the generator stops the run after writing the
    checkpoint (nothing is saved as a model). ``resume`` continues the run folder's last
    checkpoint (same name and mode). ``live``, when given, previews the best network so far
    whenever it improved (at most every ``live.every_s`` seconds, and at the last step) in
    ``live_preview.npz`` in the run folder; the step that wrote it names the file in
    :attr:`TuneStep.preview`. Returns a :class:`Tuned` with the saved card.
    """
    import torch

    run_dir = run_folder(config.name, folder)
    record = {"config": asdict(config), "card": trainer.card.to_dict(), "data": trainer.data,
              "loss": asdict(trainer.losses), "step": 0,
              "seconds": 0.0, "best_step": None, "best_val": None, "losses": [], "validation": []}
    best_state = None
    if resume:
        previous, best_state = _resume(trainer, run_dir, config)
        record.update({k: previous[k] for k in ("step", "seconds", "best_step", "best_val", "losses", "validation")})
        record["config"]["steps"] = config.steps
    best = record["best_val"] if record["best_val"] is not None else float("inf")
    first, start, saved_at = record["step"], time.time(), time.time()
    preview = None
    torch.manual_seed(config.seed + first)
    stopped, unshown = False, best_state is not None

    earlier_seconds = record["seconds"]

    def checkpoint() -> None:
        record["seconds"] = earlier_seconds + time.time() - start
        _write_checkpoint(run_dir, trainer, record, best_state, preview)

    try:
        for step in range(first, config.steps):
            loss = trainer.step(np.random.default_rng([config.seed, step]))
            record["losses"].append(loss)
            record["step"] = step + 1
            elapsed = time.time() - start
            stopped = config.max_minutes is not None and elapsed > 60 * config.max_minutes
            val, extra = None, {}
            if (step + 1) % config.val_every == 0 or step + 1 == config.steps or stopped:
                val, extra = trainer.validate()
                record["validation"].append([step + 1, val, extra])
                if val < best:
                    best, record["best_val"], record["best_step"] = val, val, step + 1
                    best_state = {k: v.detach().cpu().clone() for k, v in trainer.model.state_dict().items()}
                    preview = trainer.preview()
                    unshown = True
            written = None
            if live is not None and unshown and (live.due() or step + 1 == config.steps or stopped):
                written = str(live.write(run_dir / LIVE_PREVIEW, trainer, best_state, record["best_step"]))
                unshown = False
            eta = _eta(step + 1 - first, elapsed, config.steps - step - 1, config.max_minutes)
            shown = "".join(f", {text}" for text in (f"validation {val:.4g}" if val is not None else "",
                                                      reported_figures(extra)) if text)
            message = f"{config.mode} step {step + 1}/{config.steps}: loss {loss:.4g}{shown}"
            yield TuneStep(step + 1, config.steps, message, eta, loss=loss, val_loss=val, best_val=best,
                           seconds=elapsed, extra=extra, preview=written)
            if time.time() - saved_at > CHECKPOINT_SECONDS:
                checkpoint()
                saved_at = time.time()
            if stopped:
                break
    finally:
        record["stopped_by_budget"] = stopped
        checkpoint()
    card = save_user_model(run_dir, folder)
    return Tuned(card, run_dir, record["step"], best)


def loss_meaning_of(record: dict) -> LossMeaning:
    """What the losses of a run folder's record (``run.json``) measure; plain "loss" for a run
    recorded before the records said so."""
    if "loss" in record:
        return LossMeaning(**record["loss"])
    return LossMeaning("training loss", "validation loss", "loss")


def _validation_figure(path: Path, record: dict, preview: dict) -> None:
    """Loss curves (training and validation) beside a validation input and its output."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    from tem_denoise.layers import robust_range

    meaning = loss_meaning_of(record)
    fig, axes = plt.subplots(1, 3, figsize=(12, 3.8))
    steps = np.arange(1, len(record["losses"]) + 1)
    axes[0].plot(steps, record["losses"], color="0.6", linewidth=0.8, label=meaning.training)
    val = np.array([[s, v] for s, v, _ in record["validation"]])
    axes[0].plot(val[:, 0], val[:, 1], "o-", color="C1", markersize=3, label=meaning.validation)
    axes[0].axvline(record["best_step"], color="C2", linestyle=":", label=f"best (step {record['best_step']})")
    axes[0].set_xlabel("step")
    axes[0].set_ylabel(meaning.axis, fontsize=9)
    axes[0].legend(fontsize=7)
    for ax, key, title in ((axes[1], "input", "validation input"), (axes[2], "output", "output at best step")):
        image = preview[key]
        ax.imshow(image, cmap="gray", vmin=robust_range(image)[0], vmax=robust_range(image)[1])
        ax.set_title(title, fontsize=10)
        ax.set_axis_off()
    fig.suptitle(f"{record['config']['name']}: {record['config']['mode']} fine-tuning", fontsize=11)
    fig.tight_layout()
    try:
        with atomic_path(path) as temporary:
            fig.savefig(temporary, dpi=90, format="png")
    finally:
        plt.close(fig)


def save_user_model(run_dir: str | Path, folder: str | Path | None = None) -> ModelCard:
    """Save the best network of a run folder as user model ``<folder>/<name>``.

    Writes ``weights.safetensors``, ``validation.png`` and ``card.json`` (mode, data, budget,
    validation figures); returns the card. Works on a finished or a cancelled run.
    """
    from safetensors.torch import load_file

    from tem_denoise.models.weights import file_sha256

    run_dir = Path(run_dir)
    record = read_run(run_dir)
    if not (run_dir / "best.safetensors").is_file():
        raise ValueError(f"the run in {run_dir} stopped before its first validation; nothing to save "
                         f"(train at least {record['config']['val_every']} steps)")
    config = record["config"]
    target = check_name_free(config["name"], folder)
    target.mkdir(parents=True, exist_ok=True)
    weights = target / "weights.safetensors"
    _save_tensors(load_file(str(run_dir / "best.safetensors")), weights)
    with np.load(run_dir / "preview.npz", allow_pickle=False) as preview:
        _validation_figure(target / "validation.png", record, dict(preview))
    template = ModelCard.from_dict(record["card"])
    budget = {"steps_planned": config["steps"], "steps_done": record["step"], "max_minutes": config["max_minutes"],
              "minutes": round(record["seconds"] / 60, 2), "stopped_by_budget": record.get("stopped_by_budget", False)}
    card = replace(
        template, name=config["name"], weights_file=weights.name, weights_sha256=file_sha256(weights),
        is_default=False, directory=target, source="user",
        description=f"{template.description or template.name} fine-tuned ({config['mode']}) on "
                    f"{config['source'] or 'a user stack'}: {record['step']} steps, "
                    f"best validation loss {record['best_val']:.4g} at step {record['best_step']}.",
        training={**template.training, "mode": config["mode"], "data": record["data"], "budget": budget,
                  "config": config, "validation": {"best_loss": record["best_val"], "best_step": record["best_step"],
                                                   "loss": loss_meaning_of(record).validation,
                                                   "units": loss_meaning_of(record).units,
                                                   "history": record["validation"], "figure": "validation.png"}},
        quality={},
    )
    write_card(card, target / "card.json")
    return card


def split_rows(height: int, val_fraction: float, crop: int) -> tuple[slice, slice]:
    """Training and validation rows of a frame: the bottom ``val_fraction`` (at least 16 rows)
    is held out; the training part keeps at least ``min(crop, 16)`` rows."""
    val_rows = max(16, round(height * val_fraction))
    if height - val_rows < 16:
        raise ValueError(f"frames of {height} rows are too small to hold out validation rows; "
                         "fine-tuning needs frames of at least 32 x 32 px")
    return slice(0, height - val_rows), slice(height - val_rows, height)


def crop_corners(rows: slice, width: int, crop: int, count: int, rng: np.random.Generator,
                 margin: int = 0) -> tuple[np.ndarray, np.ndarray, int]:
    """``count`` random top-left corners ``(ys, xs)`` of square crops inside ``rows`` and the
    frame's ``width``, ``margin`` px from the edges; and the crop edge actually used (the
    requested one, shrunk to fit)."""
    height = rows.stop - rows.start - 2 * margin
    edge = min(crop, height, width - 2 * margin)
    if edge < 8:
        raise ValueError("the frames are too small (or drift too far) to cut training crops from them")
    ys = rows.start + margin + rng.integers(0, height - edge + 1, count)
    xs = margin + rng.integers(0, width - 2 * margin - edge + 1, count)
    return ys, xs, edge


def augment(arrays: list, k: int, flip: bool) -> list:
    """The same rotation by ``k`` x 90 degrees and optional mirror of each (..., y, x) tensor."""
    import torch

    out = [torch.rot90(a, k, dims=(-2, -1)) for a in arrays]
    return [torch.flip(a, dims=(-1,)) for a in out] if flip else out


def crop_windows(data: np.ndarray, window: int, centres: np.ndarray, ys: np.ndarray, xs: np.ndarray,
                 edge: int) -> np.ndarray:
    """``(count, window, edge, edge)`` float32 crops of the ``window`` frames around each centre
    frame of a ``(t, y, x)`` array (mirrored at the ends, as the engine reads windows)."""
    from tem_denoise.engine.temporal import window_indices

    out = np.empty((len(centres), window, edge, edge), np.float32)
    for i, (t, y, x) in enumerate(zip(centres, ys, xs, strict=True)):
        out[i] = data[window_indices(int(t), int(t) + 1, window, len(data))[0], y:y + edge, x:x + edge]
    return out


def as_frames(stack: np.ndarray, name: str = "the training stack") -> np.ndarray:
    """A (y, x) frame or (t, y, x) stack as a float32 (t, y, x) array in memory."""
    from tem_denoise.arrays import as_float32, check_image

    data = as_float32(check_image(stack, name), name)
    return data[None] if data.ndim == 2 else data
