"""Export to the BioImage.IO model format validates with bioimageio.spec (offline)."""

from __future__ import annotations

import zipfile

import pytest

from tem_denoise.cli import main
from tem_denoise.engine.bioimageio_export import export_bioimageio, validate_package
from tem_denoise.models.registry import get_card


@pytest.mark.parametrize("name", ["wcvd-3d", "restore-haadf"])
def test_export_validates(tmp_path, name):
    path = export_bioimageio(get_card(name), tmp_path / f"{name}.zip")
    assert validate_package(path) in ("valid-format", "passed")
    with zipfile.ZipFile(path) as package:
        assert {"rdf.yaml", "weights_torchscript.pt", "test_input.npy", "test_output.npy"} <= set(package.namelist())


def test_cli_exports_and_refuses_a_classical_filter(tmp_path, capsys):
    assert main(["export-bioimageio", "unet-hrtem", "-o", str(tmp_path / "unet.zip")]) == 0
    assert validate_package(tmp_path / "unet.zip") in ("valid-format", "passed")
    assert main(["export-bioimageio", "gaussian-2d", "-o", str(tmp_path / "g.zip")]) == 2
    assert "classical filter" in capsys.readouterr().err
    assert not (tmp_path / "g.zip").exists()
