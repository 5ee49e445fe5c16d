"""Reading guards: one error contract, damaged metadata ignored with a warning, incomplete files
refused, hostile headers refused before anything is allocated (issue #10, reading side)."""

from __future__ import annotations

import errno
import json
import os
import threading
import time

import h5py
import numpy as np
import pytest
import tifffile

from tem_denoise import io
from tem_denoise.io import headers
from tem_denoise.napari_hooks import get_reader

POSIX_ONLY = pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="FIFOs and /dev need POSIX")
SIX_FRAMES = io.Stack.from_array(
    np.random.default_rng(3).normal(100, 5, (6, 48, 40)).astype(np.float32),
    pixel_size=0.05, frame_interval=0.2,
)


def _quick(call, seconds: float = 5.0):
    """Run ``call`` and assert that it returned or raised within ``seconds``."""
    start = time.monotonic()
    try:
        return call()
    finally:
        assert time.monotonic() - start < seconds, f"took {time.monotonic() - start:.1f} s"


def _set_imagej(path, key: str, value: str) -> None:
    """Set ``key=value`` in the ImageJ description of ``path``'s first page."""
    with tifffile.TiffFile(path, mode="r+") as tif:
        tag = tif.pages.first.tags["ImageDescription"]
        lines = [line for line in tag.value.splitlines() if not line.startswith(f"{key}=")]
        tag.overwrite("\n".join([*lines, f"{key}={value}"]) + "\n")


def _own_tiff(tmp_path, stack=SIX_FRAMES):
    return io.write(stack, tmp_path / "own.tif")


# --- one error contract -------------------------------------------------------------------------


def test_folder_named_like_a_file(tmp_path):
    folder = tmp_path / "stack.emd"
    folder.mkdir()
    with pytest.raises(io.ReadError, match="stack.emd' is a folder"):
        io.read(folder)
    assert get_reader(str(folder)) is None


@POSIX_ONLY
@pytest.mark.parametrize("suffix", [".tif", ".emd", ".mrc", ".ser"])
def test_fifo_is_refused_without_blocking(tmp_path, suffix):
    fifo = tmp_path / f"pipe{suffix}"
    os.mkfifo(fifo)
    outcome = []
    reader = threading.Thread(target=lambda: outcome.append(_error_of(lambda: io.read(fifo))), daemon=True)
    reader.start()
    reader.join(timeout=5)
    assert not reader.is_alive(), "reading a FIFO blocked"
    assert isinstance(outcome[0], io.ReadError) and "not a regular file" in str(outcome[0])
    assert get_reader(str(fifo)) is None


def _error_of(call):
    try:
        call()
    except Exception as exc:
        return exc
    return None


@POSIX_ONLY
def test_device_loop_and_dangling_links(tmp_path):
    device, loop, dangling = tmp_path / "zero.mrc", tmp_path / "a.tif", tmp_path / "gone.dm3"
    device.symlink_to("/dev/zero")
    loop.symlink_to(tmp_path / "b.tif")
    (tmp_path / "b.tif").symlink_to(loop)
    dangling.symlink_to(tmp_path / "missing.dm3")
    with pytest.raises(io.ReadError, match="zero.mrc' is not a regular file"):
        _quick(lambda: io.read(device))
    with pytest.raises(io.ReadError, match="a.tif' is a loop of symbolic links"):
        io.read(loop)
    with pytest.raises(io.ReadError, match="gone.dm3' does not exist"):
        io.read(dangling)
    assert get_reader(str(device)) is get_reader(str(loop)) is get_reader(str(dangling)) is None


@pytest.mark.parametrize("suffix", [".tif", ".emd", ".dm3", ".mrc", ".ser", ".emi"])
def test_permission_denied_is_a_read_error(tmp_path, monkeypatch, suffix):
    path = tmp_path / f"locked{suffix}"
    path.write_bytes(b"\0" * 2048)

    def denied(*args, **kwargs):
        raise PermissionError(errno.EACCES, "Permission denied", str(path))

    monkeypatch.setattr(headers, "open", denied, raising=False)
    with pytest.raises(io.ReadError, match=f"locked{suffix}' cannot be read: permission denied"):
        io.read(path)


