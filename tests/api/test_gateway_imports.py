"""The gateway's import graph: `app.api.main` pulls in neither torch nor the synthetic-data
generator (the condition vocabulary, impression reader and manifest come from app.domain)."""

import json
import subprocess
import sys
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[2]


def test_the_gateway_imports_neither_torch_nor_the_generator() -> None:
    script = "import json, sys; import app.api.main; print(json.dumps(sorted(sys.modules)))"
    result = subprocess.run(
        [sys.executable, "-c", script],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    loaded = json.loads(result.stdout)
    forbidden = [
        name
        for name in loaded
        if name.split(".")[0] == "torch" or name == "app.synth" or name.startswith("app.synth.")
    ]
    assert forbidden == []
    assert "app.domain.reading" in loaded  # the reporting path still reads impressions
