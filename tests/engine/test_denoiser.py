"""The Denoiser: shapes, adapters, temporal edges, streaming, progress, cancellation, OOM retry."""

from __future__ import annotations

import dask.array as da
import numpy as np
import pytest
import torch

from tem_denoise.engine import Denoiser, Progress, describe_device, resolve_device
from tem_denoise.models import ModelCard
from tem_denoise.models.blindspot import BlindSpotNet
from tem_denoise.models.registry import get_card, load_model
from tem_denoise.models.scgn import SCGN


class WindowMean(torch.nn.Module):
    """Mean of the window's frames (identity for one frame); no parameters."""

    def __init__(self, window: int = 1):
        super().__init__()
        self.temporal_window = window

    def forward(self, x):
        return x.mean(dim=1, keepdim=True)


class RunsOutOfMemory(WindowMean):
    """Identity that raises CUDA's out-of-memory error for batches above ``limit`` pixels."""

    def __init__(self, limit: int):
        super().__init__(1)
        self.limit = limit

    def forward(self, x):
        if x.shape[0] * x.shape[-1] * x.shape[-2] > self.limit:
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
        return x[:, :1]


def card_for(window=1, adapter="none", kind="restore", percentiles=(0.0, 100.0)):
    return ModelCard("test-model", "unregistered", temporal_window=window, adapter=adapter,
                     output_kind=kind, adapter_percentiles=percentiles)


def run_all(gen):
    events = []
    while True:
        try:
            events.append(next(gen))
        except StopIteration as stop:
            return events, stop.value


@pytest.mark.parametrize("model", [BlindSpotNet(frames=1, mid_channels=2, n_layers=1),
                                   BlindSpotNet(frames=3, mid_channels=2, n_layers=1),
                                   SCGN(channels=8, n_blocks=1)])
def test_stack_and_frame_shapes_are_kept(model):
    x = np.random.default_rng(0).poisson(2.0, (4, 23, 31)).astype(np.uint16)
    d = Denoiser(model, device="cpu", tile=16)
    out = d.denoise(x)
    assert out.shape == x.shape and out.dtype == np.float32 and np.isfinite(out).all()
    if model.temporal_window == 1:
        frame = d.denoise(x[1])
        assert frame.shape == (23, 31)
        np.testing.assert_allclose(frame, out[1], rtol=1e-5, atol=1e-6)


def test_a_loaded_network_runs_channels_last_on_the_cpu_and_a_handed_one_keeps_its_layout():
    def layouts(model):
        return {p.is_contiguous(memory_format=torch.channels_last) for p in model.parameters() if p.dim() == 4}

    loaded = Denoiser("restore-haadf", device="cpu")
    card = get_card("restore-haadf")
    handed = Denoiser(load_model(card), device="cpu", card=card)
    assert layouts(loaded.model) == {True} and False in layouts(handed.model)
    assert loaded._channels_last and not handed._channels_last
    assert not Denoiser("wcid-2d", device="cpu")._channels_last  # a family that gains nothing
    assert not Denoiser("gaussian-2d", device="cpu")._channels_last  # not a network
    x = np.random.default_rng(4).poisson(3.0, (96, 96)).astype(np.float32)
    np.testing.assert_allclose(loaded.denoise(x, pixel_size_nm=0.02), handed.denoise(x, pixel_size_nm=0.02),
                               rtol=1e-4, atol=1e-4 * float(x.max()))


def test_temporal_model_keeps_frame_count_with_mirrored_edges():
    x = np.arange(5, dtype=np.float32)[:, None, None] * np.ones((5, 9, 7), np.float32)
    out = Denoiser(WindowMean(3), device="cpu").denoise(x)
    np.testing.assert_allclose(out[:, 0, 0], [2 / 3, 1, 2, 3, 10 / 3], rtol=1e-6)  # [1,0,1] ... [3,4,3]
    with pytest.raises(ValueError, match="at least 2"):
        Denoiser(WindowMean(3), device="cpu").denoise(x[0])
    assert Denoiser(WindowMean(3), device="cpu").denoise(x[:2]).shape == (2, 9, 7)


