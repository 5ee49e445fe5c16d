"""Runs one peer method in its own virtual environment; called by peers.py as a subprocess.

    <venv>/bin/python peer_worker.py METHOD INPUT.npz OUT_DIR

``INPUT.npz`` holds ``frame_ids`` (str array), ``modalities`` (str array) and one noisy image
per frame, ``x_<i>`` (y, x) float32 in electrons per pixel. For each frame the worker writes
``OUT_DIR/<frame_id>.npz`` with ``denoised`` (float32, same shape), ``seconds`` (wall time of
the method alone, without loading it) and ``note``, as soon as it is done (an interrupted run resumes where it
stopped). Needs numpy and the method's package only:

* ``tkrem``: tk_r_em 1.0.4 (TensorFlow 2.12): network ``sfr_hrtem`` for HRTEM frames and
  ``sfr_hrstem`` for STEM (HAADF and BF) frames, whole-image prediction, used as shipped
  (the network normalises its input and undoes it on output).
* ``bm3d``: PyPI ``bm3d`` on the Anscombe-transformed frame, with the noise standard
  deviation estimated blindly from the transformed frame (dose_noise.estimate_noise_sigma),
  then the closed-form unbiased inverse Anscombe transform.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

import dose_noise  # noqa: E402

TKREM_NETWORK = {"HRTEM": "sfr_hrtem", "STEM-HAADF": "sfr_hrstem", "STEM-BF": "sfr_hrstem"}


def tkrem_method():
    """A function ``(noisy, modality) -> (denoised, note)`` running tk_r_em's networks."""
    import tensorflow as tf

    threads = int(os.environ.get("PEER_THREADS", "2"))
    tf.config.threading.set_intra_op_parallelism_threads(threads)
    tf.config.threading.set_inter_op_parallelism_threads(1)
    from tk_r_em import load_network

    networks = {}

    def prepare(modality):
        name = TKREM_NETWORK[modality]
        if name not in networks:
            networks[name] = load_network(name)
            networks[name].predict(np.zeros((64, 64), np.float32), batch_size=1)  # build the graph once

    def run(noisy, modality):
        name = TKREM_NETWORK[modality]
        out = networks[name].predict(noisy.astype(np.float32), batch_size=1)
        return np.asarray(out, np.float32).reshape(noisy.shape), f"tk_r_em {name}"

    run.prepare = prepare
    return run


def bm3d_method():
    """A function ``(noisy, modality) -> (denoised, note)``: BM3D on the variance-stabilised frame."""
    import bm3d

    def run(noisy, modality):
        z = dose_noise.anscombe(noisy)
        sigma = dose_noise.estimate_noise_sigma(z)
        denoised = bm3d.bm3d(z, sigma_psd=sigma)
        return dose_noise.inverse_anscombe(denoised).astype(np.float32), f"sigma_est={sigma:.3f} (Anscombe units)"

    return run


METHODS = {"tkrem": tkrem_method, "bm3d": bm3d_method}


def main(argv=None) -> int:
    method, input_path, out_dir = (argv or sys.argv[1:])[:3]
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    run = METHODS[method]()
    with np.load(input_path) as data:
        frame_ids, modalities = list(data["frame_ids"]), list(data["modalities"])
        for i, (frame_id, modality) in enumerate(zip(frame_ids, modalities)):
            noisy = data[f"x_{i}"]
            getattr(run, "prepare", lambda m: None)(str(modality))  # loading is not counted as run time
            start = time.perf_counter()
            denoised, note = run(noisy, str(modality))
            seconds = time.perf_counter() - start
            tmp = out_dir / f"{frame_id}.tmp.npz"
            np.savez_compressed(tmp, denoised=denoised, seconds=seconds, note=note)
            tmp.replace(out_dir / f"{frame_id}.npz")
            print(f"{method} {frame_id}: {seconds:.2f} s", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
