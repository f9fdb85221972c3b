"""The CLI writes a deterministic, balanced dataset and a manifest that merges by study id."""

import hashlib
import subprocess
import sys
from pathlib import Path

import pytest

from app.domain.manifest import MANIFEST_NAME, read_manifest
from app.domain.vocabulary import CONDITIONS
from app.synth.dataset import plan
from app.synth.sites import EXTERNAL_SITES, TRAINING_SITES, resolve_sites

PROJECT_ROOT = Path(__file__).resolve().parents[2]


def _tree_digest(folder: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted(folder.rglob("*.dcm")):
        digest.update(path.relative_to(folder).as_posix().encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


def _run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "app.synth", *args],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )


def test_cli_is_deterministic_whatever_the_worker_count(tmp_path):
    one, two = tmp_path / "one", tmp_path / "two"
    _run_cli(
        "--studies", "3", "--site", "site_b", "--seed", "4", "--out", str(one), "--workers", "1"
    )
    result = _run_cli("--studies", "3", "--site", "site_b", "--seed", "4", "--out", str(two))
    assert "3 studies" in result.stdout
    assert _tree_digest(one) == _tree_digest(two)
    assert (one / MANIFEST_NAME).read_text() == (two / MANIFEST_NAME).read_text()
    rows = read_manifest(one / MANIFEST_NAME)
    assert [r["primary_diagnosis"] for r in rows] == [
        "normal",
        "dilated_cardiomyopathy",
        "hypertrophic_cardiomyopathy",
    ]
    for row in rows:
        assert (one / row["study_dir"]).is_dir() and row["impression"]
        assert sum(int(row[f"label_{c}"]) for c in CONDITIONS) >= 1
        assert abs(float(row["measured_lvef_pct"]) - float(row["lvef_pct"])) < 3


def test_manifest_merges_runs_by_study_id(tmp_path):
    _run_cli("--studies", "1", "--site", "site_a", "--seed", "9", "--out", str(tmp_path))
    _run_cli("--studies", "1", "--site", "site_d", "--seed", "9", "--out", str(tmp_path))
    rows = read_manifest(tmp_path / MANIFEST_NAME)
    assert [(r["site"], r["external"]) for r in rows] == [("site_a", "0"), ("site_d", "1")]


def test_cli_rejects_unknown_site(tmp_path):
    with pytest.raises(subprocess.CalledProcessError) as err:
        _run_cli("--studies", "1", "--site", "nowhere", "--out", str(tmp_path))
    assert "unknown site" in err.value.stderr


def test_site_groups_and_round_robin_plan():
    assert len(TRAINING_SITES) >= 3 and len(EXTERNAL_SITES) >= 1
    assert resolve_sites("all") == TRAINING_SITES + EXTERNAL_SITES
    assert plan(4, ("site_a", "site_b")) == [
        ("site_a", 0),
        ("site_b", 0),
        ("site_a", 1),
        ("site_b", 1),
    ]
