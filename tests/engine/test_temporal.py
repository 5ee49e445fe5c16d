"""Temporal windows with mirrored edges."""

from __future__ import annotations

import numpy as np

from tem_denoise.engine import read_windows, reflect_index, window_indices


def test_reflection_mirrors_without_repeating_the_edge_frame():
    np.testing.assert_array_equal(reflect_index(np.arange(-3, 8), 5), [3, 2, 1, 0, 1, 2, 3, 4, 3, 2, 1])
    np.testing.assert_array_equal(window_indices(0, 2, 3, 2), [[1, 0, 1], [0, 1, 0]])
    np.testing.assert_array_equal(reflect_index(np.array([-1, 0, 1]), 1), [0, 0, 0])


def test_windows_are_centred_and_read_only_what_they_need():
    stack = np.arange(6, dtype=np.float32)[:, None, None] * np.ones((6, 2, 3), np.float32)
    win = read_windows(stack, 0, 6, 3)
    assert win.shape == (6, 3, 2, 3) and win.dtype == np.float32
    np.testing.assert_array_equal(win[:, :, 0, 0], [[1, 0, 1], [0, 1, 2], [1, 2, 3], [2, 3, 4], [3, 4, 5], [4, 5, 4]])
    np.testing.assert_array_equal(read_windows(stack, 2, 4, 1)[:, 0, 0, 0], [2, 3])