def test_get_reader_never_raises(tmp_path, monkeypatch):
    path = io.write(SIX_FRAMES, tmp_path / "ok.tif")
    assert get_reader(str(path)) is not None and get_reader([str(path), path]) is not None
    for odd in (None, 42, [], [None], "", "no\0file.tif", [str(path), 7]):
        assert get_reader(odd) is None

    def denied(*args, **kwargs):
        raise PermissionError(errno.EACCES, "Permission denied")

    monkeypatch.setattr("tem_denoise.napari_hooks.os.stat", denied)
    assert get_reader(str(path)) is None


# --- damaged metadata is ignored with a warning ------------------------------------------------


@pytest.mark.parametrize(
    ("key", "value", "ignored"),
    [
        ("tem_denoise", "{broken", "provenance record"),
        ("tem_denoise", "[1, 2]", "provenance record"),
        ("tem_denoise", '{"origin": 5}', "recorded origin"),
        ("tem_denoise", '{"modality": 7}', "recorded modality"),
        ("tem_denoise", '{"origin": {"translate": ["a", 1, 2], "units": ["s", "nm", "nm"]}}', "origin"),
        ("finterval", "abc", "frame interval 'abc'"),
        ("finterval", "-1", "frame interval -1"),
        ("unit", "5", "ImageJ unit 5"),
        ("images", "abc", "images='abc'"),
    ],
)
def test_damaged_imagej_keys_warn_and_pixels_open(tmp_path, key, value, ignored):
    path = _own_tiff(tmp_path)
    _set_imagej(path, key, value)
    with pytest.warns(io.MetadataWarning, match=ignored):
        stack = io.read(path)
    np.testing.assert_array_equal(np.asarray(stack.data), SIX_FRAMES.data)


def test_damaged_frame_interval_leaves_time_uncalibrated(tmp_path):
    path = _own_tiff(tmp_path)
    _set_imagej(path, "finterval", "nan")
    with pytest.warns(io.MetadataWarning, match="frame interval"):
        stack = io.read(path)
    assert stack.frame_interval is None and stack.calibration.pixel_size == pytest.approx((0.05,) * 2, rel=1e-6)


@pytest.mark.parametrize(
    ("value", "dtype"),
    [((0, 0), None), ((1, 0), None), (float("nan"), 12), ((-5, 1), 10)],
    ids=["zero-zero", "zero-denominator", "nan-double", "negative-srational"],
)
def test_damaged_resolution_tag_warns_and_stays_uncalibrated(tmp_path, value, dtype):
    path = _own_tiff(tmp_path)
    with tifffile.TiffFile(path, mode="r+") as tif:
        tif.pages.first.tags["XResolution"].overwrite(value, dtype=dtype)
    with pytest.warns(io.MetadataWarning, match="XResolution"):
        stack = io.read(path)
    assert stack.calibration.pixel_size is None and stack.shape == SIX_FRAMES.shape


def test_read_provenance_of_damaged_json_is_none_with_a_warning(tmp_path):
    path = _own_tiff(tmp_path)
    assert io.read_provenance(path)["package"] == "napari-tem-denoise"
    _set_imagej(path, "tem_denoise", '{"package": "napari-tem-denoise",')
    with pytest.warns(io.MetadataWarning, match="damaged JSON"):
        assert io.read_provenance(path) is None
    with pytest.raises(io.ReadError, match="not-a.tif"):
        io.read_provenance(tmp_path / "not-a.tif")


# --- completeness --------------------------------------------------------------------------------


@pytest.mark.parametrize("fraction", [0.3, 0.5, 0.8, 0.9, 0.99])
def test_truncated_own_stack_is_refused_not_one_frame(tmp_path, fraction):
    whole = _own_tiff(tmp_path).read_bytes()
    cut = tmp_path / "cut.tif"
    cut.write_bytes(whole[: int(len(whole) * fraction)])
    with pytest.raises(io.ReadError, match="cut.tif.*(incomplete|truncated)"):
        io.read(cut)


