"""The weight carrier: both files are checked against the upstream digests before loading."""

import zipfile
from pathlib import Path

import pytest

from app.model.bert import MINILM_L6, Bert
from app.model.pretrained import (
    TOKENIZER_SHA256,
    WEIGHTS_SHA256,
    PretrainedWeightsError,
    carrier_archive,
    read_tower_files,
    tower_state_dict,
)


def test_the_installed_carrier_holds_the_upstream_files() -> None:
    files = read_tower_files()
    state = tower_state_dict(files)
    Bert(MINILM_L6).load_state_dict(state, strict=True)  # every name and shape matches
    assert WEIGHTS_SHA256.startswith("53aa5117") and TOKENIZER_SHA256.startswith("be50c362")


def _copy_with(tmp_path: Path, name: str, data: bytes | None) -> Path:
    """The carrier archive with `name` replaced by `data` (or left out when None)."""
    copy = tmp_path / "model.zip"
    with zipfile.ZipFile(carrier_archive()) as source, zipfile.ZipFile(copy, "w") as target:
        for item in source.infolist():
            if item.filename != name:
                target.writestr(item, source.read(item.filename))
        if data is not None:
            target.writestr(name, data)
    return copy


def test_a_tampered_tokenizer_is_refused(tmp_path: Path) -> None:
    tampered = _copy_with(tmp_path, "tokenizer.json", b"{}")
    with pytest.raises(PretrainedWeightsError, match=r"tokenizer\.json has sha256"):
        read_tower_files(tampered)


def test_missing_weights_are_refused(tmp_path: Path) -> None:
    with pytest.raises(PretrainedWeightsError, match=r"model\.safetensors is not in"):
        read_tower_files(_copy_with(tmp_path, "model.safetensors", None))
