"""The methods compared on the outside benchmark, each producing cached outputs per frame.

Method names (``run.py --methods``):

``noisy``
    The noisy frame itself (reference).
``gaussian``
    The best-sigma Gaussian filter: for each frame the sigma (0.3-16 px) with the highest
    PSNR against the truth. It looks at the truth, so it is an **oracle**, an upper bound for
    a Gaussian filter, not something a user can run.
``bm3d``
    BM3D (PyPI ``bm3d``) on the Anscombe-transformed frame with a blind noise estimate
    (peer_worker.py), run in the benchmark venv (``$TEM_DENOISE_BM3D_PYTHON``, default
    ``/work/venvs/abtem/bin/python``).
``tkrem``
    tk_r_em 1.0.4 (Lobato et al. 2024) in its own venv (``$TEM_DENOISE_TKREM_PYTHON``,
    default ``/work/venvs/tkrem/bin/python``): ``sfr_hrtem`` for HRTEM, ``sfr_hrstem`` for
    STEM. Skipped with a note when that venv is missing.
``tem_denoise:<model>``
    The project's ``tem_denoise.engine.Denoiser(<model>).denoise(frame)``; only on frames of
    the model card's modality (or every frame for a card of modality ``any``).
``tem_denoise:default``
    The model the project picks for the frame's modality
    (``tem_denoise.engine.counting.default_model_for``).
``tem_denoise:calibrated``
    The default, given the noise model a user would get from the Noise calibration dock:
    vacuum stacks of the same camera (:data:`VACUUM_DOSE_FACTORS` times the frame's dose,
    :data:`VACUUM_FRAMES` frames of :data:`VACUUM_SHAPE` each, drawn by ``dose_noise``) fitted by
    ``calibrate_hrtem_vacuum``; camera frames only (raw counts need no calibration).
``py:<module>:<function>``
    Any importable ``function(noisy, pixel_size_nm, modality, dose) -> image`` (see
    score.evaluate), e.g. a model being trained; recomputed on every run.

Outputs go to ``<cache>/outputs/<slug>/<frame_id>.npz`` (``denoised``, ``seconds``, ``note``)
and are reused on later runs; ``tem_denoise`` slugs include the weights' sha256 prefix, so
new weights are measured afresh.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy import ndimage

import dataset
import score

WORKER = Path(__file__).resolve().parent / "peer_worker.py"
GAUSSIAN_SIGMAS_PX = tuple(float(s) for s in np.round(np.geomspace(0.3, 16.0, 30), 3))
PEER_PYTHON = {
    "tkrem": ("TEM_DENOISE_TKREM_PYTHON", "/work/venvs/tkrem/bin/python"),
    "bm3d": ("TEM_DENOISE_BM3D_PYTHON", "/work/venvs/abtem/bin/python"),
}
TKREM_SETUP = ('python3 -m venv /work/venvs/tkrem, then pip install "tensorflow-cpu==2.12.*" "numpy<2" and the '
               'tk_r_em 1.0.4 sdist; see docs/outside_benchmark.md')


@dataclass
class Output:
    """One method's result on one frame."""

    denoised: np.ndarray | None
    seconds: float
    note: str = ""


def outputs_dir(slug: str) -> Path:
    path = dataset.cache_dir() / "outputs" / slug
    path.mkdir(parents=True, exist_ok=True)
    return path


def read_output(path: Path) -> Output:
    with np.load(path) as data:
        return Output(data["denoised"], float(data["seconds"]), str(data["note"]))


def write_output(path: Path, output: Output) -> None:
    tmp = path.with_suffix(".tmp.npz")
    np.savez_compressed(tmp, denoised=np.asarray(output.denoised, np.float32), seconds=output.seconds,
                        note=output.note)
    tmp.replace(path)


class Method:
    """Base: ``run(frames)`` returns ``{frame_id: Output}`` for the frames the method applies to,
    computing only those not cached yet. Subclasses define ``slug`` and ``compute``."""

    name = "method"
    skip_note = ""  # why the method cannot run at all (empty when it can)
    reuse_cache = True  # False: outputs are recomputed on every run (code that may change)

    @property
    def slug(self) -> str:
        return self.name

    def applies_to(self, frame) -> bool:
        return True

    def run(self, frames: list) -> dict[str, Output]:
        if self.skip_note:
            return {}
        wanted = [f for f in frames if self.applies_to(f)]
        folder = outputs_dir(self.slug)
        if not self.reuse_cache:
            for f in wanted:
                (folder / f"{f.frame_id}.npz").unlink(missing_ok=True)
        missing = [f for f in wanted if not (folder / f"{f.frame_id}.npz").exists()]
        if missing:
            self.compute(missing, folder)
        return {f.frame_id: read_output(folder / f"{f.frame_id}.npz") for f in wanted
                if (folder / f"{f.frame_id}.npz").exists()}

    def compute(self, frames: list, folder: Path) -> None:
        for frame in frames:
            start = time.perf_counter()
            denoised, note = self.denoise(frame)
            write_output(folder / f"{frame.frame_id}.npz", Output(denoised, time.perf_counter() - start, note))

    def denoise(self, frame) -> tuple[np.ndarray, str]:
        raise NotImplementedError


