"""Shared fixtures: where the third-party real data lives (never inside the repository), and a
real Triton server (pytriton's binary) serving the released model."""

from collections.abc import Iterator
from pathlib import Path

import pytest

from app.deploy.triton_repository import write_python_backend_variant
from app.deploy.triton_server import TritonProcess, triton_available

PROJECT_ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def realdata_dir() -> Path:
    """`<project root>/../shared/realdata`; tests that need it skip cleanly when it is absent."""
    path = (PROJECT_ROOT / ".." / "shared" / "realdata").resolve()
    if not path.is_dir():
        pytest.skip(f"real data not found at {path}")
    return path


@pytest.fixture(scope="session")
def triton_repository(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The python-backend variant of model_repository/, which the CPU-only Triton serves."""
    return write_python_backend_variant(
        PROJECT_ROOT / "model_repository", tmp_path_factory.mktemp("triton_repository")
    )


@pytest.fixture(scope="session")
def triton_server(
    triton_repository: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[TritonProcess]:
    """A started Triton on free ports (`.grpc_url`, `.http_url`); skips only where Triton cannot
    run (no `.venv-triton`: `make test` creates it). Its log is in the fixture's tmp folder."""
    reason = triton_available()
    if reason is not None:
        pytest.skip(reason)
    with TritonProcess(triton_repository, workdir=tmp_path_factory.mktemp("triton")) as server:
        yield server
