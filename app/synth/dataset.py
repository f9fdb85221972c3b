"""Generate many studies in parallel and keep one manifest per output folder."""

import os
from collections.abc import Iterable
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

from tqdm import tqdm

from app.domain.manifest import MANIFEST_NAME, write_manifest
from app.synth.study import generate_study


def plan(studies: int, sites: tuple[str, ...]) -> list[tuple[str, int]]:
    """(site, per-site index) for each study: sites round-robin, so each gets a balanced share
    and every site cycles through all diagnoses."""
    counters = dict.fromkeys(sites, 0)
    jobs = []
    for i in range(studies):
        site = sites[i % len(sites)]
        jobs.append((site, counters[site]))
        counters[site] += 1
    return jobs


def _run(job: tuple[str, int, int, str]) -> dict[str, Any]:
    site, index, seed, out = job
    return generate_study(site, seed, index, Path(out))


def generate_dataset(
    studies: int,
    sites: tuple[str, ...],
    seed: int,
    out_dir: Path,
    workers: int | None = None,
    progress: bool = True,
) -> list[dict[str, Any]]:
    """Write `studies` studies under out_dir and merge their rows into out_dir/manifest.csv.

    Deterministic whatever `workers` is: every study draws from its own seeded generator.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    jobs = [(site, index, seed, str(out_dir)) for site, index in plan(studies, sites)]
    workers = workers or min(len(jobs), os.cpu_count() or 1) or 1
    bar = tqdm(total=len(jobs), unit="study", disable=not progress)
    if workers == 1:
        rows = _collect(map(_run, jobs), bar)
    else:
        with ProcessPoolExecutor(max_workers=workers) as pool:
            rows = _collect(pool.map(_run, jobs, chunksize=1), bar)
    bar.close()
    write_manifest(out_dir / MANIFEST_NAME, rows)
    return rows


def _collect(results: Iterable[dict[str, Any]], bar: tqdm) -> list[dict[str, Any]]:
    rows = []
    for row in results:
        rows.append(row)
        bar.update(1)
        bar.set_postfix_str(row["primary_diagnosis"][:12])
    return rows
