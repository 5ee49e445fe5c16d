"""Write small HyperSpy ``.hspy`` files for tests with RosettaSciIO's own HyperSpy writer."""

from __future__ import annotations

from rsciio.hspy import file_writer


def axis(name: str, units: str, scale: float, offset: float = 0.0, navigate: bool = False) -> dict:
    """One HyperSpy axis: a navigation axis (``navigate``) or a signal axis."""
    return {"name": name, "units": units, "scale": scale, "offset": offset, "navigate": navigate}


def write_hspy(path, data, axes: list[dict], title: str = "HAADF series", metadata: dict | None = None):
    """Save ``data`` with ``axes`` (see :func:`axis`) and ``metadata`` (HyperSpy's normalised
    metadata, e.g. ``Acquisition_instrument``) as HyperSpy does; returns ``path``."""
    signal = {
        "data": data,
        "axes": [{**a, "size": n} for a, n in zip(axes, data.shape, strict=True)],
        "metadata": {"General": {"title": title}, "Signal": {"signal_type": ""}, **(metadata or {})},
        "original_metadata": {}, "tmp_parameters": {}, "attributes": {"_lazy": False},
        "package_info": {"package": "hyperspy", "package_version": "2.3.0"},
        "learning_results": {}, "models": {},
    }
    file_writer(str(path), signal, show_progressbar=False)
    return path
