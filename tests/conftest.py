"""Shared fixtures: where the third-party real data lives (never inside the repository)."""

from pathlib import Path

import pytest

PROJECT_ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def realdata_dir() -> Path:
    """`<project root>/../shared/realdata`; tests that need it skip cleanly when it is absent."""
    path = (PROJECT_ROOT / ".." / "shared" / "realdata").resolve()
    if not path.is_dir():
        pytest.skip(f"real data not found at {path}")
    return path
