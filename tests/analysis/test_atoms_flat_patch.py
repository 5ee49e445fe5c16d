"""Regression: a patch whose Gaussian-fit system turns singular must not crash the batch."""

from __future__ import annotations

import numpy as np

from tem_denoise.analysis import refine_atoms

# an edge patch of a smoothed, inverted low-dose HRTEM frame (sample movie frame 13, rows 0-2,
# columns 108-112): nearly flat, so the fit made amplitude and background collinear and
# numpy.linalg.solve raised LinAlgError for the whole batch
FLAT_EDGE = [
    [-7.964689254760742, -7.445346832275391, -7.181973457336426, -7.224347114562988, -7.621246337890625],
    [-7.781991004943848, -7.38978910446167, -7.237534999847412, -7.330423831939697, -7.68839168548584],
    [-7.556155681610107, -7.369453430175781, -7.336151123046875, -7.408728122711182, -7.611389636993408],
]


def test_singular_fit_system_falls_back_instead_of_raising():
    table = refine_atoms(np.array(FLAT_EDGE), np.array([[0, 2]]), patch_radius_px=2)
    assert np.isfinite(table["y_px"][0]) and np.isfinite(table["x_px"][0])
    assert abs(table["x_px"][0] - 2) <= 2 and 0 <= table["y_px"][0] <= 2
