"""Suite-wide test setup."""
from __future__ import annotations

import pytest

from tiny_models import one_thread


@pytest.fixture(scope="session", autouse=True)
def _one_torch_thread():
    """Tiny models run faster and give repeatable numbers on one torch thread (two threads on a busy
    2-core machine were over 10x slower to train the imprinted test generator)."""
    with one_thread():
        yield
