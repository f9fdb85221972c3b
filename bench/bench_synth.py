"""Throughput of the synthetic data generator against its acceptance target.

Target: "a 100-study dataset in under 2 minutes on 2 cores". Generates the dataset into a
temporary folder with all cores (as `python -m app.synth` does), then times a small sequential
sample of single studies in this process for a per-study figure. Prints to stdout only and
deletes everything it wrote.

    python bench/bench_synth.py [--studies 100] [--site train] [--seed 0] [--sample 5]

Needs `app` importable: the Makefile's `bench` target installs the project in editable mode;
from a bare checkout run it with `PYTHONPATH=.`.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from app.synth.dataset import generate_dataset, plan
from app.synth.sites import SITES, resolve_sites
from app.synth.study import generate_study

TARGET_STUDIES = 100
TARGET_WALL_S = 120.0


@dataclass(frozen=True)
class DatasetRun:
    """What one parallel `generate_dataset` call produced, and how long it took."""

    studies: int
    workers: int
    wall_s: float
    worker_cpu_s: float  # user + system time of the worker processes
    machine_busy_s: float | None  # CPU seconds all processes used meanwhile (Linux /proc/stat)
    machine_iowait_s: float | None  # CPU seconds idle waiting on I/O meanwhile
    files_written: int
    files_on_disk: int
    total_mb: float


def folder_size_mb(folder: Path) -> tuple[int, float]:
    """(number of files, total size in MB = 10^6 bytes) of everything under folder."""
    sizes_bytes = [p.stat().st_size for p in folder.rglob("*") if p.is_file()]
    return len(sizes_bytes), sum(sizes_bytes) / 1e6


def children_cpu_s() -> float:
    """User + system CPU seconds of this process's terminated, waited-for children."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def machine_cpu_s() -> tuple[float, float] | None:
    """(busy, iowait) CPU seconds of the whole machine since boot, all cores; None off Linux."""
    try:
        with open("/proc/stat", encoding="ascii") as handle:
            fields = [int(v) for v in handle.readline().split()[1:8]]
    except (OSError, ValueError):
        return None
    user, nice, system, _idle, iowait, irq, softirq = fields
    ticks_per_s = os.sysconf("SC_CLK_TCK")
    return (user + nice + system + irq + softirq) / ticks_per_s, iowait / ticks_per_s


def run_dataset(studies: int, sites: tuple[str, ...], seed: int, out_dir: Path) -> DatasetRun:
    """Generate the dataset with one process per core and time it (wall clock)."""
    workers = min(studies, os.cpu_count() or 1)
    cpu_before_s = children_cpu_s()
    machine_before = machine_cpu_s()
    started_s = time.perf_counter()
    rows = generate_dataset(studies, sites, seed, out_dir, workers=workers, progress=False)
    wall_s = time.perf_counter() - started_s
    worker_cpu_s = children_cpu_s() - cpu_before_s  # the pool has joined its workers by now
    machine_after = machine_cpu_s()
    busy_s = iowait_s = None
    if machine_before is not None and machine_after is not None:
        busy_s = machine_after[0] - machine_before[0]
        iowait_s = machine_after[1] - machine_before[1]
    files_on_disk, total_mb = folder_size_mb(out_dir)
    return DatasetRun(
        studies=len(rows),
        workers=workers,
        wall_s=wall_s,
        worker_cpu_s=worker_cpu_s,
        machine_busy_s=busy_s,
        machine_iowait_s=iowait_s,
        files_written=sum(int(row["n_files"]) for row in rows),
        files_on_disk=files_on_disk,
        total_mb=total_mb,
    )


def time_sequential_sample(
    count: int, sites: tuple[str, ...], seed: int, out_dir: Path
) -> tuple[list[float], list[float]]:
    """(wall seconds, CPU seconds of this process) per study (render + write) for the dataset's
    first `count` studies, one after the other here: no pool start-up, no contention between
    workers. CPU above wall would mean numpy/BLAS threads, which oversubscribe a full pool."""
    wall_s, cpu_s = [], []
    for site, index in plan(count, sites):
        started_s, started_cpu_s = time.perf_counter(), time.process_time()
        generate_study(site, seed, index, out_dir)
        wall_s.append(time.perf_counter() - started_s)
        cpu_s.append(time.process_time() - started_cpu_s)
    return wall_s, cpu_s


