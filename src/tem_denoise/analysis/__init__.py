"""What a microscopist does after denoising: drift correction, atom finding, line scans,
power spectra and quality metrics. Plain numpy/scipy/scikit-image functions, no Qt.

Long operations have a generator variant (``iter_*``) that yields
:class:`~tem_denoise.analysis.Progress` once per frame and returns the result, so a GUI
worker can report progress and cancel between frames; the plain function runs it to the end.
"""

from tem_denoise.progress import Progress, run_to_end
from .atoms import (
    ATOM_COLUMNS,
    atoms_in_nm,
    find_atoms,
    iter_locate_atoms_stack,
    locate_atoms,
    locate_atoms_stack,
    refine_atoms,
    write_atoms_csv,
)
from .drift import (
    CorrectedStack,
    DriftResult,
    DriftWarning,
    apply_shifts,
    estimate_drift,
    iter_apply_shifts,
    iter_estimate_drift,
    read_shifts_csv,
    transform_points,
    write_shifts_csv,
)
from .fft import PowerSpectrum, fft_line_profile, find_bragg_peaks, power_spectrum, radial_background
from .metrics import (
    MatchResult,
    UnsupervisedMSE,
    atom_map_iou,
    css,
    css_series,
    match_positions,
    psnr,
    ssim,
    umse,
)
from .profile import (
    LineProfile,
    ProfileClippedWarning,
    ProfilePeaks,
    line_profile,
    michelson_contrast,
    profile_peaks,
    write_profiles_csv,
)
from .table import read_csv, write_csv

__all__ = [
    "ATOM_COLUMNS",
    "CorrectedStack",
    "DriftResult",
    "DriftWarning",
    "LineProfile",
    "MatchResult",
    "PowerSpectrum",
    "ProfileClippedWarning",
    "ProfilePeaks",
    "Progress",
    "UnsupervisedMSE",
    "apply_shifts",
    "atom_map_iou",
    "atoms_in_nm",
    "css",
    "css_series",
    "estimate_drift",
    "fft_line_profile",
    "find_atoms",
    "find_bragg_peaks",
    "iter_apply_shifts",
    "iter_estimate_drift",
    "iter_locate_atoms_stack",
    "line_profile",
    "locate_atoms",
    "locate_atoms_stack",
    "match_positions",
    "michelson_contrast",
    "power_spectrum",
    "profile_peaks",
    "psnr",
    "radial_background",
    "read_csv",
    "read_shifts_csv",
    "refine_atoms",
    "run_to_end",
    "ssim",
    "transform_points",
    "umse",
    "write_atoms_csv",
    "write_csv",
    "write_profiles_csv",
    "write_shifts_csv",
]
