"""The npe2 manifest is valid, importable and shipped inside the package."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import tem_denoise

ROOT = Path(__file__).resolve().parents[1]


def test_npe2_validate_passes_with_imports():
    npe2 = Path(sys.executable).with_name("npe2")
    result = subprocess.run([str(npe2), "validate", "napari-tem-denoise", "--imports"],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_packaged_manifest_is_the_top_level_one():
    packaged = Path(tem_denoise.__file__).with_name("napari.yaml")
    assert packaged.read_text() == (ROOT / "napari.yaml").read_text()


def test_readme_test_command_is_what_ci_runs():
    readme = (ROOT / "README.md").read_text()
    ci = (ROOT / ".ci" / "run").read_text()
    command = next(line.strip() for line in ci.splitlines() if "pytest" in line and "TEST_COMMAND" in line)
    test_command = command.split("=", 1)[1].strip().strip("'\"")
    assert test_command in readme