class Noisy(Method):
    name = "noisy"

    def denoise(self, frame):
        return frame.noisy, "input"


class GaussianOracle(Method):
    """Best-sigma Gaussian filter, sigma chosen against the truth (an oracle)."""

    name = "gaussian"

    def denoise(self, frame):
        best = None
        for sigma in GAUSSIAN_SIGMAS_PX:
            smoothed = ndimage.gaussian_filter(frame.noisy.astype(np.float64), sigma, mode="reflect")
            value = score.psnr(score.affine_fit(smoothed, frame.truth), frame.truth)
            if best is None or value > best[0]:
                best = (value, sigma, smoothed)
        return best[2].astype(np.float32), f"oracle sigma={best[1]:.3g} px"


class CallableMethod(Method):
    """Any ``denoise(noisy, pixel_size_nm, modality, dose) -> image`` (see score.evaluate);
    recomputed on every run, since the code behind it may have changed."""

    reuse_cache = False

    def __init__(self, name: str, fn, slug: str | None = None):
        self.name, self.fn, self._slug = name, fn, slug

    @property
    def slug(self) -> str:
        return self._slug or self.name.replace(":", "-").replace(".", "-")

    def denoise(self, frame):
        return self.fn(frame.noisy.copy(), frame.pixel_size_nm, frame.modality, frame.dose), ""


class SubprocessPeer(Method):
    """A peer run by peer_worker.py in another virtual environment (tkrem, bm3d)."""

    def __init__(self, name: str):
        self.name = name
        env_var, default = PEER_PYTHON[name]
        self.python = os.environ.get(env_var) or default
        if not Path(self.python).exists():
            self.skip_note = (f"{name} skipped: no Python at {self.python} (set ${env_var}; "
                              + (f"venv: {TKREM_SETUP})" if name == "tkrem" else "pip install bm3d in a venv)"))

    def compute(self, frames, folder):
        with tempfile.TemporaryDirectory(dir=dataset.cache_dir()) as tmp:
            batch = Path(tmp) / "input.npz"
            np.savez(batch, frame_ids=np.array([f.frame_id for f in frames]),
                     modalities=np.array([f.modality for f in frames]),
                     **{f"x_{i}": f.noisy for i, f in enumerate(frames)})
            env = {**os.environ, "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1"),
                   "TF_CPP_MIN_LOG_LEVEL": "2"}
            result = subprocess.run([self.python, str(WORKER), self.name, str(batch), str(folder)], env=env,
                                    capture_output=True, text=True)
        if result.returncode != 0:
            tail = "\n".join(result.stderr.strip().splitlines()[-15:])
            print(f"{self.name} worker failed (exit {result.returncode}); frames without output are left out:\n{tail}",
                  file=sys.stderr)


class TemDenoiseModel(Method):
    """A model of the project, by name, via ``tem_denoise.engine.Denoiser``; or ``default``."""

    def __init__(self, model: str):
        self.model = model
        self.name = f"tem_denoise:{model}"
        self._denoisers: dict = {}
        self.card = None
        try:
            if model != "default":
                self.card = self._denoiser(model).card
        except Exception as err:  # an unknown name or broken weights: report, do not stop the run
            self.skip_note = f"{self.name} skipped: {type(err).__name__}: {err}"

    def _denoiser(self, name: str):
        if name not in self._denoisers:
            from tem_denoise.engine import Denoiser

            self._denoisers[name] = Denoiser(name, device="cpu")
        return self._denoisers[name]

    @property
    def slug(self) -> str:
        if self.card is None:
            return f"tem_denoise-{self.model}-{registry_fingerprint()}-{engine_fingerprint()}"
        return f"tem_denoise-{self.model}-{(self.card.weights_sha256 or 'builtin')[:8]}-{engine_fingerprint()}"

    def applies_to(self, frame) -> bool:
        if self.card is None:
            return True
        modality = self.card.modality
        return modality == "any" or modality == frame.modality or (
            modality == "HRTEM-counting" and frame.modality == "HRTEM")

    def model_for(self, frame) -> str:
        if self.model != "default":
            return self.model
        from tem_denoise.engine.counting import default_model_for

        return default_model_for(frame.modality, frame.noisy)

    def denoise(self, frame):
        name = self.model_for(frame)
        denoiser = self._denoiser(name)
        out = denoiser.denoise(frame.noisy.astype(np.float32), pixel_size_nm=frame.pixel_size_nm)
        card = denoiser.card
        weights = (card.weights_sha256 or "builtin")[:8]
        return np.asarray(out, np.float32).reshape(frame.noisy.shape), f"{name} ({card.output_kind}, weights {weights})"


