"""Tiles, blending weights and padding: no seams, any frame size."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from tem_denoise.engine import Denoiser, TileGrid, tile_starts
from tem_denoise.engine.tiling import axis_plan, axis_weights, iter_tiled
from tem_denoise.models.blindspot import BlindSpotNet
from tem_denoise.models.unet import UNet


@pytest.mark.parametrize("length,tile,overlap", [(90, 48, 16), (300, 256, 32), (49, 48, 16), (1000, 256, 32),
                                                 (1024, 256, 0), (97, 32, 16)])
def test_tiles_cover_the_axis_and_weights_sum_to_one(length, tile, overlap):
    starts = tile_starts(length, tile, overlap)
    assert starts[0] == 0 and starts[-1] + tile == length
    assert all(b - a <= tile - overlap for a, b in zip(starts, starts[1:]))
    total = np.zeros(length)
    for start, w in zip(starts, axis_weights(starts, tile, overlap)):
        total[start:start + tile] += w
    np.testing.assert_allclose(total, 1.0, atol=1e-6)


def test_fixed_tiles_stretch_to_need_fewer_and_flexible_ones_shrink():
    assert axis_plan(1024, 256, 16, flexible=False)[:2] == (268, [0, 252, 504, 756])
    size, starts, pad = axis_plan(201, 96, 48, flexible=False, align=4)
    assert size % 4 == 0 and all(s % 4 == 0 for s in starts) and pad == 3
    size, starts, pad = axis_plan(100, 256, 16, flexible=False)
    assert (size, starts, pad) == (256, [0], 156)
    size, starts, pad = axis_plan(1024, 512, 12, flexible=True)
    assert len(starts) == 3 and size <= 512 and pad == 0 and starts[-1] + size == 1024
    assert axis_plan(5, 512, 12, flexible=True) == (16, [0], 11)


class CentreFrame(torch.nn.Module):
    """Identity on the centre frame of a window (no parameters)."""

    def __init__(self, window: int = 1):
        super().__init__()
        self.temporal_window = window

    def forward(self, x):
        return x[:, self.temporal_window // 2:self.temporal_window // 2 + 1]


@pytest.mark.parametrize("shape,tile,overlap", [((37, 53), 16, 8), ((3, 2), 32, 8), ((1, 1), 16, 4),
                                                ((64, 64), 32, 16), ((37, 53), None, 0)])
def test_identity_through_tiles_reproduces_the_frame_exactly(shape, tile, overlap):
    x = torch.rand(3, 1, *shape)
    grid = TileGrid.plan(*shape, tile, overlap)
    steps = iter_tiled(x, lambda t: t[:, 0], grid, batch_size=4)
    done = 0
    while True:
        try:
            done += next(steps)
        except StopIteration as stop:
            out = stop.value
            break
    assert done == 3 * grid.n_tiles
    torch.testing.assert_close(out, x[:, 0], rtol=0, atol=1e-6)


def test_tiled_equals_whole_frame_for_a_local_model():
    torch.manual_seed(0)
    model = BlindSpotNet(frames=1, lowpass=False).eval()
    x = np.random.default_rng(0).poisson(3.0, (2, 97, 75)).astype(np.float32)
    d = Denoiser(model, device="cpu", tile=40, overlap=12)
    tiled = d.denoise(x)
    whole = Denoiser(model, device="cpu", tile=0).denoise(x)
    assert d.provenance()["last_run"]["tile"] == 40
    np.testing.assert_allclose(tiled, whole, rtol=1e-5, atol=1e-6)


def test_low_pass_runs_on_whole_frames_so_tiling_does_not_change_it():
    torch.manual_seed(0)
    model = BlindSpotNet(frames=1).eval()
    x = np.random.default_rng(1).poisson(3.0, (1, 90, 70)).astype(np.float32)
    tiled = Denoiser(model, device="cpu", tile=32, overlap=12).denoise(x)
    with torch.inference_mode():
        direct = model(torch.from_numpy(x)[:, None])[:, 0].numpy()
    np.testing.assert_allclose(tiled, direct, rtol=1e-4, atol=1e-6)


def test_tiled_unet_stays_close_to_the_whole_frame():
    torch.manual_seed(0)
    model = UNet(base_channels=4, final_activation="none").eval()
    x = np.random.default_rng(2).random((1, 201, 157)).astype(np.float32) * 255
    tiled = Denoiser(model, device="cpu", tile=64, overlap=32).denoise(x)
    whole = Denoiser(model, device="cpu", tile=0).denoise(x)
    # tiles start on the pooling grid; zero padding inside the U-Net differs at tile edges and the
    # blend keeps it away from the output (the frame's own edges differ by the padding of tile vs frame)
    inner = (slice(None), slice(8, -8), slice(8, -8))
    assert np.abs(tiled - whole)[inner].max() < 0.005 * whole.std()


def test_bad_overlap_is_refused():
    with pytest.raises(ValueError, match="overlap"):
        TileGrid.plan(100, 100, 32, 20)
