"""Restoration training: batches seeded by their step, data processes, the time-bound cosine."""

from __future__ import annotations

import itertools
from contextlib import closing

import numpy as np

from tem_denoise.engine.restore_training import RestoreConfig, batch_stream, learning_rate, step_batch

TINY = RestoreConfig("STEM-HAADF", 0.02, steps=10, size=32, batch_size=2, seed=3)


def test_a_steps_batch_is_the_same_in_any_process():
    with closing(batch_stream(TINY, start_step=4, workers=1)) as parallel:
        made_apart = list(itertools.islice(parallel, 2))
    for step, batch in zip((4, 5), made_apart):
        for apart, here in zip(batch, step_batch(TINY, step)):
            np.testing.assert_array_equal(apart, here)
    assert not np.array_equal(made_apart[0][0], made_apart[1][0])


def test_the_cosine_ends_with_the_steps_or_the_time_budget():
    assert learning_rate(TINY, 0) == TINY.lr
    assert np.isclose(learning_rate(TINY, TINY.steps), TINY.lr_min)
    timed = RestoreConfig("STEM-HAADF", 0.02, steps=10_000, max_minutes=2.0)
    assert np.isclose(learning_rate(timed, 10, elapsed_s=120.0), timed.lr_min)
    assert timed.lr_min < learning_rate(timed, 10, elapsed_s=60.0) < timed.lr
