"""Physics of HRTEM/STEM noise: noise models, calibration from real frames, synthetic data.

No Qt or napari here; everything is plain numpy/scipy and seeded.
"""

from .calibration import (
    FitReport,
    HistogramFit,
    LineFit,
    calibrate_hrtem_vacuum,
    calibrate_stem,
    iter_calibrate_hrtem_vacuum,
    iter_calibrate_stem,
)
from .lattices import LATTICES, ProjectedLattice
from .noise_models import (
    NOISE_MODELS,
    BackgroundBrightnessNoise,
    Counting,
    GaussianNoise,
    GaussianSaltPepperNoise,
    HRTEMNoise,
    NoiseModel,
    SaltPepperNoise,
    STEMNoise,
    gradient_magnitude,
    load_noise_model,
    noise_model_from_dict,
    row_correlated_noise,
    tukey_lambda_noise,
)
from .perlin import binary_mask, fractal_noise, rescale01
from .poisson_disk import poisson_disk
from .render import atom_map, render_gaussians
from .samples import VacuumSample, sample_counting_series, sample_haadf, sample_hrtem_series, sample_vacuum_stacks
from .scenes_hrtem import hrtem_scene, synth_hrtem_nucleation, synth_vacuum_stack
from .scenes_stem import stem_arrangement, synth_stem
from .synth_pair import SynthPair
from .time_series import drift_path, synth_time_series

__all__ = [
    "LATTICES",
    "NOISE_MODELS",
    "BackgroundBrightnessNoise",
    "Counting",
    "FitReport",
    "GaussianNoise",
    "GaussianSaltPepperNoise",
    "HRTEMNoise",
    "HistogramFit",
    "LineFit",
    "NoiseModel",
    "ProjectedLattice",
    "STEMNoise",
    "SaltPepperNoise",
    "SynthPair",
    "VacuumSample",
    "atom_map",
    "binary_mask",
    "calibrate_hrtem_vacuum",
    "calibrate_stem",
    "drift_path",
    "fractal_noise",
    "gradient_magnitude",
    "hrtem_scene",
    "iter_calibrate_hrtem_vacuum",
    "iter_calibrate_stem",
    "load_noise_model",
    "noise_model_from_dict",
    "poisson_disk",
    "render_gaussians",
    "rescale01",
    "row_correlated_noise",
    "sample_counting_series",
    "sample_haadf",
    "sample_hrtem_series",
    "sample_vacuum_stacks",
    "stem_arrangement",
    "synth_hrtem_nucleation",
    "synth_stem",
    "synth_time_series",
    "synth_vacuum_stack",
    "tukey_lambda_noise",
]
