"""What the upload of one study costs the gateway: building the multipart body (client side), and
reading it server side with the gateway's streaming reader (app/api/uploads.py) next to
Starlette's `request.form()`, in-process, for the 12 x 25 study of bench_gateway.py sent as its
325 files and as one zip. Median of --repeats runs, the readers interleaved. Last, the floor
under any reader: a real uvicorn process (httptools, as `make serve` runs) whose ASGI app only
drains the body of the 325-part upload, timed inside the app, and under it the same bytes moved
between two processes with bare sockets. Runs with the server's memory settings
(SERVING_MEMORY_ENV), as bench_gateway.py does.

    python bench/bench_upload.py [--repeats 7]
"""

import argparse
import asyncio
import io
import multiprocessing
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import zipfile
from collections.abc import Callable
from http.client import HTTPConnection
from pathlib import Path

import httpx
from bench_gateway import (
    ROOT,
    Files,
    Parts,
    bench_study,
    dicom_parts,
    multipart_body,
    with_serving_memory_settings,
)
from starlette.requests import Request

from app.api.uploads import read_form
from app.config import ServingSettings
from app.dicom.sources import Upload

sys.path.insert(0, str(ROOT / "tests" / "api"))
from api_helpers import free_port

CHUNK_BYTES = 65_536  # what uvicorn typically hands the app per receive()


def _request(content_type: dict[str, str], body: bytes) -> Request:
    chunks = [body[i : i + CHUNK_BYTES] for i in range(0, len(body), CHUNK_BYTES)]
    sent = 0

    async def receive() -> dict:
        nonlocal sent
        sent += 1
        return {
            "type": "http.request",
            "body": chunks[sent - 1] if sent <= len(chunks) else b"",
            "more_body": sent < len(chunks),
        }

    headers = [(k.encode(), v.encode()) for k, v in content_type.items()]
    scope = {"type": "http", "method": "POST", "headers": headers, "path": "/", "query_string": b""}
    return Request(scope, receive)


async def starlette_parse(content_type: dict[str, str], body: bytes) -> int:
    form = await _request(content_type, body).form(max_files=10_000)
    parts = [await part.read() for part in form.getlist("files")]  # type: ignore[union-attr]
    await form.close()
    return len(parts)


async def gateway_parse(content_type: dict[str, str], body: bytes) -> int:
    files: list[Upload] = []
    settings = ServingSettings(max_upload_files=10_000)
    await read_form(_request(content_type, body), settings, files.append)
    return len(files)


def measure(label: str, parts: Parts, repeats: int) -> None:
    timings: dict[str, list[float]] = {"encode": [], "gateway": [], "starlette": []}
    for _ in range(repeats):
        started = time.perf_counter()
        body, content_type = multipart_body(parts)
        timings["encode"].append((time.perf_counter() - started) * 1000)
        for name, parse in (("gateway", gateway_parse), ("starlette", starlette_parse)):
            started = time.perf_counter()
            read = asyncio.run(parse(content_type, body))
            timings[name].append((time.perf_counter() - started) * 1000)
            assert read == len(parts)
    median = {name: statistics.median(values) for name, values in timings.items()}
    print(
        f"{label:18s} body {len(body) / 1e6:5.1f} MB | client encode {median['encode']:6.1f} ms"
        f" | server read: gateway {median['gateway']:6.1f} ms, Starlette form()"
        f" {median['starlette']:6.1f} ms ({median['starlette'] / median['gateway']:.1f}x)"
    )


async def drain_app(scope: dict, receive: Callable, send: Callable) -> None:
    """ASGI app that only reads the request body; answers how long that took (ms)."""
    if scope["type"] != "http":
        return
    started = time.perf_counter()
    while (await receive()).get("more_body"):
        pass
    elapsed = f"{(time.perf_counter() - started) * 1000:.3f}".encode()
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": elapsed})


def measure_drain(parts: Parts, repeats: int) -> None:
    body, headers = multipart_body(parts)
    port = free_port()
    command = [sys.executable, "-m", "uvicorn", "--app-dir", str(Path(__file__).parent)]
    command += ["bench_upload:drain_app", "--port", str(port), "--log-level", "warning"]
    command += ["--http", "httptools"]
    server = subprocess.Popen(command)  # with this process's (the server's) memory settings
    try:
        for _ in range(50):  # wait for the server
            try:
                httpx.get(f"http://127.0.0.1:{port}/")
                break
            except httpx.TransportError:
                time.sleep(0.1)
        http = HTTPConnection("127.0.0.1", port, timeout=60)  # sends the body without a copy
        drained = []
        try:
            for _ in range(repeats + 1):  # the first is a warm-up
                http.request("POST", "/", body=body, headers=headers)
                drained.append(float(http.getresponse().read()))
        finally:
            http.close()
    finally:
        server.terminate()
        server.wait(timeout=10)
    print(
        f"uvicorn (httptools) only draining the 325-part body: "
        f"{statistics.median(drained[1:]):6.1f} ms (no reader, no parsing)"
    )


def _socket_sink(listener: socket.socket, size: int) -> None:
    """Child process: for each 1-byte request, receive `size` bytes into one buffer, answer."""
    connection, _ = listener.accept()
    view = memoryview(bytearray(size))
    while connection.recv(1):
        received = 0
        while received < size:
            received += connection.recv_into(view[received:], size - received)
        connection.sendall(b"k")


def measure_socket_floor(parts: Parts, repeats: int) -> None:
    """The same body between two processes over loopback TCP with bare sockets: the floor
    under any server on this machine."""
    body, _ = multipart_body(parts)
    listener = socket.create_server(("127.0.0.1", 0))
    sink = multiprocessing.get_context("fork").Process(
        target=_socket_sink, args=(listener, len(body))
    )
    sink.start()
    sent: list[float] = []
    with socket.create_connection(listener.getsockname()) as connection:
        for _ in range(repeats + 1):  # the first is a warm-up
            started = time.perf_counter()
            connection.sendall(b"x")
            connection.sendall(body)
            connection.recv(1)
            sent.append((time.perf_counter() - started) * 1000)
    sink.join(timeout=10)
    listener.close()
    print(
        f"bare sockets moving the same body between two processes: "
        f"{statistics.median(sent[1:]):6.1f} ms (the floor under any server)"
    )


def zipped(files: Files) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as archive:
        for name, data in files:
            archive.writestr(name, data)
    return buffer.getvalue()


def main() -> None:
    with_serving_memory_settings()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench_upload_") as tmp:
        files = bench_study(Path(tmp))
    measure("325 files", dicom_parts(files), args.repeats)
    blob = zipped(files)
    measure("one zip (stored)", [("files", ("study.zip", blob, "application/zip"))], args.repeats)
    measure_drain(dicom_parts(files), args.repeats)
    measure_socket_floor(dicom_parts(files), args.repeats)


if __name__ == "__main__":
    main()
