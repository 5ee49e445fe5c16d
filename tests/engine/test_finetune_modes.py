"""The four fine-tuning modes: each runs a few steps on tiny data and saves a model the engine loads;
cancelling keeps the best checkpoint and the run resumes; the subprocess runner ends with its job."""

from __future__ import annotations

import json

import numpy as np
import pytest

from tem_denoise.engine import Denoiser
from tem_denoise.engine.finetune_job import iter_job, run_job
from tem_denoise.engine.finetune_modes import iter_finetune_mode, loss_meaning
from tem_denoise.engine.tuning import TuneConfig, figures_at_best, read_run, run_folder, save_user_model
from tem_denoise.models.registry import available_models
from tem_denoise.progress import run_to_end


def lattice_movie(frames: int = 6, size: int = 48, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:size, :size]
    clean = 4 + 3 * np.cos(2 * np.pi * yy / 8) * np.cos(2 * np.pi * xx / 6)
    return rng.poisson(np.repeat(clean[None], frames, axis=0)).astype(np.float32)


def tiny(mode: str, name: str, **kwargs) -> TuneConfig:
    settings = {"steps": 4, "val_every": 2, "crop": 32, "batch_size": 2, **kwargs}
    return TuneConfig(mode=mode, name=name, device="cpu", **settings)


@pytest.mark.parametrize("mode, settings", [
    ("blind-spot", {"base": "wcid-2d", "blind_radius": 1}),
    ("frame-pairs", {}),
    ("unpaired", {"steps": 2, "val_every": 1}),
])
def test_each_mode_saves_a_model_the_engine_loads(tmp_path, mode, settings):
    movie = lattice_movie()
    steps = []
    run_to_end(iter_finetune_mode(movie, tiny(mode, f"my-{mode}", **settings), folder=tmp_path), steps.append)
    assert [s.step for s in steps] == list(range(1, len(steps) + 1))
    assert all(s.val_loss is not None for s in steps if s.step % tiny(mode, "x", **settings).val_every == 0)
    card = available_models([tmp_path])[f"my-{mode}"]
    assert card.source == "user" and card.training["mode"] == mode
    assert (tmp_path / f"my-{mode}" / "validation.png").stat().st_size > 1000
    assert card.training["validation"]["best_step"] in [s.step for s in steps]
    meaning = loss_meaning(mode)  # the card and validation.png say what the validation loss is
    assert (card.training["validation"]["loss"], card.training["validation"]["units"]) == (meaning.validation,
                                                                                          meaning.units)
    assert read_run(run_folder(f"my-{mode}", tmp_path))["loss"]["axis"] == meaning.axis
    out = Denoiser(f"my-{mode}", device="cpu", user_dirs=[tmp_path]).denoise(movie)
    assert out.shape == movie.shape and np.isfinite(out).all()
    if mode == "unpaired":
        css = steps[-1].extra["css"]
        assert 0 < css <= 1 and steps[-1].message.endswith(f"CSS between consecutive outputs {css:.3f}")
        assert figures_at_best(card) == steps[card.training["validation"]["best_step"] - 1].extra
    else:
        assert figures_at_best(card) == {} and "CSS" not in steps[-1].message


def test_blind_region_hides_the_neighbours(tmp_path):
    tuned = run_to_end(iter_finetune_mode(lattice_movie(3), tiny("blind-spot", "wide", base="wcid-2d", blind_radius=2),
                                          folder=tmp_path))
    assert tuned.card.architecture["blind_radius"] == 2
    model = Denoiser("wide", device="cpu", user_dirs=[tmp_path]).model
    for member in model.members:
        k = member.blind.kernel_size // 2
        assert member.blind.kernel_size >= 7
        assert float(member.blind.weight.detach()[:, 0, k - 2:k + 3, k - 2:k + 3].abs().sum()) == 0.0


def test_calibrated_mode_starts_from_the_generalist(tmp_path):
    from tem_denoise.physics import HRTEMNoise

    noise = HRTEMNoise(k=0.05, b=1.0, sigma_c=0.5).save(tmp_path / "noise.json")
    config = tiny("calibrated", "mine-calibrated", noise_model=str(noise), pixel_size_nm=0.03, modality="HRTEM")
    tuned = run_to_end(iter_finetune_mode(lattice_movie(2) * 20, config, folder=tmp_path))
    assert tuned.card.family == "restore" and tuned.card.training["base_model"] == "restore-hrtem"
    assert tuned.card.training["noise_model"]["kind"] == "hrtem"
    with pytest.raises(ValueError, match="noise model"):
        next(iter_finetune_mode(lattice_movie(2), tiny("calibrated", "x", pixel_size_nm=0.03), folder=tmp_path))
    wrong = tiny("calibrated", "x", noise_model=str(noise), pixel_size_nm=0.03, modality="STEM-HAADF")
    with pytest.raises(ValueError, match="TEM camera's .* base model 'restore-haadf' is for STEM-HAADF"):
        next(iter_finetune_mode(lattice_movie(2), wrong, folder=tmp_path))


def test_frame_pairs_refuse_single_frames(tmp_path):
    with pytest.raises(ValueError, match="at least 4 frames"):
        next(iter_finetune_mode(lattice_movie(2), tiny("frame-pairs", "x"), folder=tmp_path))


def test_cancel_keeps_the_best_checkpoint_and_the_run_resumes(tmp_path):
    movie = lattice_movie()
    config = tiny("frame-pairs", "stopped", steps=8)
    steps = iter_finetune_mode(movie, config, folder=tmp_path)
    for step in steps:
        if step.step == 3:
            break
    steps.close()
    run = run_folder("stopped", tmp_path)
    record = read_run(run)
    assert record["step"] == 3 and record["best_step"] == 2
    assert (run / "best.safetensors").is_file() and not (tmp_path / "stopped").exists()
    card = save_user_model(run, tmp_path)
    assert card.training["budget"]["steps_done"] == 3
    resumed = list(_steps(iter_finetune_mode(movie, config, folder=tmp_path, resume=True)))
    assert [s.step for s in resumed] == [4, 5, 6, 7, 8]
    assert read_run(run)["step"] == 8


def _steps(generator):
    yield from generator


def test_job_runs_in_a_subprocess_and_stops_when_closed(tmp_path):
    np.save(tmp_path / "movie.npy", lattice_movie())
    spec = {"input": str(tmp_path / "movie.npy"), "folder": str(tmp_path),
            "config": {"mode": "frame-pairs", "name": "child", "steps": 3, "val_every": 1, "crop": 32,
                       "batch_size": 2, "device": "cpu"}}
    records = []
    last = run_to_end(iter_job(spec), records.append)
    assert [r["event"] for r in records] == ["step", "step", "step", "done"] and last["model"] == "child"
    assert "child" in available_models([tmp_path])
    spec["config"].update(name="stopped-child", steps=10_000)
    job = iter_job(spec)
    assert next(job)["event"] == "step"
    job.close()
    assert read_run(run_folder("stopped-child", tmp_path))["step"] >= 1


def test_job_reports_bad_input_in_one_line(tmp_path, capsys):
    import io as text_io

    out = text_io.StringIO()
    spec = {"input": str(tmp_path / "missing.npy"), "config": {"mode": "frame-pairs", "name": "x"}}
    assert run_job(spec, out) == 2
    record = json.loads(out.getvalue())
    assert record["event"] == "error" and "missing.npy" in record["message"]
    assert run_job({"input": "x.npy", "config": {"mode": "nope", "name": "x"}}, out) == 2
