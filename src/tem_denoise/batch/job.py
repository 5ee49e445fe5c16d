"""A batch job's options, its YAML config file, and the key that marks an output as complete.

A config file holds the same options as ``tem-denoise batch`` (underscores for dashes), plus a
``dask`` section merged into dask's own configuration, which is how a SLURM or PBS cluster is
described (``dask.jobqueue.slurm``: queue, account, cores, memory, walltime, ...)::

    inputs: [data/]
    output: denoised/
    model: gaussian-3d
    cluster: slurm
    workers: 8
    dask:
      jobqueue:
        slurm: {queue: gpu, cores: 8, memory: 32GB, walltime: "02:00:00"}
"""

from __future__ import annotations

import dataclasses
import hashlib
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import yaml

from tem_denoise.operations.atoms import AtomOptions
from tem_denoise.operations.denoise import DenoiseOptions
from tem_denoise.operations.drift import DriftOptions
from tem_denoise.operations.quality import QualityOptions
from tem_denoise.outputs import write_text

FORMATS = ("auto", "tiff", "zarr")
CLUSTERS = ("local", "slurm", "pbs")
OPERATION = "denoise"
THEN = {"drift": DriftOptions, "atoms": AtomOptions, "quality": QualityOptions}
"""Operations that can follow denoising on each file's result, and their options classes."""


@dataclass(frozen=True)
class BatchJob:
    """Everything a batch run needs to know.

    Attributes
    ----------
    inputs : tuple of str
        Files, folders (their readable files) and glob patterns.
    output : str
        Output folder.
    model, modality, noise, device, tile
        The :class:`~tem_denoise.operations.denoise.DenoiseOptions` of every file (see
        :attr:`denoise`); ``device="auto"`` gives each local worker its own GPU when there are several.
    format : {"auto", "tiff", "zarr"}
        ``auto``: calibrated TIFF for a stack that fits in one unit of work, else OME-Zarr
        written chunk by chunk; ``tiff``: every file whole into TIFF; ``zarr``: every file
        into OME-Zarr.
    chunk_frames : int or None
        Frames per unit of work of a split stack (None: about 256 MiB of float32 output).
    workers : int or None
        Local workers (None: sized to the machine) or SLURM/PBS jobs to start.
    threads_per_worker : int or None
        Torch threads of each worker (None: the local machine's cores shared between the local
        workers; on an existing or SLURM/PBS cluster, torch's own default).
    scheduler : str or None
        Address of an existing dask scheduler (``tcp://host:8786``).
    cluster : {"local", "slurm", "pbs"}
        Where workers come from when no scheduler is given.
    dask : dict
        Merged into ``dask.config`` before the cluster starts (e.g. ``jobqueue.slurm``).
    then : tuple of str
        Operations run in this order on each file's denoised output (:data:`THEN`): ``drift``
        corrects it, ``atoms`` finds atoms in it (in the drift-corrected stack when ``drift``
        comes first), ``quality`` scores it against the raw input (see :mod:`tem_denoise.batch.steps`).
    drift, atoms, quality : dict
        Options of those operations (fields of their options classes; unset ones keep their default).
    """

    inputs: tuple[str, ...]
    output: str
    model: str | None = None
    modality: str | None = None
    device: str = "auto"
    tile: int | None = None
    noise: str | None = None
    format: str = "auto"
    chunk_frames: int | None = None
    workers: int | None = None
    threads_per_worker: int | None = None
    scheduler: str | None = None
    cluster: str = "local"
    dask: dict = field(default_factory=dict)
    then: tuple[str, ...] = ()
    drift: dict = field(default_factory=dict)
    atoms: dict = field(default_factory=dict)
    quality: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        if isinstance(self.inputs, str):
            object.__setattr__(self, "inputs", (self.inputs,))
        object.__setattr__(self, "inputs", tuple(str(p) for p in self.inputs))
        if not self.inputs:
            raise ValueError("a batch job needs at least one input (file, folder or glob pattern)")
        if not self.output:
            raise ValueError("a batch job needs an output folder")
        checks = [
            (self.format in FORMATS, f"format must be one of {', '.join(FORMATS)}, not {self.format!r}"),
            (self.cluster in CLUSTERS, f"cluster must be one of {', '.join(CLUSTERS)}, not {self.cluster!r}"),
            (self.chunk_frames is None or self.chunk_frames >= 1,
             f"chunk_frames must be at least 1, not {self.chunk_frames}"),
            (self.workers is None or self.workers >= 1, f"workers must be at least 1, not {self.workers}"),
            (self.threads_per_worker is None or self.threads_per_worker >= 1,
             f"threads_per_worker must be at least 1, not {self.threads_per_worker}"),
            (not (self.scheduler and self.cluster != "local"),
             "give either a scheduler address or a cluster (slurm, pbs), not both"),
            (isinstance(self.dask, dict), "the dask section of the config must be a mapping"),
        ]
        for ok, message in checks:
            if not ok:
                raise ValueError(message)
        self.denoise  # noqa: B018 - the denoise options check their own limits
        self._check_then()

    def _check_then(self) -> None:
        then = (self.then,) if isinstance(self.then, str) else tuple(self.then)
        object.__setattr__(self, "then", then)
        unknown = [name for name in then if name not in THEN]
        if unknown or len(set(then)) != len(then):
            raise ValueError(f"then must list distinct operations among {', '.join(THEN)}; got {', '.join(then)}")
        for name in THEN:
            if getattr(self, name) and name not in then:
                raise ValueError(f"options for {name} are given but {name} is not run; add it to then "
                                 f"(--then {','.join([*then, name])})")
            self.options_of(name)

    def options_of(self, name: str) -> Any:
        """The options object of operation ``name`` (one of :data:`THEN`) from its section."""
        values = getattr(self, name)
        if not isinstance(values, dict):
            raise ValueError(f"the {name} options must be a mapping of option: value")  # noqa: TRY004 - bad input
        known = {f.name for f in dataclasses.fields(THEN[name])}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValueError(f"unknown {name} option(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}")
        return THEN[name](**{k: tuple(v) if isinstance(v, list) else v for k, v in values.items()})

    def then_settings(self) -> dict[str, Any]:
        """The operations after denoising with their full options (for the manifest)."""
        return {name: asdict(self.options_of(name)) for name in self.then}

    @property
    def denoise(self) -> DenoiseOptions:
        """The options of the denoise operation every file goes through."""
        return DenoiseOptions(model=self.model, modality=self.modality, noise=self.noise, device=self.device,
                              tile=self.tile)

    def key(self) -> dict[str, Any]:
        """What decides the content of an output; an existing output with the same key is complete
        and skipped by a second run (device and cluster do not change the result)."""
        noise = None
        if self.noise:
            try:
                noise = hashlib.sha256(Path(self.noise).read_bytes()).hexdigest()
            except OSError as exc:
                raise ValueError(f"cannot read the noise model '{self.noise}': {exc.strerror}") from None
        return {"operation": OPERATION, "model": self.model or "default", "modality": self.modality,
                "tile": self.tile, "noise_sha256": noise}