def report_dataset(run: DatasetRun, sites: tuple[str, ...], seed: int) -> None:
    busy_cores = run.worker_cpu_s / run.wall_s
    print(f"dataset: {run.studies} studies, sites {', '.join(sites)}, seed {seed}")
    print(f"  workers            {run.workers} processes (os.cpu_count() = {os.cpu_count()})")
    print(f"  wall time          {run.wall_s:.1f} s")
    print(f"  throughput         {run.studies / run.wall_s:.2f} studies/s")
    print(
        f"  worker CPU time    {run.worker_cpu_s:.1f} s = {busy_cores:.2f} of {run.workers} cores"
        " busy on average"
    )
    if run.machine_busy_s is not None and run.machine_iowait_s is not None:
        others_s = max(run.machine_busy_s - run.worker_cpu_s, 0.0)
        print(
            f"  rest of machine    {others_s:.1f} CPU s used by other processes"
            f" ({others_s / run.wall_s:.2f} cores), {run.machine_iowait_s:.1f} s I/O wait"
        )
        print(
            f"  CPU-bound floor    {run.worker_cpu_s / run.workers:.1f} s"
            f" = worker CPU / {run.workers} cores, if they had been free"
        )
    print(f"  DICOM files        {run.files_written} (manifest n_files)")
    print(
        f"  on disk            {run.files_on_disk} files (with manifest.csv), {run.total_mb:.1f} MB"
    )


def report_sample(wall_s: list[float], cpu_s: list[float], workers: int) -> None:
    median_s = statistics.median(wall_s)
    print(f"sequential sample: {len(wall_s)} studies, one process")
    print(
        f"  per study          median {median_s:.2f} s, "
        f"min {min(wall_s):.2f} s, max {max(wall_s):.2f} s "
        f"(CPU median {statistics.median(cpu_s):.2f} s)"
    )
    estimate_s = TARGET_STUDIES * median_s / workers
    print(
        f"  => {TARGET_STUDIES} studies on {workers} workers: ~{estimate_s:.0f} s"
        " if they scaled perfectly"
    )


def report_verdict(run: DatasetRun) -> None:
    # The target is stated for 100 studies; other sizes are judged pro rata.
    budget_s = TARGET_WALL_S * run.studies / TARGET_STUDIES
    verdict = "PASS" if run.wall_s < budget_s else "FAIL"
    print(
        f"target: {TARGET_STUDIES} studies < {TARGET_WALL_S:.0f} s on 2 cores"
        f" -> {run.studies} studies < {budget_s:.0f} s: {verdict} ({run.wall_s:.1f} s)"
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--studies", type=int, default=TARGET_STUDIES)
    parser.add_argument(
        "--site", default="train", help=f"{', '.join(SITES)}, a comma list, all / train / external"
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--sample", type=int, default=5, help="studies timed one by one")
    args = parser.parse_args(argv)
    if args.studies < 1 or args.sample < 0:
        parser.error("--studies must be at least 1 and --sample at least 0")
    try:
        sites = resolve_sites(args.site)
    except ValueError as err:
        parser.error(str(err))
    print(f"load average (1/5/15 min) at start: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    with tempfile.TemporaryDirectory(prefix="bench_synth_") as tmp:
        run = run_dataset(args.studies, sites, args.seed, Path(tmp) / "dataset")
        report_dataset(run, sites, args.seed)
        if args.sample:
            wall_s, cpu_s = time_sequential_sample(
                args.sample, sites, args.seed, Path(tmp) / "sample"
            )
            report_sample(wall_s, cpu_s, run.workers)
    report_verdict(run)


if __name__ == "__main__":
    main()