@pytest.mark.parametrize("data", [np.random.default_rng(1).poisson(1.0, (3, 20, 20)),  # counting mode
                                  np.random.default_rng(2).uniform(100, 1000, (3, 20, 20))])  # linear mode
def test_restore_models_give_back_the_input_units(data):
    x = data.astype(np.float32)
    d = Denoiser(WindowMean(), device="cpu", card=card_for(adapter="percentile-255"))
    np.testing.assert_allclose(d.denoise(x), x, rtol=1e-5, atol=1e-4 * x.max())
    atom = Denoiser(WindowMean(), device="cpu", card=card_for(adapter="percentile-255", kind="atom-map"))
    y = atom.denoise(x)
    assert y.min() == pytest.approx(0.0, abs=1e-3) and y.max() == pytest.approx(255.0, rel=1e-5)


def test_dask_input_and_memmap_output_match_numpy(tmp_path):
    torch.manual_seed(0)
    model = BlindSpotNet(frames=3, mid_channels=2, n_layers=1)
    x = np.random.default_rng(3).poisson(3.0, (7, 20, 24)).astype(np.float32)
    ref = Denoiser(model, device="cpu").denoise(x)
    out = np.memmap(tmp_path / "out.dat", dtype=np.float32, mode="w+", shape=x.shape)
    d = Denoiser(model, device="cpu", batch_size=2)
    result = d.denoise(da.from_array(x, chunks=(2, 20, 24)), out=out)
    assert result is out
    np.testing.assert_allclose(np.asarray(out), ref, rtol=1e-5, atol=1e-6)


class RecordingStack:
    """Array-like (t, y, x) that records the frame ranges read."""

    def __init__(self, data):
        self.data, self.reads = data, []
        self.shape, self.ndim, self.dtype = data.shape, data.ndim, data.dtype

    def __getitem__(self, index):
        self.reads.append(index)
        return self.data[index]


def test_stack_is_streamed_in_bounded_chunks():
    stack = RecordingStack(np.ones((40, 16, 16), np.float32))
    Denoiser(WindowMean(3), device="cpu", batch_size=4).denoise(stack)
    slices = [r for r in stack.reads if isinstance(r, slice)]
    assert len(slices) == 10 and max(s.stop - s.start for s in slices) <= 4 + 2


def test_progress_reaches_total_with_an_eta_after_the_first_batch():
    x = np.zeros((6, 40, 40), np.float32)
    d = Denoiser(WindowMean(), device="cpu", tile=16, overlap=4, batch_size=3)
    events, out = run_all(d.iter_denoise(x))
    assert all(isinstance(e, Progress) for e in events)
    assert [e.done for e in events] == sorted(e.done for e in events)
    assert events[-1].done == events[-1].total == 6 * 9 and events[-1].frames_done == 6
    assert events[0].eta_s is not None and d.eta_s == 0.0
    assert out.shape == x.shape


def test_cancel_stops_mid_stack():
    """Cancelling is closing the generator (what napari's worker quit and the CLI's Ctrl-C do)."""
    x = np.ones((10, 16, 16), np.float32)
    out = np.full(x.shape, -1.0, np.float32)
    d = Denoiser(WindowMean(), device="cpu", batch_size=1)
    gen = d.iter_denoise(x, out=out)
    for _ in range(3):
        next(gen)
    gen.close()
    with pytest.raises(StopIteration):
        next(gen)
    assert (out[:2] == 1.0).all() and (out[4:] == -1.0).all()
    assert d.denoise(x).shape == x.shape  # a new run starts afresh


def test_out_of_memory_retries_with_smaller_batches_and_tiles():
    x = np.random.default_rng(4).random((2, 64, 64)).astype(np.float32)
    d = Denoiser(RunsOutOfMemory(limit=40 * 40), device="cpu", tile=64, batch_size=4)
    events, out = run_all(d.iter_denoise(x))
    assert any("out of memory" in e.message for e in events)
    np.testing.assert_allclose(out, x, rtol=0, atol=1e-6)
    assert d.provenance()["last_run"]["tile"] == 32
    with pytest.raises(MemoryError, match="even with one"):
        Denoiser(RunsOutOfMemory(limit=10), device="cpu", tile=64).denoise(x)


