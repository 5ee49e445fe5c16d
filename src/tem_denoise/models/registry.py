"""Registry of model families and discovery of model cards.

Adding a model family is one module under ``tem_denoise.models`` plus one entry
in :data:`FAMILIES`. A *model* is a :class:`~tem_denoise.models.card.ModelCard`:
the classical baselines are always available (built in, no weights); bundled
models live in ``tem_denoise/models/weights/<name>/`` and user models in any
directory, each as ``card.json`` beside its safetensors weights.

This module does not import torch; building or loading a torch model does.
"""

from __future__ import annotations

import importlib
import os
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tem_denoise.models.card import CardError, ModelCard, read_card
from tem_denoise.models.protocol import Capabilities
from tem_denoise.models.weights import WeightsError, load_into

BUNDLED_DIR = Path(__file__).resolve().parent / "weights"
CARD_NAME = "card.json"
USER_DIRS_ENV = "TEM_DENOISE_MODELS"


@dataclass(frozen=True)
class Family:
    """One architecture family.

    Attributes
    ----------
    name : str
        Key used in model cards.
    target : str
        ``"module:Class"`` of the constructor; its keyword arguments are the
        card's ``architecture``.
    backend : str
        ``"torch"`` (an ``nn.Module``, needs weights) or ``"numpy"`` (classical).
    paper : str
        Source of the method.
    self_supervised : bool
        Its models learn from noisy frames alone and can be fine-tuned on a user's stack.
    channels_last : bool
        Its convolutions run faster with weights and tiles channels-last on the CPU (1.5-2.1
        times, measured on the 2-core development machine: docs/speed.md); not the blind-spot
        nets, whose few channels gain nothing.
    """

    name: str
    target: str
    backend: str
    paper: str
    self_supervised: bool = False
    channels_last: bool = False

    def constructor(self):
        """Import and return the family's class."""
        module_name, _, attr = self.target.partition(":")
        return getattr(importlib.import_module(module_name), attr)


FAMILIES: dict[str, Family] = {
    family.name: family
    for family in (
        Family("scgn", "tem_denoise.models.scgn:SCGN", "torch", "seed 000 (SCGN, HRTEM)", channels_last=True),
        Family("sfin", "tem_denoise.models.sfin:SFIN", "torch", "seed 001 (SFIN, STEM)", channels_last=True),
        Family("blindspot", "tem_denoise.models.blindspot:BlindSpotNet", "torch", "seed 002 (WCID/WCVD)",
               self_supervised=True),
        Family("unet", "tem_denoise.models.unet:UNet", "torch", "seed 003 (U-Net) / AtomSegNet", channels_last=True),
        Family("restore", "tem_denoise.models.restore:RestoreUNet", "torch",
               "residual U-Net with a noise-level input (restoration at a working sampling)", channels_last=True),
        Family("gaussian-2d", "tem_denoise.models.classical:Gaussian2D", "numpy", "classical"),
        Family("gaussian-3d", "tem_denoise.models.classical:Gaussian3D", "numpy", "classical"),
        Family("wiener", "tem_denoise.models.classical:Wiener", "numpy", "classical"),
    )
}


def builtin_cards() -> list[ModelCard]:
    """Cards of the classical baselines (always available, no weights)."""
    common: dict[str, Any] = dict(modality="any", output_kind="restore", adapter="none", speed_class="fast",
                                  source="builtin")
    return [
        ModelCard("gaussian-2d", "gaussian-2d", {"sigma": 1.5},
                  description="Gaussian blur of each frame, sigma 1.5 px.", **common),
        ModelCard("gaussian-3d", "gaussian-3d", {"sigma": 1.5, "sigma_t": 1.0, "temporal_radius": 2},
                  temporal_window=5, description="Gaussian blur in space (1.5 px) and time (1 frame).", **common),
        ModelCard("wiener", "wiener", {"size": 5},
                  description="Adaptive local Wiener filter, 5 px window, noise estimated per frame.", **common),
    ]


def family_of(card: ModelCard) -> Family:
    """The :class:`Family` a card names; :class:`CardError` if unknown."""
    try:
        return FAMILIES[card.family]
    except KeyError:
        raise CardError(
            f"model card {card.name!r} names unknown family {card.family!r}; known: {sorted(FAMILIES)}"
        ) from None


def capabilities(card: ModelCard) -> Capabilities:
    """What the model of ``card`` can do (see :class:`~tem_denoise.models.protocol.Capabilities`)."""
    family = family_of(card)
    return Capabilities(self_supervised=family.self_supervised, temporal_window=card.temporal_window,
                        output_kind=card.output_kind, backend=family.backend)


def discover_models(directory: str | Path, source: str = "user") -> list[ModelCard]:
    """Cards found in ``directory``: its own ``card.json`` and ``<sub>/card.json``.

    Cards that cannot be read, name an unknown family or lack their weights file
    are skipped with a warning that says why. A missing directory gives ``[]``.
    """
    directory = Path(directory)
    if not directory.is_dir():
        return []
    paths = [directory / CARD_NAME] if (directory / CARD_NAME).is_file() else []
    paths += sorted(directory.glob(f"*/{CARD_NAME}"))
    cards = []
    for path in paths:
        try:
            card = read_card(path, source=source)
            family_of(card)
            if card.weights_path is not None and not card.weights_path.is_file():
                raise CardError(f"its weights file {card.weights_path} is missing")
        except CardError as err:
            warnings.warn(f"skipping model card {path}: {err}", stacklevel=2)
            continue
        cards.append(card)
    return cards


