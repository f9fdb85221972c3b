"""A small real HTTP server for the tests: records every request it receives and answers what
the test sets (a FHIR server, a webhook receiver, a redirector). Imported by name."""

import json
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class Received:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> dict:
        return json.loads(self.body)


Answer = Callable[[Received], tuple[int, dict[str, str], bytes]]


def json_answer(status: int, body: dict, media_type: str = "application/json") -> Answer:
    return lambda _: (status, {"Content-Type": media_type}, json.dumps(body).encode())


@dataclass
class Recorder:
    url: str
    received: list[Received] = field(default_factory=list)
    answer: Answer = field(default=lambda _: (200, {}, b""))
    # While cleared, requests are recorded but not answered (a server that hangs).
    open: threading.Event = field(default_factory=threading.Event)
    arrived: threading.Condition = field(default_factory=threading.Condition)

    def wait_for(self, count: int, timeout_s: float = 60) -> list[Received]:
        with self.arrived:
            if not self.arrived.wait_for(lambda: len(self.received) >= count, timeout_s):
                raise AssertionError(f"{len(self.received)} requests arrived, not {count}")
        return list(self.received)


@contextmanager
def recording_server() -> Iterator[Recorder]:
    recorder = Recorder(url="")
    recorder.open.set()

    class Handler(BaseHTTPRequestHandler):
        def _handle(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            received = Received(
                self.command, self.path, dict(self.headers.items()), self.rfile.read(length)
            )
            with recorder.arrived:
                recorder.received.append(received)
                recorder.arrived.notify_all()
            recorder.open.wait(120)
            status, headers, body = recorder.answer(received)
            try:
                self.send_response(status)
                for name, value in {**headers, "Content-Length": str(len(body))}.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(body)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client is gone (a gateway killed while it waited)

        do_GET = do_POST = do_PUT = _handle

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    recorder.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield recorder
    finally:
        recorder.open.set()
        server.shutdown()
        server.server_close()


def transaction_response(transaction: dict) -> dict:
    """What a FHIR server answers a transaction: one entry per request, each created."""
    return {
        "resourceType": "Bundle",
        "type": "transaction-response",
        "entry": [
            {
                "response": {
                    "status": "201 Created",
                    "location": f"{entry['request']['url']}/{index + 1}/_history/1",
                }
            }
            for index, entry in enumerate(transaction["entry"])
        ],
    }


def fhir_server_answer(received: Received) -> tuple[int, dict[str, str], bytes]:
    body = json.dumps(transaction_response(received.json())).encode()
    return 200, {"Content-Type": "application/fhir+json"}, body
