"""The one inference API used by the dock, the CLI and the benchmarks.

:class:`Denoiser` runs any registered model (network or classical baseline) on a
frame ``(y, x)`` or a stack ``(t, y, x)`` of any size: it applies the model's
intensity adapter, builds temporal windows (edge frames mirrored, frame count
kept), tiles at the model's tile size with blended overlaps, streams the stack in
chunks of frames into a preallocated output (numpy array or memmap), reports
progress with an ETA and can be cancelled between batches. On a GPU it uses
autocast (bf16 where supported, else fp16) and, when memory runs out, halves the
batch and then the tile and retries the chunk.

Model protocol (:mod:`tem_denoise.models.protocol`): a model maps
``(B, temporal_window, h, w)`` to ``(B, 1, h, w)``. A model may split itself
into a local part and a whole-frame part (:class:`~tem_denoise.models.protocol.SplitModel`)
by defining ``local_forward`` (run on tiles), ``frame_filter`` (run once per whole frame on
the blended result), ``receptive_radius`` (pixels of context the local part
needs) and ``padding_mode`` (its border rule, a ``torch.nn.functional.pad``
mode): then tiling is exact, the frame gets a border in that mode before it is
cut, and the default overlap is ``4 * receptive_radius`` (the blend gives no
weight to the outer quarter of each overlap). A model that pools may declare
``alignment`` (e.g. 4 for two 2x2 poolings): tiles then start on multiples of
it, so they pool on the same grid as the whole frame.
"""

from __future__ import annotations

import importlib.metadata
import time
import warnings
from collections.abc import Callable, Generator
from functools import partial
from typing import Any

import numpy as np

from tem_denoise.arrays import as_float32, check_image
from tem_denoise.engine import discrepancy, pilot_wiener, significant_residual, sure_let
from tem_denoise.engine.adapters import RestoreAdapter, fit_adapter, fit_restore_adapter
from tem_denoise.engine.device import configure, describe_device, fft_threads, resolve_device, run_threaded
from tem_denoise.engine.temporal import read_windows
from tem_denoise.engine.tiling import TileGrid, iter_tiled
from tem_denoise.memory import require, require_frame
from tem_denoise.models.card import ModelCard
from tem_denoise.models.protocol import AlignedModel, SplitModel
from tem_denoise.models.registry import capabilities, family_of, get_card, load_model
from tem_denoise.physics.noise_level import check_detector
from tem_denoise.progress import Progress, run_to_end

PRECISIONS = ("auto", "fp32", "bf16", "fp16")
RESTORE_BORDER = 16
"""Mirrored border (px, working grid) around frames given to a restoration model."""
PIXEL_BUDGET = {"cpu": 1 << 18, "mps": 1 << 21, "cuda": 1 << 22}
CPU_LOCAL_TILE = 512
MIN_TILE = 32
DISTRIBUTION = "napari-tem-denoise"


class SamplingWarning(UserWarning):
    """A restoration model runs on frames whose pixel size is unknown."""


class DoseWarning(UserWarning):
    """A restoration model runs on frames less noisy, or noisier, than any it was trained on."""


def checked_sampling(card: ModelCard, pixel_size_nm: float | None, stack=None) -> float:
    """The pixel size (nm) a restoration model runs at: ``pixel_size_nm`` inside the card's
    ``sampling_range_nm`` (else ValueError). When it is unknown, it is estimated from the
    lattice of ``stack`` (:mod:`tem_denoise.engine.scale_estimate`), kept within the card's
    range, or else the card's working sampling is assumed; a :class:`SamplingWarning` says which."""
    from tem_denoise.engine.scale_estimate import TYPICAL_SPACING_NM, pixel_size_from_lattice  # scikit-image

    low, high = card.sampling_range_nm
    if pixel_size_nm is None:
        estimate = None if stack is None else pixel_size_from_lattice(stack)
        if estimate is None:
            warnings.warn(f"the pixel size is unknown and the image shows no lattice to estimate it from, so "
                          f"{card.name} assumes its working sampling of {card.pixel_size_nm * 1000:.0f} pm/px; set "
                          "the image's pixel size (scale in nm) for a result at the right scale",
                          SamplingWarning, stacklevel=4)
            return card.pixel_size_nm
        pixel, spacing_px = estimate
        pixel = float(np.clip(pixel, low, high))
        warnings.warn(f"the pixel size is unknown: {card.name} runs at an estimated {pixel * 1000:.1f} pm/px (the "
                      f"image's lattice repeats every {spacing_px:.1f} px, taken as {TYPICAL_SPACING_NM} nm); set the "
                      "image's pixel size (scale in nm) for a result at the right scale", SamplingWarning, stacklevel=4)
        return pixel
    if not low * 0.999 <= pixel_size_nm <= high * 1.001:
        if pixel_size_nm > high:
            advice = ("its pixels are too coarse for it: record at a higher magnification, or choose a model that "
                      "runs at any sampling (e.g. gaussian-2d)")
        else:
            factor = int(np.ceil(low / pixel_size_nm))
            advice = f"its pixels are finer than that: bin the image {factor} x {factor}, or choose another model"
        raise ValueError(f"{card.name} was trained for pixel sizes of {low * 1000:.0f}-{high * 1000:.0f} pm/px; this "
                         f"image has {pixel_size_nm * 1000:.1f} pm/px, so {advice}.")
    return pixel_size_nm


