"""What the local servers of tests and `make` targets (Triton, Orthanc) share: a process that
a subclass's `start()` launches, its output in `log_path`, and how it is stopped."""

import signal
import subprocess
import threading
from pathlib import Path
from typing import IO, Self


class LocalServer:
    """A server process on this machine; subclasses set `log_path` and define `start()`."""

    exit_timeout_s: float = 10.0
    log_path: Path
    _process: subprocess.Popen[bytes] | None = None
    _log: IO[bytes] | None = None

    def start(self) -> None:
        raise NotImplementedError

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def stop(self) -> None:
        """SIGTERM, then SIGKILL after `exit_timeout_s`; idempotent."""
        process = self._process
        if process is not None and process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=self.exit_timeout_s)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        if self._log is not None:
            self._log.close()
            self._log = None

    def log_tail(self, lines: int = 40) -> str:
        if not self.log_path.exists():
            return ""
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    def wait(self, stop_requested: threading.Event) -> int:
        """Block until `stop_requested` is set or the server exits; returns its exit status
        (0 when stopped on request)."""
        while not stop_requested.wait(0.5) and self.running:
            pass
        code = 0 if stop_requested.is_set() or self._process is None else self._process.returncode
        self.stop()
        return code

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


def stop_on_signals() -> threading.Event:
    """An event set by SIGINT or SIGTERM (a CLI's foreground server)."""
    stop_requested = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop_requested.set())
    return stop_requested
