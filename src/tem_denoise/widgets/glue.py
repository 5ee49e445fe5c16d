"""Helpers every dock shares: derived layers that keep their source's calibration."""

from __future__ import annotations

from typing import Any

import numpy as np

from tem_denoise.layers import robust_range

CALIBRATION = ("scale", "translate", "units", "axis_labels")


def calibration_of(layer: Any) -> dict:
    """``scale``, ``translate``, ``units`` and ``axis_labels`` of a layer, ready to pass on."""
    return {key: tuple(getattr(layer, key)) for key in CALIBRATION}


def derived_metadata(source: Any, step: dict) -> dict:
    """The source layer's metadata with ``step`` appended to its provenance history."""
    metadata = dict(source.metadata)
    provenance = dict(metadata.get("provenance", {}))
    provenance["history"] = [*provenance.get("history", []), step]
    provenance["derived_from"] = source.name
    metadata["provenance"] = provenance
    return metadata


def add_derived_image(viewer: Any, source: Any, data: Any, name: str, step: dict, **kwargs: Any) -> Any:
    """Add ``data`` as a new Image layer beside ``source`` (never replacing it).

    The new layer copies the source's scale, translate, units and axis labels, gets a robust
    contrast range from its first frame, and records ``step`` in its provenance.
    """
    first = data[0] if data.ndim == 3 else data
    options = {
        "name": name,
        "colormap": "gray",
        "contrast_limits": robust_range(np.asarray(first, dtype=np.float32)),
        "metadata": derived_metadata(source, step),
        **calibration_of(source),
    }
    options.update(kwargs)
    return viewer.add_image(data, **options)


def image_layer_choices(viewer: Any):
    """A magicgui ``choices`` callable listing the viewer's Image layers by name.

    Docked containers get ``reset_choices`` called by napari when layers are added or
    removed, so the list stays current.
    """
    from napari.layers import Image

    def choices(_widget: Any = None) -> list[tuple[str, Any]]:
        return [(layer.name, layer) for layer in viewer.layers if isinstance(layer, Image)]

    return choices
