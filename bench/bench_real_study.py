"""The real 240-file Sunnybrook study through `POST /v1/diagnose`, on this tree's gateway and on
another tree's (e.g. the commit before a model change), side by side: real uvicorn processes on
loopback (embedded backend, the serving memory settings), requests taking turns, p50 of each and
the ratio, with the gateway's own stage timings. The servers are the tests' real-server
launcher (tests/api/api_helpers.py) pointed at each tree.

    git worktree add /tmp/baseline <commit>
    python bench/bench_real_study.py --baseline /tmp/baseline [--repeats 21] [--mode findings]
"""

import argparse
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
STUDY = ROOT.parent / "shared" / "realdata" / "sunnybrook_SCD0000101" / "dicom"
sys.path.insert(0, str(ROOT / "tests" / "api"))  # the tests' real-server launcher
from api_helpers import start_live_server  # noqa: E402


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
        name: start_live_server(Path(f"/tmp/bench_real_{i}.log"), {}, tree=tree)
        for i, (name, tree) in enumerate(trees.items())
    }
    ways = {
        name: (
            f"{server.url}/v1/diagnose",
            server.headers,
            {"files": files, "data": {"mode": args.mode}},
        )
        for name, server in servers.items()
    }
    try:
        times, stages = take_turns(ways, args.repeats)
    finally:
        for server in servers.values():
            server.process.terminate()
    print(f"{len(files)} files, {args.repeats} requests each, taking turns ({args.mode} mode)")
    print_medians(times, stages)
    ratio = statistics.median(times["this tree"]) / statistics.median(times["baseline"])
    print(f"this tree / baseline p50: {ratio:.2f}x")


Way = tuple[str, dict[str, str], dict[str, Any]]  # URL, headers, httpx request arguments


def take_turns(
    ways: dict[str, Way], repeats: int
) -> tuple[dict[str, list[float]], dict[str, list[dict[str, float]]]]:
    """POST each way in turn, `repeats` rounds after one to warm up: the milliseconds of each
    request and the stage timings (`timings_ms`) each answer reports."""
    times: dict[str, list[float]] = {name: [] for name in ways}
    stages: dict[str, list[dict[str, float]]] = {name: [] for name in ways}
    with httpx.Client(timeout=120) as client:
        for round_ in range(repeats + 1):
            for name, (url, headers, request) in ways.items():
                started = time.perf_counter()
                response = client.post(url, headers=headers, **request)
                elapsed = (time.perf_counter() - started) * 1e3
                response.raise_for_status()
                if round_:
                    times[name].append(elapsed)
                    stages[name].append(response.json()["timings_ms"])
    return times, stages


def print_medians(times: dict[str, list[float]], stages: dict[str, list[dict[str, float]]]) -> None:
    for name in times:
        median_stages = {k: statistics.median(s[k] for s in stages[name]) for k in stages[name][0]}
        stage_text = ", ".join(f"{k} {v:.1f}" for k, v in median_stages.items())
        print(f"{name:>12}: p50 {statistics.median(times[name]):.1f} ms ({stage_text})")


if __name__ == "__main__":
    main()
