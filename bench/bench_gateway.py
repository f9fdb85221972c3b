"""The gateway end to end: latency vs the same work in-process, load, and Triton's share.

1. Overhead: POST /v1/diagnose of a 12-slice x 25-phase study (300 SAX + 25 4-chamber files)
   on a real uvicorn process over a kept-alive connection, next to ingest + preprocess + encode
   + score run directly in-process; runs interleaved. Each process runs at its own speed on
   a shared machine (two gateway processes of the same code came out 5.6 % apart), so the
   runs are spread over `--processes` pairs of processes, each a gateway and an in-process
   side launched and settled alike, taking turns. Target: gateway overhead < 15 % of the
   direct sum, as the ratio of the pooled medians, with its 95 % bootstrap interval (process
   pairs resampled, then runs within them) and each pair's own figure; the median of the
   ratios of neighbouring runs is printed too (it cancels the drift of the machine's speed),
   and where the time goes: the stages the gateway reports (`timings_ms`) next to the same
   stages in-process.
   The client encodes the multipart body once, outside the timed span: building it is the
   client's work, not the gateway's (bench_upload.py reports what it costs). It sends the
   body with the standard library's http.client, which hands it to the socket as is; httpx's
   sync client copies a 43 MB body once more before sending, which is the client's cost,
   printed alongside.
   Then the same POST from a client paced at 1 Gbit/s (a hospital LAN): the gateway ingests
   each file while the rest of the upload arrives, so what is left after the upload's last
   byte is printed next to the in-process sum.
2. Load: 1, 4 and 16 concurrent clients for `--duration` s each (httpx async, loopback; 0 skips
   it); clients honour Retry-After. Reports requests/s, p50/p95, statuses, and the server's RSS
   after a warm-up at 16 clients that lasts until the RSS settles, and after each level
   (target: end <= 1.2 x warm-up; no 5xx but deliberate 503s).
3. Triton: the same study through the Triton backend vs the embedded one (ratio), and Triton's
   dynamic batching under 8 concurrent video requests (batch size from its metrics).

This process re-executes itself with the server's memory settings (SERVING_MEMORY_ENV: glibc
malloc thresholds, no numpy huge pages), which its in-process children inherit; they settle as
the server settles after startup (garbage-collector freeze, GIL switch interval), so both
sides run alike.

    python bench/bench_gateway.py [--repeats 96] [--processes 8] [--duration 60]
                                  [--backends embedded,triton]

Needs `app` importable (Makefile `bench` target) and, for Triton, `.venv-triton` (make triton-up).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import statistics
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.client import HTTPConnection
from multiprocessing.connection import Connection
from pathlib import Path

import httpx
import numpy as np
from bench_ingest import register_bench_site, synthesize_with_slices

from app.api.process_state import settled_for_serving
from app.config import SERVING_MEMORY_ENV, ServingSettings
from app.deploy.triton_repository import write_python_backend_variant
from app.deploy.triton_server import TritonProcess, triton_available
from app.inference.backend import VideoBatch
from app.pipeline.service import Pipeline
from app.zeroshot.scoring_sets import DEFAULT_SETS, ScoringSet

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "api"))  # the tests' real-server launcher
from api_helpers import LiveServer, start_live_server  # noqa: E402

Files = list[tuple[str, bytes]]


def bench_study(out: Path) -> Files:
    register_bench_site()
    study = synthesize_with_slices(12, seed=0)
    return [(p.relative_to(out).as_posix(), p.read_bytes()) for p in sorted(study.write(out))]


def percentile(values: list[float], q: float) -> float:
    return float(np.percentile(values, q))


Stages = dict[str, float]  # milliseconds by stage, as a diagnosis response's `timings_ms`


async def direct_once(
    pipeline: Pipeline, files: Files, scoring: ScoringSet
) -> tuple[float, Stages]:
    """Seconds of ingest + preprocess + encode + score, and the stages' milliseconds."""
    started = time.perf_counter()
    prepared = await pipeline.prepare(files)
    embeddings = await pipeline.encode_study(prepared, "bench")
    await pipeline.score(embeddings.study[0], scoring, "bench", prepared.timings_ms)
    elapsed = time.perf_counter() - started
    timings = prepared.timings_ms
    encode = timings["encode_video"] + timings["encode_text"]
    return elapsed, {**{k: timings[k] for k in ("parse", "preprocess", "score")}, "encode": encode}


