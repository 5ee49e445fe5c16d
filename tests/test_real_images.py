"""The measuring functions of ``benchmarks/real_images.py`` on small synthetic frames (no real files)."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
import real_images  # noqa: E402

PIXEL_NM = 0.02


def column_lattice(shape=(160, 160), period=16, sigma=1.5, heavy=2.0, light=1.0, background=0.5):
    """Gaussian columns on a square lattice, heavy and light alternating along x; returns the
    image and the (y, x) positions and heavy mask of the columns."""
    ys, xs = np.meshgrid(np.arange(period // 2, shape[0], period), np.arange(period // 2, shape[1], period),
                         indexing="ij")
    yx = np.stack([ys.ravel(), xs.ravel()], axis=1).astype(float)
    is_heavy = (xs.ravel() // period) % 2 == 0
    yy, xx = np.indices(shape)
    image = np.full(shape, background, float)
    for (y, x), h in zip(yx, is_heavy):
        image += (heavy if h else light) * np.exp(-((yy - y) ** 2 + (xx - x) ** 2) / (2 * sigma**2))
    return image.astype(np.float32), yx, is_heavy


def test_z_contrast_is_the_amplitude_ratio_and_ignores_gain_and_offset():
    image, yx, is_heavy = column_lattice(heavy=2.0, light=1.0)
    heavy = real_images.heavy_columns(image, yx, 2.5)
    assert np.array_equal(heavy, is_heavy)
    ratio = real_images.z_contrast(image, yx, heavy, 2.5)
    assert ratio == pytest.approx(2.0, rel=0.02)
    assert real_images.z_contrast(3 * image + 100, yx, heavy, 2.5) == pytest.approx(ratio, rel=1e-4)
    flat, _, _ = column_lattice(heavy=1.0, light=1.0)
    assert real_images.z_contrast(flat, yx, heavy, 2.5) == pytest.approx(1.0, rel=0.02)


def test_columns_are_found_and_matched():
    image, yx, _ = column_lattice()
    found = real_images.find_columns(image, PIXEL_NM)  # 0.15 nm = 7.5 px apart at least; columns 16 px apart
    recovery = real_images.column_recovery(found, yx, 2.0)
    assert recovery == {"found": len(yx), "matched": len(yx), "missed": 0, "extra": 0}
    dark = real_images.find_columns(-image, PIXEL_NM, dark=True)
    assert real_images.column_recovery(dark, yx, 2.0)["matched"] == len(yx)
    partial = real_images.column_recovery(found[:10], yx, 2.0)
    assert partial["missed"] == len(yx) - 10 and partial["extra"] == 0


def particle_frame(rng, spot=False):
    """A thick particle (disc of 1.2 nm radius, level 5) and a thin one (level 3, a band at the
    right edge) on a dark noisy vacuum (level 1); ``spot`` adds one atom-sized bright spot in
    the vacuum."""
    yy, xx = np.indices((300, 400))
    image = 1.0 + 4.0 * (np.hypot(yy - 150, xx - 150) < 60) + 2.0 * (xx >= 360)
    if spot:
        image = image + 10.0 * np.exp(-((yy - 20) ** 2 + (xx - 20) ** 2) / (2 * 2.0**2))
    return (image + rng.normal(0, 0.2, image.shape)).astype(np.float32)


def test_vacuum_mask_keeps_off_the_particle_and_counts_invented_columns():
    rng = np.random.default_rng(0)
    raw = particle_frame(rng)
    vacuum, particle = real_images.vacuum_and_particles(raw, PIXEL_NM)
    yy, xx = np.indices(raw.shape)
    distance = np.hypot(yy - 150, xx - 150)
    margin = real_images.VACUUM_MARGIN_NM / PIXEL_NM  # 25 px
    blur = 40  # the 0.5 nm (25 px) smoothing moves the edge of the thick particle outwards
    left = xx < 360 - margin - blur  # away from the thin particle
    assert not vacuum[distance < 60 + margin].any() and vacuum[(distance > 60 + margin + blur) & left].all()
    assert particle[distance < 60 - margin].all() and not particle[(distance > 60 + blur) & left].any()
    assert particle[:, 360 + int(margin) + 3:].all() and not vacuum[:, 360 - int(margin):].any()
    smooth = real_images.gaussian(raw, 3.0)
    assert real_images.columns_in_vacuum(smooth, vacuum, particle, PIXEL_NM) == 0
    invented = real_images.gaussian(particle_frame(rng, spot=True), 3.0)
    assert real_images.columns_in_vacuum(invented, vacuum, particle, PIXEL_NM) == 1
    assert real_images.columns_in_vacuum(-invented, vacuum, particle, PIXEL_NM) == 1  # inverted contrast


def test_lattice_strength_sees_a_lattice_not_noise_nor_a_gradient():
    rng = np.random.default_rng(1)
    yy, xx = np.indices((80, 80))
    noise = rng.normal(0, 1, (80, 80))
    lattice = np.cos(2 * np.pi * xx * PIXEL_NM / 0.2) + noise  # 0.2 nm fringes, 10 px
    gradient = 5 * np.exp(-xx / 20.0) + 0.01 * noise
    box = (0, 0, 80, 80)
    assert real_images.lattice_strength(lattice, box, PIXEL_NM) >= real_images.LATTICE_THRESHOLD
    assert real_images.lattice_strength(noise, box, PIXEL_NM) < real_images.LATTICE_THRESHOLD
    assert real_images.lattice_strength(gradient, box, PIXEL_NM) < real_images.LATTICE_THRESHOLD


def test_lattice_agreement_counts_kept_lost_and_new_tiles():
    boxes = np.zeros((5, 4), int)
    raw = real_images.Tiles(boxes, np.array([50.0, 30.0, 5.0, 5.0, 40.0]))
    out = real_images.Tiles(boxes, np.array([60.0, 5.0, 25.0, 30.0, 40.0]))
    particle = np.array([True, True, True, False, False])
    vacuum = np.array([False, False, False, True, True])
    result = real_images.lattice_agreement(raw, out, particle, vacuum)
    assert (result["kept"], result["lost"], result["new"], result["new_in_vacuum"]) == (2, 1, 2, 1)
    assert (result["lattice_in_particles"], result["lattice_in_vacuum"]) == (2, 2)


def test_tile_boxes_and_fractions():
    boxes = real_images.tile_boxes((100, 60), 40)
    assert boxes.tolist()[0] == [0, 0, 40, 40] and len(boxes) == 4 * 2
    mask = np.zeros((100, 60), bool)
    mask[:40, :40] = True
    assert real_images.tile_fractions(mask, boxes)[0] == 1.0


def test_lattice_pixel_size_from_the_strongest_spacing():
    yy, xx = np.indices((200, 200))
    noise = np.random.default_rng(4).normal(0, 1, yy.shape)
    image = np.cos(2 * np.pi * yy / 25.0) + 0.3 * np.cos(2 * np.pi * xx / 12.5) + noise
    assert real_images.lattice_pixel_size(image, 0.39) == pytest.approx(0.39 / 25.0, rel=0.02)


def test_noise_matched_sigma_grows_with_the_noise():
    rng = np.random.default_rng(2)
    yy, xx = np.indices((96, 96))
    clean = np.cos(2 * np.pi * xx / 24.0) * np.cos(2 * np.pi * yy / 24.0)
    quiet = real_images.noise_matched_sigma(clean + rng.normal(0, 0.05, clean.shape), crop=96)
    noisy = real_images.noise_matched_sigma(clean + rng.normal(0, 1.0, clean.shape), crop=96)
    assert noisy > quiet and noisy >= 1.5


def test_brightness_of_a_black_output():
    raw = np.random.default_rng(3).normal(100, 10, (32, 32))
    assert real_images.brightness(raw, raw) == (1.0, 1.0)
    mean, std = real_images.brightness(np.zeros_like(raw), raw)
    assert mean == 0 and std == 0
