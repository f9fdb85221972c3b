"""Synthetic impressions to train a tokenizer on (or to test one with), from `app.synth`."""

import numpy as np

from app.synth.findings import Findings
from app.synth.impressions import REPORT_STYLES, write_impression
from app.synth.params import sample_heart


def synthetic_impressions(count: int, seed: int = 0) -> list[str]:
    """`count` impressions of random synthetic hearts, writer styles in turn. Deterministic."""
    rng = np.random.default_rng(seed)
    return [
        write_impression(Findings.from_heart(sample_heart(rng)), style, rng)
        for style in (REPORT_STYLES[i % len(REPORT_STYLES)] for i in range(count))
    ]
