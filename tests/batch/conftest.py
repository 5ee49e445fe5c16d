"""The cluster the batch tests run on."""

from __future__ import annotations

import pytest

from tem_denoise.batch import BatchJob
from tem_denoise.batch.cluster import open_client


@pytest.fixture(scope="package")
def client():
    """Two workers with one thread each, in this process (fast to start)."""
    with open_client(BatchJob(inputs=("-",), output="-", workers=2), processes=False, dashboard=None) as c:
        yield c
