"""The data pipeline end to end on a fresh machine (what `make serve` runs until the API lands):
synthetic studies written as DICOM -> ingestion -> preprocessing, with timings per step.

    python -m app.demo --out data/demo
"""

import argparse
import time
from pathlib import Path

from app.dicom.ingest import load_study
from app.preprocess import InputSpec, preprocess_study
from app.synth.dataset import MANIFEST_NAME, generate_dataset, read_manifest


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("data/demo"))
    parser.add_argument("--site", default="site_d", help="an external site: never trained on")
    args = parser.parse_args()
    manifest = args.out / MANIFEST_NAME
    if not manifest.exists():
        print(f"generating 5 synthetic studies at {args.site} into {args.out} ...")
        generate_dataset(5, (args.site,), seed=2026, out_dir=args.out)
    spec = InputSpec()
    for row in read_manifest(manifest):
        started = time.perf_counter()
        study = load_study(args.out / row["study_dir"])
        ingested = time.perf_counter()
        model_input = preprocess_study(study, spec)
        done = time.perf_counter()
        views = ", ".join(f"{name} {v.n_slices}x{v.n_phases}" for name, v in study.views.items())
        print(
            f"\n{row['study_id']}  [{views}]  ingest {1000 * (ingested - started):.0f} ms, "
            f"preprocess {1000 * (done - ingested):.0f} ms -> sax {model_input.sax.shape}, "
            f"lax {model_input.lax.shape}"
        )
        print(f"  truth: {row['primary_diagnosis']}, LVEF {row['lvef_pct']} %")
        print(f"  impression: {row['impression']}")
        for warning in study.warnings:
            print(f"  warning: {warning}")


if __name__ == "__main__":
    main()
