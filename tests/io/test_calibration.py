"""The one calibration object: from a Stack's axes and from napari-style pint units."""

from __future__ import annotations

import numpy as np
import pint
import pytest

from tem_denoise.io import Calibration, Stack


def test_from_a_stack_in_other_length_units():
    stack = Stack(np.zeros((3, 8, 8)), scale=(0.5, 2.0, 3.0), units=("s", "Å", "Å"), axis_labels=("t", "y", "x"),
                  translate=(0.0, 10.0, 20.0))
    calibration = stack.calibration
    assert calibration.pixel_size == pytest.approx((0.2, 0.3))
    assert calibration.origin == pytest.approx((1.0, 2.0))
    assert calibration.frame_interval == 0.5 and calibration.unit == "nm"
    assert calibration.to_px(0.6, "nm") == pytest.approx(0.6 / 0.25)
    np.testing.assert_allclose(calibration.positions_to_world([[1.0, 1.0]]), [[1.2, 2.3]])
    np.testing.assert_allclose(calibration.world_to_px([[1.2, 2.3]]), [[1.0, 1.0]])


def test_from_pint_units_as_napari_layers_hold_them():
    ureg = pint.UnitRegistry()

    class Layer:
        scale, translate = (1.0, 0.05, 0.05), (0.0, 0.0, 0.0)
        units = (ureg.pixel, ureg.nm, ureg.nm)

    calibration = Calibration.of_layer(Layer())
    assert calibration.pixel_size == pytest.approx((0.05, 0.05)) and calibration.frame_interval is None


def test_uncalibrated_lengths_stay_in_pixels_and_nm_is_refused():
    calibration = Stack.from_array(np.zeros((8, 8))).calibration
    assert not calibration.calibrated and calibration.unit == "px" and calibration.mean_pixel_size == 1.0
    assert calibration.to_px(3, "px") == 3
    with pytest.raises(ValueError, match="no nm calibration"):
        calibration.to_px(0.2, "nm")