def _fields() -> dict[str, dataclasses.Field]:
    return {f.name: f for f in dataclasses.fields(BatchJob)}


def load_config(path: str | Path) -> dict[str, Any]:
    """The options of a YAML config file, checked against :class:`BatchJob`'s fields.

    Raises
    ------
    ValueError
        When the file cannot be read, is not a YAML mapping, or names an unknown option.
    """
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ValueError(f"cannot read the batch config '{path}': {exc.strerror}") from None
    try:
        options = yaml.safe_load(text) or {}
    except yaml.YAMLError as exc:
        raise ValueError(f"'{path}' is not valid YAML: {exc}") from None
    if not isinstance(options, dict):
        raise ValueError(f"'{path}' must hold a mapping of options (inputs: ..., output: ...)")  # noqa: TRY004 - bad input: exit 2
    unknown = sorted(set(options) - set(_fields()))
    if unknown:
        raise ValueError(f"'{path}': unknown option(s) {', '.join(unknown)}; known: {', '.join(_fields())}")
    return options


def _plain(value: Any) -> Any:
    """``value`` with tuples as lists, as YAML's safe dumper needs."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return [_plain(v) for v in value] if isinstance(value, tuple) else value


def write_config(path: str | Path, job: BatchJob) -> Path:
    """Write ``job`` as a YAML config file (options at their default are left out), atomically."""
    defaults = BatchJob(inputs=("-",), output="-")
    options = {"inputs": list(job.inputs), "output": job.output}
    for name in _fields():
        value = getattr(job, name)
        if name not in options and value != getattr(defaults, name):
            options[name] = _plain(value)
    return write_text(path, yaml.safe_dump(options, sort_keys=False))