Parts = list[tuple[str, tuple[str, bytes, str]]]


def dicom_parts(files: Files) -> Parts:
    return [("files", (name, data, "application/dicom")) for name, data in files]


def multipart_body(parts: Parts) -> tuple[bytes, dict[str, str]]:
    """The multipart body a client sends for `parts`, and its content-type header."""
    request = httpx.Request("POST", "http://gateway/v1/diagnose", files=parts)
    return request.read(), {"content-type": request.headers["content-type"]}


def http_once(http: httpx.Client, body: bytes, headers: dict[str, str]) -> float:
    started = time.perf_counter()
    response = http.post("/v1/diagnose", content=body, headers=headers)
    elapsed = time.perf_counter() - started
    response.raise_for_status()
    return elapsed


def post_diagnose(
    http: HTTPConnection, body: bytes | Iterator[memoryview], headers: dict[str, str]
) -> bytes:
    """POST /v1/diagnose with http.client, which hands a bytes body to sendall() without a
    copy; the answer's body. Raises unless it is a 200."""
    http.request("POST", "/v1/diagnose", body=body, headers=headers)
    response = http.getresponse()
    answer = response.read()
    if response.status != 200:
        raise RuntimeError(f"POST /v1/diagnose: {response.status}")
    return answer


def lean_http_once(
    http: HTTPConnection, body: bytes, headers: dict[str, str]
) -> tuple[float, Stages]:
    """One POST: its seconds and the stages' milliseconds the gateway reports."""
    started = time.perf_counter()
    answer = post_diagnose(http, body, headers)
    return time.perf_counter() - started, json.loads(answer)["timings_ms"]


LAN_BYTES_PER_S = 125e6  # 1 Gbit/s
PACED_CHUNK_BYTES = 256 * 1024


def paced_http_once(
    http: HTTPConnection, body: bytes, headers: dict[str, str], bytes_per_s: float
) -> tuple[float, float]:
    """One POST whose body goes out no faster than `bytes_per_s`: (seconds in all, seconds
    after the last byte was handed to the socket)."""
    started = time.perf_counter()
    last_byte_at = started

    def paced() -> Iterator[memoryview]:
        nonlocal last_byte_at
        view = memoryview(body)
        for offset in range(0, len(body), PACED_CHUNK_BYTES):
            yield view[offset : offset + PACED_CHUNK_BYTES]
            due = started + (offset + PACED_CHUNK_BYTES) / bytes_per_s
            time.sleep(max(0.0, due - time.perf_counter()))
        last_byte_at = time.perf_counter()

    post_diagnose(http, paced(), headers)
    finished = time.perf_counter()
    return finished - started, finished - last_byte_at


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


