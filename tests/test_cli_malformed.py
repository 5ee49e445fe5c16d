"""Malformed invocations: every one ends in a one-line message and a non-zero status, never a traceback."""

from __future__ import annotations

import numpy as np
import pytest

from tem_denoise import io
from tem_denoise.cli import main


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """A raw stack, a single image, a text file, a folder and a noise JSON to call commands with."""
    from tem_denoise.physics import HRTEMNoise

    folder = tmp_path_factory.mktemp("malformed")
    rng = np.random.default_rng(0)
    stack = io.Stack.from_array(rng.poisson(20, (4, 32, 32)).astype(np.float32), pixel_size=0.05)
    image = io.Stack.from_array(rng.poisson(20, (32, 32)).astype(np.float32), pixel_size=0.05)
    small = io.Stack.from_array(rng.poisson(20, (3, 16, 16)).astype(np.float32), pixel_size=0.05)
    paths = {
        "stack": io.write(stack, folder / "stack.tif"),
        "image": io.write(image, folder / "image.tif"),
        "small": io.write(small, folder / "small.tif"),
        "noise": HRTEMNoise().save(folder / "noise.json"),
        "dir": folder / "adir.tif",
        "text": folder / "notes.txt",
        "out": folder / "out",
    }
    paths["dir"].mkdir()
    paths["text"].write_text("hello")
    return {key: str(value) for key, value in paths.items()}


CALLS = [
    "info {missing}", "info {dir}", "info {text}", "info {noise}",
    "convert {missing} -o {out}/x.tif", "convert {stack} -o {noise}", "convert {stack} -o {out}/x.png",
    "convert {stack} -o {dir}",
    "denoise {missing} -o {out}/d.tif", "denoise {stack} -o {out}/d.png", "denoise {stack} -o {noise}",
    "denoise {stack} -o {out}/d.tif --model nope", "denoise {stack} -o {out}/d.tif --device tpu",
    "denoise {stack} -o {out}/d.tif --device cuda:7 --model wcid-2d",
    "denoise {stack} -o {out}/d.tif --model gaussian-2d --tile 3",
    "denoise {stack} {image} -o {out}/d.tif", "denoise {text} -o {out}/d.tif",
    "denoise {stack} -o /proc/nowhere/d.tif --model gaussian-2d",
    "models --user-dir {missing}",
    "finetune {stack} --name t --steps 0", "finetune {stack} --name t --steps -5",
    "finetune {stack} --name t --crop 0", "finetune {stack} --name t --minutes 0",
    "finetune {stack} --name t --base unet-hrtem --steps 1", "finetune {stack} --name t --base nope",
    "finetune {stack} --name t --lowpass-period 1 --steps 1", "finetune {missing} --name t",
    "bench --model nope", "bench --size 0 --model gaussian-2d", "bench --frames 0 --model gaussian-2d",
    "bench --size -3 --model gaussian-2d",
    "drift {image} -o {out}/a.tif", "drift {stack} -o {out}/a.tif --prefilter -1",
    "drift {stack} -o {out}/a.tif --shifts {text}", "drift {stack} -o {out}/a.tif --shifts {missing}",
    "drift {stack} -o {out}/a.tif --estimate-on {image}", "drift {stack} -o {out}/a.tif --estimate-on {small}",
    "drift {small} -o {out}/a.tif --mode crop --shifts {noise}",
    "atoms {stack} -o {out}/a.csv --min-separation-px 0",
    "atoms {stack} -o {out}/a.csv --min-separation-nm 0.1 --min-separation-px 3",
    "atoms {stack} -o {out}/a.csv --min-separation-px 3 --frame 99",
    "atoms {stack} -o {out}/a.csv --min-separation-px 3 --threshold 7",
    "atoms {stack} -o {out}/a.csv --min-separation-px 3 --log -1",
    "atoms {image} -o {out}/a.csv --min-separation-px 3 --frame 0",
    "atoms {stack} -o {dir} --min-separation-px 3",
    "profile {stack} --start 0 0 --end 0 0", "profile {stack} --start 100 100 --end 200 200",
    "profile {stack} --start 1 1 --end 9 9 --width 0", "profile {stack} --start 1 1 --end 9 9 --frame 9",
    "profile {stack} --start 1 1 --end 9 9 --frame -1", "profile {stack} --start nan 1 --end 9 9",
    "profile {stack} --start 1 1 --end 9 9 -o {dir}",
    "quality {stack} {small}", "quality {image} {image}", "quality {stack} {stack} --first-frame 99",
    "quality {stack} {stack} --offsets 0 0 0", "quality {stack} {missing}", "quality {stack} {stack} --first-frame 2",
    "calibrate {image} -o {out}/n.json", "calibrate {stack} --current 1 2 -o {out}/n.json",
    "calibrate {stack} {image} --stem haadf -o {out}/n.json", "calibrate {text} -o {out}/n.json",
    "synth -n 0 -o {out}/s", "synth -n 1 --size 0 -o {out}/s", "synth -n 1 --size x -o {out}/s",
    "synth -n 1 --noise {text} -o {out}/s", "synth -n 1 --noise {stack} -o {out}/s",
    "synth -n 1 --pixel-size -1 -o {out}/s",
    "demo -o {noise}", "demo --frames 0 -o {out}/demo", "demo --model nope -o {out}/demo",
]


@pytest.mark.parametrize("call", CALLS)
def test_malformed_call_gets_one_line_and_no_traceback(call, files, capsys, tmp_path):
    argv = call.format(missing=str(tmp_path / "missing.tif"), **files).split()
    try:
        status = main(argv)
    except SystemExit as exit_:  # argparse's own usage errors
        status = exit_.code
    err = capsys.readouterr().err
    assert status == 2, err
    assert "Traceback" not in err
    lines = [line for line in err.splitlines() if "error:" in line]  # argparse: "tem-denoise X: error: ..."
    assert len(lines) == 1, err
    assert "bug in tem-denoise" not in err


def test_unexpected_bug_is_one_line_without_debug_and_a_traceback_with_it(files, monkeypatch, capsys):
    from tem_denoise.cli import files as cli_files

    def broken(stack):
        raise TypeError("something the developers got wrong")

    monkeypatch.setattr(cli_files, "describe", broken)
    assert main(["info", files["stack"]]) == 3
    err = capsys.readouterr().err
    assert "bug in tem-denoise" in err and "--debug" in err and err.count("\n") == 1
    with pytest.raises(TypeError):
        main(["--debug", "info", files["stack"]])


def test_permission_errors_are_expected_failures(files, monkeypatch, capsys):
    from tem_denoise.cli import files as cli_files

    def denied(path):
        raise PermissionError(13, "Permission denied", path)

    monkeypatch.setattr(cli_files.io, "read_all", denied)
    assert main(["info", files["stack"]]) == 2
    assert capsys.readouterr().err.startswith("error: [Errno 13] Permission denied")
