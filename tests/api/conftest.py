"""API fixtures: generated studies, and the application on each backend.

`backend_name` is parametrised over both backends, so every test that uses `client` (or
`live_server`) runs against the embedded backend and against a real Triton server; the Triton
cases carry the `triton` marker (`pytest -m triton` runs exactly them).
"""

from collections.abc import Iterator

import pytest
from api_helpers import Files, LiveServer, make_client, start_live_server, write_study
from fastapi.testclient import TestClient


@pytest.fixture(scope="session")
def study_files(tmp_path_factory: pytest.TempPathFactory) -> Files:
    """A 'site_a' study (native little-endian DICOM, fast to read) with a dilated LV."""
    return write_study(
        tmp_path_factory.mktemp("api-study"), "site_a", 4242, "dilated_cardiomyopathy"
    )


@pytest.fixture(
    scope="session", params=["embedded", pytest.param("triton", marks=pytest.mark.triton)]
)
def backend_name(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture(scope="session")
def backend_settings(request: pytest.FixtureRequest, backend_name: str) -> dict[str, str]:
    """Environment-style settings selecting the backend (starts Triton for 'triton')."""
    if backend_name == "embedded":
        return {"backend": "embedded"}
    triton = request.getfixturevalue("triton_server")
    return {"backend": "triton", "triton_url": triton.grpc_url}


@pytest.fixture(scope="session")
def client(backend_settings: dict[str, str]) -> Iterator[TestClient]:
    with make_client(backend_settings) as test_client:
        yield test_client


@pytest.fixture(scope="session")
def live_server(
    backend_settings: dict[str, str], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LiveServer]:
    folder = tmp_path_factory.mktemp("gateway")
    settings = {
        **backend_settings,
        "prototype_dir": str(folder / "prototypes"),
        "jobs_dir": str(folder / "jobs"),
    }
    server = start_live_server(folder / "gateway.log", settings)
    yield server
    server.process.terminate()
    server.process.wait(timeout=10)
