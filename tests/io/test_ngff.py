"""OME-Zarr folders through ``io.read``: calibration, provenance and laziness kept; others refused."""

from __future__ import annotations

import dask.array as da
import numpy as np
import pytest
import zarr

from tem_denoise import io
from tem_denoise.io import ngff


def _store(path, stack: io.Stack, write: bool = True):
    """An OME-Zarr image of ``stack`` as tem_denoise writes it (all frames, or none)."""
    ngff.create(path, stack, io.provenance(stack, model="gaussian-3d"))
    if write:
        zarr.open_array(path / ngff.ARRAY, mode="r+")[...] = np.asarray(stack.data)
    return path


def _v04(path, data: np.ndarray, axes: list[dict], scale: list[float], translation: list[float]):
    """An OME-NGFF 0.4 image (zarr v2) as other programs write it: full resolution at ``s0``."""
    group = zarr.open_group(path, mode="w", zarr_format=2)
    group.create_array("s0", data=data, chunks=data.shape)
    transforms = [{"type": "scale", "scale": scale}, {"type": "translation", "translation": translation}]
    group.attrs["multiscales"] = [{"version": "0.4", "name": "scan", "axes": axes,
                                   "datasets": [{"path": "s0", "coordinateTransformations": transforms}]}]
    return path


def test_a_stack_reads_back_lazily_with_calibration_origin_and_provenance(tmp_path, small_stack):
    small_stack.translate = (0.0, 1.5, 2.0)
    small_stack.modality = "STEM-HAADF"
    path = _store(tmp_path / "frames_denoised.ome.zarr", small_stack)
    back = io.read(path)
    assert isinstance(back.data, da.Array) and back.data.chunksize == (1, 40, 56)
    np.testing.assert_array_equal(np.asarray(back.data), small_stack.data)
    assert back.axis_labels == ("t", "y", "x") and back.units == ("s", "nm", "nm")
    assert back.scale == pytest.approx((0.1, 0.05, 0.05)) and back.translate == pytest.approx((0.0, 1.5, 2.0))
    assert back.name == "frames" and back.modality == "STEM-HAADF"
    assert back.provenance["source"] == str(path) and back.provenance["reader"] == "zarr (OME-NGFF 0.5)"
    assert back.provenance["written_by"]["model"] == "gaussian-3d"
    assert io.read_provenance(path) == back.provenance["written_by"]


def test_a_single_image_is_read_into_memory(tmp_path, small_stack):
    image = io.Stack.from_array(small_stack.data[0], pixel_size=0.03, name="image")
    back = io.read(_store(tmp_path / "image.ome.zarr", image))
    assert isinstance(back.data, np.ndarray) and back.shape == (40, 56)
    assert back.axis_labels == ("y", "x") and back.scale == pytest.approx((0.03, 0.03))


def test_an_uncalibrated_stack_stays_in_pixels(tmp_path, small_stack):
    bare = io.Stack.from_array(small_stack.data, name="bare")
    back = io.read(_store(tmp_path / "bare.ome.zarr", bare))
    assert back.units == ("pixel", "pixel", "pixel") and back.scale == (1.0, 1.0, 1.0)


def test_ngff_04_from_another_program_converts_units_and_drops_a_single_channel(tmp_path):
    data = np.arange(5 * 16 * 16, dtype=np.uint16).reshape(5, 1, 16, 16)
    axes = [{"name": "t", "type": "time", "unit": "millisecond"}, {"name": "c", "type": "channel"},
            {"name": "y", "type": "space", "unit": "micrometer"}, {"name": "x", "type": "space", "unit": "micrometer"}]
    path = _v04(tmp_path / "scan.zarr", data, axes, [20.0, 1.0, 0.002, 0.002], [0.0, 0.0, 0.1, 0.2])
    back = io.read(path)
    assert back.shape == (5, 16, 16) and back.units == ("s", "nm", "nm")
    assert back.scale == pytest.approx((0.02, 2.0, 2.0)) and back.translate == pytest.approx((0.0, 100.0, 200.0))
    assert back.name == "scan" and back.provenance["reader"] == "zarr (OME-NGFF 0.4)"
    assert "written_by" not in back.provenance and back.modality is None
    np.testing.assert_array_equal(np.asarray(back.data), data[:, 0])


def test_frames_never_written_are_reported_as_nan(tmp_path, small_stack):
    path = _store(tmp_path / "empty.ome.zarr", small_stack, write=False)
    with pytest.warns(io.NonFinitePixelsWarning, match="NaN/Inf pixels in the first frame"):
        io.read(path)


@pytest.mark.parametrize(("make", "message"), [
    (lambda p: p.write_bytes(b"zarr"), "is a file; an OME-Zarr image is a folder"),
    (lambda p: p.mkdir(), "as an OME-Zarr image"),
    (lambda p: zarr.open_group(p, mode="w"), "not an OME-Zarr image (no 'multiscales' metadata)"),
    (lambda p: _v04(p, np.zeros((3, 8, 8), np.float32), [{"name": "c", "type": "channel"}, {"name": "y"},
                                                         {"name": "x"}], [1, 1, 1], [0, 0, 0]),
     "multi-channel image (c=3, y=8, x=8)"),
    (lambda p: _v04(p, np.zeros((2, 3, 8, 8), np.float32), [{"name": n} for n in "tzyx"], [1] * 4, [0] * 4),
     "has 4 axes longer than 1"),
])
def test_what_is_not_one_image_is_refused_in_one_line(tmp_path, make, message):
    path = tmp_path / "bad.ome.zarr"
    make(path)
    with pytest.raises(io.ReadError, match=message.replace("(", r"\(").replace(")", r"\)")) as caught:
        io.read(path)
    assert "\n" not in str(caught.value)


def test_stem_drops_the_format_suffix():
    assert [io.stem(p) for p in ("a/m.ome.zarr", "m.zarr", "m.OME.ZARR", "m.tif", "m.v2.tif")] == [
        "m", "m", "m", "m", "m.v2"]


def test_a_store_whose_array_differs_from_its_recorded_shape_is_refused(tmp_path, small_stack):
    path = _store(tmp_path / "frames.ome.zarr", small_stack)
    group = zarr.open_group(path, mode="r+")
    group.attrs[ngff.PROVENANCE_KEY] = {**group.attrs[ngff.PROVENANCE_KEY], "shape": [9, 40, 56]}
    with pytest.raises(io.ReadError, match=r"written with shape \(9, 40, 56\) but \(4, 40, 56\) could be read"):
        io.read(path)
