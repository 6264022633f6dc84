"""Optional test dependencies (llama.cpp's server, Chromium, training/): a developer without one gets
a skip; CI, where .ci/run installs every one, gets a failure, so a green CI never hides a test that
did not run."""
from __future__ import annotations

import importlib.util
import os

import pytest

IN_CI = os.environ.get("CI", "").lower() == "true"


def missing(what: str, hint: str) -> None:
    """Stop the current test (or module) because `what` is absent: skip here, fail in CI."""
    if IN_CI:
        pytest.fail(f"{what} is missing in CI: {hint}", pytrace=False)
    pytest.skip(f"{what} is not installed ({hint})", allow_module_level=True)


def needs(module: str, hint: str) -> pytest.MarkDecorator:
    """Mark tests that import `module`: skipped where it is absent, except in CI, where they run and fail."""
    return pytest.mark.skipif(importlib.util.find_spec(module) is None and not IN_CI,
                              reason=f"{module} is not installed ({hint})")
