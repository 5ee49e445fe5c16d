"""Model cards: what a model is, what it expects and what it gives (JSON beside the weights).

A card names the family and the architecture hyper-parameters (the keyword
arguments of the family's constructor), the modality it was made for, the kind
of output, the intensity adapter the engine must apply, the training pixel size,
tile size and temporal window, the weights file and its sha256, how it was
trained and how well it did. See ``DESIGN.md`` "Models and their contract".
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tem_denoise.outputs import write_text

CARD_SCHEMA = 1
MODALITIES = ("HRTEM", "HRTEM-counting", "STEM-HAADF", "STEM-BF", "STEM-DF", "STEM-DPC", "STEM-iDPC",
              "STEM-dDPC", "any")
OUTPUT_KINDS = ("restore", "atom-map")
ADAPTERS = ("percentile-255", "none", "restore")
SPEED_CLASSES = ("fast", "medium", "slow")

OUTPUT_KIND_LABELS = {
    "restore": "restored image in the input's intensity units",
    "atom-map": "atom map (Gaussian atoms on black, 0..255), ready for localisation",
}


class CardError(ValueError):
    """A model card is missing a field or has a value out of its allowed set."""


@dataclass
class ModelCard:
    """Description of one model (bundled, user-trained or classical).

    Attributes
    ----------
    name : str
        Unique model name, e.g. ``"scgn-hrtem"``.
    family : str
        Key of :data:`tem_denoise.models.registry.FAMILIES`.
    architecture : dict
        Keyword arguments of the family's constructor.
    modality : str
        ``"HRTEM"``, ``"HRTEM-counting"`` (movies of raw electron counts from a direct
        detector in counting mode, low dose per frame), ``"STEM-HAADF"``, ``"STEM-BF"``, the other
        STEM contrasts files name (``"STEM-DF"``, ``"STEM-DPC"``, ``"STEM-iDPC"``, ``"STEM-dDPC"``)
        or ``"any"``.
    output_kind : str
        ``"restore"`` (clean image in the input's units) or ``"atom-map"``.
    adapter : str
        Intensity adapter: ``"percentile-255"`` (robust percentiles mapped to
        0..255, inverted on output for ``restore``) or ``"none"``.
    adapter_percentiles : tuple of float
        Low and high percentiles of the ``percentile-255`` adapter.
    pixel_size_nm : float or None
        Pixel size of the training data in nm (None: any sampling); for the ``restore``
        adapter, the working sampling frames are brought to.
    sampling_range_nm : (float, float) or None
        Pixel sizes (nm) the model accepts: the range it was trained on. Required by the
        ``restore`` adapter; the engine refuses frames outside it.
    tile_size : int or None
        Tile edge in pixels the engine uses by default (the training frame size
        for FFT nets); None runs whole frames.
    temporal_window : int
        Frames per input window (1 for single-frame models, 3 for WCVD).
    weights_file : str or None
        Weights file name relative to the card's directory (None: no weights).
    weights_sha256 : str or None
        Hex sha256 of the weights file, checked before loading.
    speed_class : str or None
        ``"fast"``, ``"medium"`` or ``"slow"`` for the UI.
    is_default : bool
        The model to use for its modality when the user names none.
    description : str
        One or two sentences for the UI.
    training : dict
        Command, seed, data, budget and anything needed to reproduce the weights.
    quality : dict
        Measured figures (e.g. PSNR/SSIM/IoU on the held-out synthetic sets).
    directory : Path or None
        Where the card was read from (not serialised).
    source : str
        ``"builtin"``, ``"bundled"`` or ``"user"`` (not serialised).
    """

    name: str
    family: str
    architecture: dict[str, Any] = field(default_factory=dict)
    modality: str = "any"
    output_kind: str = "restore"
    adapter: str = "none"
    adapter_percentiles: tuple[float, float] = (0.1, 99.9)
    pixel_size_nm: float | None = None
    sampling_range_nm: tuple[float, float] | None = None
    tile_size: int | None = None
    temporal_window: int = 1
    weights_file: str | None = None
    weights_sha256: str | None = None
    speed_class: str | None = None
    is_default: bool = False
    description: str = ""
    training: dict[str, Any] = field(default_factory=dict)
    quality: dict[str, Any] = field(default_factory=dict)
    directory: Path | None = field(default=None, compare=False, repr=False)
    source: str = field(default="user", compare=False)

    def __post_init__(self) -> None:
        self.adapter_percentiles = tuple(float(p) for p in self.adapter_percentiles)
        if self.sampling_range_nm is not None:
            self.sampling_range_nm = tuple(float(p) for p in self.sampling_range_nm)
        self.validate()

    def validate(self) -> None:
        """Raise :class:`CardError` naming the bad field."""
        percentiles = self.adapter_percentiles
        checks = [
            (bool(self.name) and isinstance(self.name, str), "name must be a non-empty string"),
            (self.modality in MODALITIES, f"modality must be one of {MODALITIES}, got {self.modality!r}"),
            (self.output_kind in OUTPUT_KINDS,
             f"output_kind must be one of {OUTPUT_KINDS}, got {self.output_kind!r}"),
            (self.adapter in ADAPTERS, f"adapter must be one of {ADAPTERS}, got {self.adapter!r}"),
            (len(percentiles) == 2 and 0 <= percentiles[0] < percentiles[1] <= 100,
             f"adapter_percentiles must be (low, high) with 0 <= low < high <= 100, got {percentiles}"),
            (self.temporal_window >= 1 and self.temporal_window % 2 == 1,
             f"temporal_window must be a positive odd number of frames, got {self.temporal_window}"),
            (self.tile_size is None or self.tile_size >= 8,
             f"tile_size must be None or >= 8 pixels, got {self.tile_size}"),
            (self.speed_class is None or self.speed_class in SPEED_CLASSES,
             f"speed_class must be one of {SPEED_CLASSES} or null, got {self.speed_class!r}"),
            ((self.weights_file is None) == (self.weights_sha256 is None),
             "weights_file and weights_sha256 must be given together"),
            (self.sampling_range_nm is None or (len(self.sampling_range_nm) == 2
                                                and 0 < self.sampling_range_nm[0] <= self.sampling_range_nm[1]),
             f"sampling_range_nm must be (min, max) pixel sizes in nm, got {self.sampling_range_nm}"),
            (self.adapter != "restore" or (self.sampling_range_nm is not None and self.pixel_size_nm),
             "a restore model must state its working pixel_size_nm and the sampling_range_nm it was trained on"),
        ]
        for ok, message in checks:
            if not ok:
                raise CardError(f"model card {self.name!r}: {message}")

    @property
    def weights_path(self) -> Path | None:
        """Absolute path of the weights file, or None when the model has no weights."""
        if self.weights_file is None:
            return None
        base = self.directory if self.directory is not None else Path.cwd()
        return (base / self.weights_file).resolve()

    def summary(self) -> str:
        """One line for lists and the dock: name, modality, output kind, speed."""
        speed = f", {self.speed_class}" if self.speed_class else ""
        return f"{self.name} ({self.family}; {self.modality}; {self.output_kind}{speed})"

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (runtime fields ``directory`` and ``source`` left out)."""
        data = dataclasses.asdict(self)
        data.pop("directory")
        data.pop("source")
        data["adapter_percentiles"] = list(self.adapter_percentiles)
        if self.sampling_range_nm is not None:
            data["sampling_range_nm"] = list(self.sampling_range_nm)
        data["schema"] = CARD_SCHEMA
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any], directory: Path | None = None, source: str = "user") -> ModelCard:
        """Build a card from a dict as written by :meth:`to_dict`; unknown keys are an error."""
        data = dict(data)
        schema = data.pop("schema", CARD_SCHEMA)
        if schema != CARD_SCHEMA:
            raise CardError(f"model card schema {schema} is not supported (this version reads {CARD_SCHEMA})")
        known = {f.name for f in dataclasses.fields(cls)} - {"directory", "source"}
        unknown = sorted(set(data) - known)
        if unknown:
            raise CardError(f"model card {data.get('name')!r} has unknown fields {unknown}")
        missing = [key for key in ("name", "family") if key not in data]
        if missing:
            raise CardError(f"model card is missing required fields {missing}")
        return cls(**data, directory=directory, source=source)


def read_card(path: str | Path, source: str = "user") -> ModelCard:
    """Read a card JSON file; its directory becomes the base for ``weights_file``.

    Raises
    ------
    CardError
        If the file is not valid JSON or not a valid card (the message names the file).
    """
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(data, dict):
            raise CardError("top level is not a JSON object")
        return ModelCard.from_dict(data, directory=path.parent.resolve(), source=source)
    except (json.JSONDecodeError, TypeError, CardError) as err:
        raise CardError(f"cannot read model card {path}: {err}") from err


def write_card(card: ModelCard, path: str | Path) -> Path:
    """Write ``card`` as indented JSON to ``path`` (atomically) and return the path."""
    return write_text(path, json.dumps(card.to_dict(), indent=2, sort_keys=False) + "\n")
