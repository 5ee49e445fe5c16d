"""Readers on real instrument files (hyperspy and temul-toolkit test data, fetched from PyPI).

Expected pixel sizes are the calibrations stored in the files themselves (Velox
``BinaryResult/PixelSize``, DM ``ImageData/Calibrations``, TIA/ImageJ resolution tags).
"""

from __future__ import annotations

import json

import dask.array as da
import h5py
import numpy as np
import pytest

from tem_denoise import io

pytestmark = pytest.mark.realdata

# key: (shape, pixel size in nm, modality)
IMAGES = {
    "velox_haadf": ((512, 512), 5.3024148379916015, "STEM-HAADF"),
    "velox_ceta": ((64, 64), 0.21557341700960705, "HRTEM"),
    "au_haadf": ((2048, 2048), 0.0074984014901309905, "STEM-HAADF"),
    "mos2_dm3": ((1024, 1024), 0.0126953125, "STEM-HAADF"),
    "dm3_stem": ((68, 68), 0.24853801727294922, "STEM-HAADF"),
    "ser_image": ((128, 128), 5.261214205047081, None),
    "tif_imagej": ((68, 68), 168.67471098853332, None),
}


@pytest.mark.parametrize("key", sorted(IMAGES))
def test_2d_images_open_as_2d_with_file_pixel_size(real, key):
    shape, pixel_nm, modality = IMAGES[key]
    stack = io.read(real(key))
    assert stack.shape == shape
    assert not stack.is_stack and isinstance(stack.data, np.ndarray)
    assert stack.calibration.pixel_size == pytest.approx((pixel_nm,) * 2, rel=1e-6)
    assert stack.units == ("nm", "nm") and stack.axis_labels == ("y", "x")
    assert stack.modality == modality
    assert stack.metadata, "original metadata is kept"


def test_velox_pixel_size_matches_binaryresult_metadata(real):
    """Cross-check against the Velox JSON metadata read directly with h5py."""
    path = real("velox_haadf")
    with h5py.File(path) as f:
        group = next(iter(f["Data/Image"].values()))
        raw = group["Metadata"][:, 0].tobytes().decode("utf-8", "ignore").rstrip("\x00")
    width_m = float(json.loads(raw)["BinaryResult"]["PixelSize"]["width"])
    assert io.read(path).calibration.pixel_size == pytest.approx((width_m * 1e9,) * 2, rel=1e-9)


def test_velox_frame_stack_is_lazy_t_y_x_in_nm_and_seconds(real):
    stack = io.read(real("velox_stack"))
    assert stack.shape == (2, 3, 3)
    assert isinstance(stack.data, da.Array)
    assert stack.axis_labels == ("t", "y", "x")
    assert stack.units == ("s", "nm", "nm")
    assert stack.scale == pytest.approx((0.8, 0.008172883192297852, 0.008172883192297852))
    assert stack.modality == "HRTEM"


def test_ser_and_imagej_stacks(real):
    ser = io.read(real("ser_stack"))
    assert ser.shape == (5, 64, 64) and isinstance(ser.data, da.Array)
    assert ser.calibration.pixel_size == pytest.approx((6.281833616298531,) * 2)
    tif = io.read(real("tif_imagej_stack"))
    assert tif.shape == (2, 68, 68)
    assert tif.calibration.pixel_size == pytest.approx((168.67471098853332,) * 2)


def test_velox_file_with_several_images_opens_each_by_name(real):
    with pytest.warns(io.SkippedDatasetWarning, match="complex"):
        stacks = io.read_all(real("velox_dpc"))
    names = [s.name for s in stacks]
    assert len(stacks) == 8 and "iDPC" in names and "DF4-A" in names and "DPC" not in names
    assert all(s.calibration.pixel_size == pytest.approx((0.09961992,) * 2) for s in stacks)


def test_ncem_file_keeps_stacks_and_leaves_out_4d(real):
    with pytest.warns(io.SkippedDatasetWarning, match="4D"):
        stacks = io.read_all(real("ncem_multi"))
    assert [s.name for s in stacks] == ["annular_detector", "ppotential"]
    assert stacks[0].shape == (2, 22, 22) and stacks[0].calibration.pixel_size == pytest.approx((0.25,) * 2)


@pytest.mark.parametrize(
    ("key", "reason"),
    [
        ("velox_spectrum", "no datasets"),
        ("velox_fft", "complex"),
        ("ncem_4d", "5D data"),
        ("dm3_spectrum", "1D"),
        ("dm4_eels_si", "energy axis"),
        ("ser_spectrum_image", "energy axis"),
        ("tif_rgb", "RGB"),
    ],
)
def test_non_image_data_is_refused_with_a_reason(real, key, reason):
    path = real(key)
    with pytest.raises(io.ReadError, match=reason) as info:
        io.read(path)
    assert path.name in str(info.value)


def test_uncalibrated_dm4_gets_pixel_units(real):
    stack = io.read(real("dm4_image"))
    assert stack.units == ("pixel", "pixel") and stack.scale == (1.0, 1.0)
    assert stack.calibration.pixel_size is None


@pytest.mark.parametrize(("key", "frames", "interval_s"), [("velox_si", 5, 0.0416), ("velox_si_4detectors", 2, 16.384)])
def test_velox_frames_recorded_with_a_spectrum_image_open_as_a_stack(real, key, frames, interval_s):
    """The HAADF frames Velox stores beside an EDS spectrum image (read with ``sparse``) open
    as a (t, y, x) stack whose first frame is the image stored in the file."""
    path = real(key)
    stack = io.read(path)
    assert stack.name == "HAADF" and stack.modality == "STEM-HAADF"
    assert stack.n_frames == frames and stack.axis_labels == ("t", "y", "x")
    assert stack.units == ("s", "nm", "nm") and stack.frame_interval == pytest.approx(interval_s)
    with h5py.File(path) as f:
        (group,) = f["Data/Image"].values()
        stored = group["Data"][:, :, 0]
    np.testing.assert_array_equal(np.asarray(stack.data[0]), stored)
