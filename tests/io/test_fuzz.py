"""A seeded subset of the reader fuzz benchmark (``benchmarks/fuzz_inputs.py``).

Damaged, crafted and special inputs made from the project's own outputs (no network) and from
real instrument files (``realdata``) must open whole or fail with a clear ``io.ReadError``:
any other exception, a hang, a worker crash or a silent misread fails the test, which prints
the benchmark's tally and the failing cases.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
import fuzz_inputs  # noqa: E402

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="the fuzz worker needs POSIX pipes")

REAL_KEYS = ["velox_stack", "velox_ceta", "ncem_multi", "dm3_stem", "dm4_image", "ser_stack",
             "tif_imagej_stack", "dm3_spectrum"]


def _run_without_failures(sources: dict, n_cases: int, seed: int) -> list:
    cases = fuzz_inputs.build_cases(sources, n_cases, seed)
    results = fuzz_inputs.run_cases(cases, sources, timeout=30)
    assert not [r for r in results if r.failed], fuzz_inputs.report(results)
    return results


def test_fuzz_subset_over_own_outputs():
    sources = fuzz_inputs.load_sources(own_only=True)
    results = _run_without_failures(sources, 300, seed=10)
    kinds = {r.case.kind for r in results}
    assert {"pristine", "truncate", "craft", "ext", "special"} <= kinds
    assert {r.outcome for r in results} >= {"ok", "read_error"}


@pytest.mark.realdata
def test_fuzz_subset_over_real_instrument_files():
    sources = fuzz_inputs.real_sources(REAL_KEYS)
    if len(sources) < len(REAL_KEYS):
        pytest.skip("real instrument files could not be fetched")
    results = _run_without_failures(sources, 200, seed=11)
    assert {"truncate", "flip", "zero", "craft", "ext"} <= {r.case.kind for r in results}


@pytest.mark.parametrize(
    ("answer", "kind", "outcome", "failed"),
    [
        ({"reader": "callable", "shapes": [[6, 8, 8]], "warnings": []}, "flip", "ok", False),
        ({"reader": "callable", "error": "ReadError", "message": "'x.tif' is empty", "warnings": []},
         "flip", "read_error", False),
        ({"reader": "callable", "error": "ReadError", "message": "no name", "warnings": []},
         "flip", "unclear_error", True),
        ({"reader": "callable", "error": "KeyError", "message": "'a'", "warnings": []},
         "flip", "generic_exception", True),
        ({"reader": "raised PermissionError: no", "shapes": [[6, 8, 8]], "warnings": []},
         "flip", "generic_exception", True),
        ({"reader": "callable", "shapes": [[8, 8]], "warnings": []}, "truncate", "silent_misread", True),
        ({"reader": "callable", "shapes": [[8, 8]], "warnings": ["MetadataWarning"]},
         "flip", "flagged", False),
        ({"reader": "callable", "shapes": [[8, 8]], "warnings": ["MetadataWarning"]},
         "truncate", "flagged", True),
        ({"hang": "no answer within 10 s"}, "zero", "hang", True),
        ({"crash": "worker died with status -11"}, "zero", "crash", True),
    ],
)
def test_classification(answer, kind, outcome, failed):
    got, _ = fuzz_inputs.classify(answer, Path("/data/x.tif"), [[6, 8, 8]])
    result = fuzz_inputs.Result(fuzz_inputs.Case(0, "src", kind), got)
    assert (got, result.failed) == (outcome, failed)


def test_worker_reports_a_hang_and_is_replaced(tmp_path):
    """A request that outlives its timeout is a hang; the next request gets a fresh worker."""
    empty = tmp_path / "empty.tif"
    empty.touch()
    worker = fuzz_inputs.Worker()
    try:
        assert worker.read(empty, timeout=60)["error"] == "ReadError"
        assert "hang" in worker.read(empty, timeout=0)
        assert worker.read(empty, timeout=60)["error"] == "ReadError"
    finally:
        worker.stop()
