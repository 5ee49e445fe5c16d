"""Real instrument files for reader tests, taken from PyPI wheels at test time.

The files are GPL-licensed test data of hyperspy, temul-toolkit and atomap, so they are not
committed: the wheels are fetched once with ``pip download --no-deps`` into a cache folder
(``$TEM_DENOISE_TESTDATA`` or ``~/.cache/napari-tem-denoise/testdata``) and the members we
need are extracted from them. When that is impossible (no network), tests skip with the reason.
"""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

WHEELS = {
    "hyperspy": "hyperspy==1.7.6",
    "temul": "temul-toolkit==0.1.9",
    "atomap": "atomap==0.4.2",
}
HS = "hyperspy/tests/io/"
FILES = {
    "velox_haadf": ("hyperspy", HS + "emd_files/fei_emd_files.zip", "fei_emd_image.emd"),
    "velox_ceta": ("hyperspy", HS + "emd_files/fei_emd_files.zip", "1532 Camera Ceta.emd"),
    "velox_si": ("hyperspy", HS + "emd_files/fei_emd_files.zip", "fei_emd_si.emd"),
    "velox_si_4detectors": ("hyperspy", HS + "emd_files/fei_emd_files.zip",
                            "fei_SI_EDS-HAADF-4detectors_2frames.emd"),
    "velox_spectrum": ("hyperspy", HS + "emd_files/fei_emd_files.zip", "fei_emd_spectrum.emd"),
    "velox_stack": ("hyperspy", HS + "emd_files/fei_example_tem_stack.emd", None),
    "velox_dpc": ("hyperspy", HS + "emd_files/fei_example_dpc_titles.emd", None),
    "velox_fft": ("hyperspy", HS + "emd_files/fei_example_complex_fft.emd", None),
    "ncem_4d": ("hyperspy", HS + "emd_files/Si100_4D.emd", None),
    "ncem_multi": ("hyperspy", HS + "emd_files/Si100_2D_3D_DPC_potential_2slices.emd", None),
    "dm3_stem": ("hyperspy", HS + "dm3_2D_data/test_STEM_image.dm3", None),
    "dm3_spectrum": ("hyperspy", HS + "dm3_1D_data/test-1.dm3", None),
    "dm4_eels_si": ("hyperspy", HS + "dm4_3D_data/EELS_SI.dm4", None),
    "dm4_image": ("hyperspy", HS + "dm4_2D_data/test-1.dm4", None),
    "ser_image": ("hyperspy", HS + "FEI_new/128x128-TEM_search_1.ser", None),
    "ser_stack": ("hyperspy", HS + "FEI_old/64x64x5_TEM_preview_1.ser", None),
    "ser_spectrum_image": ("hyperspy", HS + "FEI_new/16x16-spectrum_image_5x5x4000-not_square_1.ser", None),
    "tif_imagej": ("hyperspy", HS + "tiff_files/test_loading_image_saved_with_imageJ.tif", None),
    "tif_imagej_stack": ("hyperspy", HS + "tiff_files/test_loading_image_saved_with_imageJ_stack.tif", None),
    "tif_rgb": ("hyperspy", HS + "tiff_files/optical_Zeiss_AxioVision_RGB.tif", None),
    "hspy_hologram": ("hyperspy", "hyperspy/misc/holography/example_signals/00_ref_Vbp_130V_0V_bin2_crop.hdf5",
                      None),
    "hspy_eels": ("hyperspy", HS + "hdf5_files/example1_v1.2.hdf5", None),
    "hspy_diffraction": ("hyperspy", HS + "hdf5_files/example2_v3.1.hspy", None),
    "au_haadf": ("temul", "temul/example_data/experimental/example_Au_nanoparticle.emd", None),
    "mos2_dm3": ("temul", "temul/example_data/experimental/example_Se_implanted_MoS2.dm3", None),
    # a simultaneous ADF/ABF pair of a perovskite (HyperSpy HDF5, pixel units; benchmarks/real_images.py)
    "atomap_adf": ("atomap", "atomap/tests/datasets/test_ADF_cropped.hdf5", None),
    "atomap_abf": ("atomap", "atomap/tests/datasets/test_ABF_cropped.hdf5", None),
}
# A .ser needs its .emi beside it for metadata; extract those too.
COMPANIONS = {
    "ser_image": HS + "FEI_new/128x128-TEM_search.emi",
    "ser_stack": HS + "FEI_old/64x64x5_TEM_preview.emi",
    "ser_spectrum_image": HS + "FEI_new/16x16-spectrum_image_5x5x4000-not_square.emi",
}


def cache_dir() -> Path:
    default = Path.home() / ".cache" / "napari-tem-denoise" / "testdata"
    return Path(os.environ.get("TEM_DENOISE_TESTDATA", default))


def _wheel(package: str) -> Path:
    folder = cache_dir() / "wheels"
    name = WHEELS[package].split("==")[0].replace("-", "_")
    found = sorted(folder.glob(f"{name}-*.whl"))
    if found:
        return found[0]
    folder.mkdir(parents=True, exist_ok=True)
    result = subprocess.run(
        [sys.executable, "-m", "pip", "download", "--no-deps", "-q", "-d", str(folder), WHEELS[package]],
        capture_output=True, text=True, timeout=600,
    )
    found = sorted(folder.glob(f"{name}-*.whl"))
    if result.returncode or not found:
        pytest.skip(f"cannot download {WHEELS[package]} for real test files: {result.stderr[-300:]}")
    return found[0]


def _extract(package: str, member: str) -> Path:
    target = cache_dir() / "files" / member
    if not target.exists():
        with zipfile.ZipFile(_wheel(package)) as wheel:
            wheel.extract(member, cache_dir() / "files")
    return target


def real_file(key: str) -> Path:
    """Path of real test file ``key`` (see FILES), fetching and extracting it when needed."""
    package, member, inner = FILES[key]
    path = _extract(package, member)
    if key in COMPANIONS:
        _extract(package, COMPANIONS[key])
    if inner is None:
        return path
    target = path.parent / path.stem / inner
    if not target.exists():
        with zipfile.ZipFile(path) as archive:
            archive.extract(inner, path.parent / path.stem)
    return target
