"""Export a model to the BioImage.IO model format (a zip the model zoo and its tools read).

The network is exported as TorchScript (traced on a test frame), so the package runs without
this plugin; its description (``rdf.yaml``, format 0.5) is built and validated with
``bioimageio.spec``. What the description holds:

* the input ``(batch, channel, y, x)``: the frames of the temporal window, or for restoration
  models the image and its noise sigma on the working grid (the engine's
  :class:`~tem_denoise.engine.adapters.RestoreAdapter` prepares both);
* pre-processing of ``percentile-255`` models as ``scale_range`` (the card's percentiles over
  the whole input) then ``scale_linear`` by 255 and ``clip`` to 0..255;
* a test input (a synthetic noisy lattice) and the network's output on it;
* any frame size that is a multiple of the network's pooling grid, except for blind-spot nets
  with their FFT low-pass, whose traced low-pass fixes the size to :data:`FIXED_SIZE` px;
* the card as ``config.tem_denoise`` and the model's description, so nothing is lost.

Classical filters are not networks and are not exported.
"""

from __future__ import annotations

import tempfile
import warnings
from pathlib import Path

import numpy as np

from tem_denoise.models.card import ModelCard
from tem_denoise.outputs import atomic_path

TEST_SIZE = 64
FIXED_SIZE = 256
CITATIONS = {  # family -> (text, public code of the method's paper)
    "blindspot": ("Self-supervised blind-spot denoising of low-SNR HRTEM time series (WCID/WCVD)",
                  "https://github.com/CFN-ETEM/HRTEM_denoising_model"),
    "scgn": ("Statistical characteristic-guided denoising network (SCGN) for HRTEM", "https://github.com/HeasonLee/SCGN"),
    "sfin": ("Noise calibration and spatial-frequency interactive network (SFIN) for STEM",
             "https://github.com/HeasonLee/SFIN"),
    "unet": ("Ronneberger, Fischer and Brox, U-Net: convolutional networks for biomedical image segmentation, "
             "MICCAI 2015", "https://doi.org/10.1007/978-3-319-24574-4_28"),
}
"""Frame edge (px) of networks whose whole-frame FFT low-pass is traced for one size (blind-spot nets)."""


def test_input(card: ModelCard, channels: int, size: int = TEST_SIZE) -> np.ndarray:
    """A ``(1, channels, size, size)`` float32 test input: a noisy lattice in the model's input scale."""
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[:size, :size]
    clean = 20 + 15 * np.cos(2 * np.pi * yy / 7) * np.cos(2 * np.pi * xx / 9)
    frames = rng.poisson(np.repeat(clean[None], channels, axis=0)).astype(np.float32)
    if card.adapter == "restore":
        low, span = float(np.percentile(clean, 0.5)), float(np.ptp(clean))
        frames = np.stack([(frames[0] - low) / span, np.sqrt(clean) / span]).astype(np.float32)
    return frames[None]


def preprocess(card: ModelCard, x: np.ndarray) -> np.ndarray:
    """What the description's pre-processing does to ``x`` (for the test output)."""
    if card.adapter != "percentile-255":
        return x
    low, high = np.percentile(x, card.adapter_percentiles)
    return np.clip((x - low) / (high - low + 1e-6) * 255.0, 0, 255).astype(np.float32)


def _preprocessing(card: ModelCard) -> list:
    from bioimageio.spec.model import v0_5 as spec

    if card.adapter != "percentile-255":
        return []
    low, high = card.adapter_percentiles
    return [spec.ScaleRangeDescr(kwargs=spec.ScaleRangeKwargs(axes=["channel", "y", "x"], min_percentile=low,
                                                              max_percentile=high, eps=1e-6)),
            spec.ScaleLinearDescr(kwargs=spec.ScaleLinearKwargs(gain=255.0)),
            spec.ClipDescr(kwargs=spec.ClipKwargs(min=0.0, max=255.0))]


def _channel_names(card: ModelCard, channels: int) -> list[str]:
    if card.adapter == "restore":
        return ["image", "noise_sigma"]
    centre = channels // 2
    return [f"frame_t{i - centre:+d}" if channels > 1 else "frame" for i in range(channels)]


