"""Where the deployment artefacts and the tools that check them are, and small readers."""

import os
import re
import shutil
import subprocess
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

PROJECT_ROOT = Path(__file__).resolve().parents[2]
K8S = PROJECT_ROOT / "k8s"
OVERLAYS = ("cpu", "gpu")
DOCKERFILES = ("Dockerfile", "Dockerfile.trainer", "Dockerfile.triton")
REPOSITORY = PROJECT_ROOT / "model_repository"
BIN = PROJECT_ROOT / ".venv" / "bin"
# checkov and promtool (Makefile: build/deploy-tools/.stamp); CMR_DEPLOY_TOOLS points elsewhere.
DEPLOY_TOOLS = Path(os.environ.get("CMR_DEPLOY_TOOLS", PROJECT_ROOT / "build" / "deploy-tools"))
TOOLS = {
    "kubectl": BIN / "kubectl",
    "hadolint": BIN / "hadolint",
    "kubernetes-validate": BIN / "kubernetes-validate",
    "checkov": DEPLOY_TOOLS / "venv" / "bin" / "checkov",
    "promtool": DEPLOY_TOOLS / "bin" / "promtool",
}

Manifest = dict[str, Any]


def tool(name: str) -> Path:
    """The binary `name` (TOOLS, else PATH). Missing: a skip saying how to install it, or a
    failure under CI=true, where `make test` must have installed everything."""
    path = TOOLS[name] if TOOLS[name].exists() else shutil.which(name)
    if path is None:
        message = f"{name} is not installed: `make {DEPLOY_TOOLS.relative_to(PROJECT_ROOT)}/.stamp`"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return Path(path)


def run_tool(name: str, *args: str | Path, cwd: Path = PROJECT_ROOT) -> subprocess.CompletedProcess:
    return subprocess.run(
        [tool(name), *map(str, args)], cwd=cwd, capture_output=True, text=True, timeout=300
    )


def render(overlay: str) -> list[Manifest]:
    """Every object of k8s/overlays/<overlay>, rendered by kubectl's kustomize."""
    done = run_tool("kubectl", "kustomize", K8S / "overlays" / overlay)
    assert done.returncode == 0, done.stderr
    return [doc for doc in yaml.safe_load_all(done.stdout) if doc]


def only(objects: Iterable[Manifest], kind: str, name: str | None = None) -> Iterator[Manifest]:
    for item in objects:
        if item["kind"] == kind and name in (None, item["metadata"]["name"]):
            yield item


def one(objects: Iterable[Manifest], kind: str, name: str) -> Manifest:
    (found,) = only(objects, kind, name)
    return found


def container(deployment: Manifest) -> Manifest:
    (main,) = deployment["spec"]["template"]["spec"]["containers"]
    return dict(main)


def dockerfile_instructions(path: Path) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) of a Dockerfile, continuation lines joined, comments dropped."""
    instructions: list[tuple[str, str]] = []
    parts: list[str] = []
    for line in path.read_text().splitlines():
        stripped = line.strip()
        if not parts and (not stripped or stripped.startswith("#")):
            continue
        parts.append(stripped.removesuffix("\\").strip())
        if not stripped.endswith("\\"):
            op, _, args = " ".join(parts).partition(" ")
            instructions.append((op.upper(), args.strip()))
            parts = []
    return instructions


def triton_release() -> str:
    """The NGC release Dockerfile.triton's server comes from, e.g. '25.06'."""
    (base,) = [
        args
        for op, args in dockerfile_instructions(PROJECT_ROOT / "Dockerfile.triton")
        if op == "FROM" and "tritonserver" in args
    ]
    match = re.fullmatch(r"nvcr\.io/nvidia/tritonserver:(\d\d\.\d\d)-py3", base)
    assert match, base
    return match.group(1)
