"""CLI: python -m app.synth --studies N --site S --seed K --out DIR"""

import argparse
import time
from pathlib import Path

from app.domain.manifest import MANIFEST_NAME
from app.synth.dataset import generate_dataset
from app.synth.sites import SITES, resolve_sites


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m app.synth",
        description="Generate synthetic cine CMR studies (DICOM) with impressions and a manifest.",
    )
    parser.add_argument("--studies", type=int, required=True, help="number of studies in total")
    parser.add_argument(
        "--site",
        default="train",
        help=f"one of {', '.join(SITES)}, a comma list, or all / train / external",
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--workers", type=int, default=None, help="processes (default: cores)")
    args = parser.parse_args(argv)
    if args.studies < 1:
        parser.error("--studies must be at least 1")
    try:
        sites = resolve_sites(args.site)
    except ValueError as err:
        parser.error(str(err))
    started = time.perf_counter()
    rows = generate_dataset(args.studies, sites, args.seed, args.out, args.workers)
    elapsed = time.perf_counter() - started
    files = sum(int(row["n_files"]) for row in rows)
    print(
        f"{len(rows)} studies ({files} DICOM files) in {elapsed:.1f} s "
        f"-> {args.out / MANIFEST_NAME}"
    )


if __name__ == "__main__":
    main()
