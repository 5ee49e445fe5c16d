"""JobRunner: Run becomes Cancel, progress is shown, cancelling delivers no result."""

from __future__ import annotations

import time

import pytest

from tem_denoise.progress import Progress
from tem_denoise.widgets.runner import JobRunner


def _job(n, delay=0.0):
    def generator():
        for i in range(n):
            time.sleep(delay)
            yield Progress(i + 1, n, f"step {i + 1}")
        return "result"

    return generator


def test_job_runs_to_its_result(qtbot):
    runner = JobRunner("Go")
    results = []
    runner.bind(_job(3), results.append)
    runner.start()
    assert runner.button.text == "Cancel"
    qtbot.waitUntil(lambda: not runner.running, timeout=5000)
    assert results == ["result"]
    assert runner.button.text == "Go" and runner.status.value == "Done."


def test_cancel_stops_and_delivers_nothing(qtbot):
    runner = JobRunner()
    results = []
    runner.bind(_job(200, delay=0.02), results.append)
    runner.start()
    qtbot.waitUntil(lambda: runner.progress.value >= 2, timeout=5000)
    runner.button.changed.emit(None)  # the user clicks Cancel
    qtbot.waitUntil(lambda: not runner.running, timeout=5000)
    assert results == []
    assert runner.status.value.startswith("Cancelled")
    assert runner.progress.value < 200


def test_bad_parameters_are_reported_without_starting(qtbot):
    runner = JobRunner()

    def refuse():
        raise ValueError("pick an image layer first")

    runner.bind(refuse, lambda result: pytest.fail("no result expected"))
    runner.start()
    assert not runner.running and "pick an image layer" in runner.status.value
