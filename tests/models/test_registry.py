"""Model cards, safetensors weights with sha256, discovery of user models and the family registry."""

from __future__ import annotations

import json
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch

from tem_denoise.models import (
    BUNDLED_DIR,
    FAMILIES,
    CardError,
    ModelCard,
    WeightsError,
    available_models,
    build_model,
    data_modality,
    default_model_name,
    discover_models,
    file_sha256,
    get_card,
    load_into,
    load_model,
    load_weights,
    read_card,
    save_weights,
    write_card,
)


def tiny_card(name="tiny-scgn", **extra) -> ModelCard:
    fields = dict(architecture={"channels": 8, "n_blocks": 1}, modality="HRTEM", output_kind="atom-map",
                  adapter="percentile-255", tile_size=64, training={"seed": 0, "command": "test"})
    fields.update(extra)
    return ModelCard(name, "scgn", **fields)


def write_user_model(directory: Path, card: ModelCard, seed: int = 0) -> ModelCard:
    """Build, save weights and card in ``directory`` (card.json + weights.safetensors)."""
    directory.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(seed)
    model = build_model(card)
    sha = save_weights(model, directory / "weights.safetensors", metadata={"family": card.family})
    card.weights_file, card.weights_sha256 = "weights.safetensors", sha
    write_card(card, directory / "card.json")
    return read_card(directory / "card.json")


def test_safetensors_round_trip_gives_the_same_model(tmp_path):
    torch.manual_seed(0)
    model = build_model(tiny_card()).eval()
    path = tmp_path / "w.safetensors"
    sha = save_weights(model, path)
    assert sha == file_sha256(path) and len(sha) == 64
    torch.manual_seed(1)
    other = load_into(build_model(tiny_card()), path, sha).eval()
    x = torch.rand(1, 1, 21, 19) * 255
    with torch.inference_mode():
        torch.testing.assert_close(other(x), model(x))
    assert path.read_bytes()[:8] != b"\x80\x04\x95"  # not a pickle


def test_wrong_sha256_is_refused_naming_the_file(tmp_path):
    path = tmp_path / "w.safetensors"
    save_weights(build_model(tiny_card()), path)
    with pytest.raises(WeightsError, match=r"w\.safetensors.*sha256"):
        load_weights(path, "0" * 64)


def test_corrupted_weights_file_is_refused(tmp_path):
    path = tmp_path / "w.safetensors"
    sha = save_weights(build_model(tiny_card()), path)
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(WeightsError, match="corrupted"):
        load_weights(path, sha)
    path.write_bytes(b"not a safetensors file at all")
    with pytest.raises(WeightsError, match="not a readable safetensors"):
        load_weights(path, None)
    with pytest.raises(WeightsError, match="does not exist"):
        load_weights(tmp_path / "missing.safetensors", sha)


def test_weights_of_another_architecture_do_not_fit(tmp_path):
    path = tmp_path / "w.safetensors"
    sha = save_weights(build_model(tiny_card()), path)
    with pytest.raises(WeightsError, match="does not fit"):
        load_into(build_model(tiny_card(architecture={"channels": 8, "n_blocks": 2})), path, sha)


def test_card_json_round_trip_and_validation(tmp_path):
    card = tiny_card(quality={"psnr_db": 26.5}, pixel_size_nm=0.05, speed_class="medium", is_default=True)
    path = write_card(card, tmp_path / "card.json")
    back = read_card(path)
    assert back == card and back.directory == tmp_path.resolve()
    assert json.loads(path.read_text())["schema"] == 1
    with pytest.raises(CardError, match="modality"):
        tiny_card(modality="SEM")
    with pytest.raises(CardError, match="output_kind"):
        tiny_card(output_kind="denoised")
    with pytest.raises(CardError, match="together"):
        tiny_card(weights_file="w.safetensors")
    data = card.to_dict() | {"colour": "blue"}
    (tmp_path / "bad.json").write_text(json.dumps(data))
    with pytest.raises(CardError, match=r"bad\.json.*unknown fields"):
        read_card(tmp_path / "bad.json")
    (tmp_path / "broken.json").write_text("{not json")
    with pytest.raises(CardError, match=r"broken\.json"):
        read_card(tmp_path / "broken.json")


@pytest.fixture
def no_bundled(tmp_path, monkeypatch):
    """Hide the package's bundled models (the registry must work with none)."""
    monkeypatch.setattr("tem_denoise.models.registry.BUNDLED_DIR", tmp_path / "no-bundled-models")
    monkeypatch.delenv("TEM_DENOISE_MODELS", raising=False)


def test_classical_baselines_are_always_available_without_bundled_weights(no_bundled):
    models = available_models()
    for name in ("gaussian-2d", "gaussian-3d", "wiener"):
        assert models[name].source == "builtin"
        assert callable(load_model(models[name]))
    assert default_model_name("HRTEM") == "gaussian-2d"
    with pytest.raises(ValueError, match="unknown model 'nope'.*gaussian-2d"):
        get_card("nope")


