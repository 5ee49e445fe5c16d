"""HyperSpy ``.hspy`` / ``.hdf5`` files open through RosettaSciIO with their axes in nm."""

from __future__ import annotations

import dask.array as da
import h5py
import numpy as np
import pytest

from hyperspy_writer import axis, write_hspy
from tem_denoise import io


def test_hspy_image_stack_opens_lazily_as_t_y_x_in_nm_and_seconds(tmp_path):
    data = np.random.default_rng(0).poisson(5, (3, 8, 10)).astype(np.uint16)
    axes = [axis("Time", "ms", 50.0, navigate=True), axis("y", "Å", 0.5, offset=1.0), axis("x", "Å", 0.5)]
    path = write_hspy(tmp_path / "series.hspy", data, axes,
                       metadata={"Acquisition_instrument": {"TEM": {"acquisition_mode": "STEM"}}})
    stack = io.read(path)
    assert stack.name == "HAADF series" and stack.shape == (3, 8, 10)
    assert isinstance(stack.data, da.Array)
    np.testing.assert_array_equal(np.asarray(stack.data), data)
    assert stack.axis_labels == ("t", "y", "x") and stack.units == ("s", "nm", "nm")
    assert stack.scale == pytest.approx((0.05, 0.05, 0.05))
    assert stack.translate == pytest.approx((0.0, 0.1, 0.0))
    assert stack.modality == "STEM-HAADF"
    assert stack.provenance["reader"] == "rsciio.hspy (HyperSpy)"


def test_hdf5_extension_and_tem_acquisition_mode(tmp_path):
    data = np.ones((6, 7), np.float32)
    path = write_hspy(tmp_path / "image.hdf5", data, [axis("y", "nm", 0.02), axis("x", "nm", 0.02)],
                       title="Ceta", metadata={"Acquisition_instrument": {"TEM": {"acquisition_mode": "TEM"}}})
    stack = io.read(path)
    assert stack.shape == (6, 7) and stack.calibration.pixel_size == pytest.approx((0.02, 0.02))
    assert stack.modality == "HRTEM"


def test_hspy_spectrum_image_without_energy_units_is_refused(tmp_path):
    """A spectrum image whose energy axis has no unit is still not an image stack: the file
    marks one signal axis (navigate False) and two navigation axes."""
    data = np.ones((4, 5, 30), np.float32)
    axes = [axis("y", "nm", 1.0, navigate=True), axis("x", "nm", 1.0, navigate=True), axis("E", "", 1.0)]
    path = write_hspy(tmp_path / "si.hspy", data, axes, title="EDS map")
    with pytest.raises(io.ReadError, match="si.hspy.*signal is 1D"):
        io.read(path)


def test_hdf5_file_not_from_hyperspy_is_a_clear_read_error(tmp_path):
    path = tmp_path / "plain.hdf5"
    with h5py.File(path, "w") as f:
        f["data"] = np.zeros((4, 4))
    with pytest.raises(io.ReadError, match="plain.hdf5.*HyperSpy"):
        io.read(path)


@pytest.mark.realdata
def test_real_hyperspy_hologram_keeps_its_calibration(real):
    path = real("hspy_hologram")
    with h5py.File(path) as f:
        (group,) = f["Experiments"].values()
        scale, units = group["axis-1"].attrs["scale"], group["axis-1"].attrs["units"]
    assert units == "nm"
    stack = io.read(path)
    assert stack.shape == (512, 512) and stack.units == ("nm", "nm")
    assert stack.calibration.pixel_size == pytest.approx((scale, scale), rel=1e-12)
    assert stack.name == "Vacuum reference hologram"


@pytest.mark.realdata
def test_real_hyperspy_files_reciprocal_image_and_refused_spectrum(real):
    pattern = io.read(real("hspy_diffraction"))
    assert pattern.shape == (16, 16) and pattern.units == ("1/nm", "1/nm")
    with pytest.raises(io.ReadError, match="example1_v1.2.hdf5.*1D"):
        io.read(real("hspy_eels"))
