"""Helpers every dock shares: layer -> Stack, result -> layer (in the source's calibration),
the one "reuse the layer or add it" rule, the layer lists of the docks' combo boxes, and the
signal that tells the docks' model lists that a user model was saved."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from psygnal import Signal

from tem_denoise.io import Stack
from tem_denoise.layers import layer_metadata, layer_to_stack, robust_range

CALIBRATION = ("scale", "translate", "units", "axis_labels")
PLUGIN = "napari-tem-denoise"


def calibration_of(layer: Any) -> dict:
    """``scale``, ``translate``, ``units`` and ``axis_labels`` of a layer, ready to pass on."""
    return {key: tuple(getattr(layer, key)) for key in CALIBRATION}


def plane_calibration(layer: Any) -> dict:
    """The (y, x) part of a layer's scale, translate, units and axis labels."""
    return {key: value[-2:] for key, value in calibration_of(layer).items()}


def layer_stack(layer: Any) -> Stack:
    """The Stack of an Image layer (its data, no copy), refusing what the operations cannot read."""
    if layer is None:
        raise ValueError("open an image or stack first, then choose it in the dock")
    if getattr(layer, "rgb", False):
        raise ValueError(f"'{layer.name}' is an RGB image; the analysis needs one intensity per pixel")
    if layer.ndim not in (2, 3):
        raise ValueError(f"'{layer.name}' has {layer.ndim} dimensions; expected (y, x) or (t, y, x)")
    if getattr(layer, "multiscale", False):
        layer = _FullResolution(layer)
    return layer_to_stack(layer)


class _FullResolution:
    """A multiscale layer seen through its full-resolution level."""

    def __init__(self, layer: Any) -> None:
        self._layer = layer
        self.data = layer.data[0]

    def __getattr__(self, name: str) -> Any:
        return getattr(self._layer, name)


def derived_metadata(source: Any, step: dict | None = None, stack: Stack | None = None) -> dict:
    """Metadata of a layer made from ``source``: the result ``stack``'s provenance (or the
    source's with ``step`` appended), and ``derived_from`` naming the source layer."""
    if stack is not None:
        metadata = layer_metadata(stack)
    else:
        metadata = dict(source.metadata)
        provenance = dict(metadata.get("provenance", {}))
        provenance["history"] = [*provenance.get("history", []), step]
        metadata["provenance"] = provenance
    metadata["provenance"] = {**metadata["provenance"], "derived_from": source.name}
    return metadata


def layer_named(viewer: Any, name: str, kind: type | None = None) -> Any:
    """The viewer's layer called ``name`` (of class ``kind`` when given), or None."""
    layer = next((layer for layer in viewer.layers if layer.name == name), None)
    return layer if kind is None or isinstance(layer, kind) else None


def show_layer(viewer: Any, name: str, data: Any, layer_type: str = "image", *, reuse: Any = None,
               **kwargs: Any) -> Any:
    """The one rule for a dock's output layer: the layer called ``name`` is updated in place
    when it exists with this type (and ``reuse(layer)`` holds), otherwise a new layer is added.

    ``kwargs`` are layer attributes (``scale``, ``metadata``, ``features``...), set on the
    reused layer or passed to ``viewer.add_<layer_type>``.
    """
    import napari.layers

    existing = layer_named(viewer, name, getattr(napari.layers, layer_type.capitalize()))
    if existing is not None and (reuse is None or reuse(existing)):
        existing.data = data
        for key, value in kwargs.items():
            setattr(existing, key, value)
        return existing
    return getattr(viewer, f"add_{layer_type}")(data, name=name, **kwargs)


def add_result_image(viewer: Any, source: Any, result: Stack, **kwargs: Any) -> Any:
    """Add the Stack ``result`` of an operation on layer ``source`` as a new Image layer.

    The layer copies the source's scale, translate, units and axis labels (for a 2-D result of
    a stack, their (y, x) part), gets a robust contrast range from its first frame and carries
    the result's provenance. ``kwargs`` override layer attributes (e.g. ``translate``).
    """
    data = result.data
    first = data[0] if result.is_stack else data
    calibration = calibration_of(source) if len(data.shape) == source.ndim else plane_calibration(source)
    options = {
        "colormap": "gray",
        "contrast_limits": robust_range(np.asarray(first, dtype=np.float32)),
        "metadata": derived_metadata(source, stack=result),
        **calibration,
        **kwargs,
    }
    return show_layer(viewer, result.name, data, "image", reuse=lambda layer: False, **options)


def image_layer_choices(viewer: Any, ndim: int | None = None):
    """A magicgui ``choices`` callable listing the viewer's Image layers by name (only those with
    ``ndim`` dimensions when given).

    Docked containers get ``reset_choices`` called by napari when layers are added or
    removed, so the list stays current.
    """
    from napari.layers import Image

    def choices(_widget: Any = None) -> list[tuple[str, Any]]:
        return [(layer.name, layer) for layer in viewer.layers
                if isinstance(layer, Image) and (ndim is None or layer.ndim == ndim)]

    return choices


def is_result(layer: Any) -> bool:
    """True for a layer this plugin made from another (it records ``derived_from``)."""
    return bool(layer.metadata.get("provenance", {}).get("derived_from"))


def newest_image(viewer: Any, ndim: int | None = None) -> Any:
    """The newest result Image layer (denoised, drift-corrected...), else the selected Image layer,
    else the newest Image layer; None when there is none."""
    images = [layer for _, layer in image_layer_choices(viewer, ndim)()]
    results = [layer for layer in images if is_result(layer)]
    active = viewer.layers.selection.active
    if results:
        return results[-1]
    return active if active in images else (images[-1] if images else None)


def image_combo(viewer: Any, ndim: int | None = None, label: str = "image") -> Any:
    """A ComboBox of the viewer's Image layers, on :func:`newest_image` when there is one
    (an empty viewer gives an empty box that fills as layers arrive)."""
    from magicgui.widgets import ComboBox

    newest = newest_image(viewer, ndim)
    return ComboBox(label=label, choices=image_layer_choices(viewer, ndim),
                    **({} if newest is None else {"value": newest}))


def follow_new_results(viewer: Any, combo: Any) -> None:
    """Point ``combo`` (a layer ComboBox) at each new result Image layer as it is added."""

    def inserted(event: Any) -> None:
        layer = event.value
        combo.reset_choices()
        if is_result(layer) and any(layer is choice for choice in combo.choices):
            combo.value = layer

    viewer.layers.events.inserted.connect(inserted)


def preferred_device() -> str:
    """The device saved in the plugin's preferences (napari Preferences > TEM Denoise)."""
    from napari.settings import get_plugin_settings

    return str(get_plugin_settings(PLUGIN).engine.device)


def save_preferred_device(device: str) -> None:
    from napari.settings import get_plugin_settings

    get_plugin_settings(PLUGIN).engine.device = device


class ModelEvents:
    """Signals on the model registry shared by the docks of all viewers."""

    saved = Signal(str)
    """A user model was saved (its name): model lists re-read the registry."""


MODEL_EVENTS = ModelEvents()


def on_model_saved(widget: Any, callback: Callable[[str], None]) -> None:
    """Call ``callback(name)`` when a user model is saved, while ``widget`` (a magicgui widget)
    exists; disconnected when its Qt widget is destroyed."""
    MODEL_EVENTS.saved.connect(callback)
    widget.native.destroyed.connect(lambda *_: MODEL_EVENTS.saved.disconnect(callback, missing_ok=True))