def registry_fingerprint() -> str:
    """8 hex digits naming the project's current set of models and weights (for cache folders)."""
    import hashlib

    from tem_denoise.models.registry import available_models

    cards = sorted((name, card.weights_sha256 or "", card.is_default) for name, card in available_models().items())
    return hashlib.sha1(repr(cards).encode()).hexdigest()[:8]


def engine_fingerprint() -> str:
    """6 hex digits naming the source of the code a model's output depends on (sampling, the
    engine, the models, the noise physics and the analysis the scale estimate uses), so cached
    outputs are redone when it changes."""
    import hashlib

    import tem_denoise

    root = Path(tem_denoise.__file__).parent
    parts = [root / "sampling.py", root / "arrays.py",
             *(path for package in ("engine", "models", "physics", "analysis")
               for path in sorted((root / package).glob("*.py")))]
    return hashlib.sha1(b"".join(part.read_bytes() for part in parts)).hexdigest()[:6]


class TemDenoiseCalibrated(TemDenoiseModel):
    """``tem_denoise:calibrated``: the default with a vacuum calibration of the frame's camera."""

    def __init__(self):
        super().__init__("default")
        self.name = "tem_denoise:calibrated"

    @property
    def slug(self) -> str:
        recipe = f"{len(VACUUM_DOSE_FACTORS)}x{VACUUM_FRAMES}x{VACUUM_SHAPE[0]}"  # the vacuum stacks
        return f"tem_denoise-calibrated-{recipe}-{registry_fingerprint()}-{engine_fingerprint()}"

    def applies_to(self, frame) -> bool:
        return frame.variant == "camera"

    def denoise(self, frame):
        import dose_noise
        from tem_denoise.physics.calibration import calibrate_hrtem_vacuum
        from tem_denoise.physics.noise_level import level_from_model

        vacuum = np.ones(VACUUM_SHAPE)
        stacks = [np.stack([dose_noise.noisy_frame(vacuum, frame.pixel_size_nm, factor * frame.dose, "camera",
                                                   dose_noise.frame_seed(f"{frame.frame_id}.vacuum.{factor}.{t}"))
                            for t in range(VACUUM_FRAMES)]) for factor in VACUUM_DOSE_FACTORS]
        model, _ = calibrate_hrtem_vacuum(stacks)
        name = self.model_for(frame)
        out = self._denoiser(name).denoise(frame.noisy.astype(np.float32), pixel_size_nm=frame.pixel_size_nm,
                                           noise=level_from_model(model))
        law = model.describe_law()
        return np.asarray(out, np.float32).reshape(frame.noisy.shape), f"{name}, calibrated ({law})"


VACUUM_DOSE_FACTORS = (0.5, 1.0, 2.0)
VACUUM_FRAMES = 8
VACUUM_SHAPE = (128, 128)


def make_method(name: str) -> Method:
    """The :class:`Method` for a ``--methods`` entry."""
    if name == "tem_denoise:calibrated":
        return TemDenoiseCalibrated()
    if name == "noisy":
        return Noisy()
    if name == "gaussian":
        return GaussianOracle()
    if name in PEER_PYTHON:
        return SubprocessPeer(name)
    if name.startswith("tem_denoise:"):
        return TemDenoiseModel(name.split(":", 1)[1])
    if name.startswith("py:") and name.count(":") == 2:
        import importlib

        _, module, function = name.split(":")
        return CallableMethod(name, getattr(importlib.import_module(module), function))
    raise ValueError(f"unknown method {name!r}: use noisy, gaussian, bm3d, tkrem, tem_denoise:<model>, "
                     "tem_denoise:default or py:<module>:<function>")
