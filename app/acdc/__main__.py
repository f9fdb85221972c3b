"""Write the manifest of ACDC subjects (read in place, never copied):

python -m app.acdc --root ../shared/realdata/acdc/training --out data/acdc/manifest.csv
"""

import argparse
from pathlib import Path

from app.acdc.manifest import subject_rows
from app.domain.manifest import write_manifest


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m app.acdc", description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, required=True, help="folder of subject folders")
    parser.add_argument("--out", type=Path, required=True, help="manifest.csv to write")
    parser.add_argument("--seed", type=int, default=0, help="impression writers' seed")
    args = parser.parse_args(argv)
    rows = subject_rows(args.root, args.seed)
    if not rows:
        parser.error(f"no subject folder (with Info.cfg) under {args.root}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    write_manifest(args.out, rows)
    print(f"{len(rows)} subjects -> {args.out}")


if __name__ == "__main__":
    main()
