"""Weight-centric blind-spot denoisers WCID (2D) and WCVD (3 frames), seed 002 §2.1, §4.1.

Each ensemble member is one bias-free *blind convolution* (1 -> ``mid`` channels,
spatial kernel ``Ks x Ks``, temporal kernel ``Kt`` = 1 or 3 frames, periodic
spatial padding, valid temporal padding) whose weight at the centre frame's
centre pixel is exactly zero, followed by ``n_layers`` bias-free 1x1 convs with
LeakyReLU(0.1) and a bias-free 1x1 conv to one channel with ReLU. Members with
``Ks`` = 3, 5, 7 are combined with softmax-normalised learned weights (equal at
start). A hard circular FFT low-pass, diameter ``N / Ks_max`` frequency bins for
an ``N``-pixel axis (i.e. a cutoff of ``1 / (2 Ks_max)`` cycles per pixel on both
axes), is applied to the ensemble output, computed for the actual input size.

Being bias-free with (leaky) ReLUs and a linear low-pass, the network is
positively homogeneous: ``f(a x) = a f(x)`` for ``a > 0``; it needs no intensity
normalisation, only non-negative input (counts).

How the blind spot is held at zero: the centre weight is zeroed at construction
and after ``load_state_dict``, and :class:`BlindConv` multiplies its weight by a
fixed mask in ``forward``. The mask makes the gradient at the centre exactly 0,
so Adam's moments stay 0 and its update is 0, and weight decay (``p * (1 - lr
wd)``) keeps an exact 0 at 0. The receptive field of the network before the
low-pass is exactly the blind kernel; the global low-pass lets a pixel reach its
own output through its neighbours' outputs (as in the authors' code), so
self-supervised training should use :meth:`BlindSpotNet.blind` (no low-pass).

A temporal kernel of 3 frames over a 3-frame window with valid padding is a 2D
convolution with the frames as input channels, which is how it is computed here
(same parameter count as the authors' Conv3d: ``Kt * Ks^2 * mid``). The paper
configuration (``mid_channels=3, n_layers=4``, kernels 3/5/7, 3 frames) has 867
parameters (``seed_code_notes.md`` §4).

For the engine the network splits into a local part (:meth:`BlindSpotNet.blind`,
receptive radius ``Ks_max // 2``, periodic padding), which is tiled exactly, and
a whole-frame part (the low-pass, :meth:`BlindSpotNet.frame_filter`).

Defaults not fixed by the paper: the low-pass kernel divisor defaults to
``Ks_max`` as the paper text says; the authors' released code uses a radius of
``H / 6`` bins, i.e. ``lowpass_kernel=3``. The bundled cards set ``lowpass_kernel=1.5`` (periods down
to 3 px kept): the paper's value removes atoms sampled ~4 px apart (measured by
``benchmarks/blindspot_lowpass.py``). The low-pass is a hard disc, as in the paper,
so it rings (Gibbs) and can make small negative values.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

LEAK = 0.1
POINTWISE_CHUNK = 1 << 14  # pixels per chunk of the 1x1 layers at inference (about 0.6 MB of activations)


class BlindConv(nn.Module):
    """Bias-free ``frames -> out_channels`` conv with a zero centre weight and periodic padding.

    Parameters
    ----------
    frames : int
        Temporal kernel ``Kt`` (odd); the input must have exactly this many frames
        as channels.
    out_channels : int
        Output channels.
    kernel_size : int
        Odd spatial kernel ``Ks``.
    blind_radius : int
        Half-width of the blind square of the centre frame: 0 blinds the centre pixel alone
        (seed 002); ``r`` blinds the ``(2r + 1) x (2r + 1)`` pixels around it, so that noise
        correlated over up to ``r`` pixels (detector blur) cannot leak into the prediction.
    """

    def __init__(self, frames: int, out_channels: int, kernel_size: int, blind_radius: int = 0):
        super().__init__()
        if kernel_size % 2 == 0 or frames % 2 == 0:
            raise ValueError(f"blind kernel sizes must be odd, got Ks={kernel_size}, Kt={frames}")
        if not 0 <= blind_radius < kernel_size // 2:
            raise ValueError(f"the blind radius ({blind_radius} px) must be below the kernel's half-width "
                             f"({kernel_size // 2} px), or the kernel sees nothing")
        self.kernel_size = kernel_size
        self.weight = nn.Parameter(torch.empty(out_channels, frames, kernel_size, kernel_size))
        mask = torch.ones_like(self.weight)
        c, r = kernel_size // 2, blind_radius
        mask[:, frames // 2, c - r:c + r + 1, c - r:c + r + 1] = 0.0
        self.register_buffer("mask", mask, persistent=False)
        nn.init.kaiming_normal_(self.weight, nonlinearity="leaky_relu", a=LEAK)
        self.zero_centre()
        self.register_load_state_dict_post_hook(lambda module, keys: module.zero_centre())

    @torch.no_grad()
    def zero_centre(self) -> None:
        """Set the blind-spot weight to exactly zero in place."""
        self.weight.mul_(self.mask)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        r = self.kernel_size // 2
        padded = F.pad(x, (r, r, r, r), mode="circular")
        return F.conv2d(padded, self.weight * self.mask)


class BlindCNN(nn.Module):
    """One ensemble member: blind conv -> n x (1x1 conv + LeakyReLU) -> 1x1 conv -> ReLU."""

    def __init__(self, frames: int, kernel_size: int, mid_channels: int, n_layers: int, blind_radius: int = 0):
        super().__init__()
        self.blind = BlindConv(frames, mid_channels, kernel_size, blind_radius)
        layers: list[nn.Module] = []
        for _ in range(n_layers):
            layers += [nn.Conv2d(mid_channels, mid_channels, 1, bias=False), nn.LeakyReLU(LEAK)]
        layers += [nn.Conv2d(mid_channels, 1, 1, bias=False), nn.ReLU()]
        self.pointwise = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.pointwise(self.blind(x))


def pointwise(h: torch.Tensor, layers: list[torch.Tensor], output: torch.Tensor, inplace: bool) -> torch.Tensor:
    """The members' 1x1 layers on blind-conv features ``h`` ``(B, members, mid, pixels)``.

    ``layers`` are ``(members, mid, mid)`` matrices each followed by LeakyReLU, ``output``
    the ``(members, 1, mid)`` matrices (mixing weights folded in) followed by ReLU; the
    members are summed. Returns ``(B, pixels)``.
    """
    for weight in layers:
        h = F.leaky_relu(torch.matmul(weight, h), LEAK, inplace=inplace)
    return F.relu(torch.matmul(output, h), inplace=inplace).sum(dim=(1, 2))


def lowpass_mask(height: int, width: int, kernel: float, device: torch.device) -> torch.Tensor:
    """Hard circular low-pass on the ``rfft2`` grid, shape ``(height, width // 2 + 1)``.

    Keeps spatial frequencies with ``sqrt(fy^2 + fx^2) <= 1 / (2 kernel)`` cycles
    per pixel: a disc of diameter ``N / kernel`` bins on an ``N``-pixel axis
    (bins exactly on the circle are kept).
    """
    fy = torch.fft.fftfreq(height, device=device).view(-1, 1)
    fx = torch.fft.rfftfreq(width, device=device).view(1, -1)
    return ((fy * fy + fx * fx) <= (0.5 / kernel) ** 2 * (1 + 1e-6)).to(torch.float32)


class BlindSpotNet(nn.Module):
    """WCID (``frames=1``) or WCVD (``frames=3``) ensemble with FFT low-pass.

    Parameters
    ----------
    frames : int
        Temporal window: 1 (WCID, single images) or an odd number (3 for WCVD);
        the output is the denoised centre frame.
    kernel_sizes : tuple of int
        Odd spatial kernels of the ensemble members; paper ``(3, 5, 7)``.
    mid_channels : int
        Channels after the blind conv; paper 3.
    n_layers : int
        Number of 1x1 + LeakyReLU layers; paper 4.
    lowpass : bool
        Apply the FFT low-pass in ``forward``.
    lowpass_kernel : float or None
        Divisor ``K`` of the low-pass diameter ``N / K``; None uses
        ``max(kernel_sizes)`` (paper text). The authors' code uses 3.
    blind_radius : int
        Half-width in pixels of the blind square in the centre frame (0: one pixel, as in
        seed 002); each kernel must be wider than ``2 * blind_radius + 1``.

    Notes
    -----
    Input ``(B, frames, H, W)``, non-negative intensities in any units; output
    ``(B, 1, H, W)`` in the same units. ``H`` and ``W`` must be at least
    ``max(kernel_sizes) // 2`` (periodic padding).
    """

    def __init__(
        self,
        frames: int = 1,
        kernel_sizes: tuple[int, ...] = (3, 5, 7),
        mid_channels: int = 3,
        n_layers: int = 4,
        lowpass: bool = True,
        lowpass_kernel: float | None = None,
        blind_radius: int = 0,
    ):
        super().__init__()
        if not kernel_sizes:
            raise ValueError("kernel_sizes must name at least one odd kernel size")
        self.temporal_window = int(frames)
        self.kernel_sizes = tuple(int(k) for k in kernel_sizes)
        self.blind_radius = int(blind_radius)
        self.members = nn.ModuleList(
            [BlindCNN(self.temporal_window, k, mid_channels, n_layers, self.blind_radius) for k in self.kernel_sizes]
        )
        self.mix_logits = nn.Parameter(torch.zeros(len(self.kernel_sizes)))
        self.lowpass = bool(lowpass)
        self.lowpass_kernel = float(lowpass_kernel or max(self.kernel_sizes))

    def fused_weights(self) -> tuple[torch.Tensor, list[torch.Tensor], torch.Tensor]:
        """The ensemble as one network: blind kernel, pointwise matrices and output matrix.

        The members' blind kernels are zero-padded to ``Ks_max`` and stacked
        (``n * mid`` output channels); the 1x1 layers are stacked per member as
        ``(n, mid, mid)`` matrices (``(n, 1, mid)`` for the output layer) and the
        softmax mixing weights, being positive, are folded into the output
        matrices (``m ReLU(z) = ReLU(m z)``). Differentiable, so training uses it too.
        """
        k_max = max(self.kernel_sizes)
        blind = []
        for member in self.members:
            pad = (k_max - member.blind.kernel_size) // 2
            blind.append(F.pad(member.blind.weight * member.blind.mask, (pad, pad, pad, pad)))
        convs = [[layer.weight[:, :, 0, 0] for layer in member.pointwise if isinstance(layer, nn.Conv2d)]
                 for member in self.members]
        layers = [torch.stack(step) for step in zip(*[c[:-1] for c in convs])]
        mix = torch.softmax(self.mix_logits, dim=0)
        output = torch.stack([c[-1] for c in convs]) * mix[:, None, None]
        return torch.cat(blind), layers, output

    def blind(self, x: torch.Tensor) -> torch.Tensor:
        """Ensemble output before the low-pass: each pixel never sees its own input value.

        Computed as one stacked blind convolution followed by per-member matrix
        products over the flattened pixels (much faster on CPU than 1x1
        convolutions with a handful of channels); equal to the sum of the
        members' outputs. On CPU without autograd the matrix products run on chunks
        of :data:`POINTWISE_CHUNK` pixels, which stay in the cache (measured by
        ``benchmarks/blindspot_profile.py``); a GPU gets the whole frame in one pass.
        """
        if x.shape[1] != self.temporal_window:
            raise ValueError(
                f"input has {x.shape[1]} frames per window, the model needs {self.temporal_window}"
            )
        blind, layers, output = self.fused_weights()
        r = max(self.kernel_sizes) // 2
        h = F.conv2d(F.pad(x, (r, r, r, r), mode="circular"), blind)
        b, _, height, width = h.shape
        h = h.reshape(b, len(self.members), -1, height * width)
        if torch.is_grad_enabled() or h.device.type != "cpu":
            return pointwise(h, layers, output, inplace=not torch.is_grad_enabled()).reshape(b, 1, height, width)
        y = h.new_empty(b, height * width)
        for start in range(0, height * width, POINTWISE_CHUNK):
            chunk = slice(start, start + POINTWISE_CHUNK)
            y[:, chunk] = pointwise(h[..., chunk], layers, output, inplace=True)
        return y.reshape(b, 1, height, width)

    def frame_filter(self, y: torch.Tensor) -> torch.Tensor:
        """Whole-frame step after :meth:`blind`: the low-pass if enabled, else the identity.

        The engine runs :meth:`blind` on tiles and this once per whole frame, so
        tiling does not change the low-pass.
        """
        return self.apply_lowpass(y) if self.lowpass else y

    def apply_lowpass(self, y: torch.Tensor) -> torch.Tensor:
        """FFT low-pass of ``y`` (``(B, 1, H, W)``) with the mask for its own size."""
        h, w = y.shape[-2:]
        mask = lowpass_mask(h, w, self.lowpass_kernel, y.device)
        with torch.autocast(device_type=y.device.type, enabled=False):
            spectrum = torch.fft.rfft2(y.float()) * mask
            return torch.fft.irfft2(spectrum, s=(h, w))

    @property
    def lowpass_period_px(self) -> float:
        """Shortest period in pixels the low-pass keeps (``2 * lowpass_kernel``); 0 without low-pass."""
        return 2.0 * self.lowpass_kernel if self.lowpass else 0.0

    local_forward = blind
    padding_mode = "circular"

    @property
    def receptive_radius(self) -> int:
        """Spatial radius in pixels of :meth:`local_forward` (the blind kernel's half-width)."""
        return max(self.kernel_sizes) // 2

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.frame_filter(self.blind(x))

