"""napari-tem-denoise: denoise, align and measure low-dose HRTEM and STEM image stacks.

The science lives in plain sub-packages that need neither Qt nor napari:

- :mod:`tem_denoise.io` reads microscope files into :class:`~tem_denoise.io.Stack` objects
  and writes calibrated TIFF;
- :mod:`tem_denoise.physics` models detector noise and synthesises training data;
- :mod:`tem_denoise.models` and :mod:`tem_denoise.engine` hold the networks and inference;
- :mod:`tem_denoise.analysis` does drift correction, atom finding, profiles and metrics.

:mod:`tem_denoise.widgets` glues them to napari. torch is imported lazily.
"""

__version__ = "0.1.0"

from tem_denoise.io import Stack, read, read_all, write

__all__ = ["Stack", "__version__", "read", "read_all", "write"]
