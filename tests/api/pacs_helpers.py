"""Helpers of the PACS tests (imported by name: tests/api is on sys.path): studies stored in
the test Orthanc, the gateway's source settings, and HTTP servers that record what reaches
them (the "other host" of the SSRF tests)."""

import io
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pydicom
import pytest
from api_helpers import Files

from app.deploy.orthanc_server import OrthancProcess, orthanc_available

SOURCE = "pacs"


def require_orthanc() -> None:
    """Without Orthanc: a skip, or a failure under CI=true (`make test` installs it)."""
    reason = orthanc_available()
    if reason is not None:
        if os.environ.get("CI"):
            pytest.fail(reason)
        pytest.skip(reason)


def source_settings(orthanc: OrthancProcess, **extra: object) -> dict[str, dict]:
    """CMR_DICOMWEB_SOURCES naming the test Orthanc `pacs` (plus `extra` sources)."""
    pacs = {"url": orthanc.dicomweb_url, "username": orthanc.username, "password": orthanc.password}
    return {SOURCE: pacs, **extra}


def study_uid(files: Files) -> str:
    return str(pydicom.dcmread(io.BytesIO(files[0][1]), stop_before_pixels=True).StudyInstanceUID)


def reference(uid: str, source: str = SOURCE, **fields: object) -> dict[str, object]:
    return {"study": {"dicomweb": source, "study_instance_uid": uid}, **fields}


@dataclass
class RecordingServer:
    """A loopback HTTP server that records the path of every request; it answers each with
    `status` and, for a redirect, `Location: location`."""

    status: int = 404
    location: str | None = None
    paths: list[str] = field(default_factory=list)
    url: str = ""


@contextmanager
def recording_server(status: int = 404, location: str | None = None) -> Iterator[RecordingServer]:
    record = RecordingServer(status, location)

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            record.paths.append(self.path)
            self.send_response(record.status)
            if record.location is not None:
                self.send_header("Location", record.location + self.path)
            self.send_header("Content-Length", "0")
            self.end_headers()

        do_POST = do_GET

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    record.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield record
    finally:
        server.shutdown()
        server.server_close()
