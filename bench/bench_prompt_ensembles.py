"""Would the development half of the clinician phrasings make better prompt ensembles?

For each finding of the shipped findings set, the findings-mode AUROC (cosine to the positive
ensemble minus cosine to the negative one) on the VALIDATION split of a trained run, with the
shipped positive prompts, with the shipped prompts plus the suite's `dev` positive phrasings,
and with those phrasings alone. The frozen `test` half is never read here.

    python bench/bench_prompt_ensembles.py [--run runs/demo]
"""

import argparse
from pathlib import Path

import numpy as np

from app.training import metrics
from app.training.run import Run
from app.training.train import select_records
from app.zeroshot.condition_sets import load_condition_sets
from app.zeroshot.prompt_suites import load_prompt_suite
from app.zeroshot.scoring import ensemble

FINDINGS_SET = "cardiac_findings_v1"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", type=Path, default=Path("runs/demo"))
    args = parser.parse_args()
    run = Run.load(args.run)
    val = select_records(run.cfg, "val")
    studies = run.encode_studies(val)
    dev = [p for p in load_prompt_suite().phrasings if p.split == "dev"]
    groups = {
        "all": list(range(len(val))),
        "acdc": [i for i, r in enumerate(val) if r.site == "acdc"],
        "synthetic": [i for i, r in enumerate(val) if r.site != "acdc"],
    }
    print(f"validation split of {args.run}: {len(val)} studies")
    print("finding | group | shipped | shipped + dev | dev only")
    for condition in load_condition_sets()[FINDINGS_SET].conditions:
        labels = np.array([r.labels.get(condition.label, 0) for r in val])
        phrasings = [p.text for p in dev if p.label == condition.label and p.polarity == "positive"]
        negative = ensemble(run.encode_texts(list(condition.negative_prompts)))
        positives = {
            "shipped": ensemble(run.encode_texts(list(condition.prompts))),
            "shipped + dev": ensemble(run.encode_texts([*condition.prompts, *phrasings])),
            "dev only": ensemble(run.encode_texts(phrasings)),
        }
        for group, rows in groups.items():
            if not 0 < labels[rows].sum() < len(rows):
                continue
            margin = {k: studies[rows] @ v - studies[rows] @ negative for k, v in positives.items()}
            figures = " | ".join(f"{metrics.auroc(m, labels[rows]):.3f}" for m in margin.values())
            print(f"{condition.label} | {group} (n={len(rows)}) | {figures}")


if __name__ == "__main__":
    main()
