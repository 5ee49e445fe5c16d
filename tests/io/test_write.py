"""Calibrated TIFF writing: dtype, pixel size, frame interval and provenance survive a round trip."""

from __future__ import annotations

import dask.array as da
import numpy as np
import pytest
import tifffile

from tem_denoise import __version__, io


def test_float32_stack_round_trip(tmp_path, small_stack):
    small_stack.modality = "HRTEM"
    path = io.write(small_stack, tmp_path / "out.tif", model="test-model", weights_sha256="ab" * 32)
    back = io.read(path)
    assert back.data.dtype == np.float32
    np.testing.assert_array_equal(np.asarray(back.data), small_stack.data)
    assert back.calibration.pixel_size == pytest.approx((0.05,) * 2, rel=1e-6)
    assert back.frame_interval == pytest.approx(0.1)
    assert back.axis_labels == ("t", "y", "x")
    assert back.modality == "HRTEM"
    written = io.read_provenance(path)
    assert written["version"] == __version__
    assert written["model"] == "test-model" and written["weights_sha256"] == "ab" * 32


def test_imagej_reads_the_calibration(tmp_path, small_stack):
    path = io.write(small_stack, tmp_path / "ij.tif")
    with tifffile.TiffFile(path) as tif:
        assert tif.is_imagej
        ij = tif.imagej_metadata
        numerator, denominator = tif.pages[0].tags["XResolution"].value
    assert ij["unit"] == "nm" and ij["frames"] == 4
    assert denominator / numerator == pytest.approx(0.05, rel=1e-6)


def test_uint16_kept_and_int16_becomes_float32(tmp_path):
    u16 = io.Stack.from_array(np.arange(64, dtype=np.uint16).reshape(8, 8), pixel_size=0.1)
    i16 = io.Stack.from_array(-np.arange(64, dtype=np.int16).reshape(8, 8), pixel_size=0.1)
    assert io.read(io.write(u16, tmp_path / "u16.tif")).data.dtype == np.uint16
    back = io.read(io.write(i16, tmp_path / "i16.tif"))
    assert back.data.dtype == np.float32 and back.data.min() == -63


def test_lazy_stack_is_written_frame_by_frame(tmp_path):
    lazy = da.random.default_rng(3).random((6, 32, 32), chunks=(1, 32, 32)).astype(np.float32)
    stack = io.Stack.from_array(lazy, pixel_size=0.2)
    back = io.read(io.write(stack, tmp_path / "lazy.tif"))
    np.testing.assert_allclose(np.asarray(back.data), lazy.compute())


def test_uncalibrated_image_stays_uncalibrated(tmp_path):
    stack = io.Stack.from_array(np.ones((8, 8), np.float32))
    back = io.read(io.write(stack, tmp_path / "plain.tif"))
    assert back.units == ("pixel", "pixel") and back.calibration.pixel_size is None


def test_write_refuses_other_extensions(tmp_path, small_stack):
    with pytest.raises(ValueError, match=r"\.tif"):
        io.write(small_stack, tmp_path / "out.png")


def test_mrc_written_by_mrcfile_reads_in_nm(tmp_path):
    mrcfile = pytest.importorskip("mrcfile")
    path = tmp_path / "frames.mrc"
    with mrcfile.new(path) as mrc:
        mrc.set_data(np.arange(4 * 32 * 48, dtype=np.float32).reshape(4, 32, 48))
        mrc.voxel_size = 2.5  # Å
    stack = io.read(path)
    assert stack.shape == (4, 32, 48) and stack.axis_labels == ("t", "y", "x")
    assert stack.calibration.pixel_size == pytest.approx((0.25,) * 2)


def test_origin_survives_a_round_trip(tmp_path, small_stack):
    small_stack.translate = (0.0, 1.5, -0.25)
    back = io.read(io.write(small_stack, tmp_path / "shifted.tif"))
    assert back.translate == pytest.approx((0.0, 1.5, -0.25))
