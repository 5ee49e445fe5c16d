"""Weights as safetensors files, checked by sha256 before they are read (never pickle)."""

from __future__ import annotations

import hashlib
from pathlib import Path

from tem_denoise.outputs import atomic_path

CHUNK = 1 << 20


class WeightsError(ValueError):
    """A weights file is missing, corrupted, has the wrong sha256 or does not fit the model."""


def file_sha256(path: str | Path) -> str:
    """Hex sha256 of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(CHUNK), b""):
            digest.update(block)
    return digest.hexdigest()


def save_weights(model, path: str | Path, metadata: dict[str, str] | None = None) -> str:
    """Save ``model.state_dict()`` as safetensors and return the file's sha256.

    Parameters
    ----------
    model : torch.nn.Module
        Model whose parameters and persistent buffers are written (contiguous, on CPU).
    path : str or Path
        Output ``.safetensors`` file.
    metadata : dict of str to str, optional
        Stored in the safetensors header (e.g. family and training seed).
    """
    from safetensors.torch import save_file

    state = {key: value.detach().to("cpu").contiguous() for key, value in model.state_dict().items()}
    with atomic_path(path) as temporary:
        save_file(state, str(temporary), metadata=metadata)
    return file_sha256(path)


def load_weights(path: str | Path, expected_sha256: str | None) -> dict:
    """Read a safetensors state dict after checking its sha256.

    Parameters
    ----------
    path : str or Path
        ``.safetensors`` file.
    expected_sha256 : str or None
        Hex digest the file must have; None skips the check (only for files the
        user just wrote and has not yet described in a card).

    Returns
    -------
    dict of str to torch.Tensor
        The state dict on CPU.

    Raises
    ------
    WeightsError
        If the file is missing, its sha256 differs, or it is not a readable
        safetensors file; the message names the file.
    """
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    path = Path(path)
    if not path.is_file():
        raise WeightsError(f"weights file {path} does not exist")
    if expected_sha256 is not None:
        actual = file_sha256(path)
        if actual.lower() != expected_sha256.lower():
            raise WeightsError(
                f"weights file {path} has sha256 {actual}, but its card expects {expected_sha256}: "
                "the file is corrupted or belongs to another model; reinstall or retrain it"
            )
    try:
        return load_file(str(path), device="cpu")
    except (SafetensorError, OSError, ValueError) as err:
        raise WeightsError(f"weights file {path} is not a readable safetensors file: {err}") from err


def load_into(model, path: str | Path, expected_sha256: str | None):
    """Load checked weights into ``model`` (strict key and shape match) and return it.

    Raises
    ------
    WeightsError
        If the file fails :func:`load_weights` or its tensors do not fit ``model``.
    """
    state = load_weights(path, expected_sha256)
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as err:
        raise WeightsError(f"weights file {path} does not fit {type(model).__name__}: {err}") from err
    return model
