"""Forward shapes, paper parameter counts and the building blocks of SCGN, SFIN and the U-Net."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy import ndimage

from tem_denoise.models.blindspot import BlindSpotNet
from tem_denoise.models.ffc import ChannelAttention, FourierUnit, band_position
from tem_denoise.models.scgn import SCGN, local_std
from tem_denoise.models.sfin import SFIN
from tem_denoise.models.unet import UNet


def n_params(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def test_paper_sizes_match_the_authors_parameter_counts():
    # seed_code_notes.md §1, §2, §4 (arithmetic from the authors' layer lists)
    assert n_params(SCGN(channels=64, n_blocks=8)) == 1_640_641
    assert n_params(SFIN(channels=64, n_blocks=8)) == 960_193
    assert n_params(BlindSpotNet(frames=3, kernel_sizes=(3, 5, 7), mid_channels=3, n_layers=4)) == 867


TINY = {
    "scgn": lambda: SCGN(channels=8, n_blocks=1),
    "sfin": lambda: SFIN(channels=8, n_blocks=1),
    "unet": lambda: UNet(base_channels=4, final_activation="none"),
    "unet-5-frames": lambda: UNet(base_channels=4, final_activation="none", frames=5),
    "wcid": lambda: BlindSpotNet(frames=1, mid_channels=2, n_layers=1),
    "wcvd": lambda: BlindSpotNet(frames=3, mid_channels=2, n_layers=1),
}


@pytest.mark.parametrize("name", sorted(TINY))
@pytest.mark.parametrize("size", [(37, 53), (8, 5)])
def test_forward_keeps_odd_and_small_shapes(name, size):
    torch.manual_seed(0)
    model = TINY[name]().eval()
    x = torch.rand(2, model.temporal_window, *size) * 100
    with torch.inference_mode():
        y = model(x)
    assert y.shape == (2, 1, *size)
    assert torch.isfinite(y).all()


@pytest.mark.parametrize("name", sorted(TINY))
def test_every_architecture_trains_one_step(name):
    torch.manual_seed(0)
    model = TINY[name]().train()
    x = torch.rand(2, model.temporal_window, 24, 20)
    loss = (model(x) - x[:, model.temporal_window // 2:][:, :1]).abs().mean()
    loss.backward()
    grads = [p.grad for p in model.parameters() if p.requires_grad]
    assert all(g is not None and torch.isfinite(g).all() for g in grads)


def test_a_temporal_unet_needs_an_odd_window():
    assert UNet(base_channels=4, frames=3).temporal_window == 3
    with pytest.raises(ValueError, match="odd"):
        UNet(base_channels=4, frames=4)


def test_local_std_matches_a_reflect_padded_window_std():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(1, 2, 9, 11)).astype(np.float32)
    got = local_std(torch.from_numpy(x)).numpy()
    # torch 'reflect' == scipy 'mirror'; population std over the 3x3 window
    mean = ndimage.uniform_filter(x, (1, 1, 3, 3), mode="mirror")
    mean_sq = ndimage.uniform_filter(x * x, (1, 1, 3, 3), mode="mirror")
    want = np.sqrt(np.maximum(mean_sq - mean**2, 1e-5))
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)
    flat = local_std(torch.full((1, 1, 5, 5), 3.0))
    np.testing.assert_allclose(flat.numpy(), np.sqrt(1e-5), rtol=1e-3)


def test_channel_attention_weights_lie_in_zero_to_two():
    torch.manual_seed(0)
    attention = ChannelAttention(32)
    for scale in (1e-3, 1.0, 1e3):
        with torch.no_grad():
            w = attention.weights(torch.randn(3, 32, 9, 7) * scale)
        assert w.shape == (3, 32, 1, 1)
        assert float(w.min()) >= 0.0 and float(w.max()) <= 2.0


def test_band_position_channels_run_zero_to_one():
    grid = band_position(2, 5, 4, torch.zeros(1))
    assert grid.shape == (2, 2, 5, 4)
    np.testing.assert_allclose(grid[0, 0, :, 0].numpy(), np.linspace(0, 1, 5))
    np.testing.assert_allclose(grid[0, 1, 0, :].numpy(), np.linspace(0, 1, 4))


@pytest.mark.parametrize("attention", [True, False])
def test_fourier_unit_returns_spatial_features_of_any_size(attention):
    unit = FourierUnit(4, attention=attention).eval()
    y = unit(torch.randn(2, 4, 13, 10))
    assert y.shape == (2, 4, 13, 10) and y.dtype == torch.float32


def test_unet_handles_sizes_that_do_not_divide_by_four():
    model = UNet(base_channels=4, depth=2).eval()
    for size in [(3, 2), (17, 33), (1, 1)]:
        assert model(torch.rand(1, 1, *size)).shape == (1, 1, *size)
    with pytest.raises(ValueError, match="final_activation"):
        UNet(final_activation="tanh")