async def load_phase(server: LiveServer, files: Files, clients: int, duration_s: float) -> dict:
    body, body_headers = multipart_body(dicom_parts(files))
    statuses: Counter[int] = Counter()
    latencies: list[float] = []
    deadline = time.monotonic() + duration_s

    async def client(http: httpx.AsyncClient) -> None:
        while time.monotonic() < deadline:
            started = time.perf_counter()
            response = await http.post("/v1/diagnose", content=body, headers=body_headers)
            statuses[response.status_code] += 1
            if response.status_code == 200:
                latencies.append(time.perf_counter() - started)
            elif response.status_code == 503:
                await asyncio.sleep(float(response.headers.get("retry-after", "1")))

    health_ms: list[float] = []

    async def probe(http: httpx.AsyncClient) -> None:
        """/healthz during the load: it must stay fast while studies are decoded/encoded."""
        while time.monotonic() < deadline:
            started = time.perf_counter()
            (await http.get("/healthz")).raise_for_status()
            health_ms.append((time.perf_counter() - started) * 1000)
            await asyncio.sleep(0.25)

    # Idle connections expire before uvicorn's 5 s keep-alive timeout closes them: a POST
    # sent on a connection the server is closing fails and is not retried.
    limits = httpx.Limits(max_connections=clients + 1, keepalive_expiry=2.0)
    async with httpx.AsyncClient(
        base_url=server.url, headers=server.headers, timeout=180, limits=limits
    ) as http:
        await asyncio.gather(probe(http), *(client(http) for _ in range(clients)))
    return {
        "healthz_p95_ms": percentile(health_ms, 95),
        "clients": clients,
        "ok_per_s": statuses[200] / duration_s,
        "p50_s": percentile(latencies, 50) if latencies else float("nan"),
        "p95_s": percentile(latencies, 95) if latencies else float("nan"),
        "statuses": dict(statuses),
    }


def in_process_worker(connection: Connection, files: Files, backend_env: dict[str, str]) -> None:
    """A child process: the in-process sum, once per message received, its seconds sent back.
    Launched, warmed and settled as a gateway process is, so that both sides carry the same
    process-to-process spread."""
    settings = ServingSettings(**backend_env)  # type: ignore[arg-type]
    pipeline = Pipeline.from_settings(settings)
    scoring = ScoringSet.shipped(pipeline.condition_sets[DEFAULT_SETS["exclusive"]])
    loop = asyncio.new_event_loop()
    loop.run_until_complete(pipeline.start())
    loop.run_until_complete(pipeline.ready())
    with settled_for_serving(settings.gil_switch_interval_ms):  # as the server after startup
        loop.run_until_complete(direct_once(pipeline, files, scoring))  # warm-up
        connection.send("ready")
        while connection.recv():
            connection.send(loop.run_until_complete(direct_once(pipeline, files, scoring)))
    loop.run_until_complete(pipeline.close())


class InProcessSide:
    """The in-process sum in its own process (`in_process_worker`)."""

    def __init__(self, files: Files, backend_env: dict[str, str]) -> None:
        context = multiprocessing.get_context("spawn")  # a fresh interpreter, as a gateway
        self.connection, child = context.Pipe()
        self.process = context.Process(
            target=in_process_worker, args=(child, files, backend_env), daemon=True
        )
        self.process.start()
        if self.connection.recv() != "ready":
            raise RuntimeError("the in-process side did not start")

    def run_once(self) -> tuple[float, Stages]:
        self.connection.send(True)
        return self.connection.recv()

    def close(self) -> None:
        self.connection.send(False)
        self.process.join(timeout=30)


@dataclass
class ProcessPair:
    """One gateway process and one in-process side, measured in turns."""

    server: LiveServer
    direct: InProcessSide
    lean: HTTPConnection
    http: httpx.Client
    runs: dict[str, list[float]] = field(
        default_factory=lambda: {"direct": [], "lean": [], "httpx": []}
    )
    stages: dict[str, list[Stages]] = field(default_factory=lambda: {"direct": [], "lean": []})

    def record(self, side: str, run: tuple[float, Stages]) -> None:
        self.runs[side].append(run[0])
        self.stages[side].append(run[1])

    @classmethod
    def start(cls, files: Files, backend_env: dict[str, str], log: Path) -> ProcessPair:
        # Its connections wait while the other pairs take their turns.
        server = start_live_server(log, backend_env, keep_alive_s=600)
        url = httpx.URL(server.url)
        return cls(
            server,
            InProcessSide(files, backend_env),
            HTTPConnection(url.host, url.port, timeout=120),
            httpx.Client(base_url=server.url, headers=server.headers, timeout=120),
        )

    def close(self) -> None:
        self.lean.close()
        self.http.close()
        self.direct.close()
        self.server.process.terminate()
        self.server.process.wait(timeout=10)