def default_user_dir() -> Path:
    """Where models fine-tuned in the plugin are saved: ``$XDG_DATA_HOME/napari-tem-denoise/models``
    (``~/.local/share/...`` when ``XDG_DATA_HOME`` is unset)."""
    data_home = os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share"
    return Path(data_home) / "napari-tem-denoise" / "models"


def user_model_dirs() -> list[Path]:
    """Directories listed in the ``TEM_DENOISE_MODELS`` environment variable (``os.pathsep``-separated),
    then :func:`default_user_dir`."""
    value = os.environ.get(USER_DIRS_ENV, "")
    return [*(Path(p).expanduser() for p in value.split(os.pathsep) if p), default_user_dir()]


def available_models(user_dirs: list[str | Path] | tuple = ()) -> dict[str, ModelCard]:
    """All models by name: built-in baselines, bundled models, then user models.

    User directories are ``user_dirs`` followed by :func:`user_model_dirs`. A name
    already taken keeps its first card; the later one is skipped with a warning.
    """
    cards = builtin_cards() + discover_models(BUNDLED_DIR, source="bundled")
    for directory in [*map(Path, user_dirs), *user_model_dirs()]:
        cards += discover_models(directory, source="user")
    models: dict[str, ModelCard] = {}
    for card in cards:
        if card.name in models:
            warnings.warn(
                f"model name {card.name!r} from {card.directory} is already taken by a "
                f"{models[card.name].source} model; rename it in its card.json",
                stacklevel=2,
            )
            continue
        models[card.name] = card
    return models


def get_card(name: str, user_dirs: list[str | Path] | tuple = ()) -> ModelCard:
    """The card of model ``name``; ValueError listing the available names if unknown."""
    models = available_models(user_dirs)
    if name not in models:
        raise ValueError(f"unknown model {name!r}; available: {', '.join(sorted(models))}")
    return models[name]


# A modality whose models fall back to another's before the "any" models.
PARENT_MODALITY = {"HRTEM-counting": "HRTEM"}


def data_modality(modality: str | None, counts: bool, n_frames: int = 1) -> str | None:
    """The modality models are chosen for: raw counts (``counts``) keep the modality the file
    or user states, except that HRTEM counts, and a movie of counts whose modality nobody
    states, are ``"HRTEM-counting"``; a single frame of counts of unknown modality stays
    unknown (it may as well be STEM)."""
    if counts and (modality == "HRTEM" or (modality is None and n_frames >= 2)):
        return "HRTEM-counting"
    return modality


def default_model_name(modality: str | None, n_frames: int = 1, user_dirs: list[str | Path] | tuple = ()) -> str:
    """Model to use when the user names none: always one that restores the image (output kind
    ``restore``); atom-map networks are chosen explicitly, for atom finding.

    Ranked by name within each step: a bundled or user model whose card has
    ``is_default`` and the given modality, else any model with that modality, then the
    same two steps for the parent modality (:data:`PARENT_MODALITY`, e.g. HRTEM for
    HRTEM-counting) and for ``"any"``; only models whose temporal window the stack fills
    count (``temporal_window <= n_frames``: a temporal model on fewer frames would see
    mirrored windows it was not made for); ``"gaussian-2d"`` when none fits.
    """
    candidates = [
        card for card in available_models(user_dirs).values()
        if card.source != "builtin" and card.output_kind == "restore" and card.temporal_window <= n_frames
    ]
    candidates.sort(key=lambda card: card.name)
    ranked = []
    for wanted in (modality, PARENT_MODALITY.get(modality), "any"):
        ranked += [c for c in candidates if c.modality == wanted and c.is_default]
        ranked += [c for c in candidates if c.modality == wanted]
    return ranked[0].name if ranked else "gaussian-2d"


def build_model(card: ModelCard) -> Any:
    """Construct the (untrained) model a card describes, from its ``architecture``.

    Raises
    ------
    CardError
        If the family is unknown, the hyper-parameters do not fit its
        constructor, or the model's temporal window differs from the card's.
    """
    family = family_of(card)
    try:
        model = family.constructor()(**card.architecture)
    except TypeError as err:
        raise CardError(f"model card {card.name!r}: architecture does not fit {family.target}: {err}") from err
    if model.temporal_window != card.temporal_window:
        raise CardError(
            f"model card {card.name!r} says temporal_window={card.temporal_window}, "
            f"but its architecture reads {model.temporal_window} frames"
        )
    return model


def load_model(card: ModelCard, device: str = "cpu") -> Any:
    """Build the model of ``card`` and load its sha256-checked weights, in eval mode on ``device``.

    Classical (numpy) families are returned as built. A torch family whose card
    has no weights raises :class:`~tem_denoise.models.weights.WeightsError`
    (use :func:`build_model` to get an untrained network for training).
    """
    model = build_model(card)
    if family_of(card).backend == "numpy":
        return model
    if card.weights_path is None:
        raise WeightsError(f"model {card.name!r} has no weights file in its card; train it first")
    load_into(model, card.weights_path, card.weights_sha256)
    return model.to(device).eval()
