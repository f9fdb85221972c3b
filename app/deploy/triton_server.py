"""A real Triton Inference Server on a CPU-only machine: pytriton's `tritonserver` binary.

    python -m app.deploy.triton_server --repository build/triton_repo \
        --http-port 8000 --grpc-port 8001 --metrics-port 8002

The `nvidia-pytriton` wheel carries Triton 2.51 and its python backend; it lives in a venv of its
own (`.venv-triton`, `make triton-up` creates it; `CMR_TRITON_VENV` points elsewhere) because
the python backend needs numpy<2 while the gateway runs numpy 2. Serve it the python-backend
variant of the model repository (`app.deploy.triton_repository`). Flags follow production:
strict readiness, no model control, admin APIs restricted behind a random token, no auto-complete
of configs. Tests use `TritonProcess`; `triton_available()` says why it cannot run, if it cannot.
"""

import argparse
import os
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import weakref
from dataclasses import dataclass
from pathlib import Path

from app.deploy.local_process import LocalServer, stop_on_signals

PROJECT_ROOT = Path(__file__).resolve().parents[2]
VENV_ENV = "CMR_TRITON_VENV"
EXIT_TIMEOUT_S = 5
# Everything but health, metadata, model-config and inference needs a token nobody is given.
RESTRICTED_APIS = "model-repository,shared-memory,statistics,trace,logging"
_PROBE = "import sysconfig as s; print(s.get_config_var('LIBDIR'), s.get_python_version())"


class TritonStartError(RuntimeError):
    """tritonserver exited or did not become ready; the message ends with its log."""


@dataclass(frozen=True)
class TritonInstall:
    """Where pytriton's server pieces are inside the server venv."""

    venv: Path
    server_root: Path  # site-packages/pytriton/tritonserver
    bundled_libs: Path  # site-packages/nvidia_pytriton.libs (libcudart, libtritonserver…)
    python_libdir: Path  # LIBDIR of the venv's interpreter: the libpython the stub must load
    stub: Path  # python backend stub built for the venv's Python version

    @property
    def binary(self) -> Path:
        return self.server_root / "bin" / "tritonserver"


def find_install(venv: Path | None = None) -> TritonInstall:
    """Locate the server in `venv` (default: $CMR_TRITON_VENV or <project>/.venv-triton).
    Raises FileNotFoundError saying what is missing."""
    venv = (venv or Path(os.environ.get(VENV_ENV, PROJECT_ROOT / ".venv-triton"))).resolve()
    python = venv / "bin" / "python"
    if not python.exists():
        raise FileNotFoundError(f"no Triton venv at {venv} (run `make .venv-triton/.stamp`)")
    roots = sorted(venv.glob("lib/python3*/site-packages/pytriton/tritonserver"))
    if not roots or not (roots[0] / "bin" / "tritonserver").exists():
        raise FileNotFoundError(f"nvidia-pytriton's tritonserver is not installed in {venv}")
    probe = subprocess.run([python, "-c", _PROBE], capture_output=True, text=True, check=True)
    libdir, version = probe.stdout.split()
    stub = roots[0] / "python_backend_stubs" / version / "triton_python_backend_stub"
    if not stub.exists():
        raise FileNotFoundError(f"pytriton has no python backend stub for Python {version}")
    return TritonInstall(
        venv, roots[0], roots[0].parents[1] / "nvidia_pytriton.libs", Path(libdir), stub
    )


