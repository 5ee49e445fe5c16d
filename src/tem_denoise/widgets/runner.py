"""Run a long operation from a dock: Run turns into Cancel, a progress bar follows, the GUI stays live.

Operations are generators that yield :class:`~tem_denoise.progress.Progress` records and
return their result. :class:`JobRunner` runs one
in napari's ``thread_worker``; cancelling sets the worker's quit flag, which the generator
honours at its next ``yield``, so nothing half-made reaches the viewer. A job that can stop
itself cleanly (a fine-tuning child process keeping its checkpoint) is bound with a ``stop``
function instead: Cancel calls it and the job ends with its own result.

A job that fails ends as a one-line message in the status line and a napari notification,
never as an exception re-raised in the GUI thread: expected failures (bad input, files, memory,
the project's warnings raised as errors) show their own message; anything else shows a short
message and its traceback goes to the log.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Generator
from typing import Any

from magicgui.widgets import Container, Label, ProgressBar, PushButton
from napari.qt.threading import create_worker
from superqt.utils import GeneratorWorker

EXPECTED_ERRORS = (ValueError, OSError, MemoryError, Warning)
"""Failures that explain themselves (bad input, unreadable or unwritable files, too little
memory, the project's warnings raised as errors): their message is all the user needs."""

_LOG = logging.getLogger(__name__)

_ORPHANS: set = set()
"""Workers of deleted runners, kept until they finish (their signals must outlive them)."""


class JobRunner(Container):
    """A Run/Cancel button, a progress bar and a status line for one kind of job."""

    def __init__(self, run_text: str = "Run") -> None:
        self._run_text = run_text
        self.button = PushButton(text=run_text)
        self.progress = ProgressBar(value=0, min=0, max=1, visible=False)
        self.status = Label(value="")
        super().__init__(widgets=[self.button, self.progress, self.status], labels=False)
        self.worker = None
        self._job: Callable[[], Generator[Any, None, Any]] | None = None
        self._on_result: Callable[[Any], Any] | None = None
        self._on_step: Callable[[Any], None] | None = None
        self._stop: Callable[[], None] | None = None
        self.button.changed.connect(self._clicked)
        self.native.destroyed.connect(self._orphaned)

    @property
    def running(self) -> bool:
        return self.worker is not None

    def set_run_text(self, text: str) -> None:
        """Label of the button when no job runs (e.g. "Denoise image" or "Denoise stack")."""
        self._run_text = text
        if not self.running:
            self.button.text = text

    def bind(self, job: Callable[[], Generator[Any, None, Any]], on_result: Callable[[Any], Any], *,
             on_step: Callable[[Any], None] | None = None, stop: Callable[[], None] | None = None) -> None:
        """Set the job the button starts (a generator factory) and where its result goes.

        ``on_result`` may return the status line to show (default "Done."). ``on_step`` is
        called (in the GUI thread) with every record the job yields; ``stop``,
        when given, is what Cancel calls: it must make the job end soon by itself (its result
        is then delivered as usual).
        """
        self._job, self._on_result, self._on_step, self._stop = job, on_result, on_step, stop

    def start(self) -> None:
        """Start the bound job (as if Run were clicked)."""
        if self.running or self._job is None:
            return
        try:
            generator = self._job()
        except Exception as exc:  # noqa: BLE001 - whatever the inputs' checks raise is shown, not fatal
            self._fail(exc)
            return
        # superqt's plain worker: napari's own re-raises errors in the GUI thread and prints them
        self.worker = create_worker(lambda: (yield from generator), _worker_class=GeneratorWorker,
                                    _ignore_errors=True)
        self.worker.yielded.connect(self._on_progress)
        if self._on_step is not None:
            self.worker.yielded.connect(self._on_step)
        self.worker.returned.connect(self._returned)
        self.worker.errored.connect(self._fail)
        self.worker.aborted.connect(lambda: self._set_status("Cancelled; nothing was added."))
        self.worker.finished.connect(self._finished)
        self.button.text = "Cancel"
        self.progress.visible = True
        self.progress.value = 0
        self._set_status("Starting…")
        self.worker.start()

    def cancel(self) -> None:
        """Ask the running job to stop at its next progress step."""
        if self.worker is None:
            return
        if self._stop is not None:
            self._set_status("Stopping…")
            self._stop()
        else:
            self._set_status("Cancelling…")
            self.worker.quit()

    def _orphaned(self, *_: Any) -> None:
        """The widget is being deleted (e.g. its viewer closed): the running job is asked to stop
        and tells nothing more to this widget."""
        worker = self.worker
        if worker is None:
            return
        for signal in (worker.yielded, worker.returned, worker.errored, worker.aborted, worker.finished):
            try:
                signal.disconnect()
            except (TypeError, RuntimeError):
                pass  # nothing connected
        _ORPHANS.add(worker)
        worker.finished.connect(lambda: _ORPHANS.discard(worker))
        self._stop() if self._stop is not None else worker.quit()

    def _clicked(self) -> None:
        self.cancel() if self.running else self.start()

    def _on_progress(self, step: Any) -> None:
        self.progress.max = max(int(step.total), 1)
        self.progress.value = min(int(step.done), self.progress.max)
        eta = step.eta_s
        self._set_status(f"{step.message} (about {eta:.0f} s left)" if eta else step.message)

    def _returned(self, result: Any) -> None:
        status = self._on_result(result) if self._on_result is not None else None
        self._set_status(status if isinstance(status, str) else "Done.")

    def _fail(self, exc: BaseException) -> None:
        """The job raised: say so in one line (status and notification); log what was unexpected."""
        from napari.utils.notifications import show_error

        if isinstance(exc, EXPECTED_ERRORS):
            message = " ".join(str(exc).split("\n")) or type(exc).__name__
        else:
            _LOG.error("Job failed unexpectedly", exc_info=(type(exc), exc, exc.__traceback__))
            message = f"unexpected {type(exc).__name__}: {exc}".split("\n")[0] + " (traceback in the log)"
        self._set_status(f"Failed: {message}")
        show_error(f"Failed: {message}")

    def _finished(self) -> None:
        self.worker = None
        self.button.text = self._run_text
        self.progress.visible = False

    def _set_status(self, text: str) -> None:
        self.status.value = text


def carrying(context: Any, steps: Generator[Any, None, Any]) -> Generator[Any, None, tuple[Any, Any]]:
    """Re-yield the progress of ``steps`` and return ``(context, result)``.

    A dock binds what a job was started with (source layer, model...) to the job's own
    result this way, so two jobs running at once can never swap their inputs.
    """
    result = yield from steps
    return context, result
