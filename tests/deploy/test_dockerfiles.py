"""The three images, checked without a Docker engine: hadolint, COPY sources, the build context,
and what the issue asks of each (no torch in the gateway, non-root, labels, health checks)."""

import fnmatch
import json
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from deploy_helpers import (
    DOCKERFILES,
    PROJECT_ROOT,
    REPOSITORY,
    dockerfile_instructions,
    run_tool,
    triton_release,
)

from app.config import SERVING_MEMORY_ENV
from app.model_card import load_model_card

SERVING_MEMORY_SETTINGS = [f"{name}={value}" for name, value in SERVING_MEMORY_ENV.items()]


def instructions(name: str, op: str) -> list[str]:
    return [args for found, args in dockerfile_instructions(PROJECT_ROOT / name) if found == op]


def dockerignored(path: str) -> bool:
    """Docker's rule, last matching pattern wins and a pattern matching a parent folder counts."""
    parts = path.strip("/").split("/")
    candidates = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    excluded = False
    for line in (PROJECT_ROOT / ".dockerignore").read_text().splitlines():
        pattern = line.strip()
        if not pattern or pattern.startswith("#"):
            continue
        negated = pattern.startswith("!")
        pattern = pattern.removeprefix("!").strip("/")
        if any(fnmatch.fnmatchcase(candidate, pattern) for candidate in candidates):
            excluded = not negated
    return excluded


@pytest.mark.parametrize("name", DOCKERFILES)
def test_hadolint_finds_nothing(name: str) -> None:
    """Zero findings at every level; each `# hadolint ignore=` carries its reason above it."""
    done = run_tool("hadolint", "--failure-threshold", "style", name)
    assert done.returncode == 0 and not done.stdout.strip(), done.stdout + done.stderr
    lines = (PROJECT_ROOT / name).read_text().splitlines()
    for number, line in enumerate(lines):
        if "hadolint ignore=" in line:
            rule = line.split("=", 1)[1].strip()
            above = []
            for previous in reversed(lines[:number]):
                if not previous.startswith("#"):
                    break
                above.append(previous)
            assert rule in " ".join(above), f"{name}:{number + 1} ignores {rule} without reason"


@pytest.mark.parametrize("name", DOCKERFILES)
def test_every_copy_source_is_in_the_repository_and_the_build_context(name: str) -> None:
    copies = instructions(name, "COPY") + instructions(name, "ADD")
    assert copies
    for args in copies:
        words = [w for w in args.split() if not w.startswith("--")]
        if "--from=" in args:
            continue  # from an earlier stage, not the build context
        for source in words[:-1]:
            assert (PROJECT_ROOT / source).exists(), f"{name}: COPY {source} does not exist"
            assert not dockerignored(source), f"{name}: {source} is excluded by .dockerignore"
    for inside in ("app/__init__.py", "model_repository/model_card.json"):
        assert not dockerignored(inside), inside


def test_gateway_installs_only_the_serve_extra_without_torch() -> None:
    runs = " ".join(instructions("Dockerfile", "RUN"))
    assert re.findall(r'pip install --no-cache-dir "\.\[(\w+)\]"', runs) == ["serve"]
    assert "find_spec('torch') is not None" in runs  # the build fails if torch came in anyway
    serve = tomllib.loads((PROJECT_ROOT / "pyproject.toml").read_text())["project"][
        "optional-dependencies"
    ]["serve"]
    assert not [d for d in serve if d.startswith("torch")]


def test_gateway_runtime_is_non_root_read_only_friendly_and_labelled() -> None:
    stages = instructions("Dockerfile", "FROM")
    assert stages[0] == "python:3.11-slim AS build" and stages[-1] == "python:3.11-slim"
    runtime = dockerfile_instructions(PROJECT_ROOT / "Dockerfile")
    runtime = runtime[max(i for i, (op, _) in enumerate(runtime) if op == "FROM") :]
    final = dict(runtime)  # the last of each instruction of the last stage
    assert final["USER"] == "10001:10001"
    env = final["ENV"]
    for setting in ("TMPDIR=/tmp", "PYTHONDONTWRITEBYTECODE=1", *SERVING_MEMORY_SETTINGS):
        assert setting in env
    assert final["VOLUME"] == '["/tmp"]'
    assert "/healthz" in final["HEALTHCHECK"]
    command = json.loads(final["CMD"])
    assert command[:2] == ["uvicorn", "app.api.main:app"]
    assert command[command.index("--workers") + 1] == "1"
    labels = final["LABEL"]
    assert 'org.opencontainers.image.version="${MODEL_VERSION}"' in labels
    assert 'io.cmr-clip.model.version="${MODEL_VERSION}"' in labels
    assert "ARG MODEL_VERSION" in (PROJECT_ROOT / "Dockerfile").read_text()


@pytest.mark.parametrize("offset", [0, 1])
@pytest.mark.parametrize("name", ["Dockerfile", "Dockerfile.triton"])
def test_image_build_refuses_another_model_version(name: str, offset: int) -> None:
    """The build stage's check, run by /bin/sh as Docker would, against the card."""
    (check,) = [r for r in instructions(name, "RUN") if "card['version']" in r]
    check = check.replace("/opt/cmr/model_repository", str(REPOSITORY))
    check = check.replace(" model_repository/", f" {REPOSITORY}/")
    version = load_model_card(REPOSITORY).version
    env = {"PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin"}
    env["MODEL_VERSION"] = version if offset == 0 else version + ".other"
    done = subprocess.run(["/bin/sh", "-c", check], env=env, capture_output=True, text=True)
    assert (done.returncode == 0) is (offset == 0), done.stderr
    if offset:
        assert "but the card is" in done.stderr


def test_make_serve_runs_the_serving_allocator_settings() -> None:
    makefile = (PROJECT_ROOT / "Makefile").read_text()
    (serve,) = re.findall(r"^serve:.*\n((?:\t.*\n)+)", makefile, flags=re.MULTILINE)
    for setting in SERVING_MEMORY_SETTINGS:
        assert setting in serve


def test_trainer_pins_the_torch_the_makefile_pins() -> None:
    makefile = (PROJECT_ROOT / "Makefile").read_text()
    (pinned,) = set(re.findall(r"torch==([\d.]+)", makefile))
    runs = " ".join(instructions("Dockerfile.trainer", "RUN"))
    assert f"pip install --no-cache-dir torch=={pinned}" in runs
    assert instructions("Dockerfile.trainer", "USER") == ["10001:10001"]
    assert instructions("Dockerfile.trainer", "HEALTHCHECK") == ["NONE"]


def test_triton_image_is_the_pinned_ngc_server_with_a_generated_repository() -> None:
    assert re.fullmatch(r"\d\d\.\d\d", triton_release())
    runs = " ".join(instructions("Dockerfile.triton", "RUN"))
    assert "python -m app.deploy.triton_repository --variant" in runs
    assert "--source model_repository --out /models" in runs
    assert (
        "COPY --from=repository /models /models" in (PROJECT_ROOT / "Dockerfile.triton").read_text()
    )
    assert instructions("Dockerfile.triton", "USER") == ["10001:10001"]
    assert "/v2/health/ready" in instructions("Dockerfile.triton", "HEALTHCHECK")[0]
