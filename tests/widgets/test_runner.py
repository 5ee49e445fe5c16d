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


def _failing_job(exc):
    def generator():
        yield Progress(1, 2, "step 1")
        raise exc

    return generator


def test_expected_error_in_a_job_ends_as_one_status_line(qtbot, caplog):
    """A ValueError inside the worker is not re-raised in the GUI thread (pytest-qt would fail
    the test) nor logged: the status line says it, on one line."""
    runner = JobRunner()
    runner.bind(_failing_job(ValueError("dose too low:\nsum frames first")),
                lambda result: pytest.fail("no result expected"))
    runner.start()
    qtbot.waitUntil(lambda: not runner.running, timeout=5000)
    assert runner.status.value == "Failed: dose too low: sum frames first"
    assert runner.button.text == "Run" and not caplog.records


def test_unexpected_error_in_a_job_is_logged_not_raised(qtbot, caplog):
    runner = JobRunner()
    runner.bind(_failing_job(KeyError("tile")), lambda result: pytest.fail("no result expected"))
    runner.start()
    qtbot.waitUntil(lambda: not runner.running, timeout=5000)
    assert runner.status.value.startswith("Failed: unexpected KeyError")
    (record,) = [r for r in caplog.records if r.name == "tem_denoise.widgets.runner"]
    assert record.exc_info[0] is KeyError
