"""What the upload of one study costs the gateway: building the multipart body (client side) and
Starlette's multipart parsing (server side), in-process, for the 12 x 25 study of
bench_gateway.py sent as its 325 files and as one zip. Median of --repeats runs.

    python bench/bench_upload.py [--repeats 7]
"""

import argparse
import asyncio
import io
import statistics
import tempfile
import time
import zipfile
from pathlib import Path

import httpx
from bench_gateway import Files, bench_study
from starlette.requests import Request

CHUNK_BYTES = 65_536  # what uvicorn typically hands the app per receive()


def encode(files: list[tuple[str, bytes, str]]) -> tuple[httpx.Request, bytes]:
    request = httpx.Request("POST", "http://gateway/v1/diagnose", files=files)
    return request, request.read()


async def parse(request: httpx.Request, body: bytes) -> int:
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

    headers = [(k.lower().encode(), v.encode()) for k, v in request.headers.items()]
    scope = {"type": "http", "method": "POST", "headers": headers, "path": "/", "query_string": b""}
    form = await Request(scope, receive).form(max_files=10_000)
    parts = [await part.read() for part in form.getlist("files")]  # type: ignore[union-attr]
    await form.close()
    return len(parts)


def measure(label: str, files: list[tuple[str, bytes, str]], repeats: int) -> None:
    encode_ms, parse_ms = [], []
    for _ in range(repeats):
        started = time.perf_counter()
        request, body = encode(files)
        encode_ms.append((time.perf_counter() - started) * 1000)
        started = time.perf_counter()
        asyncio.run(parse(request, body))
        parse_ms.append((time.perf_counter() - started) * 1000)
    print(
        f"{label:18s} body {len(body) / 1e6:5.1f} MB | client encode "
        f"{statistics.median(encode_ms):6.1f} ms | server parse "
        f"{statistics.median(parse_ms):6.1f} ms"
    )


def zipped(files: Files) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as archive:
        for name, data in files:
            archive.writestr(name, data)
    return buffer.getvalue()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench_upload_") as tmp:
        files = bench_study(Path(tmp))
    measure("325 files", [("files", (n, d, "application/dicom")) for n, d in files], args.repeats)
    blob = zipped(files)
    measure("one zip (stored)", [("files", ("study.zip", blob, "application/zip"))], args.repeats)


if __name__ == "__main__":
    main()
