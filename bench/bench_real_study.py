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
    times: dict[str, list[float]] = {name: [] for name in trees}
    stages: dict[str, list[dict[str, float]]] = {name: [] for name in trees}
    try:
        with httpx.Client(timeout=120) as client:
            for round_ in range(args.repeats + 1):  # the first round warms both up
                for name, server in servers.items():
                    started = time.perf_counter()
                    response = client.post(
                        f"{server.url}/v1/diagnose",
                        files=files,
                        data={"mode": args.mode},
                        headers=server.headers,
                    )
                    elapsed = (time.perf_counter() - started) * 1e3
                    response.raise_for_status()
                    if round_:
                        times[name].append(elapsed)
                        stages[name].append(response.json()["timings_ms"])
    finally:
        for server in servers.values():
            server.process.terminate()
    print(f"{len(files)} files, {args.repeats} requests each, taking turns ({args.mode} mode)")
    for name in trees:
        median_stages = {k: statistics.median(s[k] for s in stages[name]) for k in stages[name][0]}
        stage_text = ", ".join(f"{k} {v:.1f}" for k, v in median_stages.items())
        print(f"{name:>10}: p50 {statistics.median(times[name]):.1f} ms ({stage_text})")
    ratio = statistics.median(times["this tree"]) / statistics.median(times["baseline"])
    print(f"this tree / baseline p50: {ratio:.2f}x")


if __name__ == "__main__":
    main()
