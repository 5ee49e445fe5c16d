"""The model contract, explicit: what the engine may call on a model and what a model declares.

Every model (network or classical filter) maps a batch of temporal windows
``(B, temporal_window, h, w)`` to ``(B, 1, h, w)`` (:class:`DenoisingModel`). A model that splits
into a local part run on tiles and a whole-frame part (:class:`SplitModel`) is tiled exactly.
What a model can do is declared by its family and card (:class:`Capabilities`), never guessed
from its name or probed attribute by attribute.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable


@runtime_checkable
class DenoisingModel(Protocol):
    """Any model the engine runs: ``model(windows) -> outputs`` with a declared temporal window."""

    temporal_window: int

    def __call__(self, windows: Any) -> Any: ...


@runtime_checkable
class SplitModel(DenoisingModel, Protocol):
    """A model with a local part (run on tiles) and a whole-frame part (run on the blended frame).

    ``receptive_radius`` is the local part's context in pixels, ``padding_mode`` (a
    ``torch.nn.functional.pad`` mode) its border rule.
    """

    receptive_radius: int
    padding_mode: str

    def local_forward(self, windows: Any) -> Any: ...

    def frame_filter(self, frames: Any) -> Any: ...


@runtime_checkable
class AlignedModel(Protocol):
    """A model that pools: tiles must start on multiples of ``alignment`` pixels."""

    alignment: int


@dataclass(frozen=True)
class Capabilities:
    """What a model can do, as its family and card declare it.

    Attributes
    ----------
    self_supervised : bool
        Learns from noisy frames alone (blind-spot nets), so it can be fine-tuned on the user's stack.
    temporal_window : int
        Frames each output frame reads (1: single-frame model).
    output_kind : str
        ``"restore"`` (image in the input's units) or ``"atom-map"``.
    backend : str
        ``"torch"`` (a network with weights) or ``"numpy"`` (a classical filter, CPU only).
    """

    self_supervised: bool
    temporal_window: int
    output_kind: str
    backend: str
