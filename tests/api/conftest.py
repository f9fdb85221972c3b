"""API fixtures: generated studies, and the application on each backend.

`backend_name` is parametrised over both backends, so every test that uses `client` (or
`live_server`) runs against the embedded backend and against a real Triton server; the Triton
cases carry the `triton` marker (`pytest -m triton` runs exactly them).
"""

from collections.abc import Iterator

import pytest
from api_helpers import Files, LiveServer, make_client, start_live_server, write_study
from fastapi.testclient import TestClient
from pacs_helpers import require_orthanc, source_settings

from app.deploy.orthanc_server import OrthancProcess


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


@pytest.fixture(scope="session")
def orthanc(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OrthancProcess]:
    """A real PACS: Orthanc with its DICOMweb plugin on free loopback ports, its storage (and
    log) in the fixture's tmp folder, stopped at the end."""
    require_orthanc()
    with OrthancProcess(workdir=tmp_path_factory.mktemp("orthanc")) as server:
        yield server


@pytest.fixture(scope="session")
def pacs_files(tmp_path_factory: pytest.TempPathFactory, orthanc: OrthancProcess) -> Files:
    """A 'site_b' study (one series per slice, as Siemens writes it) stored in the test PACS."""
    files = write_study(tmp_path_factory.mktemp("pacs-study"), "site_b", 515, "normal")
    orthanc.upload([data for _, data in files])
    return files


@pytest.fixture(scope="session")
def pacs_client(orthanc: OrthancProcess) -> Iterator[TestClient]:
    """The gateway (embedded backend) with the test PACS as its DICOMweb source `pacs`."""
    with make_client({"backend": "embedded"}, dicomweb_sources=source_settings(orthanc)) as client:
        yield client