def test_user_models_are_discovered_and_loaded(tmp_path, no_bundled):
    card = write_user_model(tmp_path / "mine", tiny_card(is_default=True))
    write_user_model(tmp_path / "other", tiny_card("tiny-2", modality="any"), seed=1)
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "card.json").write_text('{"name": "x"}')
    lost = tiny_card("lost", weights_file="gone.safetensors", weights_sha256="0" * 64)
    (tmp_path / "lost").mkdir()
    write_card(lost, tmp_path / "lost" / "card.json")
    with pytest.warns(UserWarning) as record:
        found = discover_models(tmp_path)
    assert sorted(c.name for c in found) == ["tiny-2", "tiny-scgn"]
    messages = " ".join(str(w.message) for w in record)
    assert "broken" in messages and "gone.safetensors" in messages
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        models = available_models([tmp_path])
        assert models["tiny-scgn"].source == "user"
        # an atom-map network is never the Denoise default, even when its card says is_default
        assert default_model_name("HRTEM", user_dirs=[tmp_path]) == "gaussian-2d"
        write_user_model(tmp_path / "restore", tiny_card("tiny-restore", output_kind="restore"), seed=2)
        assert default_model_name("HRTEM", user_dirs=[tmp_path]) == "tiny-restore"
    model = load_model(card)
    assert not model.training and isinstance(model, torch.nn.Module)


def test_raw_counts_choose_a_counting_model_then_hrtem_models(tmp_path, no_bundled):
    assert data_modality("HRTEM", counts=True) == data_modality(None, counts=True, n_frames=8) == "HRTEM-counting"
    assert data_modality("STEM-HAADF", counts=True, n_frames=8) == "STEM-HAADF"
    assert data_modality(None, counts=True, n_frames=1) is None  # one frame of counts may well be STEM
    assert data_modality(None, counts=False) is None
    write_user_model(tmp_path / "hrtem", tiny_card("tiny-hrtem", is_default=True, output_kind="restore"))
    write_user_model(tmp_path / "movie", ModelCard(
        "tiny-counting", "unet", {"base_channels": 4, "frames": 3}, modality="HRTEM-counting", output_kind="restore",
        adapter="percentile-255", temporal_window=3, is_default=True, training={"seed": 0, "command": "test"}))
    assert default_model_name("HRTEM-counting", n_frames=10, user_dirs=[tmp_path]) == "tiny-counting"
    # fewer frames than the 3-frame model reads: the HRTEM default comes next
    assert default_model_name("HRTEM-counting", n_frames=3, user_dirs=[tmp_path]) == "tiny-counting"
    assert default_model_name("HRTEM-counting", n_frames=2, user_dirs=[tmp_path]) == "tiny-hrtem"
    assert default_model_name("HRTEM-counting", n_frames=1, user_dirs=[tmp_path]) == "tiny-hrtem"
    assert default_model_name("HRTEM", n_frames=10, user_dirs=[tmp_path]) == "tiny-hrtem"


def test_a_user_model_cannot_shadow_a_builtin_name(tmp_path, no_bundled):
    write_user_model(tmp_path / "g", tiny_card("gaussian-2d"))
    with pytest.warns(UserWarning, match="already taken"):
        models = available_models([tmp_path])
    assert models["gaussian-2d"].source == "builtin"


def test_untrained_or_mismatched_cards_are_refused():
    with pytest.raises(WeightsError, match="no weights"):
        load_model(tiny_card())
    with pytest.raises(CardError, match="temporal_window"):
        build_model(ModelCard("w", "blindspot", {"frames": 3}, temporal_window=1))
    with pytest.raises(CardError, match="does not fit"):
        build_model(ModelCard("w", "blindspot", {"n_frames": 3}))
    with pytest.raises(CardError, match="unknown family"):
        build_model(ModelCard("w", "resnet"))


def test_models_are_found_through_the_environment_variable(tmp_path, no_bundled, monkeypatch):
    write_user_model(tmp_path / "env-model", tiny_card("env-model"))
    monkeypatch.setenv("TEM_DENOISE_MODELS", str(tmp_path))
    assert available_models()["env-model"].source == "user"


@pytest.mark.parametrize("card", discover_models(BUNDLED_DIR, source="bundled"), ids=lambda c: c.name)
def test_bundled_models_load_with_their_sha256_and_run(card):
    model = load_model(card)
    channels = 2 if card.adapter == "restore" else card.temporal_window  # restore nets also read a noise map
    x = torch.rand(1, channels, 24, 20) * 255
    with torch.inference_mode():
        assert model(x).shape == (1, 1, 24, 20)


def test_every_family_builds_from_its_defaults():
    for family in FAMILIES.values():
        model = family.constructor()()
        assert model.temporal_window % 2 == 1


def test_importing_models_and_engine_does_not_import_torch():
    code = "import sys, tem_denoise.models, tem_denoise.engine; assert 'torch' not in sys.modules"
    src = str(Path(__file__).resolve().parents[2] / "src")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            env={"PYTHONPATH": src}, timeout=60)
    assert result.returncode == 0, result.stderr


def test_classical_models_through_the_registry_denoise():
    rng = np.random.default_rng(0)
    clean = np.tile(np.sin(np.linspace(0, 6, 40))[None], (32, 1)).astype(np.float32) * 10
    noisy = clean + rng.normal(0, 2, clean.shape).astype(np.float32)
    for name in ("gaussian-2d", "wiener"):
        out = load_model(get_card(name))(noisy[None, None])[0, 0]
        assert np.mean((out - clean) ** 2) < 0.5 * np.mean((noisy - clean) ** 2)