def _describe(card: ModelCard, folder: Path, channels: int, size: int | None, align: int, torch_version: str):
    from bioimageio.spec.model import v0_5 as spec

    extent = size if size is not None else spec.ParameterizedSize(min=max(align, 16), step=align)
    space = [spec.SpaceInputAxis(id=axis, size=extent) for axis in ("y", "x")]
    inputs = spec.InputTensorDescr(
        id="input", description="noisy frames" if card.adapter != "restore" else "image and noise sigma, working grid",
        axes=[spec.BatchAxis(), spec.ChannelAxis(channel_names=_channel_names(card, channels)), *space],
        test_tensor=spec.FileDescr(source=folder / "test_input.npy"), preprocessing=_preprocessing(card))
    outputs = spec.OutputTensorDescr(
        id="output",
        description=card.output_kind + " (on the input's 0..255 scale)" * (card.adapter == "percentile-255"),
        axes=[spec.BatchAxis(), spec.ChannelAxis(channel_names=[card.output_kind.replace("-", "_")]),
              *(spec.SpaceOutputAxis(id=axis, size=spec.SizeReference(tensor_id="input", axis_id=axis))
                for axis in ("y", "x"))],
        test_tensor=spec.FileDescr(source=folder / "test_output.npy"))
    weights = spec.WeightsDescr(torchscript=spec.TorchscriptWeightsDescr(
        source=folder / "weights_torchscript.pt", pytorch_version=spec.Version(torch_version.split("+")[0])))
    text, url = CITATIONS.get(card.family, CITATIONS["unet"])
    return spec.ModelDescr(
        name=f"tem-denoise {card.name}", description=(card.description or card.summary())[:1000],
        authors=[spec.Author(name="napari-tem-denoise")], cite=[spec.CiteEntry(text=text, url=url)],
        license="MIT", documentation=spec.FileDescr(source=folder / "README.md"),
        tags=["denoising", "electron-microscopy", "tem", "stem"],
        inputs=[inputs], outputs=[outputs], weights=weights,
        config={"tem_denoise": {"card": card.to_dict()}})


def export_bioimageio(card: ModelCard, path: str | Path) -> Path:
    """Write model ``card`` as a BioImage.IO package (zip) at ``path``, validated before it is kept.

    Raises
    ------
    ValueError
        For a classical filter (no network), or when ``bioimageio.spec`` refuses the description
        (its summary is in the message).
    """
    import torch
    from bioimageio.spec import save_bioimageio_package

    from tem_denoise.models.registry import family_of, load_model

    if family_of(card).backend != "torch":
        raise ValueError(f"'{card.name}' is a classical filter, not a network: there is nothing to export")
    model = load_model(card, device="cpu")
    channels = 2 if card.adapter == "restore" else card.temporal_window
    align = int(getattr(model, "alignment", 1))
    size = FIXED_SIZE if getattr(model, "lowpass", False) else None
    x = test_input(card, channels, size or TEST_SIZE)
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore", torch.jit.TracerWarning)  # shapes are fixed or aligned (see above)
        warnings.filterwarnings("ignore", message=r".*torch\.jit\.trace.* is deprecated")  # what BioImage.IO runs
        traced = torch.jit.trace(model, torch.from_numpy(preprocess(card, x)), check_trace=False)
        y = traced(torch.from_numpy(preprocess(card, x))).numpy()
    with tempfile.TemporaryDirectory(prefix="tem-denoise-bioimageio-") as scratch, warnings.catch_warnings():
        warnings.simplefilter("ignore", ResourceWarning)  # bioimageio.spec leaves files it hashed open
        folder = Path(scratch)
        traced.save(str(folder / "weights_torchscript.pt"))
        np.save(folder / "test_input.npy", x)
        np.save(folder / "test_output.npy", y.astype(np.float32))
        (folder / "README.md").write_text(f"# {card.name}\n\n{card.description}\n\nExported from napari-tem-denoise "
                                          f"({card.summary()}).\n", encoding="utf-8")
        description = _describe(card, folder, channels, size, align, torch.__version__)
        summary = description.validation_summary
        if summary.status == "failed":
            raise ValueError(f"the BioImage.IO description of '{card.name}' does not validate: {summary.format()}")
        with atomic_path(path) as temporary:
            save_bioimageio_package(description, output_path=temporary.with_suffix(".zip"))
            temporary.with_suffix(".zip").replace(temporary)
    return Path(path)


def validate_package(path: str | Path) -> str:
    """Validate a BioImage.IO package offline with ``bioimageio.spec``; returns its status
    (``"valid-format"`` or ``"passed"``); ValueError with the summary when it fails."""
    from bioimageio.spec import load_description

    description = load_description(Path(path), perform_io_checks=True)
    summary = description.validation_summary
    if summary.status == "failed":
        raise ValueError(f"{path} is not a valid BioImage.IO package: {summary.format()}")
    return summary.status
