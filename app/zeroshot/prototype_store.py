"""Registered prototypes on disk: one JSON file per name under `CMR_PROTOTYPE_DIR`, written
once (a new version is a new name), each bound to the model version whose embeddings made it."""

import datetime as dt
import os
import re
from pathlib import Path

import numpy as np

from app.errors import (
    InvalidPrototypeError,
    PrototypeExistsError,
    PrototypeModelMismatchError,
    PrototypeStoreUnavailableError,
    UnknownPrototypeError,
)
from app.model_card import ModelCard
from app.zeroshot.prototypes import Prototype, calibrate_prototype, unit_mean

NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"
_NAME = re.compile(NAME_PATTERN)


class PrototypeStore:
    def __init__(self, folder: Path, card: ModelCard) -> None:
        self.folder = folder
        self.card = card

    def _path(self, name: str) -> Path:
        if not _NAME.match(name):
            raise UnknownPrototypeError(f"no prototype named {name!r}")
        return self.folder / f"{name}.json"

    def register(
        self, name: str, label: str, positives: np.ndarray, negatives: np.ndarray
    ) -> Prototype:
        """Unit study embeddings (k, D) with and (k', D) without the label -> the stored
        prototype. Raises InvalidPrototypeError, PrototypeExistsError."""
        for kind, vectors in (("positive", positives), ("negative", negatives)):
            if vectors.ndim != 2 or len(vectors) == 0 or vectors.shape[1] != self.card.embed_dim:
                raise InvalidPrototypeError(
                    f"{kind} studies: give one or more embeddings of width {self.card.embed_dim}"
                )
            with np.errstate(over="ignore"):
                norms = np.linalg.norm(vectors, axis=1)
            if not (np.isfinite(norms).all() and (norms > 0).all()):
                raise InvalidPrototypeError(f"{kind} studies: embeddings must be finite, non-zero")
        prototype = Prototype(
            name=name,
            label=label,
            model_version=self.card.version,
            model_sha256=self.card.weights_sha256,
            k_positive=len(positives),
            k_negative=len(negatives),
            positive=unit_mean(positives).tolist(),
            negative=unit_mean(negatives).tolist(),
            calibration=calibrate_prototype(positives, negatives),
            created=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        )
        path = self._path(name)
        # Written whole under a temporary name, then linked: readers never see half a file,
        # and the link fails if the name is taken, even by a concurrent registration.
        tmp = path.with_name(f".{name}.{os.getpid()}.{id(prototype)}.tmp")
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            tmp.write_text(prototype.model_dump_json(indent=1))
        except OSError:
            raise PrototypeStoreUnavailableError("the prototype folder cannot be written") from None
        try:
            os.link(tmp, path)
        except FileExistsError:
            raise PrototypeExistsError(f"a prototype named {name!r} exists") from None
        finally:
            tmp.unlink()
        return prototype

    def get(self, name: str) -> Prototype:
        """The prototype, checked against this model. Raises UnknownPrototypeError,
        PrototypeModelMismatchError."""
        path = self._path(name)
        if not path.is_file():
            raise UnknownPrototypeError(f"no prototype named {name!r}")
        prototype = Prototype.model_validate_json(path.read_text())
        if prototype.model_sha256 != self.card.weights_sha256:
            raise PrototypeModelMismatchError(
                f"prototype {name!r} was registered with model {prototype.model_version}; "
                f"this is {self.card.version}"
            )
        return prototype

    def names(self) -> list[str]:
        if not self.folder.is_dir():
            return []
        return sorted(p.stem for p in self.folder.glob("*.json") if _NAME.match(p.stem))
