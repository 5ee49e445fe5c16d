"""``tem-denoise denoise``, ``models``, ``bench`` and the README's ``demo`` main job."""

from __future__ import annotations

import numpy as np
import pytest

from tem_denoise import io
from tem_denoise.cli import main
from tem_denoise.models.card import read_card
from tem_denoise.models.registry import default_model_name
from tem_denoise.physics import sample_counting_series


def test_models_lists_baselines_and_defaults(capsys):
    assert main(["models", "-v"]) == 0
    out = capsys.readouterr().out
    for name in ("gaussian-2d", "gaussian-3d", "wiener"):
        assert name in out


def test_denoise_writes_calibrated_tiff_with_provenance(tmp_path, small_stack):
    source = io.write(small_stack, tmp_path / "in.tif")
    out = tmp_path / "out.tif"
    assert main(["denoise", str(source), "-o", str(out), "--model", "gaussian-3d", "--device", "cpu"]) == 0
    result = io.read(out)
    assert result.shape == small_stack.shape and result.calibration.pixel_size == pytest.approx((0.05,) * 2, rel=1e-6)
    assert io.read_provenance(out)["model"] == "gaussian-3d"
    assert np.std(np.asarray(result.data)[1]) < np.std(small_stack.data[1])


def test_denoise_several_inputs_into_a_folder(tmp_path, small_stack):
    paths = [str(io.write(small_stack, tmp_path / f"in{i}.tif")) for i in range(2)]
    assert main(["denoise", *paths, "-o", str(tmp_path / "out"), "--model", "gaussian-2d"]) == 0
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["in0_denoised.tif", "in1_denoised.tif"]


def test_a_tiff_of_electron_counts_is_denoised_with_the_counting_model(tmp_path):
    movie = sample_counting_series(n_frames=6, shape=(96, 96))
    source = io.write(io.Stack.from_array(movie.noisy, pixel_size=0.07), tmp_path / "counts.tif")
    assert main(["denoise", str(source), "-o", str(tmp_path / "out.tif"), "--device", "cpu"]) == 0
    assert io.read_provenance(tmp_path / "out.tif")["model"] == "unet-counting"


def test_bench_prints_throughput(capsys):
    assert main(["bench", "--model", "gaussian-2d", "--size", "128", "--frames", "2"]) == 0
    assert "Mpixel/s" in capsys.readouterr().out


def test_demo_main_job_with_the_default_model(tmp_path):
    """The README's main command: sample -> TIFF -> read -> denoise (default model) -> TIFF + PNG."""
    assert main(["demo", "-o", str(tmp_path), "--frames", "3", "--device", "cpu"]) == 0
    written = io.read_provenance(tmp_path / "sample_denoised.tif")
    assert written["model"] == default_model_name("HRTEM", 3)
    assert io.read(tmp_path / "sample_denoised.tif").calibration.pixel_size == pytest.approx((0.07,) * 2)
    assert (tmp_path / "demo.png").stat().st_size > 50_000


def test_finetune_saves_a_user_model_usable_by_denoise(tmp_path, capsys, monkeypatch):
    rng = np.random.default_rng(2)
    stack = io.Stack.from_array(rng.poisson(3.0, (3, 48, 48)).astype(np.float32), pixel_size=0.1)
    source = io.write(stack, tmp_path / "noisy.tif")
    models = tmp_path / "models"
    assert main(["finetune", str(source), "--base", "wcid-2d", "--name", "mine", "--steps", "10",
                 "--crop", "32", "--lowpass-period", "4", "--folder", str(models)]) == 0
    out = capsys.readouterr().out
    assert "saved 'mine'" in out
    assert read_card(models / "mine" / "card.json").architecture["lowpass_kernel"] == 2.0
    # the advice printed works as written: the model is found through TEM_DENOISE_MODELS
    command = out.split("use it with: ")[1].split()
    assert command[0] == f"TEM_DENOISE_MODELS={models.resolve()}" and command[-2:] == ["--model", "mine"]
    monkeypatch.setenv("TEM_DENOISE_MODELS", command[0].split("=", 1)[1])
    assert main(["denoise", str(source), "-o", str(tmp_path / "out.tif"), "--model", "mine"]) == 0
    assert io.read_provenance(tmp_path / "out.tif")["model"] == "mine"


