"""Write or check the committed OpenAPI schema, generated without a server.

python -m app.api.openapi            # rewrite docs/openapi.json
python -m app.api.openapi --check    # exit 1 if the code and the committed schema differ
"""

import argparse
import json
import sys
from pathlib import Path

from app.api.main import create_app

SCHEMA_PATH = Path(__file__).resolve().parents[2] / "docs" / "openapi.json"


def render_schema() -> str:
    schema = create_app(configure_logs=False).openapi()
    return json.dumps(schema, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true")
    parser.add_argument("--out", type=Path, default=SCHEMA_PATH)
    args = parser.parse_args(argv)
    rendered = render_schema()
    if args.check:
        if not args.out.exists() or args.out.read_text() != rendered:
            sys.exit(f"{args.out} is out of date: run `python -m app.api.openapi`")
        return
    args.out.write_text(rendered)


if __name__ == "__main__":
    main()
