"""Percentile intensity adapter: round trip, counting-mode and linear data, sampling of big stacks."""

from __future__ import annotations

import numpy as np
import pytest

from tem_denoise.engine import IdentityAdapter, PercentileAdapter, fit_adapter
from tem_denoise.engine.adapters import sample_pixels


def test_round_trip_is_exact_without_clipping_and_inside_the_range_with_it():
    x = np.random.default_rng(0).normal(500, 100, (4, 30, 30)).astype(np.float32)
    adapter = fit_adapter("percentile-255", x, (1, 99), clip=False)
    np.testing.assert_allclose(adapter.inverse(adapter.forward(x)), x, rtol=1e-5)
    clipped = fit_adapter("percentile-255", x, (1, 99))
    y = clipped.forward(x)
    assert y.min() == 0 and y.max() == 255
    inside = (x >= clipped.low) & (x <= clipped.high)
    np.testing.assert_allclose(clipped.inverse(y)[inside], x[inside], rtol=1e-5)


@pytest.mark.parametrize("make", [lambda r: r.poisson(1.5, (3, 40, 40)),  # counting mode, 0..~6 counts
                                  lambda r: r.uniform(100, 1000, (3, 40, 40))])  # linear mode
def test_counting_and_linear_data_both_land_on_0_255(make):
    x = make(np.random.default_rng(1)).astype(np.float32)
    adapter = fit_adapter("percentile-255", x, (0.0, 100.0))
    y = adapter.forward(x)
    assert y.min() == pytest.approx(0.0) and y.max() == pytest.approx(255.0, rel=1e-5)


def test_constant_and_nan_data():
    adapter = fit_adapter("percentile-255", np.full((5, 5), 7.0, np.float32))
    assert adapter.high > adapter.low
    x = np.array([[np.nan, 1.0], [2.0, 3.0]], np.float32)
    assert np.isfinite(fit_adapter("percentile-255", x).high)
    with pytest.raises(ValueError, match="no finite"):
        fit_adapter("percentile-255", np.full((2, 2), np.nan, np.float32))
    with pytest.raises(ValueError, match="low < high"):
        PercentileAdapter(2.0, 1.0)


def test_none_adapter_and_unknown_names():
    x = np.arange(6, dtype=np.float32).reshape(2, 3)
    adapter = fit_adapter("none", x)
    assert isinstance(adapter, IdentityAdapter) and adapter.forward(x) is x and adapter.inverse(x) is x
    with pytest.raises(ValueError, match="unknown intensity adapter"):
        fit_adapter("zscore", x)


class CountingStack:
    """Array-like (t, y, x) that records which frames were read."""

    def __init__(self, data):
        self.data, self.read = data, []
        self.shape, self.ndim, self.dtype = data.shape, data.ndim, data.dtype

    def __getitem__(self, index):
        self.read.append(index)
        return self.data[index]


def test_fitting_a_long_stack_reads_only_a_sample_of_frames():
    stack = CountingStack(np.random.default_rng(2).random((200, 16, 16)).astype(np.float32))
    sample = sample_pixels(stack, max_frames=16)
    assert len(stack.read) == 16 and sample.size == 16 * 256
