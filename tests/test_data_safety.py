"""No command or API writer can destroy raw data, and an interrupted write leaves nothing partial."""

from __future__ import annotations

import gc
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

from tem_denoise import io
from tem_denoise.cli import main
from tem_denoise.outputs import OutputError, atomic_path, refuse_inputs


@pytest.fixture
def raw(tmp_path, small_stack) -> Path:
    """A raw calibrated stack on disk, the file no command may touch."""
    return io.write(small_stack, tmp_path / "raw.tif")


def _as_link(kind: str, raw: Path) -> Path:
    """``raw`` itself, a symbolic link to it or a hard link of it."""
    if kind == "same":
        return raw
    link = raw.with_name(f"{kind}.tif")
    (os.symlink if kind == "symlink" else os.link)(raw, link)
    return link


def _noise_json(tmp_path: Path) -> Path:
    from tem_denoise.physics import HRTEMNoise

    return HRTEMNoise().save(tmp_path / "noise.json")


COMMANDS = {
    "denoise": lambda raw, out: ["denoise", str(raw), "-o", str(out), "--model", "gaussian-2d"],
    "drift": lambda raw, out: ["drift", str(raw), "-o", str(out)],
    "convert": lambda raw, out: ["convert", str(raw), "-o", str(out)],
    "atoms": lambda raw, out: ["atoms", str(raw), "-o", str(out), "--min-separation-px", "3"],
    "profile": lambda raw, out: ["profile", str(raw), "--start", "2", "2", "--end", "30", "30", "-o", str(out)],
    "calibrate": lambda raw, out: ["calibrate", str(raw), "-o", str(out)],
}


@pytest.mark.parametrize("link", ["same", "symlink", "hardlink"])
@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_output_onto_an_input_is_refused_and_the_input_is_untouched(raw, command, link, capsys):
    before = raw.read_bytes()
    target = _as_link(link, raw)
    assert main(COMMANDS[command](raw, target)) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: refusing to write") and "nothing was written" in err
    assert err.count("\n") == 1
    assert raw.read_bytes() == before


def test_drift_refuses_a_shifts_csv_or_estimate_stack_that_is_an_output(raw, tmp_path, capsys):
    before = raw.read_bytes()
    shifted = tmp_path / "raw_shifts.csv"
    shifted.write_text("frame,dy_px,dx_px\n")
    assert main(["drift", str(raw), "-o", str(tmp_path / "raw.tif"), "--shifts", str(shifted)]) == 2
    assert main(["drift", str(raw), "-o", str(tmp_path / "out.tif"),
                 "--estimate-on", str(tmp_path / "out.tif")]) == 2
    assert raw.read_bytes() == before
    assert not (tmp_path / "out.tif").exists()


def test_synth_refuses_to_overwrite_its_noise_model(tmp_path, capsys):
    noise = _noise_json(tmp_path)
    renamed = noise.rename(tmp_path / "params.json")
    before = renamed.read_bytes()
    assert main(["synth", "-n", "1", "--size", "32", "--noise", str(renamed), "-o", str(tmp_path)]) == 2
    assert renamed.read_bytes() == before
    assert "refusing to write" in capsys.readouterr().err


def test_denoise_refuses_two_inputs_that_would_share_an_output(tmp_path, small_stack, capsys):
    first = io.write(small_stack, tmp_path / "a" / "x.tif")
    second = io.write(small_stack, tmp_path / "b" / "x.tif")
    assert main(["denoise", str(first), str(second), "-o", str(tmp_path / "out"), "--model", "gaussian-2d"]) == 2
    assert "same output" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_api_writer_refuses_the_source_file(raw):
    before = raw.read_bytes()
    with pytest.raises(OutputError, match="is an input"):
        io.write(io.read(raw), raw)
    with pytest.raises(OutputError, match="same file as"):
        io.write(io.read(raw), _as_link("symlink", raw))
    assert raw.read_bytes() == before
    assert io.read(raw).shape == (4, 40, 56)


def test_refuse_inputs_ignores_missing_and_distinct_paths(tmp_path, raw):
    refuse_inputs([tmp_path / "new.tif", None], [raw, None])
    with pytest.raises(OutputError):
        refuse_inputs([tmp_path / "sub" / ".." / "raw.tif"], [raw])