def triton_available(venv: Path | None = None) -> str | None:
    """None if Triton can be started here, else the reason (for pytest.skip)."""
    if sys.platform != "linux":
        return "pytriton's tritonserver runs on Linux only"
    try:
        find_install(venv)
    except (FileNotFoundError, subprocess.CalledProcessError) as error:
        return str(error)
    return None


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class TritonProcess(LocalServer):
    """One tritonserver serving `repository`; `start()` again after `stop()` reuses the ports.

    Its stdout/stderr go to `log_path` (appended across restarts). `workdir` holds the backend
    directory and, by default, the log; without one a temporary folder is made and removed when
    the object goes away.
    """

    def __init__(
        self,
        repository: Path,
        *,
        host: str = "127.0.0.1",
        http_port: int | None = None,
        grpc_port: int | None = None,
        metrics_port: int | None = None,
        venv: Path | None = None,
        workdir: Path | None = None,
        log_path: Path | None = None,
        ready_timeout_s: float = 60.0,
    ) -> None:
        self.install = find_install(venv)
        self.repository = repository.resolve()
        self.host = host
        self.http_port = http_port or free_port()
        self.grpc_port = grpc_port or free_port()
        self.metrics_port = metrics_port or free_port()
        self.ready_timeout_s = ready_timeout_s
        if workdir is None:
            workdir = Path(tempfile.mkdtemp(prefix="cmr_triton_"))
            weakref.finalize(self, shutil.rmtree, workdir, ignore_errors=True)
        self.workdir = workdir
        self.log_path = log_path or workdir / "tritonserver.log"
        self._backends = self._backend_directory()
        self.exit_timeout_s = EXIT_TIMEOUT_S + 5  # Triton's own graceful exit, then a margin

    @property
    def _client_host(self) -> str:
        return "127.0.0.1" if self.host in ("0.0.0.0", "") else self.host

    @property
    def http_url(self) -> str:
        """host:port, as tritonclient.http takes it (no scheme)."""
        return f"{self._client_host}:{self.http_port}"

    @property
    def grpc_url(self) -> str:
        return f"{self._client_host}:{self.grpc_port}"

    @property
    def metrics_url(self) -> str:
        return f"http://{self._client_host}:{self.metrics_port}/metrics"

    def _backend_directory(self) -> Path:
        """backends/python: the wheel's python backend plus the stub for the venv's Python."""
        python = self.workdir / "backends" / "python"
        python.mkdir(parents=True, exist_ok=True)
        source = self.install.server_root / "backends" / "python"
        for target in (
            source / "libtriton_python.so",
            source / "triton_python_backend_utils.py",
            self.install.stub,
        ):
            link = python / target.name
            link.unlink(missing_ok=True)
            link.symlink_to(target)
        return python.parent

    def _command(self) -> list[str]:
        token = secrets.token_urlsafe(24)
        return [
            str(self.install.binary),
            f"--model-repository={self.repository}",
            f"--backend-directory={self._backends}",
            f"--http-address={self.host}",
            f"--http-port={self.http_port}",
            f"--grpc-address={self.host}",
            f"--grpc-port={self.grpc_port}",
            f"--metrics-address={self.host}",
            f"--metrics-port={self.metrics_port}",
            "--disable-auto-complete-config",
            "--strict-readiness=true",
            "--model-control-mode=none",
            f"--http-restricted-api={RESTRICTED_APIS}:triton-access-token={token}",
            f"--grpc-restricted-protocol={RESTRICTED_APIS}:triton-access-token={token}",
            f"--exit-timeout-secs={EXIT_TIMEOUT_S}",
            "--pinned-memory-pool-byte-size=0",
            "--cuda-memory-pool-byte-size=0:0",
            "--allow-gpu-metrics=false",
        ]

    def _env(self) -> dict[str, str]:
        env = dict(os.environ)
        # The stub embeds Python: without LIBDIR first it may load another libpython 3.11
        # (symptom: "'_thread.RLock' object has no attribute '_recursion_count'"), and it finds
        # the venv (numpy<2, onnxruntime) through the `python` on PATH. A PYTHONPATH/PYTHONHOME
        # of the caller (the gateway's numpy 2) must not leak into it.
        library_path = [str(self.install.python_libdir), str(self.install.bundled_libs)]
        env["LD_LIBRARY_PATH"] = ":".join(filter(None, [*library_path, env.get("LD_LIBRARY_PATH")]))
        env["PATH"] = f"{self.install.venv / 'bin'}:{env.get('PATH', '')}"
        for name in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV"):
            env.pop(name, None)
        return env

    def start(self) -> None:
        """Launch and wait until /v2/health/ready; raises TritonStartError (log included)."""
        if self.running:
            return
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self._log = self.log_path.open("ab")
        self._process = subprocess.Popen(
            self._command(),
            env=self._env(),
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # a terminal's Ctrl-C reaches us, and we stop it cleanly
        )
        deadline = time.monotonic() + self.ready_timeout_s
        while not self._ready():
            if self._process.poll() is not None:
                code = self._process.returncode
                self.stop()
                raise TritonStartError(f"tritonserver exited with {code}\n{self.log_tail()}")
            if time.monotonic() > deadline:
                self.stop()
                raise TritonStartError(
                    f"tritonserver not ready after {self.ready_timeout_s} s\n{self.log_tail()}"
                )
            time.sleep(0.05)

    def _ready(self) -> bool:
        url = f"http://{self.http_url}/v2/health/ready"
        try:
            with urllib.request.urlopen(url, timeout=1.0) as response:
                return bool(response.status == 200)
        except (urllib.error.URLError, OSError):
            return False


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m app.deploy.triton_server", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--repository", type=Path, required=True, help="python-backend variant")
    parser.add_argument("--host", default="127.0.0.1", help="address Triton binds to")
    parser.add_argument("--http-port", type=int, default=8000)
    parser.add_argument("--grpc-port", type=int, default=8001)
    parser.add_argument("--metrics-port", type=int, default=8002)
    parser.add_argument("--venv", type=Path, help=f"server venv (default ${VENV_ENV})")
    parser.add_argument("--log", type=Path, help="tritonserver's output (default: a temp file)")
    args = parser.parse_args(argv)
    stop_requested = stop_on_signals()
    server = TritonProcess(
        args.repository,
        host=args.host,
        http_port=args.http_port,
        grpc_port=args.grpc_port,
        metrics_port=args.metrics_port,
        venv=args.venv,
        log_path=args.log,
    )
    started = time.perf_counter()
    try:
        server.start()
    except TritonStartError as error:
        print(error, file=sys.stderr)
        return 1
    print(
        f"Triton ready in {time.perf_counter() - started:.1f} s: http {server.http_url}, "
        f"grpc {server.grpc_url}, metrics {server.metrics_url}; log {server.log_path}. "
        "Ctrl-C stops it.",
        flush=True,
    )
    code = server.wait(stop_requested)
    print(f"Triton stopped ({code}); log {server.log_path}", flush=True)
    return code


if __name__ == "__main__":
    raise SystemExit(main())
