"""Send the Denoise dock's model and options to a batch job over a folder.

"Write batch config" writes ``batch_config.yaml`` into the output folder and shows the command
that runs it (``tem-denoise batch --config ...``, on this machine or on a cluster's login node
after editing the ``cluster``/``dask`` options, see docs/batch.md). "Start batch here" also
starts that command in its own process on this machine, with its output appended to
``batch.log`` beside the config (an earlier run's log is kept, each run under a dated header);
napari stays free and the batch goes on if napari is closed.
"""

from __future__ import annotations

import dataclasses
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from magicgui.widgets import Container, FileEdit, Label, PushButton

from tem_denoise.widgets.plot_canvas import wrap_text

CONFIG = "batch_config.yaml"
LOG = "batch.log"


def _path(edit: FileEdit) -> str:
    value = str(edit.value or "")
    return "" if value in ("", ".") else value


class BatchSender(Container):
    """Folder in, folder out, and two buttons; ``options`` gives the dock's current
    :class:`~tem_denoise.operations.denoise.DenoiseOptions` (model, modality, noise model, device, tile)."""

    def __init__(self, options: Callable[[], Any]) -> None:
        self._options = options
        self.folder = FileEdit(label="batch: input folder", mode="d", value="")
        self.output = FileEdit(label="batch: output folder", mode="d", value="")
        self.write_button = PushButton(text="Write batch config")
        self.start_button = PushButton(text="Start batch here")
        self.status = Label(value="")
        wrap_text(self.status)
        self.process: subprocess.Popen | None = None
        super().__init__(widgets=[self.folder, self.output, self.write_button, self.start_button, self.status])
        self.write_button.changed.connect(lambda: self._shown(self.write_config))
        self.start_button.changed.connect(lambda: self._shown(self.start))

    def write_config(self) -> Path:
        """Write the config of a batch over the chosen folder with the dock's options; its path."""
        from tem_denoise.batch import BatchJob, write_config

        folder, output = _path(self.folder), _path(self.output)
        if not folder or not output:
            raise ValueError("choose the batch's input folder and output folder first")
        job = BatchJob(inputs=(folder,), output=output, **dataclasses.asdict(self._options()))
        path = write_config(Path(output) / CONFIG, job)
        self.status.value = f"wrote {path}\nrun: tem-denoise batch --config {path}"
        return path

    def start(self) -> subprocess.Popen:
        """Write the config and start ``tem-denoise batch --config`` in its own process."""
        path = self.write_config()
        log = path.with_name(LOG)
        with open(log, "a", encoding="utf-8") as handle:  # an earlier run's log is the user's record
            handle.write(f"=== tem-denoise batch --config {path}, started {time.strftime('%Y-%m-%d %H:%M:%S')} ===\n")
            handle.flush()
            self.process = subprocess.Popen(
                [sys.executable, "-m", "tem_denoise.cli", "batch", "--config", str(path)],
                stdout=handle, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True,
            )
        self.status.value = (f"started tem-denoise batch --config {path} (process {self.process.pid}); "
                             f"progress in {log}, results listed in {path.with_name('batch_manifest.json')}")
        return self.process

    def _shown(self, action: Callable) -> None:
        """Run a button's action; a bad choice is shown as a notification, not a traceback."""
        try:
            action()
        except (ValueError, OSError) as exc:
            from napari.utils.notifications import show_error

            show_error(str(exc))