def overhead(
    files: Files, backend_env: dict[str, str], repeats: int, processes: int, log_dir: Path
) -> dict:
    """`repeats` runs of each side spread over `processes` pairs of processes, in turns."""
    body, body_headers = multipart_body(dicom_parts(files))
    log_dir.mkdir(exist_ok=True)
    pairs: list[ProcessPair] = []
    paced: list[tuple[float, float]] = []
    try:
        for k in range(processes):
            pairs.append(ProcessPair.start(files, backend_env, log_dir / f"gateway-{k}.log"))
        lean_headers = [{**pair.server.headers, **body_headers} for pair in pairs]
        paced_headers = [{**headers, "content-length": str(len(body))} for headers in lean_headers]
        for pair, headers in zip(pairs, lean_headers, strict=True):  # warm-up
            http_once(pair.http, body, body_headers)
            lean_http_once(pair.lean, body, headers)
        for run in range(repeats):
            pair = pairs[run % processes]
            pair.record("direct", pair.direct.run_once())
            pair.record("lean", lean_http_once(pair.lean, body, lean_headers[run % processes]))
            pair.runs["httpx"].append(http_once(pair.http, body, body_headers))
        for run in range(max(11, repeats // 4)):
            pair, headers = pairs[run % processes], paced_headers[run % processes]
            paced.append(paced_http_once(pair.lean, body, headers, LAN_BYTES_PER_S))
    finally:
        for pair in pairs:
            pair.close()
    runs = {
        side: [t for pair in pairs for t in pair.runs[side]] for side in ("direct", "lean", "httpx")
    }
    paired = [h / d for h, d in zip(runs["lean"], runs["direct"], strict=True)]
    low, high = overhead_interval(
        [p.runs["lean"] for p in pairs], [p.runs["direct"] for p in pairs]
    )
    return {
        "share_low": low,
        "share_high": high,
        "per_pair": [
            statistics.median(p.runs["lean"]) / statistics.median(p.runs["direct"]) - 1
            for p in pairs
        ],
        "stages_p50": {
            side: {
                stage: statistics.median(s[stage] for p in pairs for s in p.stages[side])
                for stage in pairs[0].stages[side][0]
            }
            for side in ("direct", "lean")
        },
        "direct_p50": statistics.median(runs["direct"]),
        "direct_p95": percentile(runs["direct"], 95),
        "http_p50": statistics.median(runs["lean"]),
        "http_p95": percentile(runs["lean"], 95),
        "httpx_p50": statistics.median(runs["httpx"]),
        "paired_share": statistics.median(paired) - 1,
        "paced_p50": statistics.median(total for total, _ in paced),
        "paced_after_p50": statistics.median(after for _, after in paced),
    }


def overhead_interval(
    gateway: list[list[float]], direct: list[list[float]], draws: int = 4000
) -> tuple[float, float]:
    """95 % bootstrap interval of the overhead (ratio of the pooled medians, minus one). Two
    levels, as the runs were made: process pairs are resampled (each process runs at its own
    speed on a shared machine), then runs within each pair, in their interleaved pairs."""
    rng = np.random.default_rng(0)
    overheads = np.empty(draws)
    for draw in range(draws):
        picked_gateway, picked_direct = [], []
        for k in rng.integers(0, len(gateway), size=len(gateway)):
            picks = rng.integers(0, len(gateway[k]), size=len(gateway[k]))
            picked_gateway.append(np.asarray(gateway[k])[picks])
            picked_direct.append(np.asarray(direct[k])[picks])
        ratio = np.median(np.concatenate(picked_gateway)) / np.median(np.concatenate(picked_direct))
        overheads[draw] = ratio - 1
    low, high = np.percentile(overheads, [2.5, 97.5])
    return float(low), float(high)


def report_overhead(backend: str, figures: dict) -> None:
    share = figures["http_p50"] / figures["direct_p50"] - 1
    print(
        f"{backend:9s} POST /v1/diagnose p50 {figures['http_p50'] * 1000:7.1f} ms  "
        f"p95 {figures['http_p95'] * 1000:7.1f} ms | in-process p50 "
        f"{figures['direct_p50'] * 1000:7.1f} ms  p95 {figures['direct_p95'] * 1000:7.1f} ms | "
        f"gateway overhead {share * 100:+.1f} % (95 % interval {figures['share_low'] * 100:+.1f} "
        f"to {figures['share_high'] * 100:+.1f} %; target < 15 %); median of paired ratios "
        f"{figures['paired_share'] * 100:+.1f} %; with httpx as the client p50 "
        f"{figures['httpx_p50'] * 1000:7.1f} ms"
    )
    per_pair = ", ".join(f"{share * 100:+.1f}" for share in figures["per_pair"])
    print(f"{backend:9s} overhead of each process pair: {per_pair} %")
    gateway, direct = figures["stages_p50"]["lean"], figures["stages_p50"]["direct"]
    stages = " | ".join(f"{stage} {gateway[stage]:.1f} vs {direct[stage]:.1f}" for stage in direct)
    print(
        f"{backend:9s} stages, p50 ms, gateway vs in-process: receive {gateway['receive']:.1f} "
        f"| {stages}"
    )
    print(
        f"{backend:9s} POST from a client paced at {LAN_BYTES_PER_S * 8 / 1e9:g} Gbit/s: p50 "
        f"{figures['paced_p50'] * 1000:7.1f} ms, of which {figures['paced_after_p50'] * 1000:7.1f}"
        f" ms after the upload's last byte (in-process p50 {figures['direct_p50'] * 1000:7.1f} ms)"
    )


WARM_UP_ROUND_S = 5.0
WARM_UP_SETTLED = 1.02  # the RSS grew less than 2 % over the last two rounds


def warm_up(server: LiveServer, files: Files, most_s: float) -> tuple[float, float]:
    """16 clients, in rounds, until the server's RSS settles (or `most_s` passed): what it
    takes to hold the studies in flight is then allocated. With two studies in flight at once,
    the high-water mark rises whenever both peak together, so a fixed short warm-up may stop
    below it. Returns (seconds, RSS MB)."""
    rss = [rss_mb(server.process.pid)]
    elapsed_s = 0.0
    while elapsed_s < most_s:
        asyncio.run(load_phase(server, files, 16, WARM_UP_ROUND_S))
        elapsed_s += WARM_UP_ROUND_S
        rss.append(rss_mb(server.process.pid))
        if len(rss) > 3 and rss[-1] < WARM_UP_SETTLED * rss[-3]:
            break
    return elapsed_s, rss[-1]


def load(files: Files, backend_env: dict[str, str], duration_s: float, log: Path) -> None:
    server = start_live_server(log, backend_env)
    try:
        # Warm-up at the highest concurrency: growth after it would be a leak.
        warm_s, warm_mb = warm_up(server, files, max(duration_s, WARM_UP_ROUND_S))
        rss_after = []
        for clients in (1, 4, 16):
            row = asyncio.run(load_phase(server, files, clients, duration_s))
            rss_after.append(rss_mb(server.process.pid))
            print(
                f"  {clients:2d} clients: {row['ok_per_s']:5.2f} studies/s  p50 "
                f"{row['p50_s'] * 1000:7.1f} ms  p95 {row['p95_s'] * 1000:7.1f} ms  "
                f"statuses {row['statuses']}  /healthz p95 {row['healthz_p95_ms']:.1f} ms"
            )
        levels = " / ".join(f"{mb:.0f}" for mb in rss_after)
        print(
            f"  server RSS after a {warm_s:.0f} s warm-up {warm_mb:.0f} MB, after each level "
            f"{levels} MB (end / warm-up {rss_after[-1] / warm_mb:.2f}, target <= 1.2)"
        )
    finally:
        server.process.terminate()
        server.process.wait(timeout=10)


def triton_counts(metrics_url: str, model: str) -> tuple[int, int]:
    """(inferences, executions) of `model` from Triton's Prometheus metrics (its statistics
    API is among the restricted admin APIs)."""
    counts = {"nv_inference_count": 0, "nv_inference_exec_count": 0}
    for line in httpx.get(metrics_url, timeout=10).text.splitlines():
        name, _, rest = line.partition("{")
        if name in counts and f'model="{model}"' in rest:
            counts[name] += int(float(line.rsplit(" ", 1)[1]))
    return counts["nv_inference_count"], counts["nv_inference_exec_count"]


async def triton_batching(
    triton: TritonProcess, files: Files, rounds: int
) -> tuple[float, int, int]:
    """Average batch Triton formed from 8 concurrent single-study requests."""
    settings = ServingSettings(backend="triton", triton_url=triton.grpc_url)
    pipeline = Pipeline.from_settings(settings)
    await pipeline.start()
    prepared = await pipeline.prepare(files)
    model_input = prepared.model_input
    batch = VideoBatch(
        sax=model_input.sax[None],
        lax=model_input.lax[None],
        lax_present=model_input.lax_present[None].astype(np.float32),
    )
    before = triton_counts(triton.metrics_url, "cmr_video_encoder")
    for _ in range(rounds):
        await asyncio.gather(*(pipeline.backend.encode_video(batch, "bench") for _ in range(8)))
    after = triton_counts(triton.metrics_url, "cmr_video_encoder")
    await pipeline.close()
    inferences, executions = after[0] - before[0], after[1] - before[1]
    return inferences / max(executions, 1), inferences, executions


def with_serving_memory_settings() -> None:
    """Re-execute this process with the server's memory settings unless it has them (glibc
    and numpy read them at process start), so that in-process figures compare with the
    server's."""
    if any(os.environ.get(name) != value for name, value in SERVING_MEMORY_ENV.items()):
        os.execve(sys.executable, [sys.executable, *sys.argv], {**os.environ, **SERVING_MEMORY_ENV})


def main() -> None:
    with_serving_memory_settings()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=96, help="overhead runs (0 skips them)")
    parser.add_argument("--processes", type=int, default=8, help="process pairs per backend")
    parser.add_argument("--duration", type=float, default=60.0)
    parser.add_argument("--backends", default="embedded,triton")
    args = parser.parse_args()
    backends = args.backends.split(",")
    with tempfile.TemporaryDirectory(prefix="bench_gateway_") as tmp:
        work = Path(tmp)
        files = bench_study(work / "study")
        print(f"study: {len(files)} files, {sum(len(d) for _, d in files) / 1e6:.1f} MB")
        envs: dict[str, dict[str, str]] = {"embedded": {"backend": "embedded"}}
        triton: TritonProcess | None = None
        if "triton" in backends:
            reason = triton_available()
            if reason:
                print(f"triton skipped: {reason}")
                backends.remove("triton")
            else:
                repo = write_python_backend_variant(ROOT / "model_repository", work / "repo")
                triton = TritonProcess(repo, workdir=work / "triton")
                triton.start()
                envs["triton"] = {"backend": "triton", "triton_url": triton.grpc_url}
        try:
            results = {}
            for backend in backends if args.repeats > 0 else ():
                results[backend] = overhead(
                    files, envs[backend], args.repeats, args.processes, work / backend
                )
                report_overhead(backend, results[backend])
            if {"triton", "embedded"} <= results.keys():
                ratio = results["triton"]["http_p50"] / results["embedded"]["http_p50"]
                print(f"triton / embedded end-to-end p50: {ratio:.2f}")
            if triton is not None:
                size, n_inf, n_exec = asyncio.run(triton_batching(triton, files, 10))
                print(
                    f"triton dynamic batching, 8 concurrent requests x 10 rounds: {n_inf} "
                    f"inferences in {n_exec} executions, average batch {size:.2f}"
                )
            for backend in backends:
                if args.duration > 0:
                    print(f"load, {backend} backend ({args.duration:g} s per level):")
                    load(files, envs[backend], args.duration, work / f"{backend}-load.log")
        finally:
            if triton is not None:
                triton.stop()


if __name__ == "__main__":
    main()
