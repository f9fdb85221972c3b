"""A real PACS on this machine: Orthanc with its DICOMweb plugin, from Debian's packages (and
its Python plugin, for the auto-routing script).

    python -m app.deploy.orthanc_server --http-port 8042 --dicom-port 4242 --load data/demo

`apt-get install orthanc orthanc-dicomweb orthanc-python` provides them (`make pacs-up`
installs them and starts this). The server gets a generated configuration: loopback only
(RemoteAccessAllowed false), HTTP basic authentication with one user, a storage folder of its
own (thrown away unless given), DICOMweb at `/dicom-web/`. Tests use `OrthancProcess`;
`orthanc_available()` says why it cannot run, if it cannot.
"""

import argparse
import json
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
import weakref
from dataclasses import dataclass
from pathlib import Path

import httpx

from app.deploy.local_process import LocalServer, stop_on_signals
from app.deploy.triton_server import free_port

ORTHANC_BINARY = "Orthanc"
DICOMWEB_PLUGIN = Path("/usr/share/orthanc/plugins/libOrthancDicomWeb.so")
DICOMWEB_ROOT = "/dicom-web/"
AE_TITLE = "CMRPACS"
PYTHON_PLUGIN = Path("/usr/share/orthanc/plugins/libOrthancPython.so")
AUTOROUTE_SCRIPT = Path(__file__).resolve().parent / "orthanc" / "autoroute.py"


@dataclass(frozen=True)
class GatewayRoute:
    """Where Orthanc's auto-routing script (AUTOROUTE_SCRIPT) sends each new cine study: the
    gateway's URL and API key, and the name the gateway knows this Orthanc by."""

    url: str
    api_key: str
    source: str = "orthanc"
    mode: str = "findings"
    stable_age_s: int = 60  # Orthanc's default: a study is complete after a minute of quiet

    def configuration(self) -> dict[str, object]:
        return {
            "PythonScript": str(AUTOROUTE_SCRIPT),
            "StableAge": self.stable_age_s,
            "CmrGateway": {
                "Url": self.url,
                "ApiKey": self.api_key,
                "Source": self.source,
                "Mode": self.mode,
                "ResultMarker": "AI result",
            },
        }


class OrthancStartError(RuntimeError):
    """Orthanc exited or did not answer; the message ends with its log."""


def orthanc_available() -> str | None:
    """None if Orthanc and its DICOMweb and Python plugins are installed, else what is
    missing."""
    if shutil.which(ORTHANC_BINARY) is None:
        return (
            "Orthanc is not installed (`apt-get install orthanc orthanc-dicomweb orthanc-python`)"
        )
    for plugin in (DICOMWEB_PLUGIN, PYTHON_PLUGIN):
        if not plugin.exists():
            return f"an Orthanc plugin is not installed ({plugin})"
    return None