def _failing_frames(after: int, error: type[BaseException]):
    """A replacement for the TIFF frame generator that fails after ``after`` frames."""
    from tem_denoise.io import tiff

    original = tiff._frames

    def frames(stack, dtype):
        for index, plane in enumerate(original(stack, dtype)):
            if index == after:
                raise error("stopped in the middle of the write")
            yield plane

    return frames


@pytest.mark.parametrize("error", [KeyboardInterrupt, OSError])
def test_interrupted_write_keeps_the_previous_file_and_leaves_no_partial(tmp_path, small_stack, monkeypatch, error):
    from tem_denoise.io import tiff

    target = io.write(small_stack, tmp_path / "out.tif")
    before = target.read_bytes()
    monkeypatch.setattr(tiff, "_frames", _failing_frames(2, error))
    with pytest.raises(error):
        io.write(small_stack.derive(small_stack.data * 2, "doubled", {"operation": "x2"}), target)
    assert target.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.tif"]


def test_interrupted_cli_says_so_and_writes_nothing(tmp_path, raw, monkeypatch, capsys):
    from tem_denoise.io import tiff

    monkeypatch.setattr(tiff, "_frames", _failing_frames(1, KeyboardInterrupt))
    out = tmp_path / "out"
    gc.collect()  # lazy stacks left by earlier tests would print "warning: unclosed file" mid-command
    assert main(["convert", str(raw), "-o", str(out / "copy.tif")]) == 130
    err = capsys.readouterr().err
    assert err.startswith("interrupted") and err.count("\n") == 1
    assert list(out.iterdir()) == []


SLOW_CONVERT = textwrap.dedent("""
    import sys, time
    from tem_denoise.io import tiff
    from tem_denoise.cli import main
    original = tiff._frames
    def slow(stack, dtype):
        for plane in original(stack, dtype):
            time.sleep(0.5)
            yield plane
    tiff._frames = slow
    sys.exit(main(["convert", sys.argv[1], "-o", sys.argv[2]]))
""")


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_signal_during_a_write_leaves_no_output(tmp_path, raw, signum):
    out = tmp_path / "out"
    out.mkdir()
    process = subprocess.Popen([sys.executable, "-c", SLOW_CONVERT, str(raw), str(out / "copy.tif")],
                               stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while not any(out.iterdir()) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert any(out.iterdir()), "the write never started"
    process.send_signal(signum)
    _, err = process.communicate(timeout=60)
    assert process.returncode == 130
    assert "interrupted" in err and "Traceback" not in err
    assert list(out.iterdir()) == []


def test_atomic_path_replaces_in_one_step(tmp_path):
    target = tmp_path / "deep" / "table.csv"
    with atomic_path(target) as temporary:
        assert temporary.parent == target.parent and temporary.suffix == ".csv"
        temporary.write_text("a,b\n")
        assert not target.exists()
    assert target.read_text() == "a,b\n"
    with pytest.raises(OutputError, match="is a folder"):
        with atomic_path(tmp_path):
            pass


def test_every_writer_is_atomic(tmp_path, monkeypatch):
    """CSV tables, noise models, model cards and figures all go through a temporary file."""
    from tem_denoise import outputs
    from tem_denoise.analysis import write_csv
    from tem_denoise.figures import save_panels
    from tem_denoise.models.card import write_card
    from tem_denoise.models.registry import get_card

    seen = []
    original = outputs.atomic_path

    def spy(path):
        seen.append(Path(path).name)
        return original(path)

    for module in ("tem_denoise.outputs", "tem_denoise.analysis.table", "tem_denoise.figures"):
        monkeypatch.setattr(f"{module}.atomic_path", spy)
    write_csv(tmp_path / "t.csv", {"a": np.arange(3)})
    _noise_json(tmp_path)
    write_card(get_card("gaussian-2d"), tmp_path / "card.json")
    stack = io.Stack.from_array(np.ones((8, 8), np.float32))
    save_panels([("one", stack)], tmp_path / "p.png")
    assert seen == ["t.csv", "noise.json", "card.json", "p.png"]
    assert json.loads((tmp_path / "card.json").read_text())["name"] == "gaussian-2d"
