"""The calibrate operation: the options checks, the STEM frame, and the synthetic preview's calibration."""

from __future__ import annotations

import argparse

import numpy as np
import pytest

from tem_denoise import physics
from tem_denoise.io import Calibration, Stack
from tem_denoise.operations.calibrate import CalibrateOptions, describe_model, iter_calibrate, synthetic_preview
from tem_denoise.operations.options import add_arguments, from_arguments
from tem_denoise.progress import run_to_end


def _parse(argv):
    parser = argparse.ArgumentParser(exit_on_error=False)
    add_arguments(parser, CalibrateOptions)
    return from_arguments(CalibrateOptions, parser.parse_args(argv))


def test_currents_are_any_number_of_positive_values():
    assert _parse(["--current", "1", "1.5", "2"]).currents == (1.0, 1.5, 2.0)
    assert _parse(["--stem", "bf", "--frame", "3"]) == CalibrateOptions(stem="bf", frame=3)
    with pytest.raises(ValueError, match="beam currents must be positive numbers"):
        CalibrateOptions(currents=(1.0, 0.0))
    with pytest.raises(ValueError, match="frame must be at least 0"):
        CalibrateOptions(frame=-1)


def test_inputs_are_checked_before_any_work():
    vacuum = Stack.from_array(np.ones((3, 16, 16), np.float32), name="vac")
    with pytest.raises(ValueError, match="one beam current per vacuum stack: 1 stacks, 2 currents"):
        iter_calibrate([vacuum], CalibrateOptions(currents=(1.0, 2.0)))
    with pytest.raises(ValueError, match="choose one or more vacuum stacks"):
        iter_calibrate([], CalibrateOptions())
    with pytest.raises(ValueError, match="'vac' has 3 frames .0 to 2.; frame 5 does not exist"):
        iter_calibrate([vacuum], CalibrateOptions(stem="haadf", frame=5))
    with pytest.raises(ValueError, match="'one' is a single image; there is no frame 2 to fit"):
        iter_calibrate([Stack.from_array(np.ones((16, 16)), name="one")], CalibrateOptions(stem="bf", frame=2))
    with pytest.raises(ValueError, match="takes one atomic-resolution image; got 2"):
        iter_calibrate([vacuum, vacuum], CalibrateOptions(stem="haadf"))


def test_vacuum_fit_from_stacks_and_currents():
    truth = physics.HRTEMNoise(gain=8.0)
    sample = physics.sample_vacuum_stacks(currents_na=(1.0, 2.0), n_frames=8, shape=(64, 64), noise=truth)
    stacks = [Stack.from_array(s, pixel_size=0.07) for s in sample.stacks]
    model, report = run_to_end(iter_calibrate(stacks, CalibrateOptions(currents=sample.currents_na)))
    assert isinstance(model, physics.HRTEMNoise) and "intensity_vs_current" in report.lines
    assert model.gain == pytest.approx(truth.gain, rel=0.1)
    assert describe_model(model).startswith("HRTEMNoise: ")


@pytest.mark.parametrize("model", [physics.HRTEMNoise(), physics.STEMNoise()], ids=["hrtem", "stem"])
def test_preview_is_at_the_data_pixel_size_and_origin(model):
    calibration = Calibration(pixel_size=(0.05, 0.07), origin=(3.0, -2.0))
    layers = synthetic_preview(model, calibration)
    assert [s.name for s in layers] == ["synthetic (atom map)", "synthetic (clean)", "synthetic (noisy)"]
    for stack in layers:
        assert stack.shape == (256, 256)
        assert stack.calibration.pixel_size == pytest.approx((0.06, 0.06))
        assert stack.translate == pytest.approx((3.0, -2.0))
        assert stack.provenance["history"][0]["noise_model"] == model.to_dict()
    clean, noisy = layers[1].data, layers[2].data
    assert np.std(noisy - clean) > 0


def test_preview_of_uncalibrated_data_uses_the_synthesis_pixel_size():
    stack = synthetic_preview(physics.HRTEMNoise(), Calibration())[0]
    assert stack.calibration.pixel_size == pytest.approx((0.07, 0.07)) and stack.translate == (0.0, 0.0)
