"""Bad files get a clear error that names the file (or None from the npe2 reader), never a crash."""

from __future__ import annotations

import shutil

import h5py
import numpy as np
import pytest
import tifffile

from tem_denoise import io
from tem_denoise.napari_hooks import get_reader


def test_unknown_extension_gets_no_reader_and_a_clear_read_error(tmp_path):
    path = tmp_path / "notes.txt"
    path.write_text("hello")
    assert get_reader(str(path)) is None
    assert get_reader([str(path), str(tmp_path / "a.tif")]) is None
    with pytest.raises(io.ReadError, match=r"unsupported extension '\.txt'"):
        io.read(path)


def test_directory_gets_no_reader(tmp_path):
    folder = tmp_path / "stack.tif"
    folder.mkdir()
    assert get_reader(str(folder)) is None


def test_missing_and_empty_files(tmp_path):
    with pytest.raises(io.ReadError, match="does not exist"):
        io.read(tmp_path / "absent.emd")
    empty = tmp_path / "empty.dm4"
    empty.touch()
    with pytest.raises(io.ReadError, match=r"empty.dm4' is empty \(0 bytes\)"):
        io.read(empty)


@pytest.mark.parametrize("suffix", [".emd", ".dm3", ".ser", ".mrc", ".tif"])
def test_garbage_bytes_raise_read_error_naming_file(tmp_path, suffix):
    path = tmp_path / f"garbage{suffix}"
    path.write_bytes(np.random.default_rng(1).integers(0, 255, 4096, dtype=np.uint8).tobytes())
    with pytest.raises(io.ReadError) as info:
        io.read(path)
    assert path.name in str(info.value)


@pytest.mark.realdata
def test_truncated_velox_file(real, tmp_path):
    source = real("velox_haadf")
    truncated = tmp_path / "truncated.emd"
    truncated.write_bytes(source.read_bytes()[: source.stat().st_size // 3])
    with pytest.raises(io.ReadError, match="truncated.emd.*truncated, corrupt"):
        io.read(truncated)


def test_truncated_tiff(tmp_path, small_stack):
    whole = io.write(small_stack, tmp_path / "whole.tif")
    cut = tmp_path / "cut.tif"
    cut.write_bytes(whole.read_bytes()[:2000])
    with pytest.raises(io.ReadError, match="cut.tif"):
        io.read(cut)


def test_emd_without_image_data(tmp_path):
    path = tmp_path / "no_images.emd"
    with h5py.File(path, "w") as f:
        f.attrs["version_major"] = 0
        f.attrs["version_minor"] = 2
        f.create_group("data")
    with pytest.raises(io.ReadError, match="no_images.emd"):
        io.read(path)


def test_rgb_tiff_is_refused(tmp_path):
    path = tmp_path / "colour.tif"
    tifffile.imwrite(path, np.zeros((16, 16, 3), np.uint8), photometric="rgb")
    with pytest.raises(io.ReadError, match="RGB colour image"):
        io.read(path)


def test_non_finite_pixels_are_kept_and_warned(tmp_path):
    data = np.ones((8, 8), np.float32)
    data[2, 3], data[5, 5] = np.nan, np.inf
    path = tmp_path / "holes.tif"
    tifffile.imwrite(path, data)
    with pytest.warns(io.NonFinitePixelsWarning, match="2 NaN/Inf pixels"):
        stack = io.read(path)
    assert np.isnan(stack.data[2, 3]) and np.isinf(stack.data[5, 5])


def test_zero_size_arrays_are_refused():
    with pytest.raises(ValueError, match="empty"):
        io.Stack.from_array(np.zeros((0, 8), np.float32))
    with pytest.raises(ValueError, match="2D image .* or a stack"):
        io.Stack.from_array(np.zeros((2, 2, 2, 2), np.float32))


def test_reader_error_in_napari_terms(tmp_path):
    """The npe2 reader raises the same clear ReadError, which napari shows as a notification."""
    path = tmp_path / "broken.emd"
    shutil.copyfile(__file__, path)
    reader = get_reader(str(path))
    assert reader is not None
    with pytest.raises(io.ReadError, match="broken.emd"):
        reader(str(path))
