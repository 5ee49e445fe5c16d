"""Which files a batch takes, and where their outputs go."""

from __future__ import annotations

import pytest

from tem_denoise.batch.inputs import expand_inputs, output_bases
from tem_denoise.outputs import OutputError


def _touch(path):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"")
    return path


def test_folders_and_globs_give_readable_visible_files_once_and_not_the_outputs(tmp_path):
    a, b = _touch(tmp_path / "data" / "a.tif"), _touch(tmp_path / "data" / "b.emd")
    _touch(tmp_path / "data" / "notes.txt")
    _touch(tmp_path / "data" / ".a.tif.partial-1234.tif")
    deep = _touch(tmp_path / "data" / "sub" / "c.dm4")
    _touch(tmp_path / "data" / "out" / "a_denoised.tif")
    files = expand_inputs([str(tmp_path / "data"), str(tmp_path / "data" / "**" / "*.*"), str(a)],
                          tmp_path / "data" / "out")
    assert files == [a, b, deep]


def test_a_folder_or_pattern_with_nothing_readable_is_refused(tmp_path):
    _touch(tmp_path / "data" / "notes.txt")
    with pytest.raises(ValueError, match="gives no readable file"):
        expand_inputs([str(tmp_path / "data")], tmp_path / "out")


def test_two_inputs_with_one_name_or_an_output_onto_an_input_are_refused(tmp_path):
    one, two = _touch(tmp_path / "x" / "m.tif"), _touch(tmp_path / "y" / "m.tif")
    with pytest.raises(OutputError, match="share a file name"):
        output_bases([one, two], tmp_path / "out")
    earlier = _touch(tmp_path / "out" / "m_denoised.tif")
    link = tmp_path / "z" / "m.tif"
    link.parent.mkdir()
    link.symlink_to(earlier)  # an input that is the output it would be written to
    with pytest.raises(OutputError, match="is an input"):
        output_bases([link], tmp_path / "out")
    assert output_bases([one], tmp_path / "out") == [tmp_path / "out" / "m_denoised"]
