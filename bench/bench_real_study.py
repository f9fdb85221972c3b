"""The real 240-file Sunnybrook study through `POST /v1/diagnose`, on this tree's gateway and on
another tree's (e.g. the commit before a model change), side by side: real uvicorn processes on
loopback (embedded backend, the serving memory settings), requests taking turns, p50 of each and
the ratio, with the gateway's own stage timings.

    git worktree add /tmp/baseline <commit>
    python bench/bench_real_study.py --baseline /tmp/baseline [--repeats 21] [--mode findings]
"""

import argparse
import os
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

import httpx

from app.config import SERVING_MEMORY_ENV

ROOT = Path(__file__).resolve().parents[1]
STUDY = ROOT.parent / "shared" / "realdata" / "sunnybrook_SCD0000101" / "dicom"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def start(tree: Path, log: Path) -> tuple[subprocess.Popen, str]:
    """The gateway of `tree` (its code and its model_repository/) on a free port, once ready."""
    port = _free_port()
    env = {
        **os.environ,
        **SERVING_MEMORY_ENV,
        "CMR_MODEL_REPOSITORY": str(tree / "model_repository"),
    }
    env["PYTHONPATH"] = str(tree)  # the tree's own `app` package, not this venv's editable one
    command = [sys.executable, "-m", "uvicorn", "app.api.main:app", "--host", "127.0.0.1"]
    command += ["--port", str(port), "--workers", "1", "--no-access-log"]
    process = subprocess.Popen(
        command, cwd=tree, env=env, stdout=log.open("wb"), stderr=subprocess.STDOUT
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{tree}: gateway exited at startup, see {log}")
        try:
            if httpx.get(f"{url}/readyz", timeout=2).status_code == 200:
                return process, url
        except httpx.TransportError:
            pass
        time.sleep(0.3)
    process.terminate()
    raise RuntimeError(f"{tree}: gateway not ready in 120 s, see {log}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--baseline", type=Path, required=True, help="the other tree")
    parser.add_argument("--repeats", type=int, default=21)
    parser.add_argument("--mode", default="findings", choices=("exclusive", "findings"))
    args = parser.parse_args()
    files = [
        ("files", (p.name, p.read_bytes(), "application/dicom"))
        for p in sorted(STUDY.glob("*.dcm"))
    ]
    trees = {"this tree": ROOT, "baseline": args.baseline.resolve()}
    servers = {
        name: start(tree, Path(f"/tmp/bench_real_{i}.log"))
        for i, (name, tree) in enumerate(trees.items())
    }
    times: dict[str, list[float]] = {name: [] for name in trees}
    stages: dict[str, list[dict[str, float]]] = {name: [] for name in trees}
    try:
        with httpx.Client(timeout=120) as client:
            for round_ in range(args.repeats + 1):  # the first round warms both up
                for name, (_, url) in servers.items():
                    started = time.perf_counter()
                    response = client.post(
                        f"{url}/v1/diagnose", files=files, data={"mode": args.mode}
                    )
                    elapsed = (time.perf_counter() - started) * 1e3
                    response.raise_for_status()
                    if round_:
                        times[name].append(elapsed)
                        stages[name].append(response.json()["timings_ms"])
    finally:
        for process, _ in servers.values():
            process.terminate()
    print(f"{len(files)} files, {args.repeats} requests each, taking turns ({args.mode} mode)")
    for name in trees:
        median_stages = {k: statistics.median(s[k] for s in stages[name]) for k in stages[name][0]}
        stage_text = ", ".join(f"{k} {v:.1f}" for k, v in median_stages.items())
        print(f"{name:>10}: p50 {statistics.median(times[name]):.1f} ms ({stage_text})")
    ratio = statistics.median(times["this tree"]) / statistics.median(times["baseline"])
    print(f"this tree / baseline p50: {ratio:.2f}x")


if __name__ == "__main__":
    main()
