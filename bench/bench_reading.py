"""Accuracy of impression readers on the labelled sentences of tests/domain/reading_sentences.yaml.

Readers: this tree's app.domain.reading; the reader of a git revision (default `15934d9`, the
clause-initial reader this one replaced), loaded from `git show`; and, when `medspacy` is
importable, medspacy's ConText with its default rules over our condition patterns (the same
mentions, so only negation and hedging differ). Two figures per reader and group:
- asserted: exact match of the set of asserted conditions (what `mentioned_conditions` returns;
  the only figure an old reader that knows no hedges or denials can be scored on);
- status: exact match of the condition -> present/possible/absent map (what `reading` returns).

    PYTHONPATH=. python bench/bench_reading.py [--old-rev 15934d9]

medspacy needs its own environment (spaCy is no dependency of ours; it loads no model from the
network): `python -m venv /tmp/ms && /tmp/ms/bin/pip install medspacy pyyaml`, then run this
script with /tmp/ms/bin/python and PYTHONPATH=. .
"""

from __future__ import annotations

import argparse
import importlib.util
import subprocess
import tempfile
from collections.abc import Callable
from pathlib import Path

from app.domain.reading import reading
from app.domain.reading_lexicon import MENTION_PATTERNS, SEVERITY_ADVERB, abbreviate

# By path: some environments (medspacy's among them) install a stray top-level `tests` package.
_SET_SPEC = importlib.util.spec_from_file_location(
    "reading_set", Path(__file__).parents[1] / "tests" / "domain" / "reading_set.py"
)
assert _SET_SPEC is not None and _SET_SPEC.loader is not None
reading_set = importlib.util.module_from_spec(_SET_SPEC)
_SET_SPEC.loader.exec_module(reading_set)
Reader = Callable[[str], dict[str, str]]
_RANK = {"absent": 0, "possible": 1, "present": 2}


def _old_reader(rev: str) -> Reader:
    source = subprocess.run(
        ["git", "show", f"{rev}:app/domain/reading.py"], capture_output=True, text=True, check=True
    ).stdout
    with tempfile.NamedTemporaryFile("w", suffix=".py", delete=False) as file:
        file.write(source)
    spec = importlib.util.spec_from_file_location("old_reading", file.name)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    Path(file.name).unlink()
    return lambda text: dict.fromkeys(module.mentioned_conditions(text), "present")


def _medspacy_reader() -> Reader | None:
    try:
        import medspacy
        from loguru import logger
        from medspacy.target_matcher import TargetRule
    except ImportError:
        return None
    logger.remove()  # PyRuSH logs every sentence split at DEBUG
    nlp = medspacy.load()
    nlp.get_pipe("medspacy_target_matcher").add(
        [
            TargetRule(f"{condition}{index}", condition, pattern=pattern.pattern)
            for index, (condition, pattern, states_normal) in enumerate(MENTION_PATTERNS)
            if not states_normal
        ]
        + [
            TargetRule(f"{condition}{index}", f"{condition}:normal", pattern=pattern.pattern)
            for index, (condition, pattern, states_normal) in enumerate(MENTION_PATTERNS)
            if states_normal
        ]
    )

    def read(text: str) -> dict[str, str]:
        statuses: dict[str, str] = {}
        for ent in nlp(SEVERITY_ADVERB.sub("", abbreviate(text).lower())).ents:
            condition, _, normal = ent.label_.partition(":")
            if normal or ent._.is_negated:
                status = "absent"
            elif ent._.is_uncertain or ent._.is_hypothetical:
                status = "possible"
            else:
                status = "present"
            if _RANK[status] > _RANK.get(statuses.get(condition, ""), -1):
                statuses[condition] = status
        return statuses

    return read


def _score(read: Reader, sentences: list[reading_set.LabelledSentence]) -> tuple[int, int]:
    asserted = status = 0
    for sentence in sentences:
        got = read(sentence.text)
        asserted += {c for c, s in got.items() if s == "present"} == sentence.asserted
        status += got == sentence.expected
    return asserted, status


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--old-rev", default="15934d9")
    args = parser.parse_args()
    sentences = reading_set.load_sentences()
    groups = {
        "all": sentences,
        "held_out": [s for s in sentences if s.group == "held_out"],
        "written with the rules": [s for s in sentences if s.group != "held_out"],
    }
    readers: dict[str, Reader | None] = {
        f"old ({args.old_rev})": _old_reader(args.old_rev),
        "new (app.domain.reading)": reading,
        "medspacy ConText": _medspacy_reader(),
    }
    print(f"{'reader':26} {'sentences':24} {'n':>4} {'asserted':>9} {'status':>9}")
    for name, read in readers.items():
        if read is None:
            print(f"{name:26} (not importable here; see the docstring)")
            continue
        for group, members in groups.items():
            asserted, status = _score(read, members)
            n = len(members)
            status_figure = "-" if name.startswith("old") else f"{status / n:.1%}"
            print(f"{name:26} {group:24} {n:4d} {asserted / n:9.1%} {status_figure:>9}")


if __name__ == "__main__":
    main()
