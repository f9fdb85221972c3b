"""Few-shot prototypes: means, leave-one-out calibration, the store, and their scoring beside
prompt conditions (app/zeroshot/prototypes.py, prototype_store.py, scoring_sets.py)."""

from pathlib import Path

import numpy as np
import pytest

from app.errors import (
    PrototypeExistsError,
    PrototypeModelMismatchError,
    PrototypeStoreUnavailableError,
    UnknownPrototypeError,
)
from app.model_card import load_model_card
from app.zeroshot.prototype_store import PrototypeStore
from app.zeroshot.prototypes import (
    calibrate_prototype,
    leave_one_out_margins,
    prototype_margin,
    unit_mean,
)
from app.zeroshot.scoring import normalize
from app.zeroshot.scoring_sets import ScoringSet, condition_vectors, score_conditions

CARD = load_model_card(Path(__file__).resolve().parents[2] / "model_repository")


def _clusters(rng: np.random.Generator, k: int, spread: float = 0.8) -> tuple:
    centre = normalize(rng.normal(size=CARD.embed_dim))
    other = normalize(rng.normal(size=CARD.embed_dim))
    around = lambda c, n: normalize(c + spread * rng.normal(size=(n, CARD.embed_dim)) / 10)  # noqa: E731
    return around(centre, k), around(other, k)


def test_leave_one_out_margins_never_score_a_study_against_itself() -> None:
    rng = np.random.default_rng(0)
    positives, negatives = _clusters(rng, 5)
    margins = leave_one_out_margins(positives, negatives)
    rest = unit_mean(positives[1:])
    assert np.isclose(margins[0], positives[0] @ rest - positives[0] @ unit_mean(negatives))
    assert (margins[:5] > 0).all() and (margins[5:] < 0).all()


def test_platt_needs_four_of_each_and_then_orders_new_studies() -> None:
    rng = np.random.default_rng(1)
    positives, negatives = _clusters(rng, 8, spread=4.0)
    assert calibrate_prototype(positives[:3], negatives) is None
    fit = calibrate_prototype(positives, negatives)
    assert fit is not None and fit.slope > 0
    margin = prototype_margin(
        np.stack([positives[0], negatives[0]]), unit_mean(positives), unit_mean(negatives)
    )
    probability = 1 / (1 + np.exp(-(fit.slope * margin + fit.intercept)))
    assert probability[0] > 0.5 > probability[1]


def test_the_store_writes_once_and_refuses_another_models_prototype(tmp_path: Path) -> None:
    rng = np.random.default_rng(2)
    positives, negatives = _clusters(rng, 4)
    store = PrototypeStore(tmp_path, CARD)
    stored = store.register("site-x-v1", "condition x", positives, negatives)
    assert stored.k_positive == 4 and stored.calibration is not None
    assert store.get("site-x-v1") == stored and store.names() == ["site-x-v1"]
    with pytest.raises(PrototypeExistsError):
        store.register("site-x-v1", "condition x", positives, negatives)
    with pytest.raises(UnknownPrototypeError):
        store.get("../etc/passwd")
    other = CARD.model_copy(update={"files": {"x.onnx": "0" * 64}})
    with pytest.raises(PrototypeModelMismatchError):
        PrototypeStore(tmp_path, other).get("site-x-v1")
    assert not list(tmp_path.glob(".*tmp"))
    blocked = tmp_path / "file"
    blocked.write_text("")
    with pytest.raises(PrototypeStoreUnavailableError):
        PrototypeStore(blocked / "below", CARD).register("y", "y", positives, negatives)


def test_prototype_conditions_score_beside_prompt_conditions(tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    positives, negatives = _clusters(rng, 6)
    prototype = PrototypeStore(tmp_path, CARD).register("p", "x", positives, negatives)
    prompt = normalize(rng.normal(size=(2, CARD.embed_dim)))
    scoring_set = ScoringSet.custom(
        "findings",
        [("x alone", [], []), ("x blended", ["a"], ["b"]), ("prompt only", ["a"], ["b"])],
        ["p", "p", None],
    )
    none = np.zeros((0, CARD.embed_dim))
    vectors = condition_vectors(
        scoring_set,
        [none, prompt[:1], prompt[:1]],
        [none, prompt[1:], prompt[1:]],
        CARD.logit_scale,
        CARD.calibration,
        shipped=False,
        prototypes=[prototype, prototype, None],
    )
    assert vectors.methods == ["platt", "none", "none"]
    scores = {s.label: s for s in score_conditions(positives[0], scoring_set, vectors)}
    assert scores["x alone"].probability > 0.5
    assert scores["x alone"].similarity == pytest.approx(positives[0] @ unit_mean(positives))
    blend = 0.5 * (prompt[0] - prompt[1]) + 0.5 * (unit_mean(positives) - unit_mean(negatives))
    assert scores["x blended"].probability == pytest.approx(
        1 / (1 + np.exp(-CARD.logit_scale * positives[0] @ blend))
    )
