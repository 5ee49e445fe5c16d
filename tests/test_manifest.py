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


def test_reader_patterns_are_the_extensions_io_reads():
    import yaml

    from tem_denoise.napari_hooks import reader_patterns

    manifest = yaml.safe_load((ROOT / "napari.yaml").read_text())
    (reader,) = manifest["contributions"]["readers"]
    assert reader["filename_patterns"] == reader_patterns()
    assert manifest["on_activate"] == "tem_denoise.napari_hooks:activate"


def test_ci_lints_and_type_checks_before_the_tests():
    ci = (ROOT / ".ci" / "run").read_text().splitlines()
    steps = [line.strip() for line in ci if line.startswith(".venv/bin/") or line.startswith("$TEST_COMMAND")]
    assert steps == [".venv/bin/ruff check .", ".venv/bin/mypy", "$TEST_COMMAND"]
    assert ".[testing,lint]" in (ROOT / ".ci" / "setup").read_text()