class OrthancProcess(LocalServer):
    """One Orthanc on free loopback ports (or the given ones), storage in `workdir` (a
    temporary folder, removed with the object, when not given). `start()` again after
    `stop()` keeps ports, storage and credentials. With a `gateway`, every stable MR study is
    sent to it by reference (AUTOROUTE_SCRIPT)."""

    def __init__(
        self,
        *,
        http_port: int | None = None,
        dicom_port: int | None = None,
        workdir: Path | None = None,
        username: str = "cmr",
        password: str | None = None,
        gateway: GatewayRoute | None = None,
        ready_timeout_s: float = 30.0,
    ) -> None:
        self.http_port = http_port or free_port()
        self.dicom_port = dicom_port or free_port()
        if workdir is None:
            workdir = Path(tempfile.mkdtemp(prefix="cmr_orthanc_"))
            weakref.finalize(self, shutil.rmtree, workdir, ignore_errors=True)
        self.workdir = workdir
        self.username = username
        self.password = password or secrets.token_urlsafe(16)
        self.gateway = gateway
        self.ready_timeout_s = ready_timeout_s
        self.log_path = workdir / "orthanc.log"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    @property
    def dicomweb_url(self) -> str:
        """The DICOMweb base URL (QIDO-RS, WADO-RS and STOW-RS under it)."""
        return self.url + DICOMWEB_ROOT.rstrip("/")

    @property
    def auth(self) -> tuple[str, str]:
        return self.username, self.password

    def configuration(self) -> dict[str, object]:
        storage = self.workdir / "storage"
        return {
            "Name": "cmr-test-pacs",
            "StorageDirectory": str(storage),
            "IndexDirectory": str(storage),
            "HttpPort": self.http_port,
            "DicomPort": self.dicom_port,
            "DicomAet": AE_TITLE,
            "RemoteAccessAllowed": False,
            "AuthenticationEnabled": True,
            "RegisteredUsers": {self.username: self.password},
            "SaveJobs": False,
            "StorageCompression": False,
            "Plugins": [str(DICOMWEB_PLUGIN), *([str(PYTHON_PLUGIN)] if self.gateway else [])],
            "DicomWeb": {"Enable": True, "Root": DICOMWEB_ROOT, "EnableWado": False},
            **(self.gateway.configuration() if self.gateway else {}),
        }

    def start(self) -> None:
        """Launch and wait until the REST API answers; raises OrthancStartError."""
        if self.running:
            return
        self.workdir.mkdir(parents=True, exist_ok=True)
        config = self.workdir / "orthanc.json"
        config.write_text(json.dumps(self.configuration(), indent=2))
        self._log = self.log_path.open("ab")
        self._process = subprocess.Popen(
            [ORTHANC_BINARY, str(config)],
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + self.ready_timeout_s
        while not self._ready():
            if self._process.poll() is not None:
                code = self._process.returncode
                self.stop()
                raise OrthancStartError(f"Orthanc exited with {code}\n{self.log_tail()}")
            if time.monotonic() > deadline:
                self.stop()
                raise OrthancStartError(f"Orthanc not ready in {self.ready_timeout_s} s")
            time.sleep(0.05)

    def _ready(self) -> bool:
        try:
            return httpx.get(f"{self.url}/system", auth=self.auth, timeout=1).status_code == 200
        except httpx.TransportError:
            return False

    def study_instance_uids(self) -> list[str]:
        """The StudyInstanceUID of every study stored, sorted."""
        answer = httpx.get(f"{self.url}/studies?expand", auth=self.auth, timeout=60)
        return sorted(study["MainDicomTags"]["StudyInstanceUID"] for study in answer.json())

    def upload(self, files: list[bytes]) -> None:
        """Store DICOM files through the REST API (what a modality's C-STORE would do)."""
        with httpx.Client(base_url=self.url, auth=self.auth, timeout=60) as client:
            for data in files:
                client.post("/instances", content=data).raise_for_status()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m app.deploy.orthanc_server", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--http-port", type=int, default=8042)
    parser.add_argument("--dicom-port", type=int, default=4242)
    parser.add_argument("--storage", type=Path, help="Orthanc's folder (default: temporary)")
    parser.add_argument("--password", help="password of user `cmr` (default: random, printed)")
    parser.add_argument("--load", type=Path, help="store every *.dcm file below this folder")
    args = parser.parse_args(argv)
    reason = orthanc_available()
    if reason is not None:
        print(reason, file=sys.stderr)
        return 1
    if args.storage is not None:
        args.storage.mkdir(parents=True, exist_ok=True)
    server = OrthancProcess(
        http_port=args.http_port,
        dicom_port=args.dicom_port,
        workdir=args.storage,
        password=args.password,
    )
    stop_requested = stop_on_signals()
    try:
        server.start()
    except OrthancStartError as error:
        print(error, file=sys.stderr)
        return 1
    if args.load is not None:
        files = sorted(args.load.rglob("*.dcm"))
        server.upload([p.read_bytes() for p in files])
        print(f"stored {len(files)} files from {args.load}; StudyInstanceUIDs:", flush=True)
        for uid in server.study_instance_uids():
            print(f"  {uid}")
    source = {"url": server.dicomweb_url, "username": server.username, "password": server.password}
    print(
        f"Orthanc ready: {server.url} (user {server.username}, password {server.password}), "
        f"DICOM {AE_TITLE}@127.0.0.1:{server.dicom_port}, log {server.log_path}.\n"
        f"CMR_DICOMWEB_SOURCES='{json.dumps({'orthanc': source})}'\nCtrl-C stops it.",
        flush=True,
    )
    return server.wait(stop_requested)


if __name__ == "__main__":
    raise SystemExit(main())