def test_fewer_images_declared_than_read_warns(tmp_path):
    path = _own_tiff(tmp_path)
    _set_imagej(path, "images", "3")
    with pytest.warns(io.MetadataWarning, match="declares 3 images, but 6 frame"):
        stack = io.read(path)
    assert stack.shape == (6, 48, 40)


def test_shape_recorded_in_provenance_is_checked(tmp_path):
    path = _own_tiff(tmp_path)
    record = io.read_provenance(path)
    _set_imagej(path, "tem_denoise", json.dumps({**record, "shape": [9, 48, 40]}))
    with pytest.raises(io.ReadError, match=r"written with shape \(9, 48, 40\)"):
        io.read(path)
    _set_imagej(path, "tem_denoise", json.dumps({**record, "shape": [6, 48, 40]}))
    assert io.read(path).shape == (6, 48, 40)


# --- guards before work ------------------------------------------------------------------------


def test_frame_budget_default_and_override(monkeypatch):
    monkeypatch.delenv(headers.BUDGET_VARIABLE, raising=False)
    monkeypatch.setattr("tem_denoise.io.headers.available_bytes", lambda: 8 << 30)
    assert headers.frame_budget() == 2 << 30
    monkeypatch.setenv(headers.BUDGET_VARIABLE, "1e6")
    assert headers.frame_budget() == 1_000_000
    monkeypatch.setenv(headers.BUDGET_VARIABLE, "lots")
    with pytest.warns(io.MetadataWarning, match="not a number of bytes"):
        assert headers.frame_budget() == 2 << 30


def _ncem(path, shape, written=None, chunks=None):
    """A minimal NCEM EMD file whose one dataset declares ``shape`` (x, y[, t]: NCEM order, read
    back as (t, y, x)), with the frames ``written`` (x, y, n) stored first along the last axis."""
    with h5py.File(path, "w") as f:
        f.attrs["version_major"], f.attrs["version_minor"] = 0, 2
        group = f.create_group("data/frames")
        group.attrs["emd_group_type"] = 1
        data = group.create_dataset("data", shape=shape, dtype="float32", chunks=chunks)
        if written is not None:
            data[..., : written.shape[-1]] = written
        for axis, n in enumerate(shape, start=1):
            group.create_dataset(f"dim{axis}", data=np.arange(n if n <= 1000 else 4, dtype="float32"))
    return path


def test_small_ncem_file_declaring_a_huge_image_fails_fast(tmp_path):
    for layout in (None, (64, 64)):
        path = _ncem(tmp_path / f"huge{bool(layout)}.emd", (200_000, 200_000), chunks=layout)
        assert path.stat().st_size < 64_000
        with pytest.raises(io.ReadError, match="reading budget|more than the whole file"):
            _quick(lambda p=path: io.read(p))


def test_ncem_stack_declaring_100000_frames_fails_fast(tmp_path):
    frames = np.ones((22, 22, 2), np.float32)
    path = _ncem(tmp_path / "stack.emd", (22, 22, 100_000), written=frames, chunks=(22, 22, 1))
    with pytest.raises(io.ReadError, match="only 2 of its 100,000 chunks"):
        _quick(lambda: io.read(path))


def test_missing_chunks_within_the_file_size_are_flagged(tmp_path):
    frames = np.ones((22, 22, 2), np.float32)
    path = _ncem(tmp_path / "stopped.emd", (22, 22, 3), written=frames, chunks=(22, 22, 1))
    with pytest.warns(io.MetadataWarning, match="only 2 of its 3 chunks"):
        assert io.read(path).shape == (3, 22, 22)


def _mrc(tmp_path, frames=5):
    mrcfile = pytest.importorskip("mrcfile")
    path = tmp_path / "frames.mrc"
    with mrcfile.new(path) as mrc:
        mrc.set_data(np.zeros((frames, 32, 24), np.float32))
    return path


@pytest.mark.parametrize(
    ("offset", "value", "message"),
    [
        (0, 2**31 - 1, "incomplete"),
        (8, 100_000, "incomplete"),
        (8, 0, "zero dimension"),
        (12, 101, "data mode 101"),
        (92, 2**31, "incomplete"),
    ],
    ids=["nx", "nz", "nz-zero", "mode", "extended-header"],
)
def test_mrc_with_bad_dimensions_fails_fast(tmp_path, offset, value, message):
    path = _mrc(tmp_path)
    with open(path, "r+b") as handle:
        handle.seek(offset)
        handle.write(np.uint32(value).tobytes())
    with pytest.raises(io.ReadError, match=message):
        _quick(lambda: io.read(path))