def test_denoise_with_a_stated_modality_and_a_calibrated_noise_model(tmp_path):
    """The user says what the data are and gives the calibration dock's noise model: the default
    restoration model of that modality runs with that noise level, recorded in the provenance."""
    from tem_denoise.physics import STEMNoise
    from tem_denoise.physics.formation import SPECS, restore_pair

    pair = restore_pair(SPECS["STEM-HAADF"], (96, 96), np.random.default_rng(5), pixel_nm=0.02, dose=50.0)
    source = io.write(io.Stack.from_array(pair.noisy, pixel_size=0.02), tmp_path / "frame.tif")
    noise = STEMNoise(pointwise_k=0.05, pointwise_b=3.0).save(tmp_path / "noise.json")
    out = tmp_path / "restored.tif"
    assert main(["denoise", str(source), "-o", str(out), "--modality", "STEM-HAADF", "--noise", str(noise)]) == 0
    written = io.read_provenance(out)
    step = written["history"][-1]
    assert written["model"] == default_model_name("STEM-HAADF") and step["output_kind"] == "restore"
    assert step["last_run"]["adapter"]["noise"]["source"] == "calibration"
    assert io.read(out).shape == (96, 96)


def test_a_device_this_machine_lacks_is_refused_before_any_file_is_read(tmp_path, small_stack, monkeypatch, capsys):
    import torch

    source = io.write(small_stack, tmp_path / "in.tif")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    read = []
    monkeypatch.setattr(io, "read", lambda *args, **kwargs: read.append(args))
    assert main(["denoise", str(source), "-o", str(tmp_path / "out.tif"), "--device", "cuda"]) == 2
    assert capsys.readouterr().err.strip() == ("error: device 'cuda' requested but no CUDA GPU is available "
                                               "here; use 'auto' or 'cpu'")
    assert read == [] and not (tmp_path / "out.tif").exists()
    # a classical filter runs on the CPU whatever the device: it is not refused, the engine warns
    monkeypatch.undo()
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.warns(UserWarning, match="classical filter that runs on the CPU"):
        from tem_denoise.operations.denoise import DenoiseOptions, check_device, make_denoiser

        check_device(DenoiseOptions(model="gaussian-2d", device="cuda"))
        make_denoiser(small_stack, DenoiseOptions(model="gaussian-2d", device="cuda"))


@pytest.mark.parametrize(("modality", "noise", "advice"), [
    ("STEM-HAADF", "hrtem", "tem-denoise calibrate --stem haadf IMAGE"),
    ("HRTEM", "stem", "tem-denoise calibrate VACUUM_1.tif VACUUM_2.tif"),
])
def test_a_noise_model_of_the_other_kind_of_detector_is_refused(tmp_path, small_stack, capsys, monkeypatch,
                                                                modality, noise, advice):
    """A camera's noise model given for a STEM image (or a STEM detector's for an HRTEM image) is
    refused before any file is read, in one line that says which noise model to give instead."""
    from tem_denoise.physics import HRTEMNoise, STEMNoise

    source = io.write(small_stack, tmp_path / "in.tif")
    read = []
    monkeypatch.setattr(io, "read", lambda *args, **kwargs: read.append(args))
    model = {"hrtem": HRTEMNoise(k=0.05, b=3.0, sigma_c=0.0), "stem": STEMNoise()}[noise]
    path = model.save(tmp_path / "noise.json")
    out = tmp_path / "out.tif"
    assert main(["denoise", str(source), "-o", str(out), "--modality", modality, "--noise", str(path)]) == 2
    error = capsys.readouterr().err
    assert error.startswith("error: the noise model is a ") and advice in error and error.count("\n") == 1
    assert read == [] and not out.exists()
