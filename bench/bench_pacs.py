"""The real 240-file Sunnybrook study pulled from a loopback Orthanc (`POST /v1/diagnose` by
reference: QIDO-RS, WADO-RS) against the same study uploaded (multipart), on one real gateway
process (embedded backend, the serving memory settings), requests taking turns: p50 of each,
the ratio, and the gateway's stage timings (`receive` is the upload, or the retrieval).

    python bench/bench_pacs.py [--repeats 21] [--mode findings]
"""

import argparse
import json
import statistics
import sys
from pathlib import Path

import pydicom

ROOT = Path(__file__).resolve().parents[1]
STUDY = ROOT.parent / "shared" / "realdata" / "sunnybrook_SCD0000101" / "dicom"
sys.path.insert(0, str(ROOT / "tests" / "api"))  # the tests' real-server launcher
from api_helpers import start_live_server  # noqa: E402
from bench_real_study import print_medians, take_turns  # noqa: E402

from app.deploy.orthanc_server import OrthancProcess  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=21)
    parser.add_argument("--mode", default="findings", choices=("exclusive", "findings"))
    args = parser.parse_args()
    paths = sorted(STUDY.glob("*.dcm"))
    files = [("files", (p.name, p.read_bytes(), "application/dicom")) for p in paths]
    uid = str(pydicom.dcmread(paths[0], stop_before_pixels=True).StudyInstanceUID)
    body = {"study": {"dicomweb": "pacs", "study_instance_uid": uid}, "mode": args.mode}
    with OrthancProcess() as orthanc:
        orthanc.upload([data for _, (_, data, _) in files])
        source = {"url": orthanc.dicomweb_url, "username": orthanc.username}
        source["password"] = orthanc.password
        env = {"dicomweb_sources": json.dumps({"pacs": source})}
        server = start_live_server(Path("/tmp/bench_pacs.log"), env)
        url = f"{server.url}/v1/diagnose"
        ways = {
            "upload": (url, server.headers, {"files": files, "data": {"mode": args.mode}}),
            "by reference": (url, server.headers, {"json": body}),
        }
        try:
            times, stages = take_turns(ways, args.repeats)
        finally:
            server.process.terminate()
    print(f"{len(files)} files, {args.repeats} requests each, taking turns ({args.mode} mode)")
    print_medians(times, stages)
    ratio = statistics.median(times["by reference"]) / statistics.median(times["upload"])
    print(f"by reference / upload p50: {ratio:.2f}x")


if __name__ == "__main__":
    main()
