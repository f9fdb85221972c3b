"""Jobs across a gateway killed with SIGKILL (a real uvicorn process): the job that was running
is retried once after the restart, the queued ones run, none is lost; a job whose run is cut
twice fails as `job_interrupted`; uploads never outlive their jobs. A FHIR server that hangs
(a real small HTTP server) keeps a report job running for as long as the test needs."""

import json
import signal
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from api_helpers import Files, LiveServer, multipart, start_live_server
from job_helpers import no_uploads_left, wait_for_job
from recorder import Recorder, fhir_server_answer, recording_server

API_KEY = "restart-key"


@pytest.fixture
def fhir_server() -> Iterator[Recorder]:
    with recording_server() as server:
        server.answer = fhir_server_answer
        server.open.clear()  # hangs until the test opens it
        yield server


class Gateway:
    """Starts, kills and restarts a gateway on one jobs folder."""

    def __init__(self, folder: Path, fhir: Recorder) -> None:
        self.folder = folder
        self.env = {
            "backend": "embedded",
            "jobs_dir": str(folder / "jobs"),
            "fhir_server_url": fhir.url,
            "audit_log_path": str(folder / "audit.jsonl"),
            "audit_salt": "restart-salt",
        }
        self.starts = 0
        self.server: LiveServer | None = None

    def start(self) -> LiveServer:
        self.starts += 1
        log = self.folder / f"gateway-{self.starts}.log"
        # A restart warms the model up again: slow on a loaded CI machine.
        self.server = start_live_server(log, self.env, api_key=API_KEY, ready_timeout_s=240)
        return self.server

    def kill(self) -> None:
        assert self.server is not None
        self.server.process.send_signal(signal.SIGKILL)
        assert self.server.process.wait(timeout=10) == -signal.SIGKILL

    def submit(self, files: Files, **fields: str) -> dict:
        assert self.server is not None
        response = httpx.post(
            f"{self.server.url}/v1/jobs",
            files=multipart(files),
            data=fields,
            headers=self.server.headers,
            timeout=60,
        )
        assert response.status_code == 202, response.text
        return response.json()

    def finished(self, view: dict) -> dict:
        server = self.server
        assert server is not None
        return wait_for_job(
            lambda url: httpx.get(server.url + url, headers=server.headers, timeout=30),
            view["location"],
        )

    def stop(self) -> None:
        if self.server is not None and self.server.process.poll() is None:
            self.server.process.terminate()
            self.server.process.wait(timeout=30)


@pytest.fixture
def gateway(tmp_path: Path, fhir_server: Recorder) -> Iterator[Gateway]:
    gateway = Gateway(tmp_path, fhir_server)
    yield gateway
    gateway.stop()


def uploads(gateway: Gateway) -> list[Path]:
    return list((gateway.folder / "jobs" / "uploads").iterdir())


def test_the_running_job_is_retried_once_and_none_is_lost(
    gateway: Gateway, fhir_server: Recorder, study_files: Files
) -> None:
    gateway.start()
    running = gateway.submit(study_files, task="report", fhir_submit="true")
    fhir_server.wait_for(1)  # the report job is running: it waits for the FHIR server
    queued = [gateway.submit(study_files, task="diagnose") for _ in range(2)]
    gateway.kill()
    assert len(uploads(gateway)) == 3
    fhir_server.open.set()
    gateway.start()
    retried = gateway.finished(running)
    assert retried["state"] == "succeeded" and retried["attempts"] == 2, retried
    assert retried["result"]["type"] == "transaction-response"
    assert len(fhir_server.wait_for(2)) == 2  # posted by the cut run and by the retry
    for view in queued:
        done = gateway.finished(view)
        assert done["state"] == "succeeded" and done["attempts"] == 1, done
    assert no_uploads_left(gateway.folder / "jobs")
    audited = [
        json.loads(line) for line in (gateway.folder / "audit.jsonl").read_text().splitlines()
    ]
    runs = [r for r in audited if r["route"].startswith("job:")]
    assert sorted(r["job_id"] for r in runs) == sorted(v["id"] for v in [running, *queued])
    assert len({r["study"] for r in audited}) == 1  # one study, one hash across the restart


def test_a_job_cut_twice_fails_as_interrupted(
    gateway: Gateway, fhir_server: Recorder, study_files: Files
) -> None:
    gateway.start()
    view = gateway.submit(study_files, task="report", fhir_submit="true")
    for runs in (1, 2):
        fhir_server.wait_for(runs)
        gateway.kill()
        gateway.start()
    failed = gateway.finished(view)
    assert failed["state"] == "failed" and failed["attempts"] == 2, failed
    assert failed["error"]["code"] == "job_interrupted"
    assert no_uploads_left(gateway.folder / "jobs")
