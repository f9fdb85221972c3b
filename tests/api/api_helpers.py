"""Helpers of the API tests (imported by name: tests/api is on sys.path)."""

import io
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path

import httpx
import pydicom
from fastapi.testclient import TestClient

from app.api.main import create_app
from app.api.security import key_digest
from app.config import SERVING_MEMORY_ENV, ServingSettings
from app.synth.study import synthesize_study

PROJECT_ROOT = Path(__file__).resolve().parents[2]
Files = list[tuple[str, bytes]]
READY_TIMEOUT_S = 180  # a start-up takes seconds; minutes on a machine busy with a training


def write_study(out: Path, site: str, seed: int, primary: str) -> Files:
    study = synthesize_study(site, seed, 0, primary)
    return [(p.relative_to(out).as_posix(), p.read_bytes()) for p in sorted(study.write(out))]


def with_identity(files: Files, name: str, patient_id: str) -> Files:
    """The files with this patient name and id (and a birth date), for privacy tests."""
    out: Files = []
    for file_name, data in files:
        ds = pydicom.dcmread(io.BytesIO(data))
        ds.PatientName = name
        ds.PatientID = patient_id
        ds.PatientBirthDate = "19700101"
        buffer = io.BytesIO()
        ds.save_as(buffer, enforce_file_format=True)
        out.append((file_name, buffer.getvalue()))
    return out


def multipart(files: Files) -> list[tuple[str, tuple[str, bytes, str]]]:
    return [("files", (name, data, "application/dicom")) for name, data in files]


def zipped(files: Files) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in files:
            archive.writestr(f"study/{name}", data)
    return buffer.getvalue()


def make_client(backend_settings: dict[str, str], **overrides: object) -> TestClient:
    """The app in a TestClient; its jobs in a fresh temporary folder unless `jobs_dir` is set."""
    overrides.setdefault("jobs_dir", Path(tempfile.mkdtemp(prefix="cmr-jobs-")))
    settings = ServingSettings(
        model_repository=PROJECT_ROOT / "model_repository", **backend_settings, **overrides
    )
    return TestClient(create_app(settings, configure_logs=False))


@dataclass
class LiveServer:
    url: str
    process: subprocess.Popen
    log_path: Path
    api_key: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.api_key}"}

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_live_server(
    log_path: Path,
    env: dict[str, str],
    keep_alive_s: int | None = None,
    tree: Path = PROJECT_ROOT,
    api_key: str | None = None,
    ready_timeout_s: float = 60,
) -> LiveServer:
    """The real gateway: uvicorn in its own process on a free loopback port; `keep_alive_s`
    replaces uvicorn's 5 s keep-alive timeout (a client that pauses longer between requests
    on one connection). `tree` is the checkout whose code and model_repository/ it serves
    (another commit's, for a side-by-side benchmark). The accepted key is `api_key`, or one
    drawn for the port (a restarted gateway that must know its callers is given the same)."""
    port = free_port()
    command = [sys.executable, "-m", "uvicorn", "app.api.main:app", "--host", "127.0.0.1"]
    command += ["--port", str(port), "--workers", "1", "--no-access-log"]
    if keep_alive_s is not None:
        command += ["--timeout-keep-alive", str(keep_alive_s)]
    full_env = {**os.environ, **{f"CMR_{k.upper()}": v for k, v in env.items()}}
    full_env["CMR_MODEL_REPOSITORY"] = str(tree / "model_repository")
    full_env["PYTHONPATH"] = str(tree)  # its own `app`, not the venv's editable install
    full_env.update(SERVING_MEMORY_ENV)  # as `make serve` and the image run it
    api_key = api_key or f"key-{port}"
    full_env["CMR_API_KEYS_SHA256"] = json.dumps([key_digest(api_key)])
    handle = log_path.open("wb")
    process = subprocess.Popen(
        command, cwd=tree, env=full_env, stdout=handle, stderr=subprocess.STDOUT
    )
    server = LiveServer(f"http://127.0.0.1:{port}", process, log_path, api_key)
    deadline = time.monotonic() + ready_timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"gateway exited at startup:\n{server.log()}")
        try:
            if httpx.get(f"{server.url}/readyz", timeout=2).status_code == 200:
                return server
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    process.terminate()
    raise RuntimeError(f"gateway not ready in {ready_timeout_s:g} s:\n{server.log()}")
