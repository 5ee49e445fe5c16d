"""Overlapping tiles with smooth blending, so tiled inference shows no seams.

A frame is reflect-padded (at its end) up to the tile size where it is smaller, covered by
tiles whose starts are evenly spaced with at least ``overlap`` pixels shared by
neighbours, and the model outputs are blended: in the middle of the band two
neighbours share, one tile's weight falls as ``cos^2`` while the other's rises
as ``sin^2`` (they sum to one), and pixels within a quarter overlap of a tile's
inner edge get no weight. Tiles at the frame's border have no ramp on their outer
side. Whole-frame inference is the special case of one tile.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Generator
from dataclasses import dataclass

import numpy as np

MIN_FRAME = 16
TILE_STRETCH = 0.125


def tile_starts(length: int, tile: int, overlap: int, align: int = 1) -> list[int]:
    """Evenly spaced starts of tiles of ``tile`` pixels covering ``[0, length)``.

    Neighbours share at least ``overlap`` pixels; the first tile starts at 0 and
    the last ends at ``length``; every start is a multiple of ``align`` (then
    ``length - tile`` must be one too). ``length`` must be at least ``tile``.
    """
    if length <= tile:
        return [0]
    step = (tile - overlap) // align * align
    if step < align:
        raise ValueError(f"tile {tile} px with overlap {overlap} px leaves no room to step by {align} px")
    count = math.ceil((length - tile) / step) + 1
    units = (length - tile) // align
    return [align * round(u) for u in np.linspace(0, units, count)]


def axis_weights(starts: list[int], tile: int, overlap: int) -> list[np.ndarray]:
    """1D blending weights of each tile along one axis; they sum to one at every pixel.

    Between neighbours ``i`` and ``i + 1`` a blend band of width
    ``b = min(overlap, shared, step)`` is centred in the pixels they share; the
    handover from tile ``i`` (``cos^2``) to tile ``i + 1`` (``sin^2``) happens over
    the central half of that band, so the outer quarter of the band on each side
    (and any extra shared pixels) gets weight 0: pixels that close to a tile's
    inner edge, where its padding shows, never reach the output.
    """
    centres, halves = [], []
    for i in range(len(starts) - 1):
        shared = starts[i] + tile - starts[i + 1]
        band = min(overlap, shared, starts[i + 1] - starts[i])
        centres.append(starts[i + 1] + 0.5 * shared)
        halves.append(0.25 * band)

    def rise(pos: np.ndarray, k: int) -> np.ndarray:
        if halves[k] == 0:
            return (pos >= centres[k]).astype(np.float64)
        u = np.clip((pos - centres[k] + halves[k]) / (2 * halves[k]), 0.0, 1.0)
        return np.sin(0.5 * np.pi * u) ** 2

    weights = []
    for i, start in enumerate(starts):
        pos = start + np.arange(tile) + 0.5
        w = np.ones(tile, dtype=np.float64)
        if i > 0:
            w *= rise(pos, i - 1)
        if i < len(starts) - 1:
            w *= 1.0 - rise(pos, i)
        weights.append(w.astype(np.float32))
    return weights


def _round_up(value: int, multiple: int) -> int:
    return -(-value // multiple) * multiple


def axis_plan(length: int, tile: int | None, overlap: int, flexible: bool,
              min_size: int = MIN_FRAME, align: int = 1) -> tuple[int, list[int], int]:
    """Tile length, tile starts and padding (at the end) along one axis.

    With no ``tile`` the whole axis is one tile (padded up to ``min_size``). A
    *flexible* model (a local one, whose result does not depend on the tile size)
    gets the fewest tiles of at most ``tile`` pixels, shrunk to share about
    ``overlap`` pixels, and an axis shorter than ``tile`` is not padded beyond
    ``min_size``. A fixed-size model (an FFT net trained at ``tile``) gets tiles
    between ``tile`` and ``(1 + TILE_STRETCH) * tile`` pixels, the stretch
    chosen to need the fewest tiles (1024 px at tile 256 and overlap 16: four
    268-pixel tiles instead of five 256-pixel ones), and a shorter axis is
    reflect-padded to ``tile``. With ``align > 1`` (a model that pools, such as
    the U-Net) the axis is padded to a multiple of ``align`` and tile sizes and
    starts are multiples of it, so every tile pools on the whole frame's grid.
    """
    if not tile:
        size = max(length, min_size)
        return size, [0], size - length
    target = _round_up(length, align)
    if target <= tile:
        size = max(target, min_size) if flexible else _round_up(tile, align)
        return size, [0], size - length
    if flexible:
        count = math.ceil((target - overlap) / (tile - overlap))
        size = math.ceil((target - overlap) / count) + overlap
    else:
        longest = int(tile * (1 + TILE_STRETCH))
        count = math.ceil((target - overlap) / (longest - overlap))
        size = min(max(tile, math.ceil((target - overlap) / count) + overlap), longest)
    size = _round_up(size, align)
    return size, tile_starts(target, size, overlap, align), target - length


def reflect_pad_index(length: int, before: int, after: int) -> np.ndarray:
    """Source index of each padded position (mirror reflection, repeated for large pads)."""
    return np.pad(np.arange(length), (before, after), mode="reflect")


@dataclass(frozen=True)
class TileGrid:
    """Tiling plan for frames of one size.

    Attributes
    ----------
    height, width : int
        Frame size in pixels.
    tile_h, tile_w : int
        Tile size in pixels (equal for tiled runs; the padded frame for whole-frame runs).
    pad : tuple of int
        Reflect padding (top, bottom, left, right) applied before tiling.
    ys, xs : tuple of int
        Tile starts in padded coordinates.
    overlap : int
        Requested overlap between neighbouring tiles in pixels.
    """

    height: int
    width: int
    tile_h: int
    tile_w: int
    pad: tuple[int, int, int, int]
    ys: tuple[int, ...]
    xs: tuple[int, ...]
    overlap: int = 0

    @classmethod
    def plan(cls, height: int, width: int, tile: int | None, overlap: int = 0, flexible: bool = False,
             min_size: int = MIN_FRAME, align: int = 1) -> TileGrid:
        """Plan tiles of about ``tile`` pixels (None or 0: one whole-frame tile, at least ``min_size``).

        See :func:`axis_plan` for how the tile size is fitted to the frame.

        Raises
        ------
        ValueError
            If ``overlap`` is negative or more than half the tile.
        """
        if tile and not 0 <= overlap <= tile // 2:
            raise ValueError(f"overlap must be between 0 and half the tile ({tile // 2} px), got {overlap}")
        overlap = overlap if tile else 0
        tile_h, ys, pad_h = axis_plan(height, tile, overlap, flexible, min_size, align)
        tile_w, xs, pad_w = axis_plan(width, tile, overlap, flexible, min_size, align)
        return cls(height, width, tile_h, tile_w, (0, pad_h, 0, pad_w), tuple(ys), tuple(xs), overlap)

    @property
    def padded_shape(self) -> tuple[int, int]:
        return self.height + self.pad[0] + self.pad[1], self.width + self.pad[2] + self.pad[3]

    @property
    def n_tiles(self) -> int:
        return len(self.ys) * len(self.xs)

    @property
    def positions(self) -> list[tuple[int, int]]:
        """Tile index pairs ``(iy, ix)`` in raster order."""
        return [(iy, ix) for iy in range(len(self.ys)) for ix in range(len(self.xs))]

    def pad_frames(self, x):
        """Reflect-pad a tensor ``(..., height, width)`` to :attr:`padded_shape`."""
        import torch

        top, bottom, left, right = self.pad
        if not any(self.pad):
            return x
        iy = torch.as_tensor(reflect_pad_index(self.height, top, bottom), device=x.device)
        ix = torch.as_tensor(reflect_pad_index(self.width, left, right), device=x.device)
        return x.index_select(-2, iy).index_select(-1, ix)

    def crop(self, y):
        """Inverse of :meth:`pad_frames` on ``(..., padded_h, padded_w)``."""
        top, _, left, _ = self.pad
        return y[..., top:top + self.height, left:left + self.width]

    def windows(self, device) -> tuple[list, list]:
        """Per-tile 1D weights along y and x as float32 tensors on ``device``."""
        import torch

        wy = [torch.as_tensor(w, device=device) for w in axis_weights(list(self.ys), self.tile_h, self.overlap)]
        wx = [torch.as_tensor(w, device=device) for w in axis_weights(list(self.xs), self.tile_w, self.overlap)]
        return wy, wx


def iter_tiled(
    frames, run: Callable, grid: TileGrid, batch_size: int
) -> Generator[int, None, object]:
    """Run ``run`` over the tiles of ``frames`` and blend; yields tiles done per batch.

    Parameters
    ----------
    frames : torch.Tensor
        ``(F, C, height, width)`` float32 on the compute device (C = temporal window).
    run : callable
        Maps a tile batch ``(b, C, tile_h, tile_w)`` to outputs ``(b, tile_h, tile_w)``.
    grid : TileGrid
        The plan for this frame size.
    batch_size : int
        Tiles per call of ``run``.

    Returns
    -------
    torch.Tensor
        ``(F, height, width)`` float32 (the generator's return value).
    """
    import torch

    padded = grid.pad_frames(frames)
    n_frames = padded.shape[0]
    if grid.n_tiles == 1:
        outputs = []
        for f0 in range(0, n_frames, batch_size):
            outputs.append(run(padded[f0:f0 + batch_size]).float())
            yield len(outputs[-1])
        return grid.crop(torch.cat(outputs))
    wy, wx = grid.windows(padded.device)
    acc = torch.zeros((n_frames, *grid.padded_shape), dtype=torch.float32, device=padded.device)
    norm = torch.zeros(grid.padded_shape, dtype=torch.float32, device=padded.device)
    th, tw = grid.tile_h, grid.tile_w
    for iy, ix in grid.positions:
        norm[grid.ys[iy]:grid.ys[iy] + th, grid.xs[ix]:grid.xs[ix] + tw] += wy[iy][:, None] * wx[ix][None, :]
    tasks = [(f, iy, ix) for f in range(n_frames) for iy, ix in grid.positions]
    for b0 in range(0, len(tasks), batch_size):
        batch = tasks[b0:b0 + batch_size]
        tiles = torch.stack([
            padded[f, :, grid.ys[iy]:grid.ys[iy] + th, grid.xs[ix]:grid.xs[ix] + tw] for f, iy, ix in batch
        ])
        out = run(tiles).float()
        for k, (f, iy, ix) in enumerate(batch):
            y0, x0 = grid.ys[iy], grid.xs[ix]
            acc[f, y0:y0 + th, x0:x0 + tw] += out[k] * (wy[iy][:, None] * wx[ix][None, :])
        yield len(batch)
    return grid.crop(acc / norm)
