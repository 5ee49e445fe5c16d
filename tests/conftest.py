"""Shared fixtures: real instrument files and small synthetic stacks."""

from __future__ import annotations

import os

import numpy as np
import pytest

from realdata import real_file
from tem_denoise.io import Stack

# napari's settings (reader preferences included) stay in memory in tests, never in the user's
# settings file: an empty NAPARI_CONFIG means no file. Read when napari.settings is imported.
os.environ["NAPARI_CONFIG"] = ""


@pytest.fixture(autouse=True)
def _private_user_models(tmp_path_factory, monkeypatch):
    """Keep tests away from the user's fine-tuned models (and from writing there)."""
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path_factory.mktemp("xdg")))


@pytest.fixture(scope="session")
def real():
    """Function returning the path of a real instrument file by key (see tests/realdata.py)."""
    return real_file


@pytest.fixture
def small_stack() -> Stack:
    """A calibrated 4-frame float32 stack (4, 40, 56) of a bright disc on noise."""
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[:40, :56]
    disc = ((yy - 20) ** 2 + (xx - 28) ** 2 < 100).astype(np.float32) * 100
    data = disc + rng.normal(10, 2, size=(4, 40, 56)).astype(np.float32)
    return Stack.from_array(data, pixel_size=0.05, frame_interval=0.1, name="frames")