def test_mrc_with_more_data_than_declared_warns(tmp_path):
    path = _mrc(tmp_path)
    with open(path, "r+b") as handle:
        handle.seek(8)
        handle.write(np.uint32(3).tobytes())
    with pytest.warns(io.MetadataWarning, match="after the 3 frames"):
        assert io.read(path).shape == (3, 32, 24)


def test_huge_emi_is_refused_unread(tmp_path):
    emi = tmp_path / "session.emi"
    emi.write_bytes(b"<ObjectInfo></ObjectInfo>")
    os.truncate(emi, 3 << 30)  # sparse: costs no disk
    with pytest.raises(io.ReadError, match="3.0 GiB, but a TIA .emi file holds only metadata"):
        _quick(lambda: io.read(emi))


def test_zlib_bomb_is_refused_by_the_frame_budget(tmp_path, monkeypatch):
    path = tmp_path / "bomb.tif"
    tile = np.zeros((512, 512), np.uint8)
    tifffile.imwrite(path, data=(tile for _ in range(64)), shape=(4096, 4096), dtype=np.uint8,
                     tile=(512, 512), compression="zlib")
    assert path.stat().st_size < 100_000
    monkeypatch.setenv(headers.BUDGET_VARIABLE, str(8 << 20))
    with pytest.raises(io.ReadError, match="4096 x 4096 uint8 .* reading budget of 8.0 MiB"):
        _quick(lambda: io.read(path))
    monkeypatch.setenv(headers.BUDGET_VARIABLE, str(64 << 20))
    assert io.read(path).shape == (4096, 4096)


def test_tiff_with_a_circular_page_chain_is_refused_quickly(tmp_path):
    path = _own_tiff(tmp_path)
    with tifffile.TiffFile(path, mode="r+") as tif:
        page = tif.pages.first
        pointer = page.offset + tif.tiff.tagnosize + len(page.tags) * tif.tiff.tagsize
    with open(path, "r+b") as handle:
        handle.seek(pointer)
        handle.write(np.uint32(page.offset).tobytes())
    with pytest.raises(io.ReadError, match="own.tif"):
        _quick(lambda: io.read(path))


def _dm3(tags: bytes, ntags: int = 1) -> bytes:
    """A DM3 file: header, root group of ``ntags`` tags, and 8 closing zero bytes."""
    body = b"\x01\x01" + ntags.to_bytes(4, "big") + tags
    header = (3).to_bytes(4, "big") + (len(body) + 8).to_bytes(4, "big") + (1).to_bytes(4, "big")
    return header + body + bytes(8)


def _data_tag(name: bytes, words: list[int]) -> bytes:
    return b"\x15" + len(name).to_bytes(2, "big") + name + b"%%%%" + b"".join(
        w.to_bytes(4, "big") for w in words)


@pytest.mark.parametrize(
    ("words", "message"),
    [
        ([5, 15, 0, 2**31 - 1], "a struct of 2,147,483,647 items"),
        ([2, 18, 2**30], "a string of 1,073,741,824 items"),
        ([2, 18, 100_000], "incomplete"),
        ([3, 20, 2, 2**30], "an array of 1,073,741,824 items"),
        ([3, 20, 2, 1_000_000], "incomplete"),
        ([1, 99], "value type 99"),
    ],
    ids=["struct-fields", "huge-string", "long-string", "huge-array", "long-array", "value-type"],
)
def test_dm_tag_counts_are_checked_before_parsing(tmp_path, words, message):
    path = tmp_path / "tags.dm3"
    path.write_bytes(_dm3(_data_tag(b"Bad", words) + bytes(64)))
    with pytest.raises(io.ReadError, match=message):
        _quick(lambda: io.read(path))


def test_dm_file_shorter_than_its_header_declares(tmp_path):
    path = tmp_path / "short.dm3"
    path.write_bytes(_dm3(b"", ntags=0)[:-4])
    with pytest.raises(io.ReadError, match="short.dm3' is incomplete"):
        io.read(path)


