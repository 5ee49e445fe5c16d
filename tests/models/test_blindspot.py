"""The blind spot of WCID/WCVD: exact zero centre weight, blind receptive field, low-pass, homogeneity."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from tem_denoise.models.blindspot import POINTWISE_CHUNK, BlindSpotNet, lowpass_mask


def centre_weights(model: BlindSpotNet) -> list[torch.Tensor]:
    out = []
    for member in model.members:
        w = member.blind.weight
        k = member.blind.kernel_size
        out.append(w[:, w.shape[1] // 2, k // 2, k // 2])
    return out


@pytest.mark.parametrize("optimizer", ["adam", "adamw"])
@pytest.mark.parametrize("frames", [1, 3])
def test_centre_weight_stays_exactly_zero_through_training(optimizer, frames):
    torch.manual_seed(0)
    model = BlindSpotNet(frames=frames, mid_channels=2, n_layers=1, lowpass=False)
    opt_class = torch.optim.Adam if optimizer == "adam" else torch.optim.AdamW
    opt = opt_class(model.parameters(), lr=1e-2, weight_decay=1e-2)
    x = torch.rand(4, frames, 20, 20)
    target = x[:, frames // 2:frames // 2 + 1]
    before = [m.blind.weight.detach().clone() for m in model.members]
    for _ in range(5):
        opt.zero_grad()
        loss = ((model.blind(x) - target) ** 2).mean()
        loss.backward()
        opt.step()
    for w in centre_weights(model):
        assert torch.equal(w, torch.zeros_like(w))
    # and the other weights did train
    assert any(not torch.equal(b, m.blind.weight) for b, m in zip(before, model.members))


def test_loading_a_nonzero_centre_weight_zeroes_it():
    model = BlindSpotNet(frames=1)
    state = {k: v.clone() for k, v in model.state_dict().items()}
    for key in state:
        if key.endswith("blind.weight"):
            state[key].fill_(1.0)
    model.load_state_dict(state)
    for w in centre_weights(model):
        assert torch.equal(w, torch.zeros_like(w))


@pytest.mark.parametrize("frames", [1, 3])
@pytest.mark.parametrize("pixel", [(10, 12), (0, 0), (23, 30)])
def test_output_at_a_pixel_ignores_that_pixels_own_value(frames, pixel):
    torch.manual_seed(1)
    model = BlindSpotNet(frames=frames, lowpass=False).eval()
    with torch.no_grad():
        for p in model.parameters():
            p.abs_()  # positive weights: no ReLU is dead, every other input reaches the output
    x = torch.rand(1, frames, 24, 31) + 0.5
    centre = frames // 2
    y0 = model.blind(x)
    bumped = x.clone()
    bumped[0, centre, pixel[0], pixel[1]] += 100.0
    y1 = model.blind(bumped)
    assert y1[0, 0, pixel[0], pixel[1]] == y0[0, 0, pixel[0], pixel[1]]
    assert not torch.equal(y0, y1)  # the neighbours do see it
    x.requires_grad_(True)
    model.blind(x)[0, 0, pixel[0], pixel[1]].backward()
    assert x.grad[0, centre, pixel[0], pixel[1]] == 0.0
    assert x.grad.abs().sum() > 0


def test_wcvd_sees_the_same_pixel_in_the_neighbouring_frames():
    torch.manual_seed(2)
    model = BlindSpotNet(frames=3, lowpass=False)
    with torch.no_grad():
        for p in model.parameters():
            p.abs_()
    x = (torch.rand(1, 3, 16, 16) + 0.5).requires_grad_(True)
    model.blind(x)[0, 0, 8, 8].backward()
    assert x.grad[0, 0, 8, 8] != 0 and x.grad[0, 2, 8, 8] != 0 and x.grad[0, 1, 8, 8] == 0


@pytest.mark.parametrize("frames", [1, 3])
def test_fused_ensemble_equals_the_sum_of_its_members(frames):
    torch.manual_seed(3)
    model = BlindSpotNet(frames=frames, mid_channels=3, n_layers=2)
    with torch.no_grad():
        model.mix_logits.copy_(torch.tensor([0.3, -1.0, 0.5]))
    x = torch.rand(2, frames, 19, 23)
    mix = torch.softmax(model.mix_logits, 0)
    reference = sum(w * member(x) for w, member in zip(mix, model.members))
    torch.testing.assert_close(model.blind(x), reference, rtol=1e-5, atol=1e-7)


def test_inference_in_pixel_chunks_equals_the_autograd_path():
    torch.manual_seed(4)
    model = BlindSpotNet(frames=3)
    x = torch.rand(2, 3, 150, 131)  # more pixels per frame than one chunk, and a ragged last chunk
    assert 150 * 131 > POINTWISE_CHUNK
    with torch.inference_mode():
        chunked = model.blind(x)
    torch.testing.assert_close(chunked, model.blind(x).detach(), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("frames", [1, 3])
def test_network_is_positively_homogeneous(frames):
    torch.manual_seed(4)
    model = BlindSpotNet(frames=frames).eval()
    x = torch.rand(1, frames, 32, 27)
    with torch.inference_mode():
        torch.testing.assert_close(model(7.5 * x), 7.5 * model(x), rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("shape", [(160, 160), (120, 160), (160, 120)])
def test_lowpass_cutoff_is_1_over_2k_cycles_per_pixel_for_any_size(shape):
    model = BlindSpotNet(frames=1, kernel_sizes=(3, 5, 7))  # cutoff 1/14 cycles/px
    h, w = shape
    yy, xx = np.mgrid[:h, :w]
    keep = np.cos(2 * np.pi * yy / 20) + np.cos(2 * np.pi * xx / 20)  # 1/20 cycles/px
    drop = np.cos(2 * np.pi * yy / 8) + np.cos(2 * np.pi * xx / 8)  # 1/8 cycles/px
    y = model.apply_lowpass(torch.from_numpy((keep + drop)[None, None]).float())[0, 0].numpy()
    np.testing.assert_allclose(y, keep, atol=1e-4)


def test_lowpass_mask_keeps_a_disc_of_diameter_n_over_k():
    mask = lowpass_mask(140, 140, 7.0, torch.device("cpu")).numpy()
    assert mask[0, 0] == 1 and mask[10, 0] == 1 and mask[11, 0] == 0  # radius 140 / 14 = 10 bins
    assert mask[0, 10] == 1 and mask[0, 11] == 0 and mask[8, 8] == 0


def test_wrong_window_is_refused():
    with pytest.raises(ValueError, match="frames per window"):
        BlindSpotNet(frames=3)(torch.rand(1, 1, 16, 16))
    with pytest.raises(ValueError, match="odd"):
        BlindSpotNet(kernel_sizes=(4,))
