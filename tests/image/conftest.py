"""Markers for the image tests (the shared server fixtures live in tests/serving)."""

from __future__ import annotations

import pytest


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "slow: takes tens of seconds (excluded by quick targets)")
    config.addinivalue_line(
        "markers", "tools: needs an external program (prometheus, buildah, wrk, debootstrap...)"
    )
