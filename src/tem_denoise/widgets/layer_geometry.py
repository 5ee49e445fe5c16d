"""Where a dock's measurement sits in the viewer: the displayed frame, world <-> pixel, helper layers.

The operations work in pixels of one (y, x) frame with the layer's
:class:`~tem_denoise.io.Calibration`; these helpers translate between that and the viewer
(world coordinates, the frame slider, shapes drawn on helper layers).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from tem_denoise.widgets.glue import layer_named, plane_calibration


def frame_index(viewer: Any, layer: Any) -> int | None:
    """Index of the frame of a (t, y, x) layer shown at the slider position; None for a 2D layer."""
    if layer.ndim < 3:
        return None
    index = layer.world_to_data(np.asarray(viewer.dims.point, dtype=np.float64))[-3]
    return int(np.clip(np.rint(index), 0, layer.data.shape[-3] - 1))


def current_frame(viewer: Any, layer: Any) -> np.ndarray:
    """The (y, x) frame of ``layer`` shown at the slider position, as float64."""
    index = frame_index(viewer, layer)
    data = layer.data if index is None else layer.data[index]
    return np.asarray(data, dtype=np.float64)


def world_to_pixels(viewer: Any, layer: Any, points_world: np.ndarray) -> np.ndarray:
    """Convert (n, 2) world (y, x) positions to (n, 2) pixel positions of ``layer``'s frames."""
    base = np.asarray(viewer.dims.point, dtype=np.float64)[-layer.ndim:].copy()
    out = []
    for yx in np.asarray(points_world, dtype=np.float64):
        base[-2:] = yx
        out.append(np.asarray(layer.world_to_data(base), dtype=np.float64)[-2:])
    return np.array(out).reshape(-1, 2)


def shape_world_vertices(shapes: Any, index: int) -> np.ndarray:
    """(n, 2) world (y, x) vertices of shape ``index`` of a Shapes layer."""
    vertices = np.asarray(shapes.data[index], dtype=np.float64)
    return np.array([shapes.data_to_world(vertex) for vertex in vertices])[:, -2:]


def find_or_add_shapes(viewer: Any, name: str, like: Any) -> Any:
    """The Shapes layer called ``name``, added in the (y, x) calibration of ``like`` if absent.

    The layer is 2D, so a line drawn on it stays put while the frame slider moves.
    """
    from napari.layers import Shapes

    existing = layer_named(viewer, name, Shapes)
    if existing is not None:
        return existing
    return viewer.add_shapes(
        ndim=2,
        name=name,
        edge_color="#ffd000",
        edge_width=_edge_width(like),
        face_color="transparent",
        **plane_calibration(like),
    )


def _edge_width(layer: Any) -> float:
    """About 2 screen pixels for a frame shown fully: 1/200 of the frame's extent, in data units."""
    return max(1.0, max(layer.data.shape[-2:]) / 200)


def chosen_shape(shapes: Any, kinds: tuple[str, ...]) -> int | None:
    """Index of the selected shape of one of ``kinds``, else the last such shape, else None."""
    types = list(shapes.shape_type)
    selected = [i for i in sorted(shapes.selected_data) if i < len(types) and types[i] in kinds]
    if selected:
        return selected[-1]
    matching = [i for i, kind in enumerate(types) if kind in kinds]
    return matching[-1] if matching else None