@pytest.mark.realdata
def test_ser_with_damaged_counts(real, tmp_path):
    source = real("ser_stack").read_bytes()
    for offset, value, message in [(18, 9, "9 valid of 5"), (18, 3, None), (22, 2**32 - 1, "incomplete")]:
        path = tmp_path / "series_1.ser"
        data = bytearray(source)
        data[offset : offset + 4] = np.uint32(value).tobytes()
        path.write_bytes(bytes(data))
        if message:
            with pytest.raises(io.ReadError, match=message):
                _quick(lambda p=path: io.read(p))
        else:
            with pytest.warns(io.MetadataWarning, match="stopped after 3 of 5"):
                assert io.read(path).shape == (3, 64, 64)


@pytest.mark.realdata
def test_velox_file_declaring_a_huge_image_fails_fast(real, tmp_path):
    path = tmp_path / "ceta.emd"
    path.write_bytes(real("velox_ceta").read_bytes())
    with h5py.File(path, "r+") as f:
        group = next(iter(f["Data/Image"].values()))
        del group["Data"]
        group.create_dataset("Data", shape=(100_000, 100_000, 1), dtype="int16")
    assert path.stat().st_size < 200_000
    with pytest.raises(io.ReadError, match="reading budget|more than the whole file"):
        _quick(lambda: io.read(path))


def _set_last_dm_value(data: bytearray, tag: bytes, value: int, word: int) -> int:
    """Set the 4-byte value of the last data tag named ``tag``; return the old value."""
    at = data.index(b"%%%%", data.rindex(tag)) + 4 + 2 * word  # after the two type words
    old = int.from_bytes(data[at : at + 4], "little")
    data[at : at + 4] = value.to_bytes(4, "little")
    return old


@pytest.mark.realdata
def test_dm_dimensions_or_type_that_disagree_with_the_stored_bytes(real, tmp_path):
    """A damaged Dimensions value (68 -> 67) would crop the image silently, a damaged DataType
    (int16 -> float32) would read past it; both are refused."""
    data = bytearray(real("dm3_stem").read_bytes())
    assert _set_last_dm_value(data, b"Dimensions", 67, word=4) == 68
    cropped = tmp_path / "cropped.dm3"
    cropped.write_bytes(bytes(data))
    with pytest.raises(io.ReadError, match=r"cropped.dm3' is damaged: .*67 x 68 of 4-byte values"):
        io.read(cropped)
    data = bytearray(real("dm4_image").read_bytes())
    assert _set_last_dm_value(data, b"DataType", 2, word=8) == 1
    retyped = tmp_path / "retyped.dm4"
    retyped.write_bytes(bytes(data))
    with pytest.raises(io.ReadError, match=r"retyped.dm4' is damaged: .*2 x 2 float32, 16 bytes"):
        io.read(retyped)


def test_tiff_with_pages_of_different_shapes_opens_each_series(tmp_path):
    path = tmp_path / "mixed.tif"
    with tifffile.TiffWriter(path) as tif:
        tif.write(np.ones((8, 8), np.uint8))
        for _ in range(2):
            tif.write(np.ones((64, 48), np.uint16))
    assert sorted(s.shape for s in io.read_all(path)) == [(8, 8), (64, 48), (64, 48)]


def test_single_page_covering_little_of_the_file_is_flagged(tmp_path):
    """A damaged header that ends the chain of pages after page 0 (and wipes the ImageJ
    description) would open one frame of six without a word."""
    path = _own_tiff(tmp_path)
    with tifffile.TiffFile(path, mode="r+") as tif:
        page = tif.pages.first
        pointer = page.offset + tif.tiff.tagnosize + len(page.tags) * tif.tiff.tagsize
        description = page.tags["ImageDescription"].valueoffset
    data = bytearray(path.read_bytes())
    data[pointer : pointer + 4] = bytes(4)
    data[description : description + 16] = bytes(16)
    path.write_bytes(bytes(data))
    with pytest.warns(io.MetadataWarning, match="its only page covers"):
        assert io.read(path).shape == (48, 40)