def test_classical_models_by_name():
    x = np.random.default_rng(5).random((6, 20, 20)).astype(np.float32)
    assert Denoiser("gaussian-3d", device="cpu").denoise(x).shape == x.shape
    assert Denoiser("wiener").denoise(x[0]).shape == (20, 20)
    with pytest.raises(ValueError, match="at least 2"):
        Denoiser("gaussian-3d").denoise(x[0])


def test_input_is_never_modified_and_bad_input_is_refused():
    x = np.random.default_rng(6).random((3, 12, 12)).astype(np.float32)
    before = x.copy()
    d = Denoiser(WindowMean(), device="cpu", card=card_for(adapter="percentile-255", percentiles=(5, 95)))
    d.denoise(x)
    np.testing.assert_array_equal(x, before)
    with pytest.raises(ValueError, match=r"\(y, x\) frame or a \(t, y, x\) stack"):
        d.denoise(np.zeros((2, 3, 4, 5), np.float32))
    with pytest.raises(ValueError, match="complex-valued"):
        d.denoise(np.zeros((4, 4), np.complex64))
    with pytest.raises(ValueError, match="out has shape"):
        d.denoise(x, out=np.zeros((2, 12, 12), np.float32))
    with pytest.raises(ValueError, match="overlap"):
        Denoiser(WindowMean(), device="cpu", tile=32, overlap=20)


def test_the_engines_ffts_use_the_threads_torch_is_given():
    from scipy import fft

    from tem_denoise.engine.device import fft_threads

    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(1)  # a batch worker's share
        with fft_threads():
            assert fft.get_workers() == 1
        torch.set_num_threads(2)
        with fft_threads():
            assert fft.get_workers() == 2
        assert fft.get_workers() == 1  # scipy's default outside the engine
    finally:
        torch.set_num_threads(threads)


def test_filters_run_two_at_a_time_on_the_thread_budget_with_the_same_results():
    import threading

    from scipy import fft, ndimage

    from tem_denoise.engine.device import run_threaded

    image = np.random.default_rng(0).random((64, 64))
    threads = []

    def smoothed(sigma):
        threads.append(threading.get_ident())
        return ndimage.gaussian_filter(image, sigma)

    calls = [lambda s=s: smoothed(s) for s in (0.5, 1.0, 2.0, 4.0)]
    serial = run_threaded(calls)  # scipy's default: one worker, in this thread
    assert set(threads) == {threading.get_ident()}
    threads.clear()
    with fft.set_workers(2):
        parallel = run_threaded(calls)
    assert threading.get_ident() not in threads
    for one, other, sigma in zip(serial, parallel, (0.5, 1.0, 2.0, 4.0), strict=True):
        np.testing.assert_array_equal(one, other)
        np.testing.assert_array_equal(one, ndimage.gaussian_filter(image, sigma))  # in order


def test_device_and_precision_choices():
    assert resolve_device("cpu").type == "cpu"
    assert resolve_device("auto").type in ("cpu", "cuda", "mps")
    assert "CPU" in describe_device(torch.device("cpu"))
    with pytest.raises(ValueError, match="unknown device"):
        resolve_device("tpu")
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="no CUDA"):
            resolve_device("cuda")
        with pytest.raises(ValueError, match="only used on CUDA"):
            Denoiser(WindowMean(), device="cpu", precision="bf16")
    assert Denoiser(WindowMean(), device="cpu").precision == "fp32"


def test_provenance_names_model_weights_version_and_settings():
    d = Denoiser(BlindSpotNet(frames=1, mid_channels=2, n_layers=1), device="cpu", tile=32)
    d.denoise(np.ones((20, 20), np.float32))
    prov = d.provenance()
    for key in ("model", "weights_sha256", "package_version", "device", "tile", "overlap", "output_kind"):
        assert key in prov
    assert prov["tile"] == 32 and prov["last_run"]["adapter"] == {"adapter": "none"}
    assert isinstance(prov["package_version"], str) and prov["package_version"]


def test_non_finite_input_is_refused_with_a_message():
    from tem_denoise.engine import Denoiser

    frame = np.ones((32, 32), np.float32)
    frame[3, 4] = np.nan
    with pytest.raises(ValueError, match="NaN/Inf pixel"):
        Denoiser("gaussian-2d", device="cpu").denoise(frame)