def package_version() -> str:
    """Installed version of the plugin, or the source tree's ``__version__``, else ``"unknown"``."""
    try:
        return importlib.metadata.version(DISTRIBUTION)
    except importlib.metadata.PackageNotFoundError:
        try:
            from tem_denoise import __version__
        except ImportError:
            return "unknown"
        return __version__


def default_overlap(tile: int | None, receptive_radius: int | None = None) -> int:
    """Default tile overlap in pixels (0 for whole frames); our choice.

    ``4 * receptive_radius`` for a local model (exact blending), else an eighth of
    the tile and at least 8 pixels; never more than half the tile.
    """
    if not tile:
        return 0
    wanted = 4 * receptive_radius if receptive_radius is not None else max(8, tile // 8)
    return min(wanted, tile // 2)


def _mean_weights(weights: list[dict]) -> dict:
    """Frame means of SURE-LET weights (:func:`~tem_denoise.engine.sure_let.combine`'s records)."""
    return {key: round(float(np.mean([w[key] for w in weights])), 3) for key in weights[0]}


def _is_out_of_memory(err: BaseException) -> bool:
    import torch

    return isinstance(err, torch.OutOfMemoryError) or (
        isinstance(err, RuntimeError) and "out of memory" in str(err).lower()
    )


def _cpu_for_classical(name: str, device) -> Any:
    """The CPU device for a classical filter, with a warning when another device was asked for."""
    import torch

    if str(device).strip().lower() not in ("auto", "cpu"):
        warnings.warn(f"{name} is a classical filter that runs on the CPU; device {str(device)!r} is not used",
                      stacklevel=4)
    return torch.device("cpu")


def _as_stack(stack):
    """Validate a frame or stack; returns ``(frames_array, is_2d)`` with frames ``(t, y, x)``."""
    stack = check_image(stack, "the input")
    if stack.ndim == 2:
        return as_float32(stack, "the input")[None], True
    return stack, False


def _require_memory(frames, window: int, out, restore: bool) -> None:
    """Refuse a job whose working copies of one frame (or whose output) would not fit.

    Per frame: ``window`` float32 input frames, the adapted copy, the padded frame, the tiled
    output and its blend weights (about ``window + 5`` float32 copies) and, for a restoration
    model, the larger of the pilot Wiener step's working copies
    (:data:`~tem_denoise.engine.pilot_wiener.BYTES_PER_PX`) twice over (the SURE-LET step filters
    a frame and its probed copy at once) and the SURE-LET step's, filters and both
    combinations included (:data:`~tem_denoise.engine.sure_let.BYTES_PER_PX`); the output stack
    when it is allocated here.
    """
    restoring = max(2 * pilot_wiener.BYTES_PER_PX, sure_let.BYTES_PER_PX) if restore else 0
    require_frame(frames.shape, 4 * (window + 5) + restoring, "denoising")
    if out is None:
        require(4.0 * np.prod(frames.shape, dtype=np.float64), "the denoised stack in memory",
                "pass out=np.memmap(...) to stream it to disk, or denoise fewer frames at a time")


class Denoiser:
    """Denoise frames and stacks with one model.

    Parameters
    ----------
    model : str, ModelCard, torch.nn.Module or classical model
        A registered model name, a card (its weights are loaded and checked), or
        a model object (e.g. just trained); for an object, ``card`` describes it
        (default: temporal window from the object, no adapter, ``restore``).
    device : str or torch.device
        ``"auto"`` (CUDA, then MPS, then CPU), ``"cpu"``, ``"cuda[:N]"`` or
        ``"mps"``. Classical models always run on the CPU.
    tile : int or None
        Tile edge in pixels; None uses the card's ``tile_size``, and for a card
        without one whole frames, except that a model with a local part (see
        the module notes) is tiled at up to 512 pixels on CPU, which is faster
        there and gives the same result; 0 forces whole frames. Tiles of a
        fixed-size model are stretched by up to 12.5 % to need fewer of them
        (see :func:`~tem_denoise.engine.tiling.axis_plan`).
    overlap : int or None
        Pixels shared by neighbouring tiles; None uses :func:`default_overlap`.
    batch_size : int or None
        Tiles (or whole frames) per forward pass; None fills a pixel budget of
        0.25 Mpixel on CPU (larger tensors cost page faults on every
        allocation), 2 Mpixel on MPS and 4 Mpixel on CUDA (our choice).
    precision : {"auto", "fp32", "bf16", "fp16"}
        ``"auto"`` is bf16 autocast on CUDA GPUs that support it (else fp16) and
        fp32 elsewhere; half precision is refused off CUDA.
    card : ModelCard, optional
        Card for a model object.
    user_dirs : sequence of path, optional
        Extra directories searched for user models when ``model`` is a name.
    """

    def __init__(self, model, device="auto", tile: int | None = None, overlap: int | None = None,
                 batch_size: int | None = None, precision: str = "auto", card: ModelCard | None = None,
                 user_dirs=()):
        self.model, self.card, self.device, self.is_torch = self._load(model, card, device, user_dirs)
        self._channels_last = self._use_channels_last(owned=isinstance(model, (str, ModelCard)))
        configure(self.device)
        self.precision, self.amp_dtype = self._resolve_precision(precision)
        self._setup_tiling(tile, overlap)
        if batch_size is not None and batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, got {batch_size}")
        self.batch_size = batch_size
        self.eta_s: float | None = None
        self._last_run: dict[str, Any] = {}
        self._alphas: list[float] = []
        self._beam_doses: list[float] = []
        self._warned: set[str] = set()
        self._let_weights: list[dict] = []
        self._pilot_weights: list[dict] = []
        self._wiener_sides: list[tuple[int, int]] = []
        self._put_back: list[float] = []

    def _load(self, model, card: ModelCard | None, device, user_dirs):
        """Resolve the model argument to ``(model, card, device, is_torch)``, the model in eval mode on the device."""
        import torch

        if isinstance(model, str):
            model = get_card(model, user_dirs)
        if isinstance(model, ModelCard):
            card = model
            is_torch = self._card_is_torch(card)
            device = resolve_device(device) if is_torch else _cpu_for_classical(card.name, device)
            return load_model(card, device=str(device)), card, device, is_torch
        is_torch = isinstance(model, torch.nn.Module)
        device = resolve_device(device) if is_torch else _cpu_for_classical(type(model).__name__, device)
        if is_torch:
            model = model.to(device).eval()
        card = card or ModelCard(name=type(model).__name__, family="unregistered",
                                 temporal_window=model.temporal_window)
        if card.temporal_window != model.temporal_window:
            raise ValueError(
                f"card {card.name!r} says temporal_window={card.temporal_window}, "
                f"the model reads {model.temporal_window} frames"
            )
        return model, card, device, is_torch

    def _use_channels_last(self, owned: bool) -> bool:
        """Hold a torch model's weights, and hand it its tiles, channels-last on the CPU, for the
        families that run faster so (:attr:`~tem_denoise.models.registry.Family.channels_last`;
        same results to float rounding). Only for a model the engine loaded itself (``owned``),
        not one it was handed (a network being trained, whose layout stays its trainer's); not on
        GPUs, where it was not measured."""
        if not (owned and self.is_torch and self.device.type == "cpu" and family_of(self.card).channels_last):
            return False
        import torch

        self.model.to(memory_format=torch.channels_last)
        return True

    def _setup_tiling(self, tile: int | None, overlap: int | None) -> None:
        """Tile size, overlap and the model's tiling protocol (see the module notes)."""
        model = self.model
        local = isinstance(model, SplitModel)
        self._tile_fn = model.local_forward if local else model
        self._frame_fn = model.frame_filter if local else None
        self._radius = model.receptive_radius if local else None
        self._flexible = local
        self._padding_mode = model.padding_mode if local else "reflect"
        self._align = int(model.alignment) if isinstance(model, AlignedModel) else 1
        if tile is None:
            tile = self.card.tile_size
            if tile is None and local and self.device.type == "cpu":
                tile = CPU_LOCAL_TILE
        self.tile = int(tile) if tile else 0
        if self.tile and self.tile < 8:
            raise ValueError(f"tile must be 0 (whole frames) or at least 8 pixels, got {tile}")
        self.overlap = default_overlap(self.tile, self._radius) if overlap is None else int(overlap)
        if self.tile and not 0 <= self.overlap <= self.tile // 2:
            raise ValueError(f"overlap must be between 0 and half the tile ({self.tile // 2} px), got {overlap}")

    @staticmethod
    def _card_is_torch(card: ModelCard) -> bool:
        return capabilities(card).backend == "torch"

    def _resolve_precision(self, precision: str):
        import torch

        if precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {PRECISIONS}, got {precision!r}")
        on_cuda = self.device.type == "cuda"
        if precision in ("bf16", "fp16") and not on_cuda:
            raise ValueError(
                f"{precision} autocast is only used on CUDA GPUs; use 'fp32' or 'auto' on {self.device.type}"
            )
        if precision == "auto":
            precision = ("bf16" if torch.cuda.is_bf16_supported() else "fp16") if on_cuda else "fp32"
        dtype = {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}[precision]
        return precision, dtype

    def _run(self, tiles):
        """Model on a batch ``(b, window, h, w)`` -> ``(b, h, w)`` float32, same device."""
        import torch

        if not self.is_torch:
            return torch.from_numpy(self.model(tiles.cpu().numpy())[:, 0])
        if self._channels_last:
            tiles = tiles.contiguous(memory_format=torch.channels_last)
        with torch.inference_mode(), torch.autocast(
            device_type=self.device.type, dtype=self.amp_dtype, enabled=self.amp_dtype is not None
        ):
            out = self._tile_fn(tiles)
        return out[:, 0].float().clone()

    def _finish(self, frames):
        """Whole-frame step of a split model on blended ``(F, h, w)`` output."""
        import torch

        if self._frame_fn is None:
            return frames
        with torch.inference_mode():
            out = self._frame_fn(frames[:, None])
        return out[:, 0].float().clone()

    def _batch_size(self, grid: TileGrid) -> int:
        if self.batch_size:
            return self.batch_size
        return max(1, PIXEL_BUDGET[self.device.type] // (grid.tile_h * grid.tile_w))

    def _smaller(self, grid: TileGrid, tile: int, batch: int) -> tuple[int, int]:
        """Tile and batch size to retry with after running out of memory."""
        if batch > 1:
            return tile, batch // 2
        current = tile or max(grid.tile_h, grid.tile_w)
        if current // 2 < MIN_TILE:
            raise MemoryError(
                f"out of memory on {describe_device(self.device)} even with one {current}-pixel tile per batch; "
                "use device='cpu' or free GPU memory"
            )
        return current // 2, 1

    def fit_adapter(self, stack, pixel_size_nm: float | None = None, noise=None):
        """The card's adapter fitted to the whole ``stack`` (a frame or stack).

        For restoration models (adapter ``restore``) it also needs the pixel size in nm
        (checked against the card's ``sampling_range_nm``; None estimates it from the image's
        lattice, or assumes the working sampling, with a :class:`SamplingWarning`) and the noise level: ``noise`` (a
        :class:`~tem_denoise.physics.noise_level.NoiseLevel`, e.g. from the user's
        calibration), Poisson for raw counts, otherwise estimated from the data.
        """
        card = self.card
        if card.adapter != "restore":
            if noise is not None:
                warnings.warn(f"{card.name} does not read a noise level; the calibrated noise model is not used "
                              "(restoration models, e.g. restore-hrtem, use it)", stacklevel=3)
            return fit_adapter(card.adapter, stack, card.adapter_percentiles)
        if noise is not None and noise.model is not None:
            check_detector(noise.model, card.modality, f"model '{card.name}'")
        pixel = checked_sampling(card, pixel_size_nm, stack)
        with fft_threads():
            return fit_restore_adapter(stack, pixel, card.pixel_size_nm, noise, camera=card.modality == "HRTEM")

    def iter_denoise(self, stack, out=None, adapter=None, pixel_size_nm: float | None = None,
                     noise=None) -> Generator[Progress, None, np.ndarray]:
        """Denoise ``stack`` step by step; yields :class:`Progress`, returns the output.

        Parameters
        ----------
        stack : array-like
            Frame ``(y, x)`` or stack ``(t, y, x)`` of real numbers (numpy, dask,
            memmap or anything sliceable along ``t``), in the user's units. It is
            never modified.
        out : array-like, optional
            Preallocated float32 output of the same shape (e.g. ``np.memmap``);
            a new array is allocated when None.
        adapter : optional
            An adapter already fitted (see :meth:`fit_adapter`), e.g. to the whole stack
            when only a few of its frames are denoised for a preview; fitted to
            ``stack`` when None.
        pixel_size_nm : float, optional
            Pixel size of the frames in nm, which restoration models need (see
            :meth:`fit_adapter`); ignored by the others.
        noise : NoiseLevel, optional
            The frames' noise level when known (calibration); restoration models only.

        Returns
        -------
        numpy.ndarray
            Float32 output of the input's shape (the generator's return value, also
            :attr:`StopIteration.value`): in the input's units for ``restore``
            models, on the 0..255 map scale for ``atom-map`` models.

        Raises
        ------
        ValueError
            For bad input (shape, dtype, too few frames for a temporal model, NaN or
            Inf pixels).
        """
        frames, is_2d = _as_stack(stack)
        n, height, width = frames.shape
        window = self.card.temporal_window
        if window > 1 and n < 2:
            raise ValueError(
                f"model {self.card.name!r} reads {window} consecutive frames and needs a stack of at least 2; "
                "use a single-frame model for one image"
            )
        shape = (height, width) if is_2d else (n, height, width)
        invert = self.card.output_kind == "restore"
        _require_memory(frames, window, out, invert)
        if out is None:
            out = np.empty(shape, dtype=np.float32)
        elif tuple(out.shape) != shape:
            raise ValueError(f"out has shape {tuple(out.shape)}, expected {shape}")
        if adapter is None:
            adapter = self.fit_adapter(stack, pixel_size_nm, noise)
        tile, overlap = self.tile, self.overlap
        work_h, work_w = adapter.working_shape(height, width)
        grid, context = self._plan(work_h, work_w, tile, overlap)
        batch = self._batch_size(grid)
        done, total, start = 0, n * grid.n_tiles, time.perf_counter()
        self.eta_s = None
        self._alphas, self._beam_doses, self._warned, self._let_weights = [], [], set(), []
        self._pilot_weights = []
        self._wiener_sides, self._put_back = [], []
        i0 = 0
        while i0 < n:
            i1 = min(n, i0 + max(1, batch // grid.n_tiles))
            done_before = done
            try:
                windows = read_windows(frames, i0, i1, window)
                passes = [windows]
                variances = ([discrepancy.noise_variance(frame, adapter.level) for frame in windows[:, -1]]
                             if isinstance(adapter, RestoreAdapter) else None)
                weighed = [sure_let.applies(frame, adapter.level, variance)
                           for frame, variance in zip(windows[:, -1], variances or [])]
                if any(weighed):
                    correlation = adapter.noise_correlation(windows.shape[-2:])
                    probes = sure_let.probe(windows[:, -1], adapter.level, variances, correlation)
                    passes.append(sure_let.perturbed(windows, *probes))
                    total += (i1 - i0) * grid.n_tiles
                outputs = []
                for inputs in passes:
                    steps = self._iter_chunk(adapter.forward(inputs), grid, context, batch)
                    while True:
                        try:
                            done += next(steps)
                        except StopIteration as stop:
                            outputs.append(stop.value)
                            break
                        self.eta_s = (time.perf_counter() - start) / done * (total - done)
                        yield Progress(done, total, f"{self.card.name}: frames {i0 + 1}-{i1} of {n}, "
                                       f"tile {done} of {total}", self.eta_s, frames_done=i0)
            except (RuntimeError, MemoryError) as err:
                if not _is_out_of_memory(err):
                    raise
                self._free_memory()
                tile, batch = self._smaller(grid, tile, batch)
                overlap = min(overlap, tile // 2) if overlap else default_overlap(tile, self._radius)
                grid, context = self._plan(work_h, work_w, tile, overlap)
                done = done_before
                total = done + (n - i0) * grid.n_tiles
                yield Progress(done, total, f"out of memory: retrying with {tile}-pixel tiles, "
                               f"{batch} per batch", self.eta_s, frames_done=i0)
                continue
            y = outputs[0]
            if invert:
                moved = (adapter.inverse(outputs[1]), *probes, correlation) if len(outputs) > 1 else None
                with fft_threads():
                    y = self._restored(adapter, windows[:, -1], adapter.inverse(y), moved, variances, weighed)
            if is_2d:
                out[...] = y[0]
            else:
                out[i0:i1] = y
            i0 = i1
        self._last_run = {
            "tile": tile or 0, "overlap": overlap if tile else 0, "batch_size": batch,
            "tiles_per_frame": grid.n_tiles, "tile_shape": [grid.tile_h, grid.tile_w],
            "adapter": adapter.to_dict(), "seconds": round(time.perf_counter() - start, 3),
            **self._discrepancy_record(), **self._dose_record(), **self._sure_let_record(), **self._wiener_record(),
            **self._put_back_record(),
        }
        yield Progress(total, total, f"{self.card.name}: done, {n} frame(s)", 0.0, frames_done=n)
        return out

    def iter_preview(self, stack, index: int | None = None, pixel_size_nm: float | None = None,
                     noise=None) -> Generator[Progress, None, np.ndarray]:
        """Denoise one frame as the whole stack would be; yields :class:`Progress`, returns ``(y, x)``.

        The adapter is fitted to the whole ``stack`` (pixel size and noise level as in
        :meth:`fit_adapter`), not to the few frames read, and a temporal model reads frame
        ``index`` with its neighbours (the window cut at the stack's ends). A ``(y, x)`` frame is
        denoised whole (``index`` is then not used).
        """
        if np.ndim(stack) == 2:
            return (yield from self.iter_denoise(stack, pixel_size_nm=pixel_size_nm, noise=noise))
        n = stack.shape[0]
        if index is None or not 0 <= index < n:
            raise ValueError(f"the frame to preview must be in 0..{n - 1}; got {index}")
        adapter = self.fit_adapter(stack, pixel_size_nm, noise)
        half = self.card.temporal_window // 2
        lo, hi = max(0, index - half), min(n, index + half + 1)
        output = yield from self.iter_denoise(np.asarray(stack[lo:hi], dtype=np.float32), adapter=adapter)
        return output[index - lo]

    def _plan(self, height: int, width: int, tile: int, overlap: int) -> tuple[TileGrid, int]:
        """Tile plan and context border for frames of one size.

        A split (local) model cut into several tiles gets a border of
        ``receptive_radius`` pixels in its own ``padding_mode`` around the whole
        frame, so tiles at the frame's edge see what the model sees on a whole
        frame and the tiled result equals the whole-frame one. A restoration model
        gets a mirrored border of :data:`RESTORE_BORDER` pixels (working grid), so the
        frame's edge rows are restored like its inside (with the convolutions' zero
        padding there, they kept half their noise).
        """
        grid = TileGrid.plan(height, width, tile, overlap, flexible=self._flexible, align=self._align)
        if self.card.adapter == "restore" and min(height, width) > RESTORE_BORDER:
            r = RESTORE_BORDER
            return TileGrid.plan(height + 2 * r, width + 2 * r, tile, overlap, align=self._align), r
        if not self._radius or grid.n_tiles == 1 or min(height, width) < self._radius:
            return grid, 0
        r = self._radius
        return TileGrid.plan(height + 2 * r, width + 2 * r, tile, overlap, flexible=True), r

    def _iter_chunk(self, chunk: np.ndarray, grid: TileGrid, context: int,
                    batch: int) -> Generator[int, None, np.ndarray]:
        """Tiles of one chunk of windows ``(F, window, h, w)``; yields tiles done, returns ``(F, h, w)``."""
        import torch.nn.functional as F

        x = self._to_device(chunk)
        if context:
            x = F.pad(x, (context,) * 4, mode=self._padding_mode)
        result = yield from iter_tiled(x, self._run, grid, batch)
        if context:
            result = result[:, context:-context, context:-context]
        return self._finish(result).cpu().numpy()

    def _to_device(self, chunk: np.ndarray):
        import torch

        tensor = torch.from_numpy(np.ascontiguousarray(chunk))
        return tensor.to(self.device, non_blocking=True) if self.device.type != "cpu" else tensor

    def _restored(self, adapter, frames: np.ndarray, restored: np.ndarray, moved: tuple | None,
                  variances: list | None, weighed: list[bool]) -> np.ndarray:
        """Restored ``(F, y, x)`` frames checked against the noise of their raw ``frames``.

        Raw counts of a few electrons per pixel or more are combined with their pilot Wiener
        filters (:mod:`~tem_denoise.engine.pilot_wiener`, in windows and over the whole frame)
        and Gaussian filters by
        :mod:`~tem_denoise.engine.sure_let` (the frames ``weighed``), with ``moved`` = (the
        restorations of the probed frames, the probes, their steps, the noise's correlation or
        None for white noise). Other counts, and frames less noisy than the model's
        training data, are held to their noise (:mod:`~tem_denoise.engine.discrepancy`); every
        frame but those of the SURE-LET step then gets the pilot Wiener filter with the result as
        pilot. Last, what the result removed beyond the noise is put back, and what the network's
        restoration shows and the frame backs (:mod:`~tem_denoise.engine.significant_residual`).
        ``variances`` are the frames' noise variance maps, computed once for all of these.
        """
        if not isinstance(adapter, RestoreAdapter):
            return restored
        outputs = []
        level = adapter.level
        for k, (frame, out, variance) in enumerate(zip(frames, restored, variances, strict=True)):
            self._check_low_dose(frame, level, variance)
            sides = pilot_wiener.windows_for(frame.shape, adapter.factor)
            above = self._above_trained_dose(frame, level, variance, weighed[k])
            if weighed[k] and moved is not None:
                shifted, probe_, step, correlation = moved[0][k], moved[1][k], float(moved[2][k]), moved[3]
                network = out
                terms = sure_let.frame_terms(frame, out, shifted, adapter.pixel_size_nm)
                filters = None
                if sides[0]:
                    filters, pilot_weights = self._pilot_filters(frame, out, shifted, probe_, step, variance, adapter,
                                                                 correlation, terms)
                    self._pilot_weights.append(pilot_weights)
                out, weights = sure_let.combine(frame, out, shifted, probe_, step, level, variance, filters,
                                                adapter.pixel_size_nm, correlation, terms)
                self._let_weights.append(weights)
            else:
                if discrepancy.is_exact(level) or above:
                    out, alpha = discrepancy.limit_to_noise(frame, out, level, variance)
                    self._alphas.append(alpha)
                network = out
                out = pilot_wiener.filter_frame(frame, out, variance, adapter.factor, adapter.spectrum)
            if sides[0]:
                self._wiener_sides.append(sides)
            if adapter.pixel_size_nm is not None:
                out, share = significant_residual.put_back(frame, out, variance, adapter.pixel_size_nm, network)
                self._put_back.append(share)
            outputs.append(out)
        return np.stack(outputs)

    @staticmethod
    def _pilot_filters(frame: np.ndarray, out: np.ndarray, shifted: np.ndarray, probe_: np.ndarray, step: float,
                       variance: np.ndarray, adapter: RestoreAdapter, correlation: np.ndarray | None,
                       terms: sure_let.FrameTerms) -> tuple[dict, dict]:
        """The SURE-LET step's pilot Wiener candidates, in two rounds. First the whole-frame
        filter with the network's restoration ``out`` as pilot joins the network and the Gaussians
        in a SURE-LET combination (:func:`~tem_denoise.engine.sure_let.pilot`), with its
        significant residual put back when the pixel size is known; that is the pilot of the
        windowed and the whole-frame filters the final combination weighs (BM3D's second step
        with a better first one). Each filter also runs on the frame probed by ``step * probe_``,
        with the probed pilot (``shifted``, the network's restoration of the probed frame, in the
        first round), two at a time where the thread budget allows. ``terms``: what both
        combinations share (:func:`~tem_denoise.engine.sure_let.frame_terms`). Returns the
        candidates and the first combination's weights."""
        probed = frame + step * probe_
        first = {"whole_frame_wiener": tuple(run_threaded([
            partial(pilot_wiener.whole_frame, frame, out, variance, adapter.spectrum),
            partial(pilot_wiener.whole_frame, probed, shifted, variance, adapter.spectrum)]))}
        pilot, probed_pilot, weights = sure_let.pilot(frame, out, shifted, probe_, step, adapter.level, variance,
                                                      first, adapter.pixel_size_nm, correlation, terms)
        if adapter.pixel_size_nm is not None:  # the put-back's change taken as the probed pilot's too
            corrected, _ = significant_residual.put_back(frame, pilot, variance, adapter.pixel_size_nm, out)
            pilot, probed_pilot = corrected, probed_pilot + (corrected - pilot)
        filtered = run_threaded([
            partial(pilot_wiener.filter_frame, frame, pilot, variance, adapter.factor, adapter.spectrum),
            partial(pilot_wiener.filter_frame, probed, probed_pilot, variance, adapter.factor, adapter.spectrum),
            partial(pilot_wiener.whole_frame, frame, pilot, variance, adapter.spectrum),
            partial(pilot_wiener.whole_frame, probed, probed_pilot, variance, adapter.spectrum)], most=2)
        return {"wiener": tuple(filtered[:2]), "whole_frame_wiener": tuple(filtered[2:])}, weights

    def _trained_doses(self) -> list | None:
        """The card's training dose range (e-/px at the beam's level), None when it states none."""
        return (self.card.training or {}).get("data", {}).get("dose_range_e_per_px")

    def _check_low_dose(self, frame: np.ndarray, level, variance: np.ndarray) -> None:
        """Record ``frame``'s beam dose; warn once per run when it is below the card's range."""
        dose = discrepancy.beam_dose(frame, level, variance)
        if dose is None:
            return
        self._beam_doses.append(dose)
        dose_range = self._trained_doses()
        if dose_range and dose < dose_range[0] and "low dose" not in self._warned:
            self._warned.add("low dose")
            warnings.warn(f"{self.card.name} was trained on doses from {dose_range[0]:g} e-/px at the beam's level; "
                          f"this frame holds about {dose:.2g} e-/px there. Below its training range the network may "
                          "smooth away faint detail or invent some: compare with a Gaussian filter, or sum frames "
                          "before denoising.", DoseWarning, stacklevel=4)

    def _above_trained_dose(self, frame: np.ndarray, level, variance: np.ndarray, weighed: bool) -> bool:
        """True (with one warning per run) when ``frame``'s effective dose exceeds the card's; the
        warning says what the engine does about it: the SURE-LET step's weights (``weighed``) or
        the discrepancy step."""
        dose_range = self._trained_doses()
        dose = discrepancy.effective_dose(frame, level, variance)
        if not dose_range or dose is None or dose <= dose_range[1]:
            return False
        if "high dose" not in self._warned:
            self._warned.add("high dose")
            remedy = ("an unbiased estimate of the error weighs its change against filters of the frame"
                      if weighed else "its change to the frame is held to what the noise allows; a Gaussian "
                      "filter may do as well at this dose")
            warnings.warn(f"{self.card.name} was trained on doses up to {dose_range[1]:g} e-/px; this frame's noise "
                          f"corresponds to about {dose:.3g} e-/px: {remedy}.", DoseWarning, stacklevel=4)
        return True

    def _sure_let_record(self) -> dict:
        """Provenance of the SURE-LET step: the mean weights of the network, the filters and the
        frame, and those of the first combination that set the filters' pilot."""
        if not self._let_weights:
            return {}
        record = {"frames": len(self._let_weights), "mean_weights": _mean_weights(self._let_weights)}
        if self._pilot_weights:
            record["pilot_mean_weights"] = _mean_weights(self._pilot_weights)
        return {"sure_let": record}

    def _wiener_record(self) -> dict:
        """Provenance of the pilot Wiener step: frames filtered and the windows' sides (frame px)."""
        if not self._wiener_sides:
            return {}
        lattice, detail = self._wiener_sides[0]
        return {"pilot_wiener": {"frames": len(self._wiener_sides), "window_px": lattice, "detail_window_px": detail}}

    def _put_back_record(self) -> dict:
        """Provenance of the significant-residual step: frames and the mean share of pixels given
        part of their residual back."""
        if not self._put_back:
            return {}
        return {"significant_residual": {"frames": len(self._put_back),
                                         "mean_share_px": round(float(np.mean(self._put_back)), 4)}}

    def _dose_record(self) -> dict:
        """Provenance of the frames' dose at the beam's level against the card's training range."""
        if not self._beam_doses:
            return {}
        return {"dose": {"beam_e_per_px_median": float(f"{np.median(self._beam_doses):.3g}"),
                         "trained_e_per_px": self._trained_doses()}}

    def _discrepancy_record(self) -> dict:
        """Provenance of the discrepancy step: how much of the network's change was kept."""
        if not self._alphas:
            return {}
        alphas = np.asarray(self._alphas)
        return {"discrepancy": {"frames_limited": int(np.sum(alphas < 1)), "alpha_min": round(float(alphas.min()), 3),
                                "alpha_mean": round(float(alphas.mean()), 3)}}

    def _free_memory(self) -> None:
        import torch

        if self.device.type == "cuda":
            torch.cuda.empty_cache()

    def denoise(self, stack, out=None, progress: Callable[[Progress], None] | None = None,
                pixel_size_nm: float | None = None, noise=None) -> np.ndarray:
        """Denoise ``stack`` and return the float32 result (see :meth:`iter_denoise`).

        ``progress``, if given, is called with every :class:`Progress`.
        """
        return run_to_end(self.iter_denoise(stack, out, pixel_size_nm=pixel_size_nm, noise=noise), progress)

    def provenance(self) -> dict[str, Any]:
        """What produced the output, for layer metadata and written files.

        Model name, family, output kind, weights sha256, package and torch
        versions, device, precision, tile, overlap, batch size and the fitted
        intensity adapter of the last run.
        """
        import torch

        card = self.card
        return {
            "operation": "denoise",
            "model": card.name,
            "family": card.family,
            "architecture": dict(card.architecture),
            "output_kind": card.output_kind,
            "modality": card.modality,
            "weights_file": card.weights_file,
            "weights_sha256": card.weights_sha256,
            "temporal_window": card.temporal_window,
            "package_version": package_version(),
            "torch_version": torch.__version__,
            "device": describe_device(self.device) if self.is_torch else "CPU (numpy)",
            "precision": self.precision if self.is_torch else "fp32",
            "tile": self.tile or 0,
            "overlap": self.overlap if self.tile else 0,
            "batch_size": self.batch_size,
            **({"last_run": dict(self._last_run)} if self._last_run else {}),
        }
